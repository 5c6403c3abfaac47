"""`assay bench --response-format`: a schema sent with every request, each answer checked,
the schema-valid rate beside the speed. In-process on the bundled model (a grammar) and at
an endpoint that ignores the schema (the mock: every answer fails, and the run says so)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.engines.json_schema import grammar_for_schema, schema_valid
from tests.bench.conftest import mock_server
from tests.bench.test_bench_runs import bench, levels, run_dir

NOTES = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "maxLength": 40},
        "actions": {
            "type": "array",
            "items": {"type": "string", "maxLength": 60},
            "maxItems": 3,
        },
    },
    "required": ["title", "actions"],
    "additionalProperties": False,
}


def _schema_file(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(document))
    return path


@pytest.mark.slow
def test_in_process_every_answer_matches_the_schema(tmp_path: Path) -> None:
    # Greedy answers to the default prompts; one of them once put a raw newline inside a
    # string, which the converter's grammar allowed and JSON does not.
    schema = _schema_file(tmp_path, {"type": "json_schema", "json_schema": {"schema": NOTES}})
    out = tmp_path / "runs"
    result = bench(
        "--models", "smollm2-135m", "--rounds", "1", "--warmup", "0", "--max-tokens", "120",
        "--response-format", str(schema), "--out", str(out), "--report", "md,csv",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    path = run_dir(out)
    level = levels(path)["sequential"]
    assert level["errors"] == 0 and level["schema_valid_rate"] == 1.0
    records = [json.loads(line) for line in (path / "requests.jsonl").read_text().splitlines()]
    assert all(r["schema_valid"] is True for r in records)
    assert all(schema_valid(r["text"], NOTES) for r in records)
    assert "schema-valid 100%" in result.stdout
    assert "Schema valid" in (path / "benchmark_report.md").read_text()
    assert "schema_valid_rate" in (path / "benchmark_report.csv").read_text().splitlines()[0]


def test_an_endpoint_that_ignores_the_schema_scores_zero(tmp_path: Path) -> None:
    schema = _schema_file(tmp_path, NOTES)
    with mock_server("--ttft-ms", "1", "--itl-ms", "1", "--output-tokens", "8") as url:
        result = bench(
            "--endpoint", url, "--models", "mock", "--rounds", "1", "--warmup", "0",
            "--response-format", str(schema), "--out", str(tmp_path / "runs"),
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    level = levels(run_dir(tmp_path / "runs"))["sequential"]
    assert level["errors"] == 0 and level["schema_valid_rate"] == 0.0
    assert "schema-valid 0%" in result.stdout


def test_a_schema_decoding_cannot_enforce_fails_before_the_run(tmp_path: Path) -> None:
    schema = _schema_file(tmp_path, {"type": "integer", "minimum": 0})
    result = bench("--models", "smollm2-135m", "--response-format", str(schema))
    assert result.returncode == 2 and "'minimum' at #" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_grammar_keeps_control_characters_out_of_strings() -> None:
    grammar = grammar_for_schema({"type": "string"})
    (char,) = [line for line in grammar.splitlines() if line.startswith("char ::=")]
    assert "\\x00-\\x1F" in char and "\\x7F" in char
    assert not schema_valid('{"title": "a\nb", "actions": []}', NOTES)  # raw newline: not JSON
