# ruff: noqa: E501 (hand-made data reads best one item per line)
"""The meeting-notes metrics on hand-made outputs for a hand-made transcript."""

from __future__ import annotations

import json

import pytest

from assay.quality.meeting_notes.metrics import (
    MATCH_THRESHOLD,
    WEIGHTS,
    coverage,
    echoes_instruction,
    parse_text_notes,
    recall,
    same_person,
    score_notes,
)
from assay.quality.meeting_notes.tasks import SYSTEM, TEXT_INSTRUCTION
from assay.quality.meeting_notes.transcripts import Transcript, problems

MEETING = {
    "id": "mn99-test",
    "title": "Release sync",
    "kind": "stand-up",
    "date": "2026-03-09",
    "attendees": [
        {"name": "Priya Raman", "role": "lead"},
        {"name": "Tomasz Wolski", "role": "backend"},
        {"name": "Amara Okafor", "role": "QA"},
    ],
    "lines": [
        {"speaker": "Priya Raman", "text": "Morning. The release is Thursday, so let's decide on the retry fix."},
        {"speaker": "Tomasz Wolski", "text": "I'd ship the retry fix in 2.3.1 rather than wait for 2.4."},
        {"speaker": "Priya Raman", "text": "Agreed, the retry fix goes into 2.3.1."},
        {"speaker": "Amara Okafor", "text": "I'll write the regression tests for the retry path by Wednesday."},
        {"speaker": "Tomasz Wolski", "text": "And I'll update the rollback runbook, no rush."},
        {"speaker": "Priya Raman", "text": "Open point: does legal need to see the new consent text? Ask Marco."},
    ],
    "truth": {
        "decisions": [{"text": "Ship the retry fix in 2.3.1 instead of waiting for 2.4", "lines": [2, 3]}],
        "action_items": [
            {"owner": "Amara Okafor", "task": "Write regression tests for the retry path", "due": "2026-03-11", "lines": [4]},
            {"owner": "Tomasz Wolski", "task": "Update the rollback runbook", "due": None, "lines": [5]},
        ],
        "open_questions": [{"text": "Whether legal needs to review the new consent text", "lines": [6]}],
        "summary": "The team agreed to ship the retry fix in 2.3.1. Amara will write regression "
        "tests for the retry path by Wednesday and Tomasz will update the rollback runbook. "
        "Whether legal must review the consent text is open.",
    },
}  # fmt: skip

GOOD_TEXT = """Decisions
- Ship the retry fix in release 2.3.1 instead of waiting for 2.4

Action items
- Amara: write regression tests for the retry path (due 2026-03-11)
- Tomasz Wolski: update the rollback runbook (no due date)

Open questions
- Does legal need to review the new consent text?
"""


@pytest.fixture
def meeting() -> Transcript:
    return Transcript.model_validate(MEETING)


def test_a_faithful_complete_note_scores_near_one(meeting: Transcript) -> None:
    score = score_notes(meeting, "text", GOOD_TEXT)
    assert score.decision_recall == 1.0 and score.action_recall == 1.0
    assert score.owner_accuracy == 1.0 and score.due_accuracy == 1.0
    assert score.invented_people == [] and score.format_ok and score.length_ok
    assert score.rouge_l > 0.2
    assert score.task_score == pytest.approx(1 - WEIGHTS["rouge_l"] * (1 - score.rouge_l), abs=1e-4)


def test_paraphrase_matches_at_the_threshold_and_not_below() -> None:
    truth = "Write regression tests for the retry path"
    assert coverage(truth, "Amara writes the regression tests covering retries") >= MATCH_THRESHOLD
    assert coverage(truth, "Update the rollback runbook") < MATCH_THRESHOLD
    assert recall([truth], ["update the runbook"]) == 0.0
    assert recall([], []) == 1.0 and recall([], ["a decision nobody made"]) == 0.0


def test_owners_by_first_or_full_name() -> None:
    assert same_person("Amara Okafor", "Amara") and same_person("Amara Okafor", "amara okafor")
    assert not same_person("Amara Okafor", "Tomasz") and not same_person("Amara Okafor", "")


