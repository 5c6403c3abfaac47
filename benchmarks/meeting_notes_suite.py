"""The whole meeting-notes suite on the bundled models: its task table, TTFT by transcript
length, and how long the run takes on this machine.

    .venv/bin/python benchmarks/meeting_notes_suite.py [--models smollm2-135m,gemma3-270m]

Runs `assay bench --suite meeting-notes` (in-process, each model in its runner, adaptive
threads) into runs/, then prints the figures that docs/meeting-notes.md records.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from assay import api


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="smollm2-135m,gemma3-270m")
    parser.add_argument("--suite", default="meeting-notes")
    parser.add_argument("--out", type=Path, default=Path("runs"))
    parser.add_argument("--warmup", type=int, default=1, help="Warm-up passes (8 requests each).")
    args = parser.parse_args()
    load_start = os.getloadavg()
    started = time.perf_counter()
    report = api.bench(
        args.models.split(","),
        suite=args.suite,
        rounds=1,
        warmup=args.warmup,
        name="meeting-notes",
        out=args.out,
    )
    elapsed = time.perf_counter() - started
    load_end = os.getloadavg()
    console = Console(width=160)
    tasks = Table(title=f"{args.suite}: the task ({report.run_path})")
    for column in ("model", "outputs", "task score [95%]", "decisions", "actions", "owners",
                   "invented people", "JSON valid", "does not fit", "TTFT at 4k", "decode tok/s",
                   "peak memory"):  # fmt: skip
        tasks.add_column(column, justify="left" if column == "model" else "right")
    lengths = Table(title="TTFT by transcript length")
    for column in (
        "model",
        "prompt tokens",
        "requests",
        "mean tokens",
        "TTFT mean",
        "prefill tok/s",
    ):
        lengths.add_column(column, justify="left" if column == "model" else "right")
    for model in report.models:
        s = model.suite
        if s is None:
            tasks.add_row(model.model, "-", model.error or model.status)
            continue
        ci = s.task_score
        score = f"{ci.mean:.2f} [{max(ci.low, 0):.2f}, {min(ci.high, 1):.2f}]" if ci else "-"

        def pct(value: float | None) -> str:
            return "-" if value is None else f"{value:.0%}"

        tasks.add_row(
            model.model, str(s.outputs), score, pct(s.decision_recall), pct(s.action_recall),
            pct(s.owner_accuracy), pct(s.invented_people_rate), pct(s.json_valid_rate),
            str(s.not_fit), "-" if s.ttft_at_4k_s is None else f"{s.ttft_at_4k_s:.2f} s",
            "-" if s.decode_tokens_per_second is None else f"{s.decode_tokens_per_second:.1f}",
            "-" if not model.peak_rss_bytes else f"{model.peak_rss_bytes / 1e6:.0f} MB",
        )  # fmt: skip
        for b in s.buckets:
            lengths.add_row(
                model.model, b.bucket, str(b.requests), f"{b.prompt_tokens_mean:.0f}",
                f"{b.ttft_mean_s * 1000:.0f} ms", f"{b.prefill_tokens_per_second:.0f}",
            )  # fmt: skip
    console.print(tasks)
    console.print(lengths)
    threads = sorted({f"{m.threads} ({m.thread_policy})" for m in report.models if m.threads})
    console.print(
        f"wall time {elapsed / 60:.1f} min; threads {', '.join(threads) or '-'}; load average "
        f"{load_start[0]:.2f} at start, {load_end[0]:.2f} at end"
    )


if __name__ == "__main__":
    main()
