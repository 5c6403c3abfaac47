"""The server's side of a run against an endpoint: its Prometheus /metrics, scraped every
second into server_metrics.jsonl while each model runs.

Only what explains the client's figures is kept, under one name whatever the server calls
it: requests waiting (queued) and running, and the KV cache's use (0-1). The names of assay
serve, llama.cpp's server, vLLM and SGLang are known; a server without /metrics (or with
none of these) leaves no file, and the run goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel

SERVER_METRICS_FILE = "server_metrics.jsonl"

# Each figure, and the series that give it on each server (summed over their labels).
WAITING = (
    "assay_queue_depth",
    "llamacpp:requests_deferred",
    "vllm:num_requests_waiting",
    "sglang:num_queue_reqs",
)
RUNNING = (
    "assay_active_generations",
    "llamacpp:requests_processing",
    "vllm:num_requests_running",
    "sglang:num_running_reqs",
)
# A ratio 0-1 (the largest series, if several).
KV_CACHE = (
    "llamacpp:kv_cache_usage_ratio",
    "vllm:kv_cache_usage_perc",
    "vllm:gpu_cache_usage_perc",
    "sglang:token_usage",
)


class ServerSample(BaseModel):
    """One scrape: when (the run's clock, ns), for which model, and what the server said."""

    t_ns: int
    model: str
    waiting: float | None = None
    running: float | None = None
    kv_cache_usage: float | None = None


class ServerSide(BaseModel):
    """A model's scrapes, summed up for the summary and the report."""

    samples: int
    peak_waiting: float | None = None
    peak_running: float | None = None
    peak_kv_cache_usage: float | None = None


def metrics_url(endpoint: str) -> str:
    """http://host:port/v1 -> http://host:port/metrics (where every known server has it)."""
    base = endpoint.rstrip("/")
    base = base.removesuffix("/v1")
    return f"{base}/metrics"


_KNOWN = {*WAITING, *RUNNING, *KV_CACHE}


def parse_sample(text: str, t_ns: int, model: str) -> ServerSample | bool:
    """The known figures in a /metrics page. Without any: True when the page declares one
    of the known series (a server whose model has not loaded yet has no values), else
    False (not a server this knows)."""
    sums: dict[str, float] = {}
    declared = False
    for family in text_string_to_metric_families(text):
        declared = declared or family.name in _KNOWN
        for sample in family.samples:
            sums.setdefault(sample.name, 0.0)
            if sample.name in KV_CACHE:
                sums[sample.name] = max(sums[sample.name], float(sample.value))
            else:
                sums[sample.name] += float(sample.value)

    def first(names: tuple[str, ...]) -> float | None:
        return next((sums[name] for name in names if name in sums), None)

    waiting, running, kv = first(WAITING), first(RUNNING), first(KV_CACHE)
    if waiting is None and running is None and kv is None:
        return declared
    return ServerSample(t_ns=t_ns, model=model, waiting=waiting, running=running, kv_cache_usage=kv)


def summarize_samples(samples: list[ServerSample]) -> ServerSide | None:
    if not samples:
        return None

    def peak(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return max(known) if known else None

    return ServerSide(
        samples=len(samples),
        peak_waiting=peak([s.waiting for s in samples]),
        peak_running=peak([s.running for s in samples]),
        peak_kv_cache_usage=peak([s.kv_cache_usage for s in samples]),
    )


def read_samples(run_path: Path) -> list[ServerSample]:
    path = run_path / SERVER_METRICS_FILE
    if not path.exists():
        return []
    samples = []
    for line in path.read_text("utf-8").splitlines():
        with contextlib.suppress(ValueError):
            samples.append(ServerSample.model_validate_json(line))
    return samples


class Scraper:
    """Scrapes one endpoint's /metrics every `interval_s` while a model runs."""

    def __init__(
        self,
        endpoint: str,
        run_path: Path,
        clock: Callable[[], int],
        headers: dict[str, str] | None = None,
        interval_s: float = 1.0,
    ) -> None:
        self._url = metrics_url(endpoint)
        self._path = run_path / SERVER_METRICS_FILE
        self._clock = clock
        self._headers = headers or {}
        self._interval = interval_s
        self._task: asyncio.Task[None] | None = None
        self.available = True  # False once the server showed it has no such metrics

    def start(self, model: str) -> None:
        if self.available:
            self._task = asyncio.create_task(self._run(model))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self, model: str) -> None:
        timeout = aiohttp.ClientTimeout(total=max(1.0, self._interval))
        async with aiohttp.ClientSession(timeout=timeout, headers=self._headers) as session:
            while True:
                sample = await self._scrape(session, model)
                if sample is _NONE_HERE:
                    self.available = False
                    return
                if isinstance(sample, ServerSample):
                    with self._path.open("a", encoding="utf-8") as out:
                        out.write(json.dumps(sample.model_dump()) + "\n")
                await asyncio.sleep(self._interval)

    async def _scrape(self, session: aiohttp.ClientSession, model: str) -> object:
        """A sample; None when this scrape failed (a busy server: try again); _NONE_HERE
        when the server has no /metrics or none of the known series."""
        try:
            async with session.get(self._url) as response:
                if response.status != 200:
                    return _NONE_HERE
                text = await response.text()
        except (aiohttp.ClientError, TimeoutError):
            return None
        try:
            sample = parse_sample(text, self._clock(), model)
        except ValueError:  # not Prometheus text
            return _NONE_HERE
        if isinstance(sample, ServerSample):
            return sample
        return None if sample else _NONE_HERE  # declared, no values yet: try again


_NONE_HERE = object()
