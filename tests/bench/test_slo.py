"""Objectives and goodput: parsing `--slo`, and what counts as meeting it."""

from __future__ import annotations

import pytest

from assay.bench import metrics as m
from assay.bench.records import RequestRecord
from assay.bench.spec import Slo, parse_slo

MS = 1_000_000


def record(
    ttft_ms: float | None, end_ms: float, tokens: int, error: str | None = None
) -> RequestRecord:
    first = None if ttft_ms is None else int(ttft_ms * MS)
    return RequestRecord(
        key="k", model="m", level="c1", index=0, round=0, prompt_id="p", sent_ns=0,
        first_token_ns=first, end_ns=int(end_ms * MS), completion_tokens=tokens, error=error,
    )  # fmt: skip


def test_objectives_parse_in_any_subset_with_their_aliases() -> None:
    assert parse_slo("ttft=300ms,itl=50ms,e2e=5s") == Slo(ttft_s=0.3, tpot_s=0.05, e2e_s=5.0)
    assert parse_slo(" tpot = 20ms ") == Slo(tpot_s=0.02)
    assert parse_slo("e2el=1.5") == Slo(e2e_s=1.5)
    assert Slo(ttft_s=0.3, e2e_s=5.0).describe() == "TTFT <= 300 ms, E2E <= 5000 ms"
    for text, says in [
        ("ttft", "bad objective 'ttft'"),
        ("speed=3s", "bad objective 'speed=3s'"),
        ("ttft=fast", "bad duration 'fast'"),
        ("ttft=0ms", "must be above zero"),
        ("", "no objective given"),
    ]:
        with pytest.raises(ValueError, match=says):
            parse_slo(text)


def test_a_request_meets_every_objective_given_or_none() -> None:
    # 100 ms to the first of 11 tokens, 600 ms in all: TPOT (600 - 100) / 10 = 50 ms.
    steady = record(100, 600, 11)
    assert m.meets(steady, 0.1, 0.05, 0.6)
    assert not m.meets(steady, 0.099, None, None)
    assert not m.meets(steady, None, 0.049, None)
    assert not m.meets(steady, None, None, 0.599)
    assert m.meets(steady, None, None, None)
    assert not m.meets(record(100, 600, 11, error="boom"), None, None, None), "failed: missed"
    assert not m.meets(record(None, 600, 0), 1.0, None, None), "no token: no TTFT to meet"
    assert m.meets(record(100, 100, 1), 1.0, 0.001, 1.0), "one token has no TPOT to miss"
