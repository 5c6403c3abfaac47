"""The client's ceiling and its TTFT error at issue 18's workload: synthetic prompts of
1,000 tokens asking for 128 output tokens, 16 streams, against `assay mock-server`.

1. Ceiling: a zero-latency mock (pinned to one core) answers 128 one-token chunks at once;
   the client (pinned to the other core) runs closed loop at concurrency 16. Requests/s and
   chunks/s are then what the client itself sustains with 1k-token request bodies.
2. Error: a paced mock (20 ms to the first token, 1 ms per token: 16,000 chunks/s at c16);
   what the client measures above 20 ms TTFT and 1 ms ITL is its own error.
3. Set-up: the time to make the synthetic prompts (exact lengths with the bundled SmolLM2
   tokenizer, as for an endpoint without /tokenize), before any level's clock starts.

    .venv/bin/python benchmarks/workload_client.py [--requests 400]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from assay import api
from assay.bench import metrics
from assay.bench.records import RequestRecord
from assay.bench.rundir import RunDir
from assay.bench.session import create_run, execute
from assay.bench.workload import exact_text
from assay.config import Settings
from assay.registry import ModelRegistry
from client_ceiling import mock, split_cores

INPUT, OUTPUT, CONCURRENCY, PACED_TTFT_MS, PACED_ITL_MS = 1000, 128, 16, 20.0, 1.0


def level(url: str, requests: int) -> list[RequestRecord]:
    spec = api.bench_spec(
        ["mock"],
        name="workload-client",
        input_tokens=str(INPUT),
        output_tokens=str(OUTPUT),
        endpoint=url,
        concurrency=[CONCURRENCY],
        requests=requests,
        warmup=0,
    )
    with tempfile.TemporaryDirectory() as out:
        run = create_run(spec, Path(out))
        execute(run, ModelRegistry(Settings()))
        return [r for r in RunDir(run.path).records() if r.ok]


def synthesis_seconds(requests: int) -> float:
    count = ModelRegistry(Settings()).count_tokens

    async def counted(text: str) -> int:
        return count(text)

    async def make_all() -> None:
        for i in range(requests):
            await exact_text(counted, f"mock|c16|{i}", 1234, INPUT)

    count("warm")  # the tokenizer's load is not the synthesis
    started = time.perf_counter()
    asyncio.run(make_all())
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    client_core, server_core = split_cores()
    load_start = os.getloadavg()[0]
    with mock(server_core, 0, 0, OUTPUT) as url:
        ceiling = level(url, args.requests)
    with mock(server_core, PACED_TTFT_MS, PACED_ITL_MS, OUTPUT) as url:
        paced = level(url, 96)
    make = synthesis_seconds(args.requests)
    load_end = os.getloadavg()[0]

    duration = metrics.level_duration(ceiling)
    chunks = sum(len(r.chunk_ns) for r in ceiling)
    ttft = [t for r in paced if (t := metrics.ttft(r)) is not None]
    itl = [g for r in paced for g in metrics.itl(r)]
    table = Table(
        title=f"{INPUT}-token synthetic prompts, {OUTPUT} output tokens, concurrency "
        f"{CONCURRENCY}; client on core {client_core}, mock on core {server_core}"
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("ceiling: requests/s (zero-latency mock)", f"{len(ceiling) / duration:,.1f}")
    table.add_row("ceiling: chunks/s", f"{chunks / duration:,.0f}")
    table.add_row(
        "ceiling: prompt tokens held (input 1000)",
        f"{sum(r.input_tokens == INPUT for r in ceiling)}/{len(ceiling)}",
    )
    table.add_row(
        "ceiling: output held (128)",
        f"{sum(bool(r.output_held) for r in ceiling)}/{len(ceiling)}",
    )
    table.add_row(
        f"paced ({PACED_TTFT_MS:g} ms TTFT, {PACED_ITL_MS:g} ms/token): TTFT error p50",
        f"{statistics.median(ttft) * 1000 - PACED_TTFT_MS:+.2f} ms",
    )
    table.add_row(
        "paced: TTFT error mean", f"{statistics.fmean(ttft) * 1000 - PACED_TTFT_MS:+.2f} ms"
    )
    p90 = statistics.quantiles(ttft, n=10)[-1]
    table.add_row("paced: TTFT error p90", f"{p90 * 1000 - PACED_TTFT_MS:+.2f} ms")
    late = sorted(r.index for r in paced if (metrics.ttft(r) or 0) * 1000 > PACED_TTFT_MS + 5)
    table.add_row("paced: requests > 5 ms late (their indices)", f"{len(late)} {late[:8]}")
    table.add_row("paced: ITL error mean", f"{statistics.fmean(itl) * 1000 - PACED_ITL_MS:+.3f} ms")
    table.add_row(
        f"set-up: {args.requests} synthetic prompts of {INPUT} tokens (SmolLM2 tokenizer)",
        f"{make:.2f} s",
    )
    console = Console(width=120)
    console.print(table)
    console.print(f"load average (1 min): {load_start:.2f} at start, {load_end:.2f} at end")


if __name__ == "__main__":
    main()
