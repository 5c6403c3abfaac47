"""Run a benchmark: for each model, load it (timed), warm up, then run the planned levels,
appending each request's record the moment it completes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from typing import Any

import numpy as np

from assay.bench.events import (
    FORMAT_VERSION,
    ClientEvent,
    LevelEvent,
    ModelEvent,
    ModelRunInfo,
    ModelStartEvent,
    ModelStatus,
    StartEvent,
)
from assay.bench.probes import MemorySampler, fingerprint
from assay.bench.records import RequestRecord
from assay.bench.replicas import endpoint_target
from assay.bench.rundir import RunDir, RunMeta, utc_now
from assay.bench.server_metrics import Scraper
from assay.bench.spec import BenchSpec, Level, model_of, plan
from assay.bench.targets import (
    BenchRequest,
    Generation,
    InProcessTarget,
    Target,
)
from assay.crash_context import note_running
from assay.engines.json_schema import schema_valid
from assay.errors import AssayError, ModelCrashedError
from assay.registry import ModelRegistry

OnRecord = Callable[[RequestRecord], None]


def _resolve(future: asyncio.Future[None]) -> None:
    # Ctrl-C cancels the monitor while this callback is queued; set_result would then raise.
    if not future.done():
        future.set_result(None)


class LagMonitor:
    """Measures the client's own event-loop lag: every interval, how long a callback that is
    ready now waits before it runs (timer resolution does not enter into it)."""

    def __init__(self, interval_s: float = 0.01) -> None:
        self.interval = interval_s
        self.samples_ms: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.interval)
            ready: asyncio.Future[None] = loop.create_future()
            before = time.perf_counter()
            loop.call_soon(_resolve, ready)
            await ready
            self.samples_ms.append((time.perf_counter() - before) * 1000)

    async def stop(self) -> float | None:
        if self._task is not None:
            self._task.cancel()
        if not self.samples_ms:
            return None
        return float(np.percentile(self.samples_ms, 95))


class BenchRunner:
    def __init__(
        self,
        spec: BenchSpec,
        run: RunDir,
        registry: ModelRegistry,
        api_key: str | None = None,
        on_record: OnRecord | None = None,
        on_level: Callable[[str, Level], None] | None = None,
    ) -> None:
        self.spec = spec
        self.run = run
        self.registry = registry
        self.api_key = api_key
        self.on_record = on_record or (lambda record: None)
        self.on_level = on_level or (lambda model, level: None)
        self._zero = time.perf_counter_ns()
        self._done = {r.key for r in run.records()}
        progress = run.progress()
        self._levels_done = {(e.model, e.level) for e in progress if isinstance(e, LevelEvent)}
        self.attempt = 1 + sum(1 for e in progress if isinstance(e, StartEvent))
        # Models whose engine crashed the process in an earlier attempt: not tried again.
        self._crashed = {e.model for e in progress if isinstance(e, ModelEvent) and e.crashed}
        self._send_lags_ms: list[float] = []
        # Against an endpoint: its /metrics, scraped while each model runs.
        self._scraper = (
            Scraper(
                spec.endpoints(),
                run.path,
                self.clock,
                {"Authorization": f"Bearer {api_key}"} if api_key else None,
            )
            if spec.endpoint
            else None
        )

    def clock(self) -> int:
        return time.perf_counter_ns() - self._zero

    async def execute(self) -> None:
        """Benchmark every model; one that fails is recorded and the others go on."""
        self.run.append_progress(StartEvent(attempt=self.attempt, at=utc_now()))
        lag = LagMonitor()
        lag.start()
        try:
            for model in self.spec.run_names():
                await self._model(model)
        finally:
            loop_p95 = await lag.stop()
            send_p95 = float(np.percentile(self._send_lags_ms, 95)) if self._send_lags_ms else None
            self.run.append_progress(
                ClientEvent(loop_lag_p95_ms=loop_p95, send_lag_p95_ms=send_p95)
            )

    def pending(self, model: str) -> int:
        """Requests still to run for a model (duration-bound levels count as unknown: 0)."""
        total = 0
        for level in plan(self.spec):
            if (model, level.name) in self._levels_done or level.count is None:
                continue
            total += sum(1 for i in range(level.count) if _key(model, level, i) not in self._done)
        return total

    async def _model(self, model: str) -> None:
        levels = [lv for lv in plan(self.spec) if (model, lv.name) not in self._levels_done]
        if not levels or model in self._crashed:
            return
        # Written before the model loads: if the engine kills the process, the run directory
        # says which model was running, and so does the supervising parent's error line.
        load_start = _load()
        self.run.append_progress(
            ModelStartEvent(model=model, at=utc_now(), load_average=load_start)
        )
        note_running(command="bench", model=model, run_dir=str(self.run.path))
        target = self._target(model)
        try:
            info = await target.open()
        except AssayError as exc:
            crashed = isinstance(exc, ModelCrashedError)  # its runner died while loading it
            self.run.append_progress(
                ModelEvent(
                    model=model, status="failed", error=exc.message, crashed=crashed, at=utc_now()
                )
            )
            return
        sampler = MemorySampler(info.pid, what=info.memory_of).start()
        if self._scraper is not None:
            self._scraper.start(model)
        status: ModelStatus = "ok"
        error: str | None = None
        try:
            for level in levels:
                self.on_level(model, level)
                await self._level(target, model, level)
                self.run.append_progress(LevelEvent(model=model, level=level.name))
        except ModelCrashedError as exc:  # its runner died: the bench goes on without it
            status, error = "failed", f"engine crashed: {exc.cause}"
            self._keep_stack(model, exc)
        except asyncio.CancelledError:
            status = "interrupted"
            raise
        finally:
            memory = sampler.stop()
            if self._scraper is not None:
                await self._scraper.stop()
            await target.close()
            details = ModelRunInfo(**asdict(info), load_average=[load_start, _load()])
            event = ModelEvent(
                model=model,
                status=status,
                error=error,
                crashed=error is not None,
                info=details,
                memory=memory,
                at=utc_now(),
            )
            self.run.append_progress(event)

    def _keep_stack(self, model: str, exc: ModelCrashedError) -> None:
        """The runner's native stack (faulthandler's), kept with the run's files."""
        if exc.stack is None:
            return
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model)
        with contextlib.suppress(OSError):
            shutil.move(exc.stack, self.run.path / f"crash-{safe}.log")

    def _target(self, model: str) -> Target:
        spec = self.spec
        generation = Generation(
            max_tokens=spec.max_tokens,
            temperature=spec.temperature,
            seed=spec.seed,
            stream=spec.stream,
            prefix_cache=spec.allow_prefix_cache,
            timeout_s=spec.timeout_s,
            json_schema=spec.json_schema,
        )
        if spec.endpoint:
            return endpoint_target(
                model, spec.endpoints(), self.api_key, generation, self.clock, spec.balance
            )
        return InProcessTarget(model, self._loader(model), generation, self.clock)

    def _loader(self, run_name: str) -> Callable[[], Any]:
        options = self.registry.load_options(
            threads=self.spec.threads,
            context_size=self.spec.context_size,
            device=self.spec.device_of(run_name),
        )
        return lambda: self.registry.load(model_of(run_name), options).model

    async def _level(self, target: Target, model: str, level: Level) -> None:
        send = self._sender(target, model, level)
        await target.prepare(level.concurrency if level.kind == "concurrency" else 1)
        if level.kind in ("warmup", "sequential"):
            for i in self._indices(model, level):
                await send(i, None)
        elif level.kind == "concurrency":
            await self._closed_loop(send, model, level)
        else:
            await self._open_loop(send, model, level)

    def _indices(self, model: str, level: Level) -> list[int]:
        assert level.count is not None
        return [i for i in range(level.count) if _key(model, level, i) not in self._done]

    def _sender(
        self, target: Target, model: str, level: Level
    ) -> Callable[[int, int | None], Coroutine[Any, Any, None]]:
        prompts = self.spec.prompts
        attempt = self.attempt if level.count is None else 1

        async def send(index: int, scheduled: int | None) -> None:
            request = BenchRequest(
                key=_key(model, level, index),
                model=model,
                level=level.name,
                index=index,
                round=index // len(prompts),
                prompt=prompts[index % len(prompts)],
                warmup=level.kind == "warmup",
                attempt=attempt,
                scheduled_ns=scheduled,
            )
            record = await target.send(request)
            if self.spec.json_schema is not None and record.ok:
                valid = schema_valid(record.text, self.spec.json_schema)
                record = record.model_copy(update={"schema_valid": valid})
            if scheduled is not None:
                self._send_lags_ms.append((record.sent_ns - scheduled) / 1e6)
            self.run.append_record(record)
            self._done.add(record.key)
            self.on_record(record)

        return send

    async def _closed_loop(
        self, send: Callable[[int, int | None], Coroutine[Any, Any, None]], model: str, level: Level
    ) -> None:
        """`concurrency` clients, each sending its next request when the last one ends."""
        if level.count is not None:
            queue = iter(self._indices(model, level))
        else:
            queue = iter(range(10**9))
        deadline = None if level.duration_s is None else time.monotonic() + level.duration_s

        async def client() -> None:
            for index in queue:
                if deadline is not None and time.monotonic() >= deadline:
                    return
                await send(index, None)

        await asyncio.gather(*(client() for _ in range(level.concurrency)))

    async def _open_loop(
        self, send: Callable[[int, int | None], Coroutine[Any, Any, None]], model: str, level: Level
    ) -> None:
        """Poisson arrivals at `rate` per second, whatever the server's speed."""
        assert level.rate is not None
        rng = random.Random(self.spec.seed)
        start = self.clock()
        offset = 0.0
        tasks: list[asyncio.Task[None]] = []
        indices = self._indices(model, level) if level.count is not None else range(10**9)
        for index in indices:
            offset += rng.expovariate(level.rate)
            if level.duration_s is not None and offset > level.duration_s:
                break
            scheduled = start + int(offset * 1e9)
            delay = (scheduled - self.clock()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(index, scheduled)))
        await asyncio.gather(*tasks)


def _load() -> list[float]:
    """The 1, 5 and 15 minute load averages, recorded beside each model's figures."""
    return [round(value, 2) for value in os.getloadavg()]


def _key(model: str, level: Level, index: int) -> str:
    return f"{model}|{level.name}|{index}"


def start_meta(spec: BenchSpec) -> RunMeta:
    return RunMeta(
        format_version=FORMAT_VERSION, spec=spec, started_at=utc_now(), environment=fingerprint()
    )
