"""Metric functions on hand-built request records."""

from __future__ import annotations

import pytest

from assay.bench import metrics as m
from assay.bench.records import RequestRecord

MS = 1_000_000


def record(**fields: object) -> RequestRecord:
    base: dict[str, object] = {
        "key": "k",
        "model": "m",
        "level": "sequential",
        "index": 0,
        "round": 0,
        "prompt_id": "p1",
        "sent_ns": 0,
        "end_ns": 100 * MS,
    }
    return RequestRecord(**{**base, **fields})  # type: ignore[arg-type]


def test_ttft_counts_from_send_to_the_first_content_token() -> None:
    r = record(first_byte_ns=5 * MS, first_token_ns=40 * MS, chunk_ns=(40 * MS,), chunk_tokens=(1,))
    assert m.ttft(r) == pytest.approx(0.040)
    assert m.ttft(record()) is None


def test_itl_spreads_a_multi_token_chunk_over_its_gap() -> None:
    r = record(
        first_token_ns=10 * MS,
        chunk_ns=(10 * MS, 20 * MS, 50 * MS),
        chunk_tokens=(2, 1, 3),
        completion_tokens=6,
    )
    assert m.itl(r) == pytest.approx([0.010, 0.010, 0.010, 0.010])


def test_tpot_e2e_and_rates() -> None:
    r = record(
        first_token_ns=20 * MS,
        chunk_ns=(20 * MS, 40 * MS, 60 * MS, 80 * MS),
        chunk_tokens=(1, 1, 1, 1),
        end_ns=100 * MS,
        prompt_tokens=16,
        completion_tokens=4,
    )
    assert m.e2e(r) == pytest.approx(0.100)
    assert m.tpot(r) == pytest.approx((0.100 - 0.020) / 3)
    assert m.decode_tokens_per_second(r) == pytest.approx(3 / 0.060)
    assert m.total_tokens_per_second(r) == pytest.approx(20 / 0.100)


def test_single_token_answers_have_no_tpot_or_decode_rate() -> None:
    r = record(first_token_ns=20 * MS, chunk_ns=(20 * MS,), chunk_tokens=(1,), completion_tokens=1)
    assert m.tpot(r) is None
    assert m.decode_tokens_per_second(r) is None
    assert m.itl(r) == []


def test_level_throughput_and_aggregate_output_rate() -> None:
    records = [
        record(index=0, sent_ns=0, end_ns=500 * MS, completion_tokens=10),
        record(index=1, sent_ns=100 * MS, end_ns=1000 * MS, completion_tokens=30),
        record(index=2, sent_ns=200 * MS, end_ns=300 * MS, error="HTTP 500: boom"),
    ]
    assert m.level_duration(records) == pytest.approx(1.0)
    assert m.request_throughput(records) == pytest.approx(2.0)
    assert m.output_tokens_per_second(records) == pytest.approx(40.0)


def test_stats_percentiles_and_spread() -> None:
    s = m.stats([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    assert s is not None
    assert (s.n, s.mean, s.min, s.max) == (10, 5.5, 1.0, 10.0)
    assert s.p50 == pytest.approx(5.5)
    assert s.p95 == pytest.approx(9.55)
    assert s.p99 == pytest.approx(9.91)
    assert s.stdev == pytest.approx(3.02765, rel=1e-4)
    assert m.stats([]) is None
    assert m.stats([2.0]).stdev == 0.0  # type: ignore[union-attr]
