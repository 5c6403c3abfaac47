"""Decode tok/s through assay's engine path vs a bare llama-cpp-python loop.

Same Llama object, same threads, same prompt, greedy; the two paths alternate within each
round so drift on a shared machine hits both. Prints a table; the goal is ratio >= 0.99.

    .venv/bin/python benchmarks/engine_overhead.py [--rounds 7] [--tokens 128] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from assay.config import Settings
from assay.engines import LoadOptions, SamplingParams
from assay.engines.llamacpp import LlamaCppModel
from assay.engines.timing import StreamTimer
from assay.registry import ModelRegistry

PROMPT = "Once upon a time, in a small village by the sea,"


def bare_loop(llm: Any, tokens: int) -> float:
    """The reference: llama-cpp-python's own generator, nothing else per token."""
    llm.reset()
    prompt = llm.tokenize(PROMPT.encode(), add_bos=True, special=True)
    first = last = 0
    for i, _ in enumerate(llm.generate(prompt, temp=0.0, top_k=40, top_p=0.95, min_p=0.05)):
        now = time.perf_counter_ns()
        if i == 0:
            first = now
        if i + 1 == tokens:
            last = now
            break
    return (tokens - 1) / ((last - first) / 1e9)


def engine_path(model: LlamaCppModel, tokens: int) -> tuple[float, int]:
    params = SamplingParams(temperature=0.0, max_tokens=tokens, prefix_cache=False)
    timer = StreamTimer()
    for _ in timer.watch(model.complete(PROMPT, params)):
        pass
    rate = timer.decode_tokens_per_second
    assert rate is not None
    return rate, timer.tokens


def measure(registry: ModelRegistry, alias: str, args: argparse.Namespace) -> dict[str, Any]:
    loaded = registry.load(alias, LoadOptions(threads=args.threads, context_size=1024))
    model = loaded.model
    assert isinstance(model, LlamaCppModel)
    bare: list[float] = []
    ours: list[float] = []
    counts: set[int] = set()
    engine_path(model, 16)  # warm-up
    for round_ in range(args.rounds):
        order = ("bare", "ours") if round_ % 2 == 0 else ("ours", "bare")
        for which in order:
            if which == "bare":
                bare.append(bare_loop(model._llm, args.tokens))
            else:
                rate, n = engine_path(model, args.tokens)
                ours.append(rate)
                counts.add(n)
    model.close()
    return {
        "alias": alias,
        "threads": model.info.threads,
        "bare": statistics.median(bare),
        "ours": statistics.median(ours),
        "spread": (min(ours), max(ours)),
        "tokens": sorted(counts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--models", default="smollm2-135m,gemma3-270m")
    args = parser.parse_args()
    registry = ModelRegistry(Settings())
    load_start = os.getloadavg()
    results = [measure(registry, alias, args) for alias in args.models.split(",")]
    table = Table(title=f"engine overhead: median of {args.rounds} interleaved rounds")
    for column in ("model", "threads", "bare tok/s", "assay tok/s", "assay min-max", "ratio"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for r in results:
        table.add_row(
            r["alias"],
            str(r["threads"]),
            f"{r['bare']:.1f}",
            f"{r['ours']:.1f}",
            f"{r['spread'][0]:.1f}-{r['spread'][1]:.1f}",
            f"{r['ours'] / r['bare']:.3f}",
        )
    console = Console(width=120)
    console.print(table)
    load_end = os.getloadavg()
    console.print(
        f"tokens per run: {args.tokens} (assay runs produced {results[0]['tokens']}); "
        f"load average {load_start[0]:.2f} at start, {load_end[0]:.2f} at end; "
        f"cores available {len(os.sched_getaffinity(0))}"
    )


if __name__ == "__main__":
    main()
