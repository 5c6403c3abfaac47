"""progress.jsonl as typed events: a run directory of format 1 (committed, written by the
code before format 2) still reads, summarizes, reports and resumes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from assay.bench.events import FORMAT_VERSION, ModelEvent, ModelStartEvent, parse_event
from assay.bench.rundir import RunDir
from assay.bench.summary import Summary, summarize
from assay.catalog.loader import load_builtin
from assay.reports.markdown import render_markdown
from assay.reports.model import build_report

V1 = Path(__file__).parent / "data" / "v1-run"


@pytest.fixture
def v1_run(tmp_path: Path) -> Path:
    return Path(shutil.copytree(V1, tmp_path / "v1-run"))


def test_a_format_1_run_reads_as_typed_events(v1_run: Path) -> None:
    run = RunDir(v1_run)
    assert run.read_meta().format_version == 1
    events = run.progress()
    assert [e.type for e in events] == ["start", "level", "level", "model", "client"]
    model = next(e for e in events if isinstance(e, ModelEvent))
    assert (model.status, model.crashed, model.info.engine) == ("ok", False, "openai-endpoint")
    assert model.memory is not None and model.memory.samples == 3


def test_a_format_1_run_summarizes_and_reports_as_before(v1_run: Path) -> None:
    before = json.loads((v1_run / "summary.json").read_text())
    after = summarize(RunDir(v1_run)).model_dump(mode="json")
    (level,), (old,) = after["models"][0]["levels"], before["models"][0]["levels"]
    assert {key: level[key] for key in old} == old
    assert all(level[key] is None for key in set(level) - set(old))  # fields added since
    assert after["models"][0]["status"] == before["models"][0]["status"] == "ok"
    assert after["client"] == before["client"]
    report = build_report(v1_run, load_builtin())
    assert "mock" in render_markdown(report)
    # The saved version-1 summary.json reads into the typed records too.
    saved = Summary.model_validate(before)
    assert saved.version == 1 and saved.models[0].info.engine == "openai-endpoint"
    assert report.environment.cores_available and report.spec.models == ["mock"]


def test_a_version_1_summary_of_a_model_that_never_ran_reads() -> None:
    line = {"model": "m", "status": "not run", "info": {}, "memory": {}, "levels": []}
    summary = Summary.model_validate({"version": 1, "models": [line], "client": {}})
    assert summary.models[0].memory is None and summary.models[0].info.engine is None
    assert Summary(models=[], client=summary.client).version == 2


def test_events_round_trip_and_refuse_unknown_types() -> None:
    event = ModelStartEvent(model="m", at="2026-12-02T00:00:00+00:00", load_average=[0.1, 0.2, 0.3])
    assert parse_event(event.model_dump_json()) == event
    failed = parse_event('{"type": "model", "model": "m", "status": "failed", "memory": {}}')
    assert isinstance(failed, ModelEvent) and failed.memory is None
    with pytest.raises(ValueError):
        parse_event('{"type": "nonsense", "model": "m"}')
    assert FORMAT_VERSION == 2


def test_a_finished_format_1_run_resumes_with_nothing_to_do(v1_run: Path) -> None:
    from assay import api

    report = api.resume(v1_run)
    assert report.model("mock") is not None
    events = RunDir(v1_run).progress()
    assert [e.type for e in events][-2:] == ["start", "client"]  # a second attempt, no requests
