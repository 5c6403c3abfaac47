"""The rubric prompts and the parsing of judge replies."""

from __future__ import annotations

import pytest

from assay.bench.prompts import default_prompts
from assay.quality.rubric import (
    RUBRIC_VERSION,
    pairwise_prompt,
    parse_score,
    parse_verdict,
    score_prompt,
)


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ('{"reasoning": "fine", "score": 4}', 4),
        ('```json\n{"reasoning": "x", "score": 2}\n```', 2),
        ('Sure. {"score": 5, "reasoning": "ok"} Hope that helps.', 5),
        ('{"score": "3"}', 3),
        ('{"score": 3.0}', 3),
        ("Clear and correct.\nSCORE: 5", 5),
        ("SCORE: 2 at first, but on reflection\n**Score:** 4.", 4),  # the last one counts
        ('{"score": 9}\nSCORE: 3', 3),
    ],
)
def test_scores_parse_from_json_or_the_last_score_line(reply: str, score: int) -> None:
    assert parse_score(reply).value == score


@pytest.mark.parametrize(
    "reply",
    ["", "4", "I would give it a four.", '{"score": 0}', '{"score": 6}', '{"score": 3.5}',
     '{"score": true}', "SCORE: 7", "SCORE: 4.5", '{"reasoning": "no score"}'],
)  # fmt: skip
def test_unparseable_replies_are_invalid_never_a_score(reply: str) -> None:
    assert parse_score(reply).value is None


def test_verdicts_parse_from_json_or_the_last_winner_line() -> None:
    assert parse_verdict('{"reasoning": "r", "winner": "B"}').value == "B"
    assert parse_verdict('{"winner": "Tie"}').value == "tie"
    assert parse_verdict("A is longer.\nWINNER: A").value == "A"
    assert parse_verdict("WINNER: TIE").value == "tie"
    assert parse_verdict('{"winner": "both"}').value is None
    assert parse_verdict("A").value is None


def test_the_rubric_gives_the_judge_the_question_facets_reference_and_answer() -> None:
    prompt = default_prompts()[0]
    judge_prompt = score_prompt(prompt, "  RAG retrieves.  ")
    body = judge_prompt.body
    assert prompt.prompt in body and prompt.reference is not None and prompt.reference in body
    assert all(f"- {facet}" in body for facet in prompt.facets)
    assert "Answer to grade:\n<<<\nRAG retrieves.\n>>>" in body
    system, user = judge_prompt.messages(json_mode=True)
    assert system.role == "system" and user.content.endswith('{"reasoning": "...", "score": N}')
    assert judge_prompt.messages(json_mode=False)[1].content.endswith("from 1 to 5.")
    assert RUBRIC_VERSION
    both = pairwise_prompt(prompt, "first answer", "second answer").body
    assert both.index("Answer A:\n<<<\nfirst answer") < both.index("Answer B:\n<<<\nsecond")
