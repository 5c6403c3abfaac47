"""Which models are loaded: auto-load, LRU eviction, idle unload, and memory admission."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass, replace

import psutil

from assay.catalog import Resolved
from assay.config import available_cores
from assay.engines import LoadedModel, LoadOptions
from assay.engines.threads import threads_of
from assay.errors import AssayError, ModelCrashedError
from assay.registry import ModelRegistry
from assay.runner import SPARES, process_usage
from assay.server.errors import APIError
from assay.server.metrics import ServerMetrics
from assay.server.settings import ServerSettings, default_parallel
from assay.server.worker import ModelWorker
from assay.units import format_bytes


@dataclass(frozen=True)
class LoadedSummary:
    name: str
    alias: str
    load_seconds: float
    idle_seconds: float
    waiting: int
    busy: bool
    threads: str
    # The runner process that holds the model, and what it costs (None: in this process).
    pid: int | None = None
    rss_bytes: int | None = None
    peak_rss_bytes: int | None = None
    cpu_seconds: float | None = None


def crash_label(exc: ModelCrashedError) -> str:
    """The `signal` label of a runner crash: SIGSEGV, SIGKILL, ...; exit; hang."""
    cause = exc.cause
    if cause.startswith("SIG"):
        return cause.split()[0]
    return "exit" if cause.startswith("exit") else "hang"


def compute_slots(threads: int | None) -> threading.BoundedSemaphore:
    """How many local generations may run at once: as many thread pools as fit the cores."""
    cores = available_cores()
    return threading.BoundedSemaphore(max(1, cores // (threads or cores)))


class ModelManager:
    """Owns the workers of the loaded models; every method runs on the event loop."""

    def __init__(
        self, registry: ModelRegistry, settings: ServerSettings, metrics: ServerMetrics
    ) -> None:
        self.registry = registry
        self.settings = settings
        self._metrics = metrics
        self._workers: dict[str, ModelWorker] = {}
        self._loading: dict[str, asyncio.Lock] = {}
        self._compute = compute_slots(settings.threads)
        # Peak memory a model's runner reached, by model and load options: what the memory
        # check before its next load counts on, in place of the engine's estimate.
        self._footprints: dict[tuple[str, LoadOptions], int] = {}

    def resolve(self, name: str) -> Resolved:
        resolved = self.registry.resolve(name)
        if self.settings.models and resolved.entry.alias not in self._allowed_aliases():
            raise APIError(
                404,
                f"model '{name}' is not served here; this server serves: "
                + ", ".join(self.settings.models),
                code="model_not_found",
                param="model",
            )
        return resolved

    def _allowed_aliases(self) -> set[str]:
        return {m.partition(":")[0] for m in self.settings.models}

    def is_loaded(self, resolved: Resolved) -> bool:
        return resolved.name in self._workers

    async def worker(self, name: str) -> ModelWorker:
        """The worker for a model, loading it first if needed (once, however many ask)."""
        resolved = self.resolve(name)
        worker = self._workers.get(resolved.name)
        if worker is not None and not worker.crashed:
            return worker
        lock = self._loading.setdefault(resolved.name, asyncio.Lock())
        async with lock:
            worker = self._workers.get(resolved.name)
            if worker is not None and worker.crashed:  # its runner died: start a fresh one
                self._crashed(worker)
                worker = None
            if worker is None:
                worker = await self._load(resolved)
        return worker

    async def _load(self, resolved: Resolved) -> ModelWorker:
        path = await asyncio.to_thread(self.registry.path, resolved)
        options = self._load_options()
        engine = self.registry.engine(resolved, loop=asyncio.get_running_loop())
        await self._make_room()

        async def footprint(options: LoadOptions) -> int:
            measured = self._footprints.get((resolved.name, options))
            if measured is not None:
                return measured
            return await asyncio.to_thread(engine.estimate_load_bytes, path, options)

        needed = await footprint(options)
        budget = self._memory_budget()
        while needed > budget and self.settings.parallel is None and options.parallel > 1:
            # The default slot count gives way to RAM; an explicit --parallel does not.
            options = replace(options, parallel=options.parallel // 2)
            needed = await footprint(options)
        if needed > budget:
            raise APIError(
                500,
                f"not loading '{resolved.name}': it needs about {format_bytes(needed)} "
                f"(weights and KV cache) but {format_bytes(budget)} is available; unload a "
                "model, lower the context, or pick a smaller variant",
                type_="server_error",
                code="insufficient_memory",
            )
        try:
            model = await asyncio.to_thread(engine.load, path, options)
        except AssayError as exc:
            raise APIError(
                500,
                f"loading '{resolved.name}' failed: {exc.message}",
                type_="server_error",
                code="model_load_failed",
            ) from None
        # One generation at a time takes a compute slot; a batched model shares its own
        # thread pool among its slots, and a remote upstream computes elsewhere.
        worker = ModelWorker(
            resolved.name,
            model,
            self.settings.max_queue,
            self._metrics,
            self._compute if model.parallel == 1 else None,
            options,
            resolved.variant.engine,
        )
        self._workers[resolved.name] = worker
        self._observe_batches(resolved.name, model)
        loop = asyncio.get_running_loop()

        def crashed(exc: ModelCrashedError) -> None:
            loop.call_soon_threadsafe(self._crashed, worker)

        model.on_crash(crashed)
        self._metrics.loaded.set(len(self._workers))
        self._metrics.load_seconds.labels(resolved.name).set(model.info.load_seconds)
        return worker

    async def warm_spares(self) -> None:
        """Start a runner ahead for each engine of the served models (llama.cpp when any
        cached model may be asked for), so that the first load skips the process start;
        the server starts serving once they are ready (a second or so)."""
        if not self.registry.settings.runners:
            return
        engines = set() if self.settings.models else {"llamacpp"}
        for name in self.settings.models:
            with contextlib.suppress(AssayError, APIError):
                engines.add(self.resolve(name).variant.engine)
        await asyncio.to_thread(SPARES.warm, engines - {"remote"})

    def _load_options(self) -> LoadOptions:
        options = self.registry.load_options(
            threads=self.settings.threads,
            context_size=self.settings.context_size,
            gpu_layers=self.settings.gpu_layers,
            device=self.settings.device,
        )
        parallel = self.settings.parallel or default_parallel(available_cores())
        return replace(options, parallel=parallel)

    def _observe_batches(self, name: str, model: LoadedModel) -> None:
        self._metrics.slots.labels(name).set(model.parallel)
        metrics = self._metrics

        def on_step(active: int, batch_tokens: int) -> None:
            metrics.busy_slots.labels(name).set(active)
            if batch_tokens:
                metrics.batch_tokens.labels(name).observe(batch_tokens)

        if model.observe(on_step):
            # The series exist from the load on (at 0), not from the first decode step.
            metrics.busy_slots.labels(name)
            metrics.batch_tokens.labels(name)

    def _memory_budget(self) -> int:
        if self.settings.memory_budget_bytes is not None:
            used = sum(w.model.info.file_bytes for w in self._workers.values())
            return max(0, self.settings.memory_budget_bytes - used)
        return int(psutil.virtual_memory().available)

    async def _make_room(self) -> None:
        """Evict the least recently used idle model while the loaded count is at the limit."""
        while len(self._workers) >= self.settings.max_loaded:
            idle = [w for w in self._workers.values() if not w.busy]
            if not idle:
                raise APIError(
                    503,
                    f"all {len(self._workers)} loaded models are busy and --max-loaded is "
                    f"{self.settings.max_loaded}; retry shortly",
                    type_="server_error",
                    code="model_slots_busy",
                    headers={"Retry-After": "1"},
                )
            oldest = min(idle, key=lambda w: w.last_used)
            await self._unload(oldest, reason="evicted")

    async def unload(self, name: str) -> bool:
        resolved = self.resolve(name)
        worker = self._workers.get(resolved.name)
        if worker is None:
            return False
        await self._unload(worker, reason="requested")
        return True

    async def _unload(self, worker: ModelWorker, reason: str) -> None:
        self._workers.pop(worker.name, None)
        self._metrics.loaded.set(len(self._workers))
        self._metrics.unloads.labels(worker.name, reason).inc()
        self._remember_footprint(worker)
        await asyncio.to_thread(worker.close)
        if reason != "shutdown":
            self._refill_spare(worker)

    def _refill_spare(self, worker: ModelWorker) -> None:
        """A runner ahead for the next load of this engine, started now that the model's
        cores are free (not after a load, where it would compete with the first requests)."""
        if worker.model.pid is not None and worker.engine:
            SPARES.refill(worker.engine)

    def _remember_footprint(self, worker: ModelWorker) -> None:
        pid = worker.model.pid
        usage = process_usage(pid) if pid is not None else None
        if usage is not None:
            self._footprints[(worker.name, worker.options)] = usage.peak_rss_bytes

    def _crashed(self, worker: ModelWorker) -> None:
        """A model's runner died: count it, and drop the worker (its open requests have
        their error already); the next request loads the model in a fresh runner."""
        if self._workers.get(worker.name) is not worker or worker.failure is None:
            return
        del self._workers[worker.name]
        self._metrics.runner_crashes.labels(worker.name, crash_label(worker.failure)).inc()
        self._metrics.unloads.labels(worker.name, "crashed").inc()
        self._metrics.loaded.set(len(self._workers))
        for gauge in (self._metrics.rss, self._metrics.peak_rss, self._metrics.cpu):
            with contextlib.suppress(KeyError):
                gauge.remove(worker.name)
        # Its threads end as their jobs fail; nothing to wait for on the event loop.
        threading.Thread(target=worker.close, name="assay-close-crashed", daemon=True).start()
        self._refill_spare(worker)

    def refresh_usage(self) -> None:
        """Set the memory and CPU gauges from each runner process (before /metrics)."""
        for worker in self._workers.values():
            pid = worker.model.pid
            usage = process_usage(pid) if pid is not None else None
            if usage is None:
                continue
            self._metrics.rss.labels(worker.name).set(usage.rss_bytes)
            self._metrics.peak_rss.labels(worker.name).set(usage.peak_rss_bytes)
            self._metrics.cpu.labels(worker.name).set(usage.cpu_seconds)

    async def unload_idle(self) -> list[str]:
        """Unload every model idle for longer than the TTL; returns their names."""
        now = time.monotonic()
        expired = [
            w
            for w in self._workers.values()
            if not w.busy and now - w.last_used >= self.settings.ttl
        ]
        for worker in expired:
            await self._unload(worker, reason="ttl")
        return [w.name for w in expired]

    async def close(self) -> None:
        for worker in list(self._workers.values()):
            await self._unload(worker, reason="shutdown")

    def loaded(self) -> list[LoadedSummary]:
        now = time.monotonic()
        summaries = []
        for w in self._workers.values():
            usage = process_usage(w.model.pid) if w.model.pid is not None else None
            summaries.append(
                LoadedSummary(
                    name=w.name,
                    alias=w.name.partition(":")[0],
                    load_seconds=w.model.info.load_seconds,
                    idle_seconds=0.0 if w.busy else now - w.last_used,
                    waiting=w.waiting,
                    busy=w.busy,
                    threads=threads_of(w.model),
                    pid=w.model.pid,
                    rss_bytes=usage.rss_bytes if usage else None,
                    peak_rss_bytes=usage.peak_rss_bytes if usage else None,
                    cpu_seconds=usage.cpu_seconds if usage else None,
                )
            )
        return summaries
