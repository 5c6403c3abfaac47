"""Run a benchmark: for each model, load it (timed), warm up, then run the planned levels,
appending each request's record the moment it completes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import time
import uuid
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
from assay.bench.metrics import request_throughput
from assay.bench.probes import MemorySampler, fingerprint
from assay.bench.prompts import Prompt
from assay.bench.records import RequestRecord
from assay.bench.replicas import endpoint_target
from assay.bench.rundir import RunDir, RunMeta, utc_now
from assay.bench.server_metrics import Scraper
from assay.bench.spec import (
    SWEEP_MAX,
    BenchSpec,
    Level,
    base_level,
    in_repeat,
    model_of,
    plan,
    sweep_levels,
)
from assay.bench.targets import (
    BenchRequest,
    Generation,
    InProcessTarget,
    Target,
)
from assay.bench.workload import exact_text, follow_up
from assay.crash_context import note_running
from assay.engines import Message
from assay.engines.json_schema import schema_valid
from assay.errors import AssayError, ModelCrashedError
from assay.registry import ModelRegistry

OnRecord = Callable[[RequestRecord], None]
Send = Callable[[int, int | None], Coroutine[Any, Any, None]]


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
        earlier = run.records()
        self._done = {r.key for r in earlier}
        # Earlier turns' answers, for a resumed conversation's history (multi-turn only).
        self._answers = {r.key: r for r in earlier if spec.turns > 1}
        # The sweep's throughput levels, whose request rate sets the sweep's rates.
        self._sweep_max: dict[tuple[str, str], list[RequestRecord]] = {}
        for r in earlier:
            if base_level(r.level) == SWEEP_MAX and not r.warmup:
                self._sweep_max.setdefault((r.model, r.level), []).append(r)
        # Synthetic texts made before a level starts: key -> (text, tokens counted).
        self._texts: dict[str, tuple[str, int]] = {}
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
            for repeat in range(self.spec.repeat):  # models interleaved, repeat by repeat
                for model in self.spec.run_names():
                    await self._model(model, repeat)
        finally:
            loop_p95 = await lag.stop()
            send_p95 = float(np.percentile(self._send_lags_ms, 95)) if self._send_lags_ms else None
            self.run.append_progress(
                ClientEvent(loop_lag_p95_ms=loop_p95, send_lag_p95_ms=send_p95)
            )

    def pending(self, model: str) -> int:
        """Requests still to run for a model (duration-bound levels and a sweep's rates,
        not known yet, count as 0)."""
        total = 0
        for repeat in range(self.spec.repeat):
            for level in self._levels(model, repeat):
                if level.count is None:
                    continue
                total += len(self._conversations(model, level)) * self.spec.turns
        return total

    def _levels(self, model: str, repeat: int) -> list[Level]:
        """The levels of one repeat still to run: the plan's, then a sweep's rates once its
        throughput level is measured."""
        levels = [in_repeat(lv, repeat, self.spec.repeat) for lv in plan(self.spec)]
        if self.spec.sweep:
            top = levels[-1]  # the throughput level
            if (model, top.name) in self._levels_done:
                max_rate = request_throughput(self._sweep_max.get((model, top.name), []))
                if max_rate:
                    rates = sweep_levels(self.spec, max_rate)
                    levels += [in_repeat(lv, repeat, self.spec.repeat) for lv in rates]
        return [lv for lv in levels if (model, lv.name) not in self._levels_done]

    async def _model(self, model: str, repeat: int = 0) -> None:
        levels = self._levels(model, repeat)
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
            while levels:  # a sweep's rates join once its throughput level has run
                for level in levels:
                    self.on_level(model, level)
                    await self._level(target, model, level)
                    self._levels_done.add((model, level.name))
                    self.run.append_progress(LevelEvent(model=model, level=level.name))
                levels = self._levels(model, repeat)
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
            details = ModelRunInfo(
                **asdict(info),
                load_average=[load_start, _load()],
                token_counter=target.token_counter if _synthetic(self.spec) else None,
            )
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
                model,
                spec.endpoints(),
                self.api_key,
                generation,
                self.clock,
                spec.balance,
                # Synthetic prompts where a server has no /tokenize: approximate lengths.
                count_tokens=self.registry.count_tokens if _synthetic(spec) else None,
            )
        return InProcessTarget(model, self._loader(model), generation, self.clock)

    def _loader(self, run_name: str) -> Callable[[], Any]:
        context = self.spec.context_size
        if self.spec.suite is not None and context is not None:
            # A suite asks for what its longest prompt needs, never past what the model knows:
            # a transcript longer than that is "does not fit", not a model stretched past it.
            trained = self.registry.resolve(model_of(run_name)).entry.context_length
            context = min(context, trained) if trained else context
        options = self.registry.load_options(
            threads=self.spec.threads,
            context_size=context,
            device=self.spec.device_of(run_name),
        )
        return lambda: self.registry.load(model_of(run_name), options).model

    async def _level(self, target: Target, model: str, level: Level) -> None:
        send = self._sender(target, model, level)
        if level.count is not None:
            await self._synthesize(target, model, level)
        await target.prepare(level.concurrency if level.kind == "concurrency" else 1)
        if level.kind in ("warmup", "sequential"):
            for i in self._conversations(model, level):
                await send(i, None)
        elif level.kind == "concurrency":
            await self._closed_loop(send, model, level)
        elif level.kind == "trace":
            await self._trace(send, model, level)
        else:
            await self._open_loop(send, model, level)

    def _conversations(self, model: str, level: Level) -> list[int]:
        """The level's conversations (requests, at one turn each) with a turn still to run."""
        assert level.count is not None
        return [
            c
            for c in range(level.count)
            if any(
                _key(model, level, c * self.spec.turns + t) not in self._done
                for t in range(self._turns(self._prompt(c)))
            )
        ]

    def _prompt(self, conversation: int) -> Prompt:
        prompts = self.spec.prompts
        return prompts[conversation % len(prompts)]

    def _turns(self, prompt: Prompt) -> int:
        """A dataset's conversation has its own user turns (at most --turns); a prompt list's
        or a synthetic one has --turns."""
        if self.spec.dataset is not None and not prompt.input_tokens:
            return min(self.spec.turns, 1 + len(prompt.followups))
        return self.spec.turns

    def _user_text(self, prompt: Prompt, turn: int) -> str | None:
        """The user's message at TURN, or None for a synthetic one (made per request)."""
        if prompt.input_tokens:
            return None
        if turn == 0:
            return prompt.prompt
        if prompt.followups:
            return prompt.followups[turn - 1]
        return follow_up(turn)

    async def _synthesize(self, target: Target, model: str, level: Level) -> None:
        """Every synthetic text of the level, counted by the target's tokenizer before the
        level's clock starts (a duration-bound level makes them as it goes)."""
        for c in self._conversations(model, level):
            prompt = self._prompt(c)
            if prompt.input_tokens:
                for t in range(self._turns(prompt)):
                    await self._synthetic(
                        target, _key(model, level, c * self.spec.turns + t), prompt
                    )

    async def _synthetic(self, target: Target, key: str, prompt: Prompt) -> tuple[str, int]:
        assert prompt.input_tokens is not None
        made = self._texts.get(key)
        if made is None:
            made = await exact_text(target.count_tokens, key, self.spec.seed, prompt.input_tokens)
            self._texts[key] = made
        return made

    def _sender(self, target: Target, model: str, level: Level) -> Send:
        spec = self.spec
        attempt = self.attempt if level.count is None else 1

        async def send(conversation: int, scheduled: int | None) -> None:
            prompt = self._prompt(conversation)
            history = [Message("system", prompt.system)] if prompt.system else []
            history += [Message(turn.role, turn.content) for turn in prompt.history]
            # Unique per conversation (the same for its turns); a synthetic text is unique.
            unique = not (spec.allow_prefix_cache or prompt.input_tokens)
            tag = uuid.uuid4().hex[:8] if unique and spec.endpoint else None
            for turn in range(self._turns(prompt)):
                index = conversation * spec.turns + turn
                key = _key(model, level, index)
                text = self._user_text(prompt, turn)
                counted = None
                if text is None:
                    text, counted = await self._synthetic(target, key, prompt)
                if key in self._done:  # a resumed conversation: its history is on disk
                    earlier = self._answers.get(key)
                    if earlier is None or not earlier.ok:
                        return
                    history += [Message("user", text), Message("assistant", earlier.text)]
                    continue
                request = BenchRequest(
                    key=key,
                    model=model,
                    level=level.name,
                    index=index,
                    round=conversation // len(spec.prompts),
                    prompt=prompt,
                    messages=(*history, Message("user", text)),
                    warmup=level.kind == "warmup",
                    attempt=attempt,
                    scheduled_ns=scheduled if turn == 0 else None,
                    turn=turn,
                    max_tokens=prompt.max_tokens,
                    min_tokens=(prompt.max_tokens or 0) if prompt.hold_output else 0,
                    input_tokens=counted,
                    tag=tag,
                    prefix_cache=turn > 0,
                )
                record = await self._send_one(target, request)
                if not record.ok:
                    return  # a failed turn ends its conversation
                history += [Message("user", text), Message("assistant", record.text)]

        return send

    async def _send_one(self, target: Target, request: BenchRequest) -> RequestRecord:
        record = await target.send(request)
        schema = request.prompt.json_schema or self.spec.json_schema
        if schema is not None and record.ok:
            valid = schema_valid(record.text, schema)
            record = record.model_copy(update={"schema_valid": valid})
        if request.scheduled_ns is not None:
            self._send_lags_ms.append((record.sent_ns - request.scheduled_ns) / 1e6)
        self.run.append_record(record)
        self._done.add(record.key)
        if base_level(record.level) == SWEEP_MAX and not record.warmup:
            self._sweep_max.setdefault((record.model, record.level), []).append(record)
        self.on_record(record)
        return record

    async def _closed_loop(self, send: Send, model: str, level: Level) -> None:
        """`concurrency` clients, each starting its next conversation when the last ends."""
        if level.count is not None:
            queue = iter(self._conversations(model, level))
        else:
            queue = iter(range(10**9))
        deadline = None if level.duration_s is None else time.monotonic() + level.duration_s

        async def client() -> None:
            for conversation in queue:
                if deadline is not None and time.monotonic() >= deadline:
                    return
                await send(conversation, None)

        await asyncio.gather(*(client() for _ in range(level.concurrency)))

    async def _open_loop(self, send: Send, model: str, level: Level) -> None:
        """Poisson arrivals at `rate` per second, whatever the server's speed."""
        assert level.rate is not None
        rng = random.Random(self.spec.seed)
        indices = self._conversations(model, level) if level.count is not None else range(10**9)
        offsets = []
        offset = 0.0
        for _ in indices:
            offset += rng.expovariate(level.rate)
            if level.duration_s is not None and offset > level.duration_s:
                break
            offsets.append(offset)
        await self._scheduled(send, list(zip(indices, offsets, strict=False)))

    async def _trace(self, send: Send, model: str, level: Level) -> None:
        """Each row at its own time from the trace's start, divided by --time-scale."""
        scale = self.spec.time_scale
        arrivals = [
            (c, (self._prompt(c).arrival_s or 0.0) / scale)
            for c in self._conversations(model, level)
        ]
        if arrivals:  # a resumed trace starts at its first row still to run
            first = arrivals[0][1]
            arrivals = [(c, at - first) for c, at in arrivals]
        await self._scheduled(send, arrivals)

    async def _scheduled(self, send: Send, arrivals: list[tuple[int, float]]) -> None:
        """Start each conversation at its offset in seconds from now."""
        start = self.clock()
        tasks: list[asyncio.Task[None]] = []
        for conversation, offset in arrivals:
            scheduled = start + int(offset * 1e9)
            delay = (scheduled - self.clock()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(conversation, scheduled)))
        await asyncio.gather(*tasks)


def _synthetic(spec: BenchSpec) -> bool:
    return any(p.input_tokens for p in spec.prompts)


def _load() -> list[float]:
    """The 1, 5 and 15 minute load averages, recorded beside each model's figures."""
    return [round(value, 2) for value in os.getloadavg()]


def _key(model: str, level: Level, index: int) -> str:
    return f"{model}|{level.name}|{index}"


def start_meta(spec: BenchSpec) -> RunMeta:
    return RunMeta(
        format_version=FORMAT_VERSION, spec=spec, started_at=utc_now(), environment=fingerprint()
    )
