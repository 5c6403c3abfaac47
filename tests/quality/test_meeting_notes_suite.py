"""assay bench --suite meeting-notes end to end: the real engine on a subset of the suite,
scored in the same run; a transcript longer than the model's context; the judge's rubric;
an endpoint; select on the suite's figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from assay.bench.records import RequestRecord
from tests.bench.conftest import mock_server
from tests.bench.test_bench_runs import bench, run_dir, summary

ASSAY = [sys.executable, "-m", "assay"]


def records(path: Path) -> list[RequestRecord]:
    lines = (path / "requests.jsonl").read_text().splitlines()
    return [RequestRecord.model_validate_json(line) for line in lines]


def scores(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (path / "suite_scores.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2 on the two shortest transcripts (both tasks each), then judged by itself."""
    out = tmp_path_factory.mktemp("suite")
    result = bench(
        "--suite", "meeting-notes:mn09,mn17", "--models", "smollm2-135m", "--rounds", "1",
        "--warmup", "0", "--out", str(out), "--report", "md,html",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    path = run_dir(out)
    judged = subprocess.run(
        [*ASSAY, "score", str(path), "--judge", "smollm2-135m"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert judged.returncode == 0, judged.stderr
    assert "assay-notes-1" in judged.stdout + judged.stderr
    return path


def test_speed_and_quality_in_one_run(suite_run: Path) -> None:
    done = records(suite_run)
    assert sorted(r.prompt_id for r in done) == [
        "mn09-no-decisions-brainstorm/json",
        "mn09-no-decisions-brainstorm/text",
        "mn17-one-on-one-feedback/json",
        "mn17-one-on-one-feedback/text",
    ]
    assert all(r.ok for r in done)
    assert {r.structured for r in done if r.prompt_id.endswith("/json")} == {"grammar"}
    assert {r.structured for r in done if r.prompt_id.endswith("/text")} == {None}
    rows = scores(suite_run)
    assert len(rows) == 4 and all(0 <= row["score"]["task_score"] <= 1 for row in rows)
    spec = json.loads((suite_run / "run.json").read_text())["spec"]
    assert spec["suite"] == "meeting-notes:mn09,mn17" and spec["context_size"] >= 1024


def test_the_report_has_the_task_section_and_its_charts(suite_run: Path) -> None:
    subprocess.run([*ASSAY, "report", str(suite_run), "--format", "md,html"], check=True,
                   capture_output=True, timeout=120)  # fmt: skip
    markdown = (suite_run / "benchmark_report.md").read_text()
    assert "## Meeting-notes task" in markdown and "### TTFT by transcript length" in markdown
    assert "Judge faithful/covers" in markdown  # the judge's rubric, after assay score
    html = (suite_run / "benchmark_report.html").read_text()
    assert "Meeting notes: task score vs TTFT" in html
    assert "Meeting notes: TTFT vs transcript length" in html


def test_the_judge_grades_notes_by_their_rubric(suite_run: Path) -> None:
    rows = [json.loads(line) for line in (suite_run / "scores.jsonl").read_text().splitlines()]
    notes = [r for r in rows if r["rubric_version"] == "assay-notes-1"]
    assert len(notes) == 4
    for row in notes:
        if row["score"] is not None:
            assert set(row["criteria"]) == {"faithfulness", "coverage"}
            assert row["score"] == sum(row["criteria"].values()) / 2


def test_a_transcript_longer_than_the_context_does_not_fit(tmp_path: Path) -> None:
    """mn24 is about 7,900 tokens: with its instruction and answer it passes SmolLM2's
    8,192-token context, so both its tasks are 'does not fit', neither sent nor an error."""
    result = bench(
        "--suite", "meeting-notes:mn24", "--models", "smollm2-135m", "--rounds", "1",
        "--warmup", "0", "--out", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    path = run_dir(tmp_path)
    done = records(path)
    assert len(done) == 2 and all(r.skipped and r.skipped.startswith("does not fit") for r in done)
    assert all(r.error is None and r.first_token_ns is None for r in done)
    (model,) = summary(path)["models"]
    assert model["status"] == "ok" and model["levels"][0]["skipped"] == 2
    assert model["info"]["context_size"] == 8192  # the suite asked for more; SmolLM2 knows 8k


def test_at_an_endpoint_json_goes_as_response_format(tmp_path: Path) -> None:
    with mock_server("--ttft-ms", "5", "--itl-ms", "1", "--output-tokens", "20") as url:
        result = bench(
            "--endpoint", url, "--models", "mock", "--suite", "meeting-notes:mn09",
            "--rounds", "1", "--warmup", "0", "--out", str(tmp_path),
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    path = run_dir(tmp_path)
    by_id = {r.prompt_id: r for r in records(path)}
    assert by_id["mn09-no-decisions-brainstorm/json"].structured == "response_format"
    rows = scores(path)
    assert {row["kind"] for row in rows} == {"text", "json"}
    json_row = next(row for row in rows if row["kind"] == "json")
    assert json_row["score"]["json_valid"] is False  # the mock's words are not JSON


def test_select_names_the_suites_figures(suite_run: Path) -> None:
    result = subprocess.run(
        [*ASSAY, "select", str(suite_run), "--suite-score", "0", "--license", "permissive"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Recommended: smollm2-135m" in result.stdout
    assert "On the meeting-notes suite: task score" in result.stdout
    strict = subprocess.run(
        [*ASSAY, "select", str(suite_run), "--suite-score", "0.99"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert strict.returncode == 1 and "task score" in strict.stdout


def test_a_bad_suite_is_one_line(tmp_path: Path) -> None:
    for suite, message in (("notes", "--suite takes meeting-notes or workshop"),
                           ("meeting-notes:mn77", "no transcript 'mn77'")):  # fmt: skip
        result = bench("--suite", suite, "--models", "smollm2-135m", "--out", str(tmp_path))
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
