"""Metrics: small pure functions of request records, and their statistics.

Per request: TTFT, inter-token latencies, TPOT, end-to-end latency, decode tok/s and the
workshop's total tok/s; for reasoning models, TTFO and the answer's tokens. Per level:
request throughput and aggregate output tok/s.

A reasoning model's tokens are all tokens here, as AIPerf and vLLM count them: TTFT is the
first token of any kind, reasoning or answer; ITL, TPOT, decode tok/s and output tok/s count
the reasoning tokens with the answer's. TTFO (time to first output token) is what a reader
of the answer waits for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from pydantic import BaseModel

from assay.bench.records import RequestRecord

NS = 1e9


class Stats(BaseModel):
    # None in a report imported from a tool that gives no count for the figure.
    n: int | None
    mean: float
    p50: float
    p90: float
    p95: float
    p99: float
    min: float
    max: float
    stdev: float


def stats(values: Iterable[float]) -> Stats | None:
    """Mean, percentiles (linear interpolation), extremes and sample stdev; None if empty."""
    data = np.asarray([v for v in values if v is not None], dtype=float)
    if data.size == 0:
        return None
    p50, p90, p95, p99 = np.percentile(data, [50, 90, 95, 99])
    return Stats(
        n=int(data.size),
        mean=float(data.mean()),
        p50=float(p50),
        p90=float(p90),
        p95=float(p95),
        p99=float(p99),
        min=float(data.min()),
        max=float(data.max()),
        stdev=float(data.std(ddof=1)) if data.size > 1 else 0.0,
    )


class Interval(BaseModel):
    """A mean across repeats with its 95% confidence interval (Student's t, n - 1 degrees of
    freedom): each repeat is one sample, so the interval holds run-to-run variation."""

    n: int
    mean: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


# Student's t at 97.5% (two-sided 95%) for 1..30 degrees of freedom; beyond, 1.96.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)  # fmt: skip


def mean_interval(values: Iterable[float | None]) -> Interval | None:
    """The mean of the values (None ones left out) and its 95% interval; None under two."""
    data = np.asarray([v for v in values if v is not None], dtype=float)
    if data.size < 2:
        return None
    mean = float(data.mean())
    dof = data.size - 1
    t = _T975[dof - 1] if dof <= len(_T975) else 1.96
    half = t * float(data.std(ddof=1)) / float(np.sqrt(data.size))
    return Interval(n=int(data.size), mean=mean, low=mean - half, high=mean + half)


def ttft(r: RequestRecord) -> float | None:
    """Seconds from sending to the first content token of any kind, reasoning or answer (a
    role-only chunk is not a token)."""
    if r.first_token_ns is None:
        return None
    return (r.first_token_ns - r.sent_ns) / NS


def ttfo(r: RequestRecord) -> float | None:
    """Time to first output token: seconds from sending to the first answer (non-reasoning)
    content token; for a reply without reasoning, its TTFT. None when the reply never got
    past its reasoning (cut off while thinking), was not streamed, or had no token.

    AIPerf's `time_to_first_output_token` (the first non-reasoning chunk), except that here
    the text inside `<think>` blocks of the content is reasoning too, and a blank answer
    chunk (the newlines after `</think>`) is not yet output (bench/reasoning.py)."""
    if r.first_output_ns is not None:
        return (r.first_output_ns - r.sent_ns) / NS
    return ttft(r) if r.reasoning_tokens is None else None


def answer_tokens(r: RequestRecord) -> int | None:
    """The completion's tokens that are not reasoning (all of them without reasoning):
    AIPerf's `output_token_count`, where the completion tokens are its output sequence
    length (`output_token_count + reasoning_token_count`)."""
    if r.completion_tokens is None:
        return None
    return max(0, r.completion_tokens - (r.reasoning_tokens or 0))


def e2e(r: RequestRecord) -> float:
    """Seconds from sending to the end of the response."""
    return (r.end_ns - r.sent_ns) / NS


def itl(r: RequestRecord) -> list[float]:
    """Inter-token latencies: a chunk of k tokens spreads its gap over k tokens.

    Tokens that arrive with the first content chunk belong to the time to first token.
    """
    gaps: list[float] = []
    times, tokens = r.chunk_ns, r.chunk_tokens
    for i in range(1, len(times)):
        k = tokens[i]
        if k > 0:
            gaps.extend([(times[i] - times[i - 1]) / NS / k] * k)
    return gaps


def meets(
    r: RequestRecord, ttft_s: float | None, tpot_s: float | None, e2e_s: float | None
) -> bool:
    """Whether a request met every objective given (goodput). A failed request meets none;
    a request without the figure an objective needs (no token; one token, so no TPOT) does
    not meet it, except TPOT for a one-token answer, which has no time per token to miss."""
    if not r.ok:
        return False
    if ttft_s is not None and ((first := ttft(r)) is None or first > ttft_s):
        return False
    if tpot_s is not None:
        per_token = tpot(r)
        if per_token is None and r.completion_tokens != 1:  # none, unknown, or no TTFT
            return False
        if per_token is not None and per_token > tpot_s:
            return False
    return e2e_s is None or e2e(r) <= e2e_s


def tpot(r: RequestRecord) -> float | None:
    """Time per output token after the first: (E2E - TTFT) / (completion tokens - 1)."""
    first = ttft(r)
    n = r.completion_tokens
    if first is None or n is None or n < 2:
        return None
    return (e2e(r) - first) / (n - 1)


def decode_tokens_per_second(r: RequestRecord) -> float | None:
    """Tokens after the first over the time from the first to the last token."""
    n = r.completion_tokens
    if r.first_token_ns is None or not r.chunk_ns or n is None or n < 2:
        return None
    span = (r.chunk_ns[-1] - r.first_token_ns) / NS
    return (n - 1) / span if span > 0 else None


def total_tokens_per_second(r: RequestRecord) -> float | None:
    """The workshop's figure: (prompt + completion tokens) / end-to-end latency."""
    if r.prompt_tokens is None or r.completion_tokens is None:
        return None
    latency = e2e(r)
    return (r.prompt_tokens + r.completion_tokens) / latency if latency > 0 else None


def level_duration(records: Sequence[RequestRecord]) -> float:
    """Seconds from the first request sent to the last one finished."""
    if not records:
        return 0.0
    return (max(r.end_ns for r in records) - min(r.sent_ns for r in records)) / NS


def request_throughput(records: Sequence[RequestRecord]) -> float | None:
    """Completed requests per second over the level's duration."""
    done = [r for r in records if r.ok]
    duration = level_duration(records)
    return len(done) / duration if done and duration > 0 else None


def output_tokens_per_second(records: Sequence[RequestRecord]) -> float | None:
    """All completion tokens over the level's duration (aggregate under concurrency)."""
    duration = level_duration(records)
    tokens = sum(r.completion_tokens or 0 for r in records if r.ok)
    return tokens / duration if duration > 0 else None
