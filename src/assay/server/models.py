"""Which models are loaded: auto-load, LRU eviction, idle unload, and memory admission."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, replace

import psutil

from assay.catalog import Resolved
from assay.config import available_cores
from assay.engines import LoadedModel, LoadOptions
from assay.engines.threads import threads_of
from assay.errors import AssayError
from assay.registry import ModelRegistry
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
        if worker is not None:
            return worker
        lock = self._loading.setdefault(resolved.name, asyncio.Lock())
        async with lock:
            worker = self._workers.get(resolved.name)
            if worker is None:
                worker = await self._load(resolved)
        return worker

    async def _load(self, resolved: Resolved) -> ModelWorker:
        path = await asyncio.to_thread(self.registry.path, resolved)
        options = self._load_options()
        engine = self.registry.engine(resolved)
        await self._make_room()
        needed = await asyncio.to_thread(engine.estimate_load_bytes, path, options)
        budget = self._memory_budget()
        while needed > budget and self.settings.parallel is None and options.parallel > 1:
            # The default slot count gives way to RAM; an explicit --parallel does not.
            options = replace(options, parallel=options.parallel // 2)
            needed = await asyncio.to_thread(engine.estimate_load_bytes, path, options)
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
        )
        self._workers[resolved.name] = worker
        self._observe_batches(resolved.name, model)
        self._metrics.loaded.set(len(self._workers))
        self._metrics.load_seconds.labels(resolved.name).set(model.info.load_seconds)
        return worker

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
        await asyncio.to_thread(worker.close)

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
        return [
            LoadedSummary(
                name=w.name,
                alias=w.name.partition(":")[0],
                load_seconds=w.model.info.load_seconds,
                idle_seconds=0.0 if w.busy else now - w.last_used,
                waiting=w.waiting,
                busy=w.busy,
                threads=threads_of(w.model),
            )
            for w in self._workers.values()
        ]
