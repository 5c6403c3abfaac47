"""What starting a model's runner costs over the load itself, for smollm2-135m.

Three ways to load, taking turns in each round (order rotated), medians of the rounds:
- in this process, the engine's modules already imported: the load itself;
- a fresh runner: an interpreter, assay's and the engine's imports, then the same load
  (what `assay run` and a bench pay);
- a spare runner, started ahead with the engine imported (what `assay serve` does when it
  starts and after it unloads a model).
The time is from the call to a model ready to generate. Goal: a runner's cold start <= 0.5 s
over the load itself.

    .venv/bin/python benchmarks/runner_start.py [--rounds 7] [--model smollm2-135m]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

from rich.console import Console
from rich.table import Table

from assay.config import Settings
from assay.engines import LoadOptions
from assay.registry import ModelRegistry
from assay.runner import SPARES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    options = LoadOptions(context_size=4096)
    local = ModelRegistry(Settings(runners=False))
    runners = ModelRegistry(Settings(runners=True))
    resolved = runners.resolve(args.model)
    local.load(args.model, options).model.close()  # imports the engine here, untimed

    def in_process() -> float:
        started = time.perf_counter()
        model = local.load(args.model, options).model
        took = time.perf_counter() - started
        model.close()
        return took

    def runner(spare: bool) -> Callable[[], float]:
        def load() -> float:
            SPARES.clear()
            if spare:
                SPARES.warm({runners.engine(resolved).name})  # started, its imports done
            engine = runners.engine(resolved)
            path = runners.path(resolved)
            started = time.perf_counter()
            model = engine.load(path, options)
            took = time.perf_counter() - started
            model.close()
            return took

        return load

    paths: dict[str, Callable[[], float]] = {
        "in this process (the load itself)": in_process,
        "a fresh runner": runner(spare=False),
        "a spare runner": runner(spare=True),
    }
    results: dict[str, list[float]] = {name: [] for name in paths}
    names = list(paths)
    for round_ in range(args.rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            results[name].append(paths[name]())
    SPARES.clear()
    base = statistics.median(results[names[0]])
    table = Table(title=f"{args.model}: load to ready, median of {args.rounds} rounds")
    for column in ("path", "median s", "min-max s", "over the load itself"):
        table.add_column(column, justify="left" if column == "path" else "right")
    for name, values in results.items():
        median = statistics.median(values)
        table.add_row(
            name,
            f"{median:.3f}",
            f"{min(values):.3f}-{max(values):.3f}",
            f"{median - base:+.3f} s",
        )
    console = Console(width=120)
    console.print(table)
    console.print(f"load average {load_start:.2f} at start, {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
