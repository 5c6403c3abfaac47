"""scores.jsonl: one line per score of one output, beside the run's own files.

Every batch of scores has an origin (the rules; one judge with one rubric version; one
imported annotation file). Scoring again from the same origin replaces that origin's rows,
so re-importing a file, or re-running the rules or a judge, never counts anything twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from assay.quality.files import read_rows, replace_rows
from assay.quality.outputs import Output

SCORES_FILE = "scores.jsonl"

Source = Literal["rules", "human", "judge"]


class CheckResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    check: str
    passed: bool


class Score(BaseModel):
    """One output's score from one source, on the 1-5 scale.

    `score` None means the judge's reply did not parse: the row is kept, as invalid, and is
    never counted as a score.
    """

    model_config = ConfigDict(frozen=True)

    run: str
    model: str
    prompt_id: str
    round: int
    key: str
    attempt: int = 1
    source: Source
    score: float | None
    checks: tuple[CheckResult, ...] = ()
    reasoning: str | None = None
    notes: str | None = None
    error: str | None = None
    reply: str | None = None
    judge: str | None = None
    rubric_version: str | None = None
    # A rubric of several criteria (assay-notes-1: faithfulness, coverage), each 1-5;
    # `score` is then their mean.
    criteria: dict[str, int] | None = None
    import_file: str | None = None
    scored_at: str

    @property
    def ref(self) -> str:
        return self.key if self.attempt == 1 else f"{self.key}#{self.attempt}"

    @property
    def valid(self) -> bool:
        return self.score is not None

    @property
    def origin(self) -> str:
        """What produced the row; rows of one origin are replaced together."""
        if self.source == "judge":
            return judge_origin(self.judge or "", self.rubric_version or "")
        if self.source == "human":
            return import_origin(self.import_file or "")
        return "rules"


def judge_origin(judge: str, rubric_version: str) -> str:
    return f"judge {judge} ({rubric_version})"


def import_origin(import_file: str) -> str:
    return f"import {import_file}"


def new_score(output: Output, source: Source, score: float | None, **fields: Any) -> Score:
    return Score(
        run=output.run,
        model=output.model,
        prompt_id=output.prompt.id,
        round=output.round,
        key=output.key,
        attempt=output.attempt,
        source=source,
        score=score,
        scored_at=utc_now(),
        **fields,
    )


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def scores_path(run_dir: Path) -> Path:
    return run_dir / SCORES_FILE


def read_scores(run_dir: Path) -> list[Score]:
    return read_rows(scores_path(run_dir), Score)


def replace_scores(run_dir: Path, origin: str, scores: Sequence[Score]) -> None:
    """Swap the rows of `origin` for `scores` (all of which must come from that origin)."""
    assert all(score.origin == origin for score in scores)
    replace_rows(scores_path(run_dir), Score, lambda row: row.origin == origin, scores)
