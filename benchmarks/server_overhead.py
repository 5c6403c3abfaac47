"""Decode tok/s streamed over HTTP from `assay serve`, vs in-process, vs llama-cpp-python's
own server (`python -m llama_cpp.server`), on the same GGUF and threads.

The paths take turns within each round (order rotated), one request at a time, and the
table shows medians: the engine in this process; the same model in a runner process, read
directly; `assay serve` (its model in a runner); `assay serve` with ASSAY_RUNNERS=0 (its
model in the server's process, as before runners); llama_cpp.server. Goal: assay serve over
HTTP >= 0.99 x in-process, at 1 and at 2 threads.

    .venv/bin/pip install 'llama-cpp-python[server]==0.3.36'   # for the third column
    .venv/bin/python benchmarks/server_overhead.py [--rounds 7] [--tokens 128] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from contextlib import ExitStack
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from _servers import free_port, python, server_process, stream_completion
from assay.config import Settings, available_cores
from assay.engines import LoadedModel, LoadOptions, SamplingParams
from assay.engines.timing import StreamTimer
from assay.registry import ModelRegistry

PROMPT = "Once upon a time, in a small village by the sea,"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=available_cores())
    args = parser.parse_args()
    registry = ModelRegistry(Settings(runners=False))
    path = registry.path(registry.resolve(args.model))
    load_start = os.getloadavg()[0]

    options = LoadOptions(threads=args.threads, context_size=4096)
    in_process = registry.load(args.model, options).model
    in_runner = ModelRegistry(Settings(runners=True)).load(args.model, options).model
    params = SamplingParams(temperature=0.0, max_tokens=args.tokens, prefix_cache=False)

    def local(model: LoadedModel) -> float:
        timer = StreamTimer()
        for _ in timer.watch(model.complete(PROMPT, params)):
            pass
        return timer.decode_tokens_per_second or 0.0

    results: dict[str, list[float]] = {
        "in-process": [],
        "runner, direct": [],
        "assay serve": [],
        "assay serve, no runner": [],
        "llama_cpp.server": [],
    }
    serve_args = ["--threads", str(args.threads), "--ctx", "4096", "--models", args.model]
    with ExitStack() as stack:
        servers = {}
        for name, runners in (("assay serve", "1"), ("assay serve, no runner", "0")):
            port = free_port()
            command = [python(), "-m", "assay", "serve", "--port", str(port), *serve_args]
            url = stack.enter_context(
                server_process([*command, "--preload"], port, env={"ASSAY_RUNNERS": runners})
            )
            servers[name] = (url, args.model)
        llama_port = free_port()
        try:
            llama_url = stack.enter_context(
                server_process(
                    [
                        python(),
                        "-m",
                        "llama_cpp.server",
                        "--model",
                        str(path),
                        "--n_threads",
                        str(args.threads),
                        "--n_threads_batch",
                        str(args.threads),
                        "--n_ctx",
                        "4096",
                        "--port",
                        str(llama_port),
                        "--host",
                        "127.0.0.1",
                    ],
                    llama_port,
                )
            )
            servers["llama_cpp.server"] = (llama_url, str(path))
        except (RuntimeError, OSError) as exc:
            print(f"llama_cpp.server unavailable ({exc}); install llama-cpp-python[server]")
            del results["llama_cpp.server"]
        client = stack.enter_context(httpx.Client(timeout=120))
        for url, model in servers.values():  # warm-up
            stream_completion(client, url, model, PROMPT, 8)
        names = list(results)
        for round_ in range(args.rounds):
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                if name == "in-process":
                    results[name].append(local(in_process))
                elif name == "runner, direct":
                    results[name].append(local(in_runner))
                else:
                    url, model = servers[name]
                    results[name].append(
                        stream_completion(client, url, model, PROMPT, args.tokens).decode_tok_s
                    )
    in_process.close()
    in_runner.close()
    base = statistics.median(results["in-process"])
    table = Table(
        title=f"{args.model}: decode tok/s, median of {args.rounds} rounds, "
        f"{args.tokens} tokens, {args.threads} threads"
    )
    for column in ("path", "median tok/s", "min-max", "vs in-process"):
        table.add_column(column, justify="left" if column == "path" else "right")
    for name, values in results.items():
        median = statistics.median(values)
        table.add_row(
            name, f"{median:.1f}", f"{min(values):.1f}-{max(values):.1f}", f"{median / base:.3f}"
        )
    console = Console(width=120)
    console.print(table)
    console.print(f"load average {load_start:.2f} at start, {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
