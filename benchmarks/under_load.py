"""Single-request decode tok/s on a quiet machine and with cores kept busy by another program.

Paths, each with its default flags: the engine in this process, `assay run` (a CLI process
per request), `assay serve` over HTTP (one server for the whole run, so it must adapt while
running), and llama.cpp's own `llama-server` with the same threads when --llama-server PATH
is given. A "busy" condition runs `python -c "while True: pass"` on --busy-cores cores.
Conditions and paths are interleaved within each round; the table shows medians and each
path's busy/quiet ratio. Goals (issue 13): quiet serve >= 0.97x in-process; with one core
busy, serve and run keep >= 0.45x their own quiet figure.

    .venv/bin/python benchmarks/under_load.py [--rounds 5] [--tokens 128] [--busy-cores 1]
        [--threads N] [--llama-server PATH] [--serve-args '--parallel 1']
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from _servers import free_port, python, server_process, stream_completion
from assay.config import Settings, available_cores
from assay.engines import SamplingParams
from assay.engines.threads import threads_of
from assay.engines.timing import StreamTimer
from assay.registry import ModelRegistry

PROMPT = "Once upon a time, in a small village by the sea,"
_DECODE = re.compile(r"decode ([\d.]+) tok/s")
_THREADS = re.compile(r"threads ([^·]+?) ·")


@contextmanager
def busy(cores: int) -> Iterator[None]:
    """Keep `cores` cores busy with plain Python loops (another user's program)."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]
    time.sleep(1.0)  # let the load show in /proc/stat before the first request
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--busy-cores", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="default: assay's own")
    parser.add_argument("--llama-server", type=Path, default=None)
    parser.add_argument(
        "--serve-args", default="", help="extra flags for assay serve, e.g. '--parallel 1'"
    )
    args = parser.parse_args()
    registry = ModelRegistry(Settings())
    path = registry.path(registry.resolve(args.model))
    threads_flag = ["--threads", str(args.threads)] if args.threads else []
    load_start = os.getloadavg()

    options = registry.load_options(threads=args.threads, device="cpu")
    model = registry.load(args.model, options).model
    params = SamplingParams(temperature=0.0, max_tokens=args.tokens, prefix_cache=False)

    def in_process() -> tuple[float, str]:
        timer = StreamTimer()
        for _ in timer.watch(model.complete(PROMPT, params)):
            pass
        return timer.decode_tokens_per_second or 0.0, threads_of(model)

    def cli_run() -> tuple[float, str]:
        cmd = [python(), "-m", "assay", "run", args.model, "--raw", "--temperature", "0"]
        cmd += ["--max-tokens", str(args.tokens), "--prompt", PROMPT, *threads_flag]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
        decode, threads = _DECODE.search(done.stderr), _THREADS.search(done.stderr)
        assert decode and threads, done.stderr
        return float(decode.group(1)), threads.group(1)

    paths: dict[str, Callable[[], tuple[float, str]]] = {
        "in-process": in_process,
        "assay run": cli_run,
    }
    with ExitStack() as stack:
        client = stack.enter_context(httpx.Client(timeout=600))
        port = free_port()
        serve_cmd = [python(), "-m", "assay", "serve", "--port", str(port), "--models"]
        serve_cmd += [args.model, "--preload", *threads_flag, *args.serve_args.split()]
        serve_url = stack.enter_context(server_process(serve_cmd, port))

        def served() -> tuple[float, str]:
            rate = stream_completion(client, serve_url, args.model, PROMPT, args.tokens)
            loaded = client.get(f"{serve_url}/v1/models/loaded").json()["data"]
            return rate.decode_tok_s, loaded[0]["threads"]

        paths["assay serve"] = served
        if args.llama_server:
            lport = free_port()
            fixed = str(args.threads or available_cores())
            lcmd = [str(args.llama_server), "-m", str(path), "--port", str(lport), "-t", fixed]
            lurl = stack.enter_context(server_process(lcmd, lport, ready_path="/health"))
            paths["llama-server"] = lambda: (
                stream_completion(client, lurl, args.model, PROMPT, args.tokens).decode_tok_s,
                f"{fixed} (fixed)",
            )
        for run in paths.values():  # warm-up
            run()
        results: dict[tuple[str, str], list[float]] = {
            (p, c): [] for p in paths for c in ("quiet", "busy")
        }
        threads_seen: dict[tuple[str, str], set[str]] = {
            (p, c): set() for p in paths for c in ("quiet", "busy")
        }
        names = list(paths)
        for round_ in range(args.rounds):
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for condition in ("quiet", "busy") if round_ % 2 == 0 else ("busy", "quiet"):
                with busy(args.busy_cores) if condition == "busy" else _nothing():
                    for name in order:
                        rate, threads = paths[name]()
                        results[(name, condition)].append(rate)
                        threads_seen[(name, condition)].add(threads.split(" (")[0])
                        print(
                            f"round {round_} {condition:5} {name:12} {rate:7.1f} tok/s "
                            f"threads {threads}",
                            file=sys.stderr,
                        )
    model.close()
    _table(args, names, results, threads_seen, load_start)


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _table(
    args: argparse.Namespace,
    names: list[str],
    results: dict[tuple[str, str], list[float]],
    threads_seen: dict[tuple[str, str], set[str]],
    load_start: tuple[float, float, float],
) -> None:
    table = Table(
        title=f"{args.model}, {args.tokens} tokens, {args.rounds} rounds, "
        f"{args.busy_cores} busy core(s) of {available_cores()}"
    )
    for column in (
        "path",
        "threads quiet",
        "quiet tok/s",
        "threads busy",
        "busy tok/s",
        "busy/quiet",
    ):
        table.add_column(
            column, justify="left" if "threads" in column or column == "path" else "right"
        )
    quiet_in_process = statistics.median(results[("in-process", "quiet")])
    for name in names:
        quiet = statistics.median(results[(name, "quiet")])
        loaded = statistics.median(results[(name, "busy")])
        table.add_row(
            name,
            ", ".join(sorted(threads_seen[(name, "quiet")])),
            f"{quiet:.1f}"
            + (f" ({quiet / quiet_in_process:.3f}x)" if name != "in-process" else ""),
            ", ".join(sorted(threads_seen[(name, "busy")])),
            f"{loaded:.1f}",
            f"{loaded / quiet:.3f}",
        )
    console = Console(width=150)
    console.print(table)
    one, five, _ = os.getloadavg()
    console.print(
        f"threads: {args.threads or 'assay default (adaptive)'}; load average at start "
        f"{load_start[0]:.2f}, at end {one:.2f} (5 min {five:.2f}); quiet ratios in brackets "
        "are against in-process"
    )


if __name__ == "__main__":
    main()
