"""A load level's figures per replica, when several endpoints served one model.

Rates are over the whole level's duration, not the replica's own span, so the replicas'
requests, errors, requests per second and output tokens per second add up to the level's;
latencies are each replica's own requests' (answered ones, as for the level).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from assay.bench import metrics as m
from assay.bench.records import RequestRecord


class ReplicaSummary(BaseModel):
    replica: str
    requests: int
    errors: int
    request_throughput: float | None
    output_tokens_per_second: float | None
    ttft_s: m.Stats | None
    e2e_s: m.Stats | None
    first_error: str | None = None


def replica_summaries(
    records: Sequence[RequestRecord], replicas: Sequence[str], duration: float | None = None
) -> list[ReplicaSummary] | None:
    """Per replica, in the order given (one sent nothing still has its row); None for fewer
    than two. DURATION: the level's time when its records are not one span (the repeats of
    a level, each its own span, summed); else from the records."""
    if len(replicas) < 2:
        return None
    by_replica: dict[str, list[RequestRecord]] = {url: [] for url in replicas}
    for record in records:
        if record.replica is not None:
            by_replica.setdefault(record.replica, []).append(record)
    if duration is None:
        duration = m.level_duration(records)
    return [_replica(url, own, duration) for url, own in by_replica.items()]


def _replica(url: str, records: list[RequestRecord], duration: float) -> ReplicaSummary:
    ok = [r for r in records if r.ok]
    errors = [r for r in records if not r.ok]
    tokens = sum(r.completion_tokens or 0 for r in ok)
    return ReplicaSummary(
        replica=url,
        requests=len(records),
        errors=len(errors),
        request_throughput=len(ok) / duration if ok and duration > 0 else None,
        output_tokens_per_second=tokens / duration if duration > 0 else None,
        ttft_s=m.stats(v for r in ok if (v := m.ttft(r)) is not None),
        e2e_s=m.stats(m.e2e(r) for r in ok),
        first_error=errors[0].error if errors else None,
    )
