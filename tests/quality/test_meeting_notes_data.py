"""The packaged transcripts: valid, varied, and as long as the suite promises."""

from __future__ import annotations

from collections import Counter

from assay.quality.meeting_notes.transcripts import KINDS, load_transcripts, problems
from assay.registry import ModelRegistry


def test_the_packaged_transcripts_are_valid_and_varied(registry: ModelRegistry) -> None:
    transcripts = load_transcripts()
    assert len(transcripts) >= 24
    for t in transcripts:
        assert problems(t) == []
        assert 3 <= len(t.attendees) <= 9
        assert {line.speaker for line in t.lines} <= {a.name for a in t.attendees}
    kinds = Counter(t.kind for t in transcripts)
    for kind in KINDS[:-1]:  # every kind the issue names, "other" aside
        assert kinds[kind] >= 1, kind
    assert any(not t.truth.decisions and not t.truth.action_items for t in transcripts)
    lengths = sorted(registry.count_tokens(t.text()) for t in transcripts)
    assert 250 <= lengths[0] <= 400 and 7_000 <= lengths[-1] <= 8_500
    assert sum(n > 3_000 for n in lengths) >= 6
    assert any(a.due for t in transcripts for a in t.truth.action_items)
