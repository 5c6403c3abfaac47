"""Pairwise judging in both orders, on hand-built judgments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.quality.outputs import load_outputs
from assay.quality.pairwise import (
    combine,
    judge_pairs,
    pair_outputs,
    read_pairwise,
    replace_pairwise,
    tally,
)
from assay.quality.rubric import PAIRWISE_VERSION, JudgePrompt, Verdict
from tests.quality.conftest import Req, make_run


@pytest.mark.parametrize(
    ("first", "second", "outcome"),
    [
        ("A", "B", "a"),  # A's answer wins shown first and shown second
        ("B", "A", "b"),
        ("A", "A", "inconsistent"),  # the judge always picks the first position
        ("B", "B", "inconsistent"),  # ... or always the second
        ("tie", "tie", "tie"),
        ("A", "tie", "tie"),  # a win in one order only is not a win
        ("tie", "A", "tie"),
        ("B", "tie", "tie"),
        (None, "A", "invalid"),
        ("A", None, "invalid"),
    ],
)
def test_a_win_counts_only_when_both_orders_agree(
    first: Verdict | None, second: Verdict | None, outcome: str
) -> None:
    assert combine(first, second) == outcome


class ScriptedJudge:
    """Answers by which text is shown as A: a verdict per (text A, text B), or a reply."""

    name = "scripted"

    def __init__(self, verdicts: dict[tuple[str, str], str]) -> None:
        self.verdicts = verdicts
        self.asked: list[str] = []

    def reply(self, prompt: JudgePrompt) -> str:
        a = prompt.body.split("Answer A:\n<<<\n")[1].split("\n>>>")[0]
        b = prompt.body.split("Answer B:\n<<<\n")[1].split("\n>>>")[0]
        self.asked.append(a)
        verdict = self.verdicts[(a, b)]
        return (
            verdict if verdict == "garbage" else json.dumps({"reasoning": "r", "winner": verdict})
        )

    def close(self) -> None:
        return None


def test_both_orders_are_asked_and_mapped_back_to_the_models(tmp_path: Path) -> None:
    run = make_run(
        tmp_path,
        [
            Req("x", 0, "x0"),
            Req("x", 1, "x1"),
            Req("x", 0, "x2", round=1),
            Req("y", 0, "y0"),
            Req("y", 1, "y1"),
            Req("y", 0, "y2", round=1),
        ],
    )
    pairs = pair_outputs(load_outputs(run), "x", "y")
    assert [(a.text, b.text) for a, b in pairs] == [("x0", "y0"), ("x1", "y1"), ("x2", "y2")]
    judge = ScriptedJudge(
        {
            ("x0", "y0"): "A",  # x shown first wins
            ("y0", "x0"): "B",  # x shown second wins: x wins
            ("x1", "y1"): "A",  # always the first: inconsistent
            ("y1", "x1"): "A",
            ("x2", "y2"): "tie",
            ("y2", "x2"): "garbage",  # an unparseable reply
        }
    )
    results = judge_pairs(pairs, judge)
    assert judge.asked == ["x0", "y0", "x1", "y1", "x2", "y2"]
    assert [(r.first, r.second, r.outcome, r.winner) for r in results] == [
        ("A", "B", "a", "x"),
        ("A", "A", "inconsistent", None),
        ("tie", None, "invalid", None),
    ]
    assert results[2].errors == ("the reply did not parse",)
    assert all(r.judge == "scripted" and r.rubric_version == PAIRWISE_VERSION for r in results)
    (t,) = tally(results)
    assert (t.model_a, t.model_b, t.a_wins, t.b_wins, t.ties, t.inconsistent, t.invalid) == (
        "x", "y", 1, 0, 0, 1, 1
    )  # fmt: skip
    replace_pairwise(run, results[0].origin, results)
    replace_pairwise(run, results[0].origin, results)
    assert read_pairwise(run) == results


def test_unpaired_outputs_are_left_out(tmp_path: Path) -> None:
    run = make_run(tmp_path, [Req("x", 0, "x0"), Req("x", 1, "x1"), Req("y", 0, "y0")])
    assert [(a.text, b.text) for a, b in pair_outputs(load_outputs(run), "x", "y")] == [
        ("x0", "y0")
    ]
