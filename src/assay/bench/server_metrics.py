"""The server's side of a run against an endpoint: its Prometheus /metrics, scraped every
second into server_metrics.jsonl while each model runs.

Only what explains the client's figures is kept, under one name whatever the server calls
it: requests waiting (queued) and running, and the KV cache's use (0-1). The names of assay
serve, llama.cpp's server, vLLM and SGLang are known; a server without /metrics (or with
none of these) leaves no file, and the run goes on.

With several endpoints (replicas of one model) each is scraped at the same tick, and each
sample says its replica: the summary gives each replica's peaks, and the deployment's as a
whole from the replicas' figures of each tick (waiting and running added up, the fullest
KV cache).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
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
    """One scrape: when (the run's clock, ns), for which model, and what the server said;
    with replicas, which one said it (the replicas scraped at one tick share its t_ns)."""

    t_ns: int
    model: str
    waiting: float | None = None
    running: float | None = None
    kv_cache_usage: float | None = None
    replica: str | None = None


class ServerSide(BaseModel):
    """A model's scrapes, summed up for the summary and the report. With replicas, these
    peaks are the deployment's (per tick: waiting and running added up over the replicas
    that answered, the fullest KV cache) and `replicas` holds each one's own."""

    samples: int
    peak_waiting: float | None = None
    peak_running: float | None = None
    peak_kv_cache_usage: float | None = None
    replica: str | None = None
    replicas: list[ServerSide] | None = None


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


def _peak(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _total(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _peaks(samples: list[ServerSample], replica: str | None = None) -> ServerSide:
    return ServerSide(
        samples=len(samples),
        peak_waiting=_peak([s.waiting for s in samples]),
        peak_running=_peak([s.running for s in samples]),
        peak_kv_cache_usage=_peak([s.kv_cache_usage for s in samples]),
        replica=replica,
    )


def summarize_samples(samples: list[ServerSample]) -> ServerSide | None:
    if not samples:
        return None
    by_replica: dict[str, list[ServerSample]] = defaultdict(list)
    for sample in samples:
        if sample.replica is not None:
            by_replica[sample.replica].append(sample)
    if not by_replica:
        return _peaks(samples)
    ticks: dict[int, list[ServerSample]] = defaultdict(list)
    for sample in samples:
        ticks[sample.t_ns].append(sample)
    return ServerSide(
        samples=len(samples),
        peak_waiting=_peak([_total([s.waiting for s in tick]) for tick in ticks.values()]),
        peak_running=_peak([_total([s.running for s in tick]) for tick in ticks.values()]),
        peak_kv_cache_usage=_peak([s.kv_cache_usage for s in samples]),
        replicas=[_peaks(own, url) for url, own in by_replica.items()],
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
    """Scrapes an endpoint's /metrics every `interval_s` while a model runs; with several
    (replicas), all of them at each tick, each sample tagged with its replica."""

    def __init__(
        self,
        endpoints: str | Sequence[str],
        run_path: Path,
        clock: Callable[[], int],
        headers: dict[str, str] | None = None,
        interval_s: float = 1.0,
    ) -> None:
        listed = [endpoints] if isinstance(endpoints, str) else list(endpoints)
        self._tagged = len(listed) > 1
        # The endpoints still scraped: one that showed it has no such metrics is dropped.
        self._urls = {endpoint: metrics_url(endpoint) for endpoint in listed}
        self._path = run_path / SERVER_METRICS_FILE
        self._clock = clock
        self._headers = headers or {}
        self._interval = interval_s
        self._task: asyncio.Task[None] | None = None

    @property
    def available(self) -> bool:
        """False once every endpoint showed it has no such metrics."""
        return bool(self._urls)

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
            while self._urls:
                tick = self._clock()
                endpoints = list(self._urls)
                results = await asyncio.gather(
                    *(self._scrape(session, self._urls[e], tick, model) for e in endpoints)
                )
                lines = []
                for endpoint, sample in zip(endpoints, results, strict=True):
                    if sample is _NONE_HERE:
                        del self._urls[endpoint]
                    elif isinstance(sample, ServerSample):
                        if self._tagged:
                            sample = sample.model_copy(update={"replica": endpoint})
                        dumped = sample.model_dump(exclude=None if self._tagged else {"replica"})
                        lines.append(json.dumps(dumped) + "\n")
                if lines:
                    with self._path.open("a", encoding="utf-8") as out:
                        out.writelines(lines)
                await asyncio.sleep(self._interval)

    async def _scrape(
        self, session: aiohttp.ClientSession, url: str, tick: int, model: str
    ) -> object:
        """A sample; None when this scrape failed (a busy server: try again); _NONE_HERE
        when the server has no /metrics or none of the known series."""
        try:
            async with session.get(url) as response:
                if response.status != 200:
                    return _NONE_HERE
                text = await response.text()
        except (aiohttp.ClientError, TimeoutError):
            return None
        try:
            sample = parse_sample(text, tick, model)
        except ValueError:  # not Prometheus text
            return _NONE_HERE
        if isinstance(sample, ServerSample):
            return sample
        return None if sample else _NONE_HERE  # declared, no values yet: try again


_NONE_HERE = object()
