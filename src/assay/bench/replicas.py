"""Several endpoints serving one model (replicas behind no load balancer of their own): the
bench spreads each level's requests over them, in turn or to the least busy, and every
record says which replica answered.

The shape of a vLLM or SGLang deployment that outgrew one box, measured from the client:
per replica and in total (see replica_summary).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence

from assay.bench.endpoint import EndpointTarget
from assay.bench.probes import listening_pid
from assay.bench.records import RequestRecord
from assay.bench.spec import Balance
from assay.bench.targets import BenchRequest, Clock, Generation, Target, TargetInfo


class ReplicatedTarget:
    """One model at several endpoints: each request goes to one replica, chosen by `balance`.

    round-robin: in turn, from the first replica at each level's start. least: the replica
    with the fewest requests in flight, ties in turn (as nginx's least_conn: ties to the
    first listed would send a sequential level to it alone); it does not know a replica is
    down, so one that fails fast keeps being chosen, as a balancer without health checks
    would.
    """

    def __init__(self, model: str, replicas: Sequence[tuple[str, Target]], balance: Balance):
        if len(replicas) < 2:
            raise ValueError("a replicated target needs two or more replicas")
        self.model = model
        self._urls = [url for url, _ in replicas]
        self._targets = [target for _, target in replicas]
        self._balance = balance
        self._in_flight = [0] * len(replicas)
        self._next = 0

    async def open(self) -> TargetInfo:
        infos = await asyncio.gather(*(target.open() for target in self._targets))
        pids = {info.pid for info in infos}
        # Memory is sampled from one process: only when that one process serves them all.
        pid = pids.pop() if len(pids) == 1 else None
        first = infos[0]
        return TargetInfo(
            engine=first.engine,
            engine_version=first.engine_version,
            threads=None,
            context_size=None,
            load_seconds=None,
            disk_bytes=None,
            pid=pid,
            memory_of="server process" if pid else None,
            replicas=len(infos),
        )

    async def prepare(self, concurrency: int) -> None:
        """Warm each replica's connections at once, as many as it can be sent at a time:
        under least a replica holds at most ceil(concurrency / replicas) (it is chosen only
        while it has the fewest); in turn, a slow one can hold them all."""
        self._next = 0
        n = len(self._targets)
        each = math.ceil(concurrency / n) if self._balance == "least" else concurrency
        await asyncio.gather(*(target.prepare(each) for target in self._targets))

    def _choose(self) -> int:
        n = len(self._targets)
        fewest = min(self._in_flight) if self._balance == "least" else None
        for step in range(n):
            chosen = (self._next + step) % n
            if fewest is None or self._in_flight[chosen] == fewest:
                self._next = chosen + 1
                return chosen
        raise AssertionError("unreachable: one replica has the fewest")

    async def send(self, request: BenchRequest) -> RequestRecord:
        chosen = self._choose()
        self._in_flight[chosen] += 1
        try:
            record = await self._targets[chosen].send(request)
        finally:
            self._in_flight[chosen] -= 1
        return record.model_copy(update={"replica": self._urls[chosen]})

    async def count_tokens(self, text: str) -> int:
        """Counted by the first replica (the replicas serve one model)."""
        return await self._targets[0].count_tokens(text)

    @property
    def token_counter(self) -> str:
        return self._targets[0].token_counter

    async def close(self) -> None:
        await asyncio.gather(*(target.close() for target in self._targets))


def endpoint_target(
    model: str,
    endpoints: Sequence[str],
    api_key: str | None,
    generation: Generation,
    clock: Clock,
    balance: Balance,
    count_tokens: Callable[[str], int] | None = None,
) -> Target:
    """The target for a model at one endpoint, or spread over several (same generation
    settings, same key, each replica's own connections). COUNT_TOKENS: the fallback
    tokenizer for synthetic prompts where a server has no /tokenize."""
    targets = [
        (
            url,
            EndpointTarget(
                model, url, api_key, generation, clock, count_tokens, pid=listening_pid(url)
            ),
        )
        for url in endpoints
    ]
    if len(targets) == 1:
        return targets[0][1]
    return ReplicatedTarget(model, targets, balance)
