"""Rule checks and the rule score on hand-built outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.bench.prompts import Expect
from assay.quality.outputs import load_outputs
from assay.quality.rules import parses_as_json, rule_score, run_checks, score_rules
from assay.quality.scores import CheckResult
from tests.quality.conftest import Req, make_run


def passed(expect: Expect, text: str) -> list[bool]:
    return [check.passed for check in run_checks(expect, text)]


def test_contains_and_not_contains_ignore_case() -> None:
    expect = Expect(contains=("Retriev", "model"), not_contains=("As an AI",))
    assert passed(expect, "It RETRIEVES text for the Model.") == [True, True, True]
    assert passed(expect, "as an ai, I cannot say") == [False, False, False]


def test_regex_is_searched_as_written() -> None:
    expect = Expect(regex=r"(?m)^\s*(?:[-*]|\d+[.)])\s")
    assert passed(expect, "Benefits:\n1. privacy\n2. cost") == [True]
    assert passed(expect, "Privacy, cost and latency.") == [False]
    assert passed(Expect(regex="Privacy"), "privacy") == [False]  # case matters unless (?i)


def test_word_bounds_are_inclusive_and_say_the_count() -> None:
    expect = Expect(min_words=3, max_words=4)
    assert passed(expect, "one two") == [False, True]
    assert passed(expect, "one two three") == [True, True]
    assert passed(expect, " one\ttwo\nthree  four ") == [True, True]
    assert passed(expect, "a b c d e") == [True, False]
    assert [c.check for c in run_checks(expect, "a b")] == [
        "at least 3 words (has 2)",
        "at most 4 words (has 2)",
    ]


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ('{"a": 1}', True),
        ("  [1, 2]\n", True),
        ('```json\n{"a": 1}\n```', True),
        ('```\n{"a": 1}```', True),
        ('Here you go: {"a": 1}', False),
        ('{"a": 1', False),
        ("", False),
    ],
)
def test_json_must_parse_bare_or_in_one_fenced_block(text: str, ok: bool) -> None:
    assert parses_as_json(text) is ok
    assert passed(Expect(json=True), text) == [ok]


def test_rule_score_maps_the_share_passed_onto_1_to_5() -> None:
    def checks(*results: bool) -> list[CheckResult]:
        return [CheckResult(check=str(i), passed=r) for i, r in enumerate(results)]

    assert rule_score(checks(True, True)) == 5.0
    assert rule_score(checks(False, False)) == 1.0
    assert rule_score(checks(True, False)) == 3.0
    assert rule_score(checks(True, True, False)) == 3.67
    with pytest.raises(ValueError):
        rule_score([])


def test_outputs_of_prompts_without_checks_get_no_rule_score(tmp_path: Path) -> None:
    run = make_run(
        tmp_path,
        [
            Req("m1", 0, "RAG retrieves documents."),
            Req("m1", 1, "anything"),
            Req("m2", 0, " ".join(["word"] * 50)),
        ],
    )
    scores = score_rules(load_outputs(run))
    assert [(s.model, s.prompt_id, s.score) for s in scores] == [
        ("m1", "rag", 5.0),
        ("m2", "rag", 1.0),
    ]
    first = scores[0]
    assert first.source == "rules" and first.key == "m1|sequential|0" and first.run == run.name
    assert [c.check for c in first.checks] == ["contains 'retriev'", "at most 40 words (has 3)"]
