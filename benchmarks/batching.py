"""Continuous batching: aggregate tok/s and p95 TTFT at 1, 2, 4 and 8 concurrent streams for
(a) `assay serve --parallel 1`, (b) `assay serve --parallel 8` (batched), and (c) llama.cpp's
own `llama-server --parallel 8 --kv-unified`, on the same GGUF with the same threads and
context per slot. The client is `assay bench --endpoint` (closed loop, greedy, prompts made
unique so no server can answer from a prompt cache). Only one server runs at a time, and
the servers take turns in every round.

llama-server is built from the llama.cpp sources vendored in the llama-cpp-python sdist, in
a scratch folder outside the repository (never committed):

    pip download --no-deps --no-binary :all: llama-cpp-python==0.3.36 -d /tmp/llsrv
    tar xzf /tmp/llsrv/llama_cpp_python-0.3.36.tar.gz -C /tmp/llsrv
    cd /tmp/llsrv/llama_cpp_python-0.3.36/vendor/llama.cpp
    cmake -B build -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF
    cmake --build build --target llama-server -j2

    .venv/bin/python benchmarks/batching.py --llama-server /tmp/llsrv/.../build/bin/llama-server
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from _servers import free_port, server_process
from assay.config import Settings, available_cores
from assay.registry import ModelRegistry

LEVELS = [1, 2, 4, 8]


def servers(args: argparse.Namespace, gguf: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Each server's command line and the environment variables it adds."""
    common = ["--threads", str(args.threads), "--ctx", str(args.ctx), "--preload"]
    assay = [sys.executable, "-m", "assay", "serve", "--models", args.model, *common]
    batched = [*assay, "--parallel", str(args.slots)]
    configs = {
        "assay --parallel 1": ([*assay, "--parallel", "1"], {}),
        f"assay --parallel {args.slots}": (batched, {}),
        # The model in the server's own process, as before runners (ASSAY_RUNNERS=0).
        f"assay --parallel {args.slots}, no runner": (batched, {"ASSAY_RUNNERS": "0"}),
    }
    if args.llama_server:
        configs[f"llama-server --parallel {args.slots}"] = ([
            str(args.llama_server), "-m", str(gguf), "--host", "127.0.0.1",
            "-t", str(args.threads), "-tb", str(args.threads), "--parallel", str(args.slots),
            "-c", str(args.ctx * args.slots), "--kv-unified", "--no-webui",
        ], {})  # fmt: skip
    return configs


def run_bench(
    url: str, model: str, args: argparse.Namespace, out: Path
) -> dict[int, dict[str, Any]]:
    out.mkdir(parents=True)
    command = [
        sys.executable, "-m", "assay", "bench", "--endpoint", f"{url}/v1", "--models", model,
        "--concurrency", ",".join(map(str, LEVELS)), "--requests", str(args.requests),
        "--max-tokens", str(args.max_tokens), "--warmup", "1", "--out", str(out),
    ]  # fmt: skip
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (run,) = out.iterdir()
    summary = json.loads((run / "summary.json").read_text())
    levels = {level["concurrency"]: level for level in summary["models"][0]["levels"]}
    for n, level in levels.items():
        if level["errors"]:  # a failed request takes no time: the figures would flatter
            sys.exit(f"{url}: {level['errors']} failed requests at {n} streams ({run})")
    return levels


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--llama-server", type=Path, help="llama-server binary (see above)")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--threads", type=int, default=available_cores())
    parser.add_argument("--ctx", type=int, default=2048, help="context per slot")
    parser.add_argument("--requests", type=int, default=16, help="requests per level")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--levels", default="1,2,4,8", help="concurrent streams per level")
    parser.add_argument("--only", help="run only the servers whose name contains this")
    args = parser.parse_args()
    LEVELS[:] = [int(n) for n in args.levels.split(",")]
    registry = ModelRegistry(Settings())
    gguf = registry.path(registry.resolve(args.model))
    configs = {k: v for k, v in servers(args, gguf).items() if not args.only or args.only in k}
    results: dict[str, dict[int, list[dict[str, Any]]]] = {
        name: {n: [] for n in LEVELS} for name in configs
    }
    work = Path(tempfile.mkdtemp(prefix="assay-batching-"))
    for round_ in range(args.rounds):
        for name, (command, env) in configs.items():
            port = free_port()
            with server_process([*command, "--port", str(port)], port, env=env) as url:
                levels = run_bench(url, args.model, args, work / f"{round_}-{len(results)}-{port}")
            for n in LEVELS:
                results[name][n].append(levels[n])
            print(f"round {round_ + 1}: {name} done", file=sys.stderr)
    show(results, args, gguf)


def show(
    results: dict[str, dict[int, list[dict[str, Any]]]], args: argparse.Namespace, gguf: Path
) -> None:
    table = Table(
        title=f"{args.model} ({gguf.name}), {args.threads} threads, {args.ctx} ctx per slot, "
        f"{args.max_tokens} tokens, {args.requests} requests per level, median of "
        f"{args.rounds} interleaved rounds"
    )
    table.add_column("server")
    for n in LEVELS:
        table.add_column(f"{n} stream{'s' if n > 1 else ''}: agg tok/s", justify="right")
        table.add_column("p95 TTFT ms", justify="right")
    for name, by_level in results.items():
        row = [name]
        for n in LEVELS:
            levels = by_level[n]
            rate = statistics.median(lv["output_tokens_per_second"] for lv in levels)
            ttft = statistics.median(lv["ttft_s"]["p95"] for lv in levels) * 1000
            row += [f"{rate:.1f}", f"{ttft:.0f}"]
        table.add_row(*row)
    Console(width=200).print(table)
    if 1 not in LEVELS:
        return
    single = {
        name: statistics.median(lv["decode_tokens_per_second"]["mean"] for lv in by_level[1])
        for name, by_level in results.items()
    }
    print("single-stream decode tok/s: " + ", ".join(f"{k} {v:.1f}" for k, v in single.items()))


if __name__ == "__main__":
    main()
