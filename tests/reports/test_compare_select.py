"""`assay compare` and `assay select` on hand-built runs, and the whole chain on a real run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from assay.bench.rundir import RunDir
from assay.catalog.loader import load_builtin
from assay.errors import AssayError
from assay.reports.charts import pareto_front
from assay.reports.compare import compare_runs
from assay.reports.model import build_report
from assay.reports.select import Constraints, parse_bytes, parse_seconds, parse_weights, select
from tests.reports.conftest import make_record, make_run, ok_state, score_row

ASSAY = [sys.executable, "-m", "assay"]


def run_with(tmp_path: Path, name: str, e2e_ms: float, spread: float = 20.0) -> Path:
    records = [make_record("m", i, e2e_ms + spread * (i % 5), 100) for i in range(20)]
    return make_run(tmp_path, {"m": ok_state()}, records, name=name)


def test_a_real_slowdown_is_a_regression_and_noise_is_not(tmp_path: Path) -> None:
    base = run_with(tmp_path, "a", 500)
    slower = run_with(tmp_path, "b", 600)
    same = run_with(tmp_path, "c", 502)
    changes = {c.metric: c for c in compare_runs(RunDir(base), RunDir(slower), threshold=0.05)}
    assert changes["e2e_s"].regression and changes["e2e_s"].change == pytest.approx(0.2, abs=0.02)
    assert changes["e2e_s"].p_value is not None and changes["e2e_s"].p_value < 0.001
    assert changes["ttft_s"].regression is False  # TTFT did not move
    quiet = {c.metric: c for c in compare_runs(RunDir(base), RunDir(same), threshold=0.05)}
    assert not any(c.regression for c in quiet.values())
    faster = {c.metric: c for c in compare_runs(RunDir(slower), RunDir(base), threshold=0.05)}
    assert not faster["e2e_s"].regression and not faster["e2e_s"].worse


def test_compare_exits_1_on_regression_for_ci(tmp_path: Path) -> None:
    base, slower = run_with(tmp_path, "a", 500), run_with(tmp_path, "b", 600)
    result = subprocess.run(
        [*ASSAY, "compare", str(base), str(slower), "--threshold", "5%"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert "**regression**" in result.stdout and "significant regression(s)" in result.stdout
    result = subprocess.run(
        [*ASSAY, "compare", str(slower), str(base)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "0 significant regression(s)" in result.stdout


def two_model_report(tmp_path: Path, with_quality: bool = True):  # type: ignore[no-untyped-def]
    records = [make_record("smollm2-135m", i, 400, 100) for i in range(8)]
    records += [make_record("gemma3-270m", i, 1800, 40, tokens=30) for i in range(8)]
    scores = None
    if with_quality:
        scores = [score_row("smollm2-135m", 3, index=i) for i in range(4)]
        scores += [score_row("gemma3-270m", 4, index=i) for i in range(4)]
    path = make_run(
        tmp_path,
        {"smollm2-135m": ok_state(300_000_000), "gemma3-270m": ok_state(600_000_000)},
        records,
        scores=scores,
    )
    return build_report(path, load_builtin())


def test_constraints_filter_and_weights_rank(tmp_path: Path) -> None:
    report = two_model_report(tmp_path)
    chosen = select(report, Constraints(), parse_weights(None))
    assert chosen.winner is not None and chosen.winner.model == "smollm2-135m"
    assert set(chosen.pareto) == {"smollm2-135m", "gemma3-270m"}  # faster vs better
    text = "\n".join(chosen.rationale)
    assert "Recommended: smollm2-135m" in text
    assert (
        "Traded away: 100 ms TTFT p50 vs 40 ms TTFT p50; quality 3.00/5 vs quality 4.00/5" in text
    )
    quality_first = select(report, Constraints(), parse_weights("quality=20"))
    assert quality_first.winner.model == "gemma3-270m"  # type: ignore[union-attr]
    strict = select(report, Constraints(min_quality=3.5, license="permissive"), parse_weights(None))
    assert strict.winner is None
    reasons = dict((r.model, ", ".join(why)) for r, why in strict.rejected)
    assert "quality 3.00 < 3.50" in reasons["smollm2-135m"]
    assert "not permissive" in reasons["gemma3-270m"]
    fast = select(
        report, Constraints(max_p95_s=1.0, max_memory_bytes=parse_bytes("1GB")), parse_weights(None)
    )
    assert [r.model for r, _ in fast.ranked] == ["smollm2-135m"]


def test_without_quality_scores_the_rationale_says_so(tmp_path: Path) -> None:
    chosen = select(
        two_model_report(tmp_path, with_quality=False), Constraints(), parse_weights(None)
    )
    assert any("run `assay score`" in line for line in chosen.rationale)
    constrained = select(
        two_model_report(tmp_path / "x", with_quality=False),
        Constraints(min_quality=3),
        parse_weights(None),
    )
    assert constrained.winner is None and "quality unknown" in str(constrained.rejected)


def test_parsers_and_pareto() -> None:
    assert parse_seconds("2s") == 2.0 and parse_seconds("500ms") == 0.5
    assert parse_bytes("2GB") == 2_000_000_000 and parse_bytes("512MiB") == 512 * 1024**2
    for bad in (
        lambda: parse_seconds("fast"),
        lambda: parse_bytes("big"),
        lambda: parse_weights("speed=1"),
        lambda: parse_weights("latency=x"),
    ):
        with pytest.raises(AssayError):
            bad()
    assert pareto_front([(1, 1), (2, 0), (0, 2), (0.5, 0.5)]) == [0, 1, 2]


@pytest.mark.slow
def test_the_whole_chain_on_a_real_run(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    result = subprocess.run(
        [
            *ASSAY,
            "bench",
            "--models",
            "smollm2-135m,gemma3-270m",
            "--rounds",
            "1",
            "--warmup",
            "0",
            "--max-tokens",
            "12",
            "--out",
            str(out),
            "--report",
            "md,html",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    (run,) = list(out.iterdir())
    assert "benchmark_report.md" in result.stderr and "benchmark_report.html" in result.stderr
    text = (run / "benchmark_report.md").read_text()
    assert "|smollm2-135m|" in text and "|gemma3-270m|" in text
    assert "CPU time x 12 W per busy core" in text  # the energy estimate has real inputs
    result = subprocess.run(
        [*ASSAY, "select", str(run), "--license", "permissive"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and "Recommended: smollm2-135m" in result.stdout
    assert json.loads((run / "summary.json").read_text())["models"][0]["memory"]["cpu_seconds"] > 0
