"""Why assay adapts the thread count rather than OpenMP's waiting policy: decode tok/s of
bare llama-cpp-python under each policy, quiet and with a core kept busy by another program.

Each configuration runs in a fresh process (libgomp reads OMP_WAIT_POLICY and GOMP_SPINCOUNT
when it loads); conditions alternate within each round; medians of --rounds.

    .venv/bin/python benchmarks/wait_policy.py [--rounds 3] [--tokens 128]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from rich.console import Console
from rich.table import Table

from assay.config import Settings
from assay.registry import ModelRegistry

CONFIGS = {
    "2 threads, OpenMP default (spin, then sleep)": ("2", {}),
    "2 threads, OMP_WAIT_POLICY=passive": ("2", {"OMP_WAIT_POLICY": "PASSIVE"}),
    "2 threads, GOMP_SPINCOUNT=10000": ("2", {"GOMP_SPINCOUNT": "10000"}),
    "1 thread": ("1", {}),
}
CHILD = """
import sys, time, llama_cpp
path, threads, tokens = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
llm = llama_cpp.Llama(path, n_ctx=1024, n_threads=threads, n_threads_batch=threads,
                      flash_attn=True, verbose=False)
prompt = llm.tokenize(b"Once upon a time, in a small village by the sea,", add_bos=True)
def once(n):
    llm.reset()
    first = last = 0
    for i, _ in enumerate(llm.generate(prompt, temp=0.0)):
        now = time.perf_counter_ns()
        first = now if i == 0 else first
        if i + 1 == n:
            last = now
            break
    return (n - 1) / ((last - first) / 1e9)
once(16)
print(once(tokens))
"""


def measure(path: str, threads: str, env: dict[str, str], tokens: int) -> float:
    cmd = [sys.executable, "-c", CHILD, path, threads, str(tokens)]
    done = subprocess.run(
        cmd, env={**os.environ, **env}, capture_output=True, text=True, timeout=600, check=True
    )
    return float(done.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=128)
    args = parser.parse_args()
    registry = ModelRegistry(Settings())
    path = str(registry.path(registry.resolve("smollm2-135m")))
    load_start = os.getloadavg()[0]
    results: dict[tuple[str, str], list[float]] = {
        (name, c): [] for name in CONFIGS for c in ("quiet", "busy")
    }
    for round_ in range(args.rounds):
        for condition in ("quiet", "busy") if round_ % 2 == 0 else ("busy", "quiet"):
            loop = None
            if condition == "busy":
                loop = subprocess.Popen([sys.executable, "-c", "while True: pass"])
                time.sleep(1.0)
            try:
                for name, (threads, env) in CONFIGS.items():
                    rate = measure(path, threads, env, args.tokens)
                    results[(name, condition)].append(rate)
                    print(f"round {round_} {condition:5} {name}: {rate:.1f}", file=sys.stderr)
            finally:
                if loop is not None:
                    loop.kill()
                    loop.wait()
    table = Table(title=f"smollm2-135m decode tok/s, {args.tokens} tokens, {args.rounds} rounds")
    for column in ("configuration", "quiet", "one core busy", "busy/quiet"):
        table.add_column(column, justify="left" if column == "configuration" else "right")
    for name in CONFIGS:
        quiet = statistics.median(results[(name, "quiet")])
        loaded = statistics.median(results[(name, "busy")])
        table.add_row(name, f"{quiet:.1f}", f"{loaded:.1f}", f"{loaded / quiet:.2f}")
    console = Console(width=120)
    console.print(table)
    console.print(f"load average at start {load_start:.2f}, at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
