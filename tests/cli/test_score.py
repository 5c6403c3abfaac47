"""`assay score` as a user runs it: a real process, exit codes, one-line errors."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.quality.conftest import Req, chat_reply, judge_server, make_run, run_files

ASSAY = [sys.executable, "-m", "assay"]


def score(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ASSAY, "score", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]


def score_rows(run: Path) -> list[dict[str, Any]]:
    path = run / "scores.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return make_run(
        tmp_path / "runs",
        [
            Req("m1", 0, "RAG retrieves passages, then answers."),
            Req("m1", 1, "anything at all"),
            Req("m2", 0, "I do not know."),
            Req("m2", 1, "something"),
            Req("m2", 0, "warm", warmup=True),
        ],
    )


def fill(path: Path, scores: list[str]) -> None:
    rows = list(csv.reader(io.StringIO(path.read_text(), newline="")))
    column = rows[0].index("score")
    for row, value in zip(rows[1:], scores, strict=True):
        row[column] = value
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    path.write_text(buffer.getvalue())


def test_rules_write_scores_beside_the_run_and_print_the_table(run: Path) -> None:
    before = run_files(run)
    result = score(run, "--rules")
    assert result.returncode == 0, result.stderr
    assert "rules: 2 outputs scored (2 without rule checks" in result.stderr
    for column in ("Model", "Source", "Mean", "95% CI", "n"):
        assert column in result.stdout
    rows = score_rows(run)
    assert [(r["model"], r["score"]) for r in rows] == [("m1", 5.0), ("m2", 3.0)]
    assert run_files(run) == before


def test_annotate_fill_in_import_and_import_again(run: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.csv"
    result = score(run, "--annotate", sheet)
    assert result.returncode == 0, result.stderr
    assert f"--import {sheet}" in result.stderr
    fill(sheet, ["4", "", "2", "3"])
    assert score(run, "--import", sheet).returncode == 0
    assert sorted(r["score"] for r in score_rows(run)) == [2, 3, 4]
    fill(sheet, ["5", "", "", ""])  # importing the file again replaces its earlier rows
    result = score(run, "--import", sheet)
    assert result.returncode == 0 and "imported 1 human scores" in result.stderr
    assert [(r["model"], r["score"], r["source"]) for r in score_rows(run)] == [("m1", 5, "human")]
    assert "human" in result.stdout


def test_a_blind_sheet_round_trip(run: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "blind.csv"
    result = score(run, "--annotate", sheet, "--blind", "--seed", "3")
    assert result.returncode == 0, result.stderr
    assert "m1" not in sheet.read_text().replace("M1", "")
    (key,) = (run / "annotation-keys").iterdir()
    assert f"blind key: {key}" in result.stderr.replace("\n", "")
    fill(sheet, ["1", "2", "3", "4"])
    assert score(run, "--import", sheet).returncode == 0
    assert {r["model"] for r in score_rows(run)} == {"m1", "m2"}


def test_a_broken_import_is_one_line_and_merges_nothing(run: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.csv"
    score(run, "--rules", "--annotate", sheet)
    fill(sheet, ["4", "five", "2", "3"])
    before = (run / "scores.jsonl").read_bytes()
    result = score(run, "--import", sheet)
    assert_one_line_error(
        result, "line 3: score 'five' is not a whole number", "nothing was imported"
    )
    assert (run / "scores.jsonl").read_bytes() == before


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--blind"], ["--blind goes with --annotate"]),
        (["--judge-model", "x", "--pairwise", "m1,m2"], ["--pairwise A,B needs a judge"]),
        (["--pairwise", "m1,m9", "--judge", "x"], ["'m9' is not in this run", "m1, m2"]),
        (["--pairwise", "m1", "--judge", "x"], ["two different models"]),
        (["--judge", "no-such-model"], ["no-such-model"]),
        (["--judge", "http://127.0.0.1:9/v1"], ["cannot reach the judge at http://127.0.0.1:9/v1"]),
        (["--import", "/nonexistent/sheet.csv"], ["no such file"]),
    ],
)
def test_usage_errors_are_one_line(run: Path, args: list[str], needles: list[str]) -> None:
    assert_one_line_error(score(run, *args), *needles)


def test_not_a_run_directory_and_an_existing_sheet(run: Path, tmp_path: Path) -> None:
    assert_one_line_error(score(tmp_path, "--rules"), "is not a run directory")
    existing = tmp_path / "taken.csv"
    existing.write_text("id,score\n")
    assert_one_line_error(score(run, "--annotate", existing), "exists; choose another name")
    assert existing.read_text() == "id,score\n"


def test_no_scores_yet(run: Path) -> None:
    result = score(run)
    assert result.returncode == 0 and "no scores yet" in result.stdout


def test_an_endpoint_judge_and_its_agreement_with_people(run: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.csv"
    score(run, "--annotate", sheet)
    fill(sheet, ["5", "4", "1", "2"])
    score(run, "--import", sheet)
    replies = iter(["SCORE: 5", "SCORE: 3", "SCORE: 2", "nonsense"])
    with judge_server(lambda body: chat_reply(next(replies))) as (url, _):
        result = score(run, "--judge", url, "--judge-model", "stub")
    assert result.returncode == 0, result.stderr
    assert f"judge stub @ {url} (assay-rubric-1): 4 outputs, 1 invalid" in result.stderr
    assert "human-judge agreement" in result.stdout
    judged = [r for r in score_rows(run) if r["source"] == "judge"]
    assert [r["score"] for r in judged] == [5, 3, 2, None]
    assert all(r["judge"] == f"stub @ {url}" for r in judged)


@pytest.mark.slow
def test_a_bundled_judge_scores_and_compares_in_both_orders(run: Path) -> None:
    result = score(run, "--judge", "smollm2-135m")
    assert result.returncode == 0, result.stderr
    judged = score_rows(run)
    assert len(judged) == 4 and all(r["score"] in (1, 2, 3, 4, 5) for r in judged)
    assert {r["judge"] for r in judged} == {"smollm2-135m:q4_1"}
    result = score(run, "--judge", "smollm2-135m", "--pairwise", "m1,m2")
    assert result.returncode == 0, result.stderr
    assert "pairwise m1 vs m2: 2 pairs judged in both orders" in result.stderr
    pairs = [json.loads(line) for line in (run / "pairwise.jsonl").read_text().splitlines()]
    assert len(pairs) == 2
    assert all(p["first"] in ("A", "B", "tie") and p["second"] in ("A", "B", "tie") for p in pairs)
    assert all(p["outcome"] in ("a", "b", "tie", "inconsistent") for p in pairs)
    assert "A wins" in result.stdout
