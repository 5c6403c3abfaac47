"""Reports rendered from hand-built run directories (edge cases) and from a real run."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from assay.catalog.loader import load_builtin
from assay.reports.csv_table import COLUMNS, render_csv
from assay.reports.energy import estimate_energy
from assay.reports.html import render_html
from assay.reports.markdown import render_markdown
from assay.reports.model import QualityStat, Report, build_report
from tests.reports.conftest import RunFactory, make_record, ok_state, score_row

ASSAY = [sys.executable, "-m", "assay"]


def two_models(run_factory: RunFactory, **kwargs: object) -> Path:
    records = [make_record("smollm2-135m", i, 400 + 10 * i, 100) for i in range(8)]
    records += [make_record("gemma3-270m", i, 900 + 10 * i, 40, tokens=30) for i in range(8)]
    states = {"smollm2-135m": ok_state(300_000_000), "gemma3-270m": ok_state(500_000_000)}
    return run_factory(states, records, **kwargs)


def test_the_report_model_holds_what_every_renderer_needs(run_factory: RunFactory) -> None:
    report = build_report(two_models(run_factory), load_builtin())
    smol = report.model("smollm2-135m")
    assert smol is not None and smol.headline is not None
    assert smol.headline.e2e_s is not None
    assert smol.headline.e2e_s.mean == pytest.approx(0.435, abs=1e-3)
    assert smol.license == "Apache-2.0" and smol.license_class == "permissive"
    assert report.model("gemma3-270m").license_class == "restricted"  # type: ignore[union-attr]
    assert len(smol.e2e_samples_s) == 8
    assert any("Fastest (mean latency): smollm2-135m" in h for h in report.highlights)
    assert any("Quickest first token (TTFT p50): gemma3-270m" in h for h in report.highlights)
    again = Report.model_validate_json(report.model_dump_json())
    assert again == report and again.version == 1


def test_markdown_has_the_workshops_table_extended(run_factory: RunFactory) -> None:
    text = render_markdown(build_report(two_models(run_factory), load_builtin()))
    assert (
        "|Model|Avg Latency|p95|TPS|TTFT p50|TTFT p95|Decode tok/s|Peak memory|Disk|Load|" in text
    )
    assert "|smollm2-135m|0.43 s|" in text
    assert "## Highlights" in text and "## Environment" in text
    assert "Apache-2.0 (permissive)" in text and "Gemma (restricted)" in text
    assert "## Energy and cost (estimates)" in text and "CPU time x 12 W" in text


def test_csv_has_stable_columns_and_a_row_per_model_and_level(run_factory: RunFactory) -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv(build_report(two_models(run_factory))))))
    assert tuple(rows[0]) == COLUMNS
    assert [(r["model"], r["level"]) for r in rows] == [
        ("smollm2-135m", "sequential"),
        ("gemma3-270m", "sequential"),
    ]
    assert float(rows[0]["e2e_mean_s"]) == pytest.approx(0.435, abs=1e-3)


def test_a_failed_model_a_single_request_and_no_quality(run_factory: RunFactory) -> None:
    records = [make_record("smollm2-135m", 0, 500, 120)]
    states = {
        "smollm2-135m": ok_state(),
        "broken": {
            "status": "failed",
            "error": "llama.cpp cannot load broken.gguf",
            "info": {},
            "memory": {},
        },
    }
    report = build_report(run_factory(states, records), load_builtin())
    smol, broken = report.models
    assert smol.headline is not None and smol.headline.e2e_s is not None
    assert smol.headline.e2e_s.n == 1 and smol.headline.e2e_s.stdev == 0.0
    assert smol.quality == [] and smol.quality_score is None
    assert broken.status == "failed" and broken.levels == [] and broken.license == "unknown"
    assert any("Failed: broken (llama.cpp cannot load" in h for h in report.highlights)
    text = render_markdown(report)
    assert "|broken|-|-|" in text and "failed: llama.cpp cannot load broken.gguf" in text
    assert "<svg" in render_html(report)
    assert render_csv(report).count("\n") == 3


def test_request_errors_show_in_status_and_are_not_averaged(run_factory: RunFactory) -> None:
    records = [make_record("m", i, 400, 100) for i in range(3)]
    records.append(make_record("m", 3, 10, 5, error="HTTP 500: boom"))
    report = build_report(run_factory({"m": ok_state()}, records))
    level = report.models[0].headline
    assert level is not None and level.errors == 1 and level.e2e_s is not None
    assert level.e2e_s.n == 3
    assert report.models[0].status == "partial"
    assert "(1 errors)" in render_markdown(report)


def test_quality_scores_by_source_with_a_confidence_interval(run_factory: RunFactory) -> None:
    scores = [score_row("smollm2-135m", s, index=i) for i, s in enumerate((3, 4, 4, 5))]
    scores += [score_row("smollm2-135m", 5, "rules"), score_row("smollm2-135m", None, index=4)]
    report = build_report(two_models(run_factory, scores=scores), load_builtin())
    smol = report.model("smollm2-135m")
    assert smol is not None
    judge = next(q for q in smol.quality if q.source == "judge smollm2-135m (assay-rubric-1)")
    assert (judge.n, judge.mean) == (4, 4.0)
    assert judge.ci_low == pytest.approx(4.0 - 3.182446 * 0.816497 / 2, rel=1e-4)
    assert smol.quality_score == 4.0  # the judge outranks the rules
    html = render_html(report)
    assert "Quality vs speed" in html


def test_csv_has_each_kind_of_quality_score_in_its_column(run_factory: RunFactory) -> None:
    scores = [score_row("smollm2-135m", s, index=i) for i, s in enumerate((3, 5))]
    scores += [score_row("smollm2-135m", 2, "rules"), score_row("smollm2-135m", 3, "human")]
    report = build_report(two_models(run_factory, scores=scores), load_builtin())
    rows = [
        r for r in csv.DictReader(io.StringIO(render_csv(report))) if r["model"] == "smollm2-135m"
    ]
    assert rows and all(
        (r["quality_judge"], r["quality_human"], r["quality_rules"]) == ("4.0", "3.0", "2.0")
        for r in rows
    )
    smol = report.model("smollm2-135m")
    assert smol is not None and smol.quality_score == 3.0  # people outrank the judge


def test_a_report_saved_before_quality_kinds_still_loads() -> None:
    stat = QualityStat.model_validate(
        {"source": "judge m (assay-rubric-1)", "mean": 4.0, "ci_low": None, "ci_high": None, "n": 1}
    )
    assert stat.kind == "judge"


def test_energy_estimate_methods() -> None:
    estimate = estimate_energy(1000, cpu_seconds=10.0, rapl_joules=None, watts_per_core=12)
    assert estimate is not None
    assert estimate.joules_per_output_token == pytest.approx(0.12)
    assert estimate.cost_per_million_tokens == pytest.approx(0.12 * 1e6 / 3.6e6 * 0.30)
    assert "CPU time x 12 W" in estimate.method
    assert "RAPL" in estimate_energy(1000, 10.0, rapl_joules=50.0).method  # type: ignore[union-attr]
    assert estimate_energy(0, 10.0, None) is None
    assert estimate_energy(10, None, None) is None


def test_html_is_self_contained(run_factory: RunFactory) -> None:
    html = render_html(build_report(two_models(run_factory), load_builtin()))
    assert html.count("<svg") >= 3
    for remote in ("http://", "https://", "<script src", "<link"):
        assert remote not in html.replace('xmlns="http://www.w3.org', "").replace(
            'xmlns:xlink="http://www.w3.org', ""
        )


def test_the_cli_renders_every_format_and_refuses_unknown_ones(
    run_factory: RunFactory, tmp_path: Path
) -> None:
    path = two_models(run_factory)
    out = tmp_path / "out"
    result = subprocess.run(
        [*ASSAY, "report", str(path), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "benchmark_report.csv",
        "benchmark_report.html",
        "benchmark_report.json",
        "benchmark_report.md",
    ]
    assert json.loads((out / "benchmark_report.json").read_text())["version"] == 1
    result = subprocess.run(
        [*ASSAY, "report", str(path), "--format", "pdf"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "unknown report format 'pdf'" in result.stderr
    result = subprocess.run(
        [*ASSAY, "report", str(tmp_path / "nope")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "is not a run directory" in result.stderr
