"""One loaded model's request queue, served by a thread so inference never blocks the loop.

A request becomes a Job; the model's worker runs jobs in arrival order and hands each chunk
to the job's asyncio queue. A model that decodes several sequences together (a batched
llama.cpp model, a remote upstream) says how many in `parallel`: that many jobs run at once,
each on a thread of its own, and the rest wait in the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from dataclasses import dataclass, field

from assay.crash_context import note_running
from assay.engines import CancelToken, Chunk, LoadedModel, LoadOptions, PushableChunks
from assay.errors import AssayError, EngineError, ModelCrashedError
from assay.server.metrics import ServerMetrics

StartFn = Callable[[LoadedModel, CancelToken], Iterator[Chunk]]


class QueueFullError(Exception):
    def __init__(self, depth: int) -> None:
        super().__init__(f"the request queue is full ({depth} waiting)")
        self.depth = depth


@dataclass
class Job:
    """One request's generation: started by the worker, read by the HTTP handler."""

    start: StartFn
    loop: asyncio.AbstractEventLoop
    cancel: CancelToken = field(default_factory=CancelToken)
    admitted_ns: int = field(default_factory=time.perf_counter_ns)
    started_ns: int | None = None
    first_token_ns: int | None = None
    last_token_ns: int | None = None
    _out: asyncio.Queue[Chunk | BaseException] = field(default_factory=asyncio.Queue)

    def put(self, item: Chunk | BaseException) -> None:
        """Called from the worker thread."""
        if isinstance(item, Chunk) and item.tokens:
            now = time.perf_counter_ns()
            if self.first_token_ns is None:
                self.first_token_ns = now
            self.last_token_ns = now
        # Always through the loop's queue of callbacks, even from the loop itself (a runner's
        # chunk read there): a stream handed over from another thread keeps its order.
        self.loop.call_soon_threadsafe(self._out.put_nowait, item)

    async def chunks(self) -> AsyncGenerator[Chunk, None]:
        """The job's chunks up to the final one; cancels the generation if abandoned."""
        try:
            while True:
                item = await self._out.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.finish_reason is not None:
                    return
        finally:
            self.cancel.cancel()


class ModelWorker:
    """Runs one model's jobs in order on a dedicated thread, with a bounded wait queue."""

    def __init__(
        self,
        name: str,
        model: LoadedModel,
        max_queue: int,
        metrics: ServerMetrics,
        compute: threading.Semaphore | None = None,
        options: LoadOptions | None = None,
        engine: str = "",
    ) -> None:
        self.name = name
        self.options = options or LoadOptions()  # how the model was loaded
        self.engine = engine  # the catalog's name of its engine ("": not known)
        # Set (from the runner's reader thread) when the process holding the model dies.
        self.failure: ModelCrashedError | None = None
        model.on_crash(self._on_crash)
        # Shared by the local models of one server: two llama.cpp thread pools busy on the
        # same cores slow each other down many times over, so they take turns.
        self._compute = compute
        self.model = model
        self.max_queue = max_queue
        self.last_used = time.monotonic()
        self._metrics = metrics
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._waiting = 0
        self._active = 0
        # One generation at a time, unless the model says it can take more (a remote upstream).
        self._threads = [
            threading.Thread(target=self._run, name=f"assay-{name}-{i}", daemon=True)
            for i in range(max(1, model.parallel))
        ]
        for thread in self._threads:
            thread.start()

    def _on_crash(self, exc: ModelCrashedError) -> None:
        self.failure = exc

    @property
    def crashed(self) -> bool:
        return self.failure is not None

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._waiting > 0 or self._active > 0

    @property
    def waiting(self) -> int:
        with self._lock:
            return self._waiting

    def submit(self, job: Job) -> None:
        with self._lock:
            if self._waiting >= self.max_queue:
                self._metrics.rejected.labels(self.name).inc()
                raise QueueFullError(self._waiting)
            self._waiting += 1
            self._metrics.queue_depth.labels(self.name).set(self._waiting)
        self.last_used = time.monotonic()
        self._jobs.put(job)

    def close(self) -> None:
        """Let the running and waiting jobs finish, then free the model (blocks)."""
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()
        self.model.close()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            with self._lock:
                self._waiting -= 1
                self._active += 1
                self._metrics.queue_depth.labels(self.name).set(self._waiting)
            self._metrics.active.labels(self.name).inc()
            try:
                note_running(command="serve", model=self.name)  # named if the engine crashes
                with self._compute or contextlib.nullcontext():
                    self._execute(job)
            finally:
                with self._lock:
                    self._active -= 1
                self._metrics.active.labels(self.name).dec()
                self.last_used = time.monotonic()

    def _deliver(self, job: Job, item: Chunk | AssayError) -> None:
        job.put(item)
        if isinstance(item, Chunk) and item.finish_reason == "cancelled":
            self._metrics.cancelled.labels(self.name).inc()

    def _execute(self, job: Job) -> None:
        job.started_ns = time.perf_counter_ns()
        if job.cancel.cancelled:
            self._metrics.cancelled.labels(self.name).inc()
            return
        try:
            chunks = job.start(self.model, job.cancel)
            if isinstance(chunks, PushableChunks):  # a runner's: straight to the request
                chunks.push(lambda item: self._deliver(job, item))
                return
            for chunk in chunks:
                self._deliver(job, chunk)
        except AssayError as exc:
            job.put(exc)
        except Exception as exc:  # an engine bug must fail one request, not the worker
            job.put(EngineError(f"generation failed: {type(exc).__name__}: {exc}"))
