"""Download throughput of `assay pull` against the local fake hub, and quantize times.

The fake hub (tests/store/hub_server.py) runs in its own process so it does not share a
GIL with the client being measured. Each pull goes into a fresh ASSAY_HOME and goes through
the same code as `assay pull` (huggingface_hub's HEAD + streamed GET, sha256 check, atomic
rename). Transfer MB/s counts the GET only; "total" adds the HEAD, the sha256 check and the
move into place. Quantize times are llama.cpp's quantizer on the bundled models, threads as
`assay quantize` uses them. Prints tables; medians over the rounds.

    .venv/bin/python benchmarks/store_throughput.py [--rounds 5] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.store.hub_server

from assay.cli.progress import tqdm_class
from assay.config import Settings
from assay.registry import ModelRegistry
from assay.store.download import PullOptions, pull
from assay.variants import quantize

REPO = "bench/SmolLM2-135M-GGUF"
FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
QUANTIZE = [
    ("smollm2-135m", "q8_0"),
    ("smollm2-135m", "f16"),
    ("smollm2-135m", "q4_k_m"),
    ("smollm2-135m", "q4_0"),
    ("gemma3-270m", "q8_0"),
    ("gemma3-270m", "f16"),
]


def start_hub(path: Path) -> tuple[subprocess.Popen[str], str]:
    hub = subprocess.Popen(
        [sys.executable, "-m", "tests.store.hub_server", REPO, FILE, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert hub.stdout is not None
    return hub, hub.stdout.readline().strip()


def one_pull(url: str, sha256: str) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        catalog = Path(tmp) / "models.json"
        entry = {"repo": REPO, "file": FILE, "sha256": sha256, "variant": "q4_1"}
        catalog.write_text(json.dumps({"bench": entry}))
        settings = Settings(home=Path(tmp) / "home", models_file=catalog)
        resolved = ModelRegistry(settings).resolve("bench")
        with Progress(disable=True) as progress:
            options = PullOptions(endpoint=url, offline=False, progress=tqdm_class(progress, "x"))
            started = time.perf_counter()
            result = pull(settings, resolved, options)
            total = time.perf_counter() - started
    return result.seconds, total, result.size


def downloads(registry: ModelRegistry, rounds: int) -> Table:
    resolved = registry.resolve("smollm2-135m")
    path = registry.path(resolved)
    sha = resolved.variant.sha256
    assert sha is not None
    hub, url = start_hub(path)
    try:
        one_pull(url, sha)  # warm-up: imports, page cache, the hub's first connection
        runs = [one_pull(url, sha) for _ in range(rounds)]
    finally:
        hub.terminate()
        hub.wait()
    size = runs[0][2]
    transfer = [size / t / 1e6 for t, _, _ in runs]
    total = [size / t / 1e6 for _, t, _ in runs]
    table = Table(title=f"assay pull, {FILE} ({size / 1e6:.1f} MB), local fake hub")
    for column in ("rounds", "transfer MB/s (median)", "min-max", "total MB/s (median)", "total s"):
        table.add_column(column, justify="right")
    table.add_row(
        str(rounds),
        f"{statistics.median(transfer):.0f}",
        f"{min(transfer):.0f}-{max(transfer):.0f}",
        f"{statistics.median(total):.0f}",
        f"{statistics.median(t for _, t, _ in runs):.2f}",
    )
    return table


def quantize_times(rounds: int, threads: int) -> Table:
    table = Table(title=f"assay quantize ({threads} threads)")
    for column in ("source", "to", "source size", "result size", "median s", "min-max s"):
        table.add_column(column, justify="left" if column in ("source", "to") else "right")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp))  # gemma3-270m is assembled here once, untimed
        registry = ModelRegistry(settings)
        for alias, type_ in QUANTIZE:
            seconds = []
            for _ in range(rounds):
                job = quantize.plan(settings, registry.resolve(alias), type_, None)
                result = quantize.run(job, threads)
                seconds.append(result.seconds)
                shutil.rmtree(result.path.parent)
            table.add_row(
                result.source_name,
                result.quant.label,
                f"{result.source_size / 1e6:.1f} MB",
                f"{result.size / 1e6:.1f} MB",
                f"{statistics.median(seconds):.2f}",
                f"{min(seconds):.2f}-{max(seconds):.2f}",
            )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    settings = Settings()
    registry = ModelRegistry(settings)
    console = Console(width=110)
    console.print(downloads(registry, args.rounds))
    threads = args.threads or settings.effective_threads()
    console.print(quantize_times(max(1, args.rounds // 2 + 1), threads))


if __name__ == "__main__":
    main()
