"""Pairwise judging: which of two models answered a prompt better, asked in both orders.

Judges favour a position (often the first answer shown), so each pair of answers is judged
twice, with model A's answer shown first and then with model B's shown first. The outcome:
both orders pick the same model: that model wins; they pick opposite models: inconsistent
(the judge followed the position, not the answers); a tie in either order, with no opposite
pick: tie; a reply that did not parse in either order: invalid.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from assay.quality.files import read_rows, replace_rows
from assay.quality.judge import Answer, Judge, ask
from assay.quality.outputs import Output
from assay.quality.rubric import PAIRWISE_VERSION, Verdict, pairwise_prompt, parse_verdict
from assay.quality.scores import utc_now

PAIRWISE_FILE = "pairwise.jsonl"

Outcome = Literal["a", "b", "tie", "inconsistent", "invalid"]


def combine(first: Verdict | None, second: Verdict | None) -> Outcome:
    """The outcome of one pair. `first`: the verdict with model A's answer shown as "A";
    `second`: the verdict with model B's answer shown as "A" (None: did not parse)."""
    if first is None or second is None:
        return "invalid"
    pick_first, pick_second = _picked(first, a_shown_first=True), _picked(second, False)
    if pick_first is not None and pick_first == pick_second:
        return pick_first
    if pick_first is not None and pick_second is not None:
        return "inconsistent"
    return "tie"


def _picked(verdict: Verdict, a_shown_first: bool) -> Literal["a", "b"] | None:
    """Which model a verdict picks, given which answer was shown as "A"."""
    if verdict == "tie":
        return None
    return "a" if (verdict == "A") == a_shown_first else "b"


class PairwiseResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    run: str
    model_a: str
    model_b: str
    prompt_id: str
    round: int
    key_a: str
    key_b: str
    first: Verdict | None
    second: Verdict | None
    reasoning_first: str | None = None
    reasoning_second: str | None = None
    errors: tuple[str, ...] = ()
    outcome: Outcome
    judge: str
    rubric_version: str
    scored_at: str

    @property
    def winner(self) -> str | None:
        return {"a": self.model_a, "b": self.model_b}.get(self.outcome)

    @property
    def origin(self) -> str:
        return pairwise_origin(self.judge, self.rubric_version, self.model_a, self.model_b)


def pairwise_origin(judge: str, rubric_version: str, model_a: str, model_b: str) -> str:
    return f"judge {judge} ({rubric_version}): {model_a} vs {model_b}"


def pair_outputs(outputs: Sequence[Output], a: str, b: str) -> list[tuple[Output, Output]]:
    """A's and B's answers to the same request of the plan (same level, index, attempt)."""
    b_outputs = {(o.level, o.index, o.attempt): o for o in outputs if o.model == b}
    return [
        (o, b_outputs[(o.level, o.index, o.attempt)])
        for o in outputs
        if o.model == a and (o.level, o.index, o.attempt) in b_outputs
    ]


def judge_pairs(
    pairs: Sequence[tuple[Output, Output]],
    judge: Judge,
    on_pair: Callable[[PairwiseResult], None] | None = None,
) -> list[PairwiseResult]:
    """Judge each pair in both orders (identical pairs of texts are judged once)."""
    answers: dict[tuple[str, str, str], tuple[Answer, Answer]] = {}
    results = []
    for a, b in pairs:
        cache_key = (a.prompt.id, a.text, b.text)
        if cache_key not in answers:
            answers[cache_key] = (
                ask(judge, pairwise_prompt(a.prompt, a.text, b.text), parse_verdict),
                ask(judge, pairwise_prompt(a.prompt, b.text, a.text), parse_verdict),
            )
        first, second = answers[cache_key]
        result = PairwiseResult(
            run=a.run,
            model_a=a.model,
            model_b=b.model,
            prompt_id=a.prompt.id,
            round=a.round,
            key_a=a.ref,
            key_b=b.ref,
            first=first.value,
            second=second.value,
            reasoning_first=first.reasoning,
            reasoning_second=second.reasoning,
            errors=tuple(answer.error for answer in (first, second) if answer.error),
            outcome=combine(first.value, second.value),
            judge=judge.name,
            rubric_version=PAIRWISE_VERSION,
            scored_at=utc_now(),
        )
        results.append(result)
        if on_pair is not None:
            on_pair(result)
    return results


@dataclass(frozen=True)
class PairwiseTally:
    judge: str
    rubric_version: str
    model_a: str
    model_b: str
    a_wins: int
    b_wins: int
    ties: int
    inconsistent: int
    invalid: int

    @property
    def n(self) -> int:
        return self.a_wins + self.b_wins + self.ties + self.inconsistent + self.invalid


def tally(results: Sequence[PairwiseResult]) -> list[PairwiseTally]:
    groups: dict[tuple[str, str, str, str], Counter[str]] = {}
    for r in results:
        groups.setdefault((r.judge, r.rubric_version, r.model_a, r.model_b), Counter())[
            r.outcome
        ] += 1
    return [
        PairwiseTally(*group, c["a"], c["b"], c["tie"], c["inconsistent"], c["invalid"])
        for group, c in groups.items()
    ]


def pairwise_path(run_dir: Path) -> Path:
    return run_dir / PAIRWISE_FILE


def read_pairwise(run_dir: Path) -> list[PairwiseResult]:
    return read_rows(pairwise_path(run_dir), PairwiseResult)


def replace_pairwise(run_dir: Path, origin: str, results: Sequence[PairwiseResult]) -> None:
    replace_rows(pairwise_path(run_dir), PairwiseResult, lambda r: r.origin == origin, results)
