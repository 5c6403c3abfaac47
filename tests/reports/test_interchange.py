"""AIPerf and GuideLLM exports in, AIPerf's profile export out: the figures, the round trip,
and the command line's answers to files it cannot read.

The files in tests/reports/data/ are written by hand in each tool's layout (AIPerf 0.1.1's
profile_export_aiperf.json, GuideLLM 0.7.3's benchmarks.json) with realistic figures.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from assay import api
from assay.bench.metrics import Stats
from assay.bench.summary import LevelSummary
from assay.catalog.loader import load_builtin
from assay.errors import AssayError, ForeignExportError
from assay.reports.compare import compare_reports, render_comparison
from assay.reports.interchange import import_report
from assay.reports.interchange_aiperf import AiperfExport, to_aiperf
from assay.reports.markdown import render_markdown
from assay.reports.model import Report, build_report
from tests.reports.conftest import RunFactory, make_record, ok_state

ASSAY = [sys.executable, "-m", "assay"]
DATA = Path(__file__).parent / "data"
AIPERF = DATA / "profile_export_aiperf.json"
GUIDELLM = DATA / "benchmarks_guidellm.json"


def headline(report: Report, model: str | None = None) -> LevelSummary:
    found = report.model(model) if model else report.models[0]
    assert found is not None and found.headline is not None
    return found.headline


def stat(level: LevelSummary, name: str) -> Stats:
    value = getattr(level, name)
    assert isinstance(value, Stats), name
    return value


def assay_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ASSAY, *args], capture_output=True, text=True, timeout=120)


def one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]


def edited(tmp_path: Path, source: Path, change: Any, name: str | None = None) -> Path:
    """A copy of a fixture with `change(data)` applied."""
    data = json.loads(source.read_text())
    change(data)
    path = tmp_path / (name or source.name)
    path.write_text(json.dumps(data))
    return path


def test_aiperf_figures_arrive_in_seconds_under_assay_names() -> None:
    report = import_report("aiperf", AIPERF)
    assert report.source is not None and report.source.tool == "AIPerf"
    assert report.spec.models == ["Qwen/Qwen3-0.6B"] and report.spec.stream is True
    assert report.spec.endpoint == "http://localhost:8000" and report.spec.max_tokens is None
    level = headline(report)
    assert (level.level, level.kind, level.concurrency) == ("c4", "concurrency", 4)
    assert (level.requests, level.errors, level.duration_s) == (100, 2, 25.3)
    assert level.request_throughput == pytest.approx(98 / 25.3)
    assert level.output_tokens_per_second == pytest.approx(12544 / 25.3)
    e2e = stat(level, "e2e_s")
    assert e2e.n == 98 and e2e.mean == pytest.approx(1.0114837)
    assert e2e.p95 == pytest.approx(1.0637151)
    assert e2e.stdev == pytest.approx(0.0286142 * (98 / 97) ** 0.5)  # population -> sample
    assert stat(level, "ttft_s").p50 == pytest.approx(0.0438852)
    tpot = stat(level, "tpot_s")  # AIPerf's ITL is per request: assay's TPOT
    assert tpot.mean == pytest.approx(0.0076083) and tpot.n is None
    assert tpot.stdev == pytest.approx(0.0001948)  # no count given: left as AIPerf wrote it
    assert stat(level, "itl_s").p99 == pytest.approx(0.0102649)  # inter_chunk_latency
    assert stat(level, "decode_tokens_per_second").mean == pytest.approx(131.4859)
    assert stat(level, "completion_tokens").mean == 128.0
    assert stat(level, "prompt_tokens").mean == 550.0
    assert level.first_error == "Service Unavailable: the engine's request queue is full"
    model = report.models[0]
    assert model.status == "partial" and model.license == "unknown"
    assert level.total_tokens_per_second is None and model.peak_rss_bytes is None
    assert model.energy is None and model.e2e_samples_s == []


def test_guidellm_gives_one_level_per_benchmark() -> None:
    report = import_report("guidellm", GUIDELLM)
    assert report.source is not None and report.source.describe().startswith(
        "imported from GuideLLM 0.7.3"
    )
    assert report.started_at == "2025-10-08T14:21:07+00:00"
    (model,) = report.models
    assert model.model == "Qwen/Qwen3-0.6B" and model.headline_level == "sequential"
    sync, rate = model.levels
    assert (sync.level, sync.kind, sync.requests, sync.errors) == (
        "sequential",
        "sequential",
        60,
        0,
    )
    assert (rate.level, rate.kind, rate.rate) == ("rate4", "rate", 4.0)
    assert (rate.requests, rate.errors) == (120, 2)
    assert stat(sync, "e2e_s").mean == pytest.approx(0.4983)  # GuideLLM's latency is in seconds
    assert stat(sync, "ttft_s").p95 == pytest.approx(0.02612)
    assert stat(sync, "itl_s").p50 == pytest.approx(0.0037489)
    assert stat(sync, "e2e_s").n == 60
    assert stat(rate, "e2e_s").n == 118  # the successful requests only
    assert sync.request_throughput == pytest.approx(2.0)
    assert sync.output_tokens_per_second == pytest.approx(256.0)
    assert sync.tpot_s is None and sync.decode_tokens_per_second is None  # no counterpart


def test_guidellm_v03_layout_reads_the_same(tmp_path: Path) -> None:
    def to_v03(data: dict[str, Any]) -> None:
        del data["metadata"], data["config"]
        for bench in data["benchmarks"]:
            config = bench.pop("config")
            bench["args"] = {"strategy": config["strategy"]}
            bench["worker"] = {
                "backend_model": config["backend"]["model"],
                "backend_target": config["backend"]["target"],
            }
            bench["request_totals"] = bench["metrics"].pop("request_totals")
            del bench["duration"]

    old = import_report("guidellm", edited(tmp_path, GUIDELLM, to_v03))
    new = import_report("guidellm", GUIDELLM)
    assert old.source is not None and old.source.version is None
    assert old.models[0].levels == new.models[0].levels


def test_a_throughput_benchmark_runs_at_its_peak_concurrency(tmp_path: Path) -> None:
    def throughput(data: dict[str, Any]) -> None:
        data["benchmarks"][1]["config"]["strategy"] = {"type_": "throughput", "rate": None}

    level = import_report("guidellm", edited(tmp_path, GUIDELLM, throughput)).models[0].levels[1]
    assert (level.level, level.kind, level.concurrency, level.rate) == (
        "throughput",
        "throughput",
        5,
        None,
    )


def test_an_imported_report_says_where_its_figures_came_from() -> None:
    text = render_markdown(import_report("aiperf", AIPERF))
    assert "Figures imported from AIPerf (the file names no version)" in text
    assert "prompts x" not in text and "- Not recorded by AIPerf." in text
    row = next(line for line in text.splitlines() if line.startswith("|Qwen/Qwen3-0.6B|1.01 s"))
    assert row.split("|")[4] == "-"  # TPS: AIPerf has no per-request total tok/s


def test_run_to_aiperf_and_back_keeps_the_figures(run_factory: RunFactory, tmp_path: Path) -> None:
    records = [make_record("smollm2-135m", i, 400 + 15 * i, 80 + 3 * i) for i in range(8)]
    run = run_factory({"smollm2-135m": ok_state()}, records)
    (path,) = api.report(run, ["aiperf"])
    assert path == run / "profile_export_aiperf.json"
    exported = AiperfExport.model_validate_json(path.read_text())
    assert exported.input_config is not None and exported.input_config.loadgen is not None
    assert exported.input_config.loadgen.concurrency == 1
    assert exported.request_latency is not None and exported.request_latency.unit == "ms"
    before = build_report(run, load_builtin())
    after = api.load_report(path, import_from="aiperf")
    assert after.models[0].license == "Apache-2.0"  # the catalog knows the alias
    a, b = headline(before), headline(after)
    assert b.level == a.level == "sequential"
    assert (b.requests, b.errors, b.duration_s) == (a.requests, a.errors, a.duration_s)
    assert b.request_throughput == pytest.approx(a.request_throughput)
    assert b.output_tokens_per_second == pytest.approx(a.output_tokens_per_second)
    for name in ("e2e_s", "ttft_s", "tpot_s", "itl_s", "decode_tokens_per_second"):
        mine, theirs = stat(a, name), stat(b, name)
        for field in ("mean", "p50", "p90", "p95", "p99", "min", "max"):
            assert getattr(theirs, field) == pytest.approx(getattr(mine, field)), (name, field)
    assert stat(b, "e2e_s").stdev == pytest.approx(stat(a, "e2e_s").stdev)  # n known both ways


def test_several_models_give_one_export_per_run_and_a_directory_reads_back(
    run_factory: RunFactory, tmp_path: Path
) -> None:
    records = [
        make_record(m, i, 400 + 10 * i, 90, level=lv)
        for m in ("a", "b")
        for lv in ("c1", "c2")
        for i in range(4)
    ]
    run = run_factory({"a": ok_state(), "b": ok_state()}, records, concurrency=[1, 2])
    files = to_aiperf(build_report(run))
    assert sorted(files) == [
        "a-concurrency1/profile_export_aiperf.json",
        "a-concurrency2/profile_export_aiperf.json",
        "b-concurrency1/profile_export_aiperf.json",
        "b-concurrency2/profile_export_aiperf.json",
    ]
    out = tmp_path / "aiperf"
    api.report(run, ["aiperf"], out=out)
    back = api.load_report(out, import_from="aiperf")
    assert [(m.model, [lv.level for lv in m.levels]) for m in back.models] == [
        ("a", ["sequential", "c2"]),
        ("b", ["sequential", "c2"]),
    ]  # AIPerf cannot tell c1 from sequential: one request at a time is "sequential"


def test_imported_reports_feed_compare_and_select(tmp_path: Path) -> None:
    def slower(data: dict[str, Any]) -> None:
        for key in ("avg", "p50", "p90", "p95", "p99", "min", "max"):
            data["request_latency"][key] *= 1.2

    result = assay_cli("report", str(AIPERF), "--import", "aiperf", "--out", str(tmp_path / "a"))
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert written == [f"benchmark_report.{ext}" for ext in ("csv", "html", "json", "md")]
    other = edited(tmp_path, AIPERF, slower, "slower.json")
    result = assay_cli("report", str(other), "--import", "aiperf", "--format", "md")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "benchmark_report.json").exists()  # always: compare and select read it
    result = assay_cli("compare", str(tmp_path / "a"), str(tmp_path))
    assert result.returncode == 1, result.stderr
    assert "|Qwen/Qwen3-0.6B|c4|e2e_s|" in result.stdout
    assert "**regression** (untested)" in result.stdout and "Untested:" in result.stdout
    result = assay_cli("select", str(tmp_path / "a" / "benchmark_report.json"), "--max-p95", "2s")
    assert result.returncode == 0, result.stderr
    assert "Qwen/Qwen3-0.6B" in result.stdout


def test_compare_reports_marks_every_change_untested() -> None:
    base = import_report("guidellm", GUIDELLM)
    changes = compare_reports(base, base)
    assert {c.metric for c in changes} == {"e2e_s", "ttft_s"}  # GuideLLM has no TPOT
    assert all(not c.tested and not c.regression and c.change == 0 for c in changes)
    assert "small change (untested)" in render_comparison(changes, "a", "b", 0.05)


def test_guidellm_round_trips_into_aiperf_and_back(tmp_path: Path) -> None:
    report = import_report("guidellm", GUIDELLM)
    files = to_aiperf(report)
    assert sorted(files) == [
        "Qwen_Qwen3-0.6B-concurrency1/profile_export_aiperf.json",
        "Qwen_Qwen3-0.6B-request_rate4/profile_export_aiperf.json",
    ]
    rate = files["Qwen_Qwen3-0.6B-request_rate4/profile_export_aiperf.json"]
    assert rate.input_config is not None and rate.input_config.loadgen is not None
    assert rate.input_config.loadgen.request_rate == 4.0
    assert rate.time_to_first_token is not None and rate.time_to_first_token.p50 == pytest.approx(
        36.44
    )
    assert rate.inter_token_latency is None  # GuideLLM measured no TPOT: none is written


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--import", "aiperf", "missing.json"], ["missing.json does not exist", "give AIPerf's"]),
        (
            ["--import", "aiperf", str(GUIDELLM)],
            ["GuideLLM's benchmarks.json", "--import guidellm"],
        ),
        (["--import", "guidellm", str(AIPERF)], ["is an AIPerf export", "--import aiperf"]),
        (["--import", "vegeta", str(AIPERF)], ["cannot import 'vegeta'", "--import aiperf"]),
        (["--import", "aiperf", str(AIPERF), "--format", "pdf"], ["unknown report format 'pdf'"]),
    ],
)
def test_the_cli_answers_a_bad_import_in_one_line(
    tmp_path: Path, args: list[str], needles: list[str]
) -> None:
    args = [str(tmp_path / a) if a == "missing.json" else a for a in args]
    one_line_error(assay_cli("report", *args, "--out", str(tmp_path / "out")), *needles)
    assert not (tmp_path / "out").exists()


def test_files_that_are_not_an_export_fail_with_the_file_and_the_fix(tmp_path: Path) -> None:
    broken = tmp_path / "profile_export_aiperf.json"
    broken.write_text("{not json")
    with pytest.raises(ForeignExportError, match=r"is not JSON \(.*give AIPerf's"):
        import_report("aiperf", broken)

    def genai_perf(data: dict[str, Any]) -> None:
        del data["request_count"], data["benchmark_duration"]

    old = edited(tmp_path, AIPERF, genai_perf, "profile_export_genai_perf.json")
    with pytest.raises(ForeignExportError, match="has no request_count record"):
        import_report("aiperf", old)
    no_latency = edited(
        tmp_path, GUIDELLM, lambda d: d["benchmarks"][0]["metrics"].pop("request_latency")
    )
    with pytest.raises(ForeignExportError, match=r"benchmark 0 has no metrics.request_latency"):
        import_report("guidellm", no_latency)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ForeignExportError, match=r"holds no profile_export_aiperf\.json"):
        import_report("aiperf", tmp_path / "empty")
    with pytest.raises(AssayError, match="is not a run directory"):
        api.load_report(tmp_path / "empty")
