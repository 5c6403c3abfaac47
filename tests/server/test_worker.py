"""Model workers: local models take turns on the cores; remote ones do not wait."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

from assay.config import available_cores
from assay.engines import CancelToken, Chunk, LoadedModelBase, Usage
from assay.server.metrics import ServerMetrics
from assay.server.models import compute_slots
from assay.server.worker import Job, ModelWorker


class Busy(LoadedModelBase):
    """Stands in for a model: each generation holds the CPU for `seconds`."""

    def __init__(self, seconds: float, spans: list[tuple[str, float, float]], name: str) -> None:
        self.seconds, self.spans, self.name = seconds, spans, name

    def generate(self, model: Any, cancel: CancelToken) -> Iterator[Chunk]:
        started = time.perf_counter()
        time.sleep(self.seconds)
        self.spans.append((self.name, started, time.perf_counter()))
        yield Chunk("x", 1, "stop", Usage(1, 1))

    def close(self) -> None:
        return None


def run_both(compute: threading.Semaphore | None) -> list[tuple[str, float, float]]:
    spans: list[tuple[str, float, float]] = []
    metrics = ServerMetrics()
    models = [Busy(0.2, spans, "a"), Busy(0.2, spans, "b")]
    workers = [ModelWorker(m.name, m, 4, metrics, compute) for m in models]  # type: ignore[arg-type]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        jobs = [Job(start=m.generate, loop=loop) for m in models]
        for worker, job in zip(workers, jobs, strict=True):
            worker.submit(job)
        for job in jobs:
            async for _ in job.chunks():
                pass

    asyncio.run(main())
    for worker in workers:
        worker.close()
    return sorted(spans, key=lambda s: s[1])


def overlap(spans: list[tuple[str, float, float]]) -> bool:
    (_, _, first_end), (_, second_start, _) = spans
    return second_start < first_end


def test_local_models_take_turns_when_their_threads_fill_the_cores() -> None:
    assert not overlap(run_both(threading.BoundedSemaphore(1)))


def test_with_room_for_two_or_for_a_remote_upstream_they_run_together() -> None:
    assert overlap(run_both(threading.BoundedSemaphore(2)))
    assert overlap(run_both(None))


def test_slots_follow_cores_and_threads() -> None:
    cores = available_cores()
    assert compute_slots(None)._value == 1
    assert compute_slots(1)._value == cores
    assert compute_slots(cores * 4)._value == 1
