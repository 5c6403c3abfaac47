"""How many streamed chunks per second assay's benchmark client sustains on one core.

A zero-latency mock server (`assay mock-server --ttft-ms 0 --itl-ms 0`) pinned to one core
sends 256 one-token chunks per reply; the client, pinned to the other core, runs closed-loop
levels at concurrency 16 and 64. Chunks/s = content chunks received / level duration; the
TTFT it measures against a server that waits for nothing is the TTFT the client adds.
For comparison, the same load through httpx (the other candidate client library).
Goals: >= 60,000 chunks/s per core, <= 1 ms added TTFT at concurrency 16.

    .venv/bin/python benchmarks/client_ceiling.py [--requests 400]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from _servers import free_port, python
from assay.bench import metrics
from assay.bench.prompts import default_prompts
from assay.bench.rundir import RunDir
from assay.bench.session import create_run, execute
from assay.bench.spec import BenchSpec
from assay.config import Settings
from assay.registry import ModelRegistry

CHUNKS = 256


def start_mock(
    port: int, core: int, ttft_ms: float = 0, itl_ms: float = 0, output_tokens: int = CHUNKS
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            python(),
            "-m",
            "assay",
            "mock-server",
            "--port",
            str(port),
            "--ttft-ms",
            str(ttft_ms),
            "--itl-ms",
            str(itl_ms),
            "--output-tokens",
            str(output_tokens),
            "--no-role-chunk",
        ],
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: os.sched_setaffinity(0, {core}),
    )


def assay_client(url: str, concurrency: int, requests: int) -> dict[str, float]:
    spec = BenchSpec(
        name="ceiling",
        models=["mock"],
        prompts=default_prompts(),
        warmup=0,
        max_tokens=CHUNKS,
        endpoint=url,
        concurrency=[concurrency],
        requests=requests,
    )
    with tempfile.TemporaryDirectory() as out:
        run = create_run(spec, Path(out))
        execute(run, ModelRegistry(Settings()))
        records = [r for r in RunDir(run.path).records() if r.ok]
    chunks = sum(len(r.chunk_ns) for r in records)
    ttfts = [t for r in records if (t := metrics.ttft(r)) is not None]
    return {
        "chunks_per_s": chunks / metrics.level_duration(records),
        "ttft_ms_p50": statistics.median(ttfts) * 1000,
        "ttft_ms_mean": statistics.fmean(ttfts) * 1000,
        "errors": float(requests - len(records)),
    }


async def _httpx_level(url: str, concurrency: int, requests: int) -> dict[str, float]:
    body = {
        "model": "mock",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": CHUNKS,
        "stream": True,
    }
    remaining = iter(range(requests))
    chunks = 0
    ttfts: list[float] = []
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def worker() -> None:
            nonlocal chunks
            for _ in remaining:
                sent = time.perf_counter()
                first = None
                async with client.stream("POST", url + "/chat/completions", json=body) as resp:
                    async for line in resp.aiter_lines():
                        if line.startswith("data: {"):
                            event = json.loads(line[6:])
                            if event["choices"] and event["choices"][0]["delta"].get("content"):
                                first = first or time.perf_counter()
                                chunks += 1
                ttfts.append((first or sent) - sent)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "chunks_per_s": chunks / elapsed,
        "ttft_ms_p50": statistics.median(ttfts) * 1000,
        "ttft_ms_mean": statistics.fmean(ttfts) * 1000,
        "errors": 0.0,
    }


PACED_TTFT_MS = 20.0


@contextlib.contextmanager
def mock(
    core: int, ttft_ms: float = 0, itl_ms: float = 0, output_tokens: int = CHUNKS
) -> Iterator[str]:
    """A mock server pinned to CORE for the block; its base URL."""
    port = free_port()
    server = start_mock(port, core, ttft_ms, itl_ms, output_tokens)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/models", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        server.wait(10)


def split_cores() -> tuple[int, int]:
    """(client core, server core): this process is pinned to the first, the mock goes on
    the last."""
    cores = sorted(os.sched_getaffinity(0))
    client_core, server_core = cores[0], cores[-1]
    os.sched_setaffinity(0, {client_core})
    return client_core, server_core


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    client_core, server_core = split_cores()
    load = os.getloadavg()[0]
    rows = []
    with mock(server_core) as url:
        for concurrency in (16, 64):
            rows.append(
                ("assay (aiohttp)", concurrency, assay_client(url, concurrency, args.requests))
            )
            rows.append(
                (
                    "httpx",
                    concurrency,
                    asyncio.run(_httpx_level(url, concurrency, args.requests // 4)),
                )
            )
    # Added TTFT below saturation: a paced server (20 ms TTFT, 1 ms per token) at c16, i.e.
    # 16,000 chunks/s; what the client measures above 20 ms is what it adds.
    with mock(server_core, ttft_ms=PACED_TTFT_MS, itl_ms=1) as url:
        paced = assay_client(url, 16, 64)
    table = Table(
        title=f"client ceiling: {CHUNKS} one-token chunks per reply, client on core "
        f"{client_core}, zero-latency mock server on core {server_core}"
    )
    for column in ("client", "concurrency", "chunks/s", "TTFT p50", "TTFT mean", "errors"):
        table.add_column(column, justify="left" if column == "client" else "right")
    for name, concurrency, r in rows:
        table.add_row(
            name,
            str(concurrency),
            f"{r['chunks_per_s']:,.0f}",
            f"{r['ttft_ms_p50']:.2f} ms",
            f"{r['ttft_ms_mean']:.2f} ms",
            f"{r['errors']:.0f}",
        )
    console = Console(width=120)
    console.print(table)
    console.print(
        f"added TTFT at c16 below saturation (paced server, 20 ms TTFT, 1 ms/token, 16k "
        f"chunks/s): p50 {paced['ttft_ms_p50'] - PACED_TTFT_MS:+.2f} ms, mean "
        f"{paced['ttft_ms_mean'] - PACED_TTFT_MS:+.2f} ms"
    )
    console.print(f"load average {load:.2f} at start, {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