def test_wrong_owner_wrong_due_and_an_invented_person(meeting: Transcript) -> None:
    text = GOOD_TEXT.replace("Amara: write", "Tomasz: write").replace("2026-03-11", "2026-03-13")
    text = text.replace("- Does legal", "- Ask Jennifer Holloway whether legal")
    score = score_notes(meeting, "text", text)
    assert score.action_recall == 1.0
    assert score.owner_accuracy == 0.5 and score.due_accuracy == 0.0
    assert score.invented_people == ["Jennifer Holloway"]
    # Marco is said in the transcript (not an attendee, but not invented).
    assert score_notes(meeting, "text", GOOD_TEXT + "- Ask Marco Silva\n").invented_people == []


def test_an_invented_owner_and_a_missing_heading(meeting: Transcript) -> None:
    text = "Decisions\n- Ship the retry fix in 2.3.1\n\nAction items\n- Kevin Brandt: update the rollback runbook\n"
    score = score_notes(meeting, "text", text)
    assert not score.format_ok  # no open questions heading
    assert "Kevin Brandt" in score.invented_people
    assert score.action_recall == 0.5


def test_length_is_bounded_for_the_text_task(meeting: Transcript) -> None:
    long = GOOD_TEXT + "\n".join(["- filler words here"] * 100)
    assert not score_notes(meeting, "text", long).length_ok


def test_json_notes_valid_invalid_and_off_schema(meeting: Transcript) -> None:
    good = {
        "decisions": ["Ship the retry fix in 2.3.1 rather than waiting for 2.4"],
        "action_items": [
            {"owner": "Amara Okafor", "task": "Regression tests for the retry path", "due": "2026-03-11"},
            {"owner": "Tomasz", "task": "Update the rollback runbook", "due": None},
        ],
        "open_questions": ["Does legal need to review the consent text?"],
    }  # fmt: skip
    score = score_notes(meeting, "json", "```json\n" + json.dumps(good) + "\n```")
    assert score.json_valid and score.schema_valid and score.format_ok
    assert score.decision_recall == 1.0 and score.action_recall == 1.0 and score.due_accuracy == 1.0
    broken = score_notes(meeting, "json", '{"decisions": ["Ship the retry fix"')
    assert broken.json_valid is False and not broken.format_ok and broken.decision_recall == 0.0
    off = score_notes(meeting, "json", json.dumps({**good, "summary": "extra key"}))
    assert off.json_valid and off.schema_valid is False and not off.format_ok
    assert off.decision_recall == 1.0  # read anyway: the schema is scored apart


def test_text_notes_read_markdown_headings_and_none(meeting: Transcript) -> None:
    text = "## Decisions\n* None\n\n**Action items:**\n1. Priya Raman - ask legal\n\n### Open questions\n- none\n"
    notes = parse_text_notes(text, meeting)
    assert notes.parsed and notes.decisions == () and notes.open_questions == ()
    assert [(i.owner, i.task) for i in notes.action_items] == [("Priya Raman", "ask legal")]


def test_the_validator_names_each_inconsistency() -> None:
    bad = json.loads(json.dumps(MEETING))
    bad["truth"]["action_items"][0]["owner"] = "Marco Rossi"
    bad["truth"]["decisions"][0]["lines"] = [2, 40]
    bad["lines"][0]["speaker"] = "Someone Else"
    with pytest.raises(ValueError, match="is not an attendee"):
        Transcript.model_validate(bad)
    meeting = Transcript.model_construct(**Transcript.model_validate(MEETING).__dict__)
    assert problems(meeting) == []


def test_an_echo_of_the_instruction_is_not_notes(meeting: Transcript) -> None:
    """A base model that continues its prompt repeats the headings and their example bullets:
    that is not a format met, and the examples are not notes."""
    echo = f"{SYSTEM}\n\n{TEXT_INSTRUCTION}\n\nMeeting: {meeting.title}\n"
    score = score_notes(meeting, "text", echo)
    assert score.echoed_instruction and not score.format_ok
    notes = parse_text_notes(echo, meeting)
    assert notes.decisions == () and notes.action_items == () and notes.open_questions == ()
    assert score.decision_recall == 0.0 and score.action_recall == 0.0
    good = score_notes(meeting, "text", GOOD_TEXT)
    assert good.format_ok and not good.echoed_instruction
    # Seven words of the instruction in a row are not yet an echo; eight are.
    assert not echoes_instruction("- one bullet per decision the meeting made")
    assert echoes_instruction("Decisions\n- one bullet per decision the meeting made")
