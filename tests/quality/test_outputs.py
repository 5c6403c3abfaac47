"""Which of a run's records are scored, and the score file beside the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.errors import AssayError
from assay.quality.outputs import load_outputs
from assay.quality.rules import score_rules
from assay.quality.scores import read_scores, replace_scores, scores_path
from tests.quality.conftest import Req, make_run, run_files


def test_warmup_and_errored_requests_are_not_scored(tmp_path: Path) -> None:
    run = make_run(
        tmp_path,
        [
            Req("m1", 0, "warm", warmup=True),
            Req("m1", 0, "timed"),
            Req("m1", 1, "", error="HTTP 500: boom"),
        ],
    )
    outputs = load_outputs(run)
    assert [(o.key, o.text, o.prompt.id) for o in outputs] == [("m1|sequential|0", "timed", "rag")]
    assert outputs[0].prompt.expect is not None  # the prompt as saved in run.json


def test_a_directory_that_is_not_a_run_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AssayError, match="is not a run directory"):
        load_outputs(tmp_path)


def test_scoring_again_replaces_its_own_rows_and_leaves_the_bench_files_alone(
    tmp_path: Path,
) -> None:
    run = make_run(tmp_path, [Req("m1", 0, "retrieval"), Req("m2", 0, "nothing")])
    before = run_files(run)
    scores = score_rules(load_outputs(run))
    replace_scores(run, "rules", scores)
    replace_scores(run, "rules", scores)
    assert len(read_scores(run)) == 2
    assert run_files(run) == before
    assert not list(run.glob(".*.tmp"))


def test_a_damaged_score_line_is_named(tmp_path: Path) -> None:
    run = make_run(tmp_path, [Req("m1", 0, "retrieval")])
    replace_scores(run, "rules", score_rules(load_outputs(run)))
    with scores_path(run).open("a") as fh:
        fh.write("{not json\n")
    with pytest.raises(AssayError, match=r"scores.jsonl line 2 is damaged"):
        read_scores(run)
