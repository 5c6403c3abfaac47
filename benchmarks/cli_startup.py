"""How long the `assay` command takes to answer before it does any work: `--help` at the top
and for a command, beside a bare interpreter. Commands run interleaved, in fresh processes;
medians and the fastest of --rounds.

    .venv/bin/python benchmarks/cli_startup.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ASSAY = str(Path(sys.executable).with_name("assay"))
CASES = {
    "python -c pass (the floor)": [sys.executable, "-c", "pass"],
    "assay --help": [ASSAY, "--help"],
    "assay bench --help": [ASSAY, "bench", "--help"],
    "assay models list": [ASSAY, "models", "list"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    walls: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.rounds):
        for name, command in CASES.items():
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            walls[name].append(time.perf_counter() - started)
    floor = statistics.median(walls["python -c pass (the floor)"])
    table = Table(title=f"CLI start-up, {args.rounds} rounds, interleaved")
    for column in ("command", "median ms", "fastest ms", "median over the floor ms"):
        table.add_column(column, justify="left" if column == "command" else "right")
    for name, values in walls.items():
        median = statistics.median(values)
        table.add_row(
            name,
            f"{median * 1000:.0f}",
            f"{min(values) * 1000:.0f}",
            f"{(median - floor) * 1000:.0f}",
        )
    console = Console()
    console.print(table)
    console.print(
        f"cores {os.cpu_count()}, load average {load_before:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after"
    )


if __name__ == "__main__":
    main()
