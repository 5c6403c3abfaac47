"""AIPerf's `profile_export_aiperf.json`, read into a Report and written from one.

Follows ai-dynamo/aiperf 0.1.1 (commit db4f639, October 2025): `JsonExportData` and
`JsonMetricResult` (aiperf/common/models/export_models.py), the exporter
(aiperf/exporters/json_exporter.py), the metric tags and display units
(aiperf/metrics/types/*.py) and `UserConfig`'s `endpoint` and `loadgen`
(aiperf/common/config/). One export is one run: one load setting against the models of
`input_config.endpoint.model_names`. A metric is `{"unit", "avg", "p1".."p99", "min", "max",
"std"}`, latencies in ms; a run-level figure (throughput, counts, duration) has `avg` only.
GenAI-Perf's `profile_export_genai_perf.json`, whose layout AIPerf keeps, has no
`benchmark_duration` (nor, before 2025, `request_count`), so assay asks for AIPerf's instead.

assay <-> AIPerf, per model and load level:
  e2e_s <-> request_latency; ttft_s <-> time_to_first_token;
  tpot_s <-> inter_token_latency (AIPerf's ITL is per request (latency - TTFT) / (OSL - 1),
    which is assay's TPOT);
  itl_s <-> inter_chunk_latency (AIPerf: each gap between chunks; assay spreads a chunk of k
    tokens over k gaps; the same when each chunk carries one token);
  decode_tokens_per_second <-> output_token_throughput_per_user (1 / ITL per request);
  completion_tokens <-> output_sequence_length; prompt_tokens <-> input_sequence_length;
  request_throughput, output_tokens_per_second <-> request_throughput, output_token_throughput;
  requests - errors <-> request_count; errors <-> error_request_count;
  duration_s <-> benchmark_duration; goodput <-> goodput; slo_met_rate <-> good_request_count
    over all requests.
Not carried: assay's total tok/s, memory, load time, quality and environment (AIPerf has no
field for them); AIPerf's time_to_second_token, reasoning-token and telemetry figures.

A report of several models or levels is several AIPerf runs: as AIPerf lays out a sweep, one
directory per run (`<model>-<stimulus>/profile_export_aiperf.json`); importing that directory
reads them all back.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from assay.bench.metrics import Stats
from assay.bench.summary import LevelSummary
from assay.catalog import Catalog
from assay.errors import ForeignExportError
from assay.reports.interchange import (
    Distribution,
    ImportedLevel,
    imported_report,
    level_shape,
    population_std,
    read_json,
)
from assay.reports.model import ModelReport, Report, ReportSource
from assay.store.integrity import atomic_write_text

EXPORT_FILE = "profile_export_aiperf.json"
_FIX = "give AIPerf's profile_export_aiperf.json (or the artifact directory holding it)"
# AIPerf's MetricTimeUnit tags, as seconds.
_TIME_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "sec": 1.0, "s": 1.0}


class AiperfMetric(BaseModel):
    """A `JsonMetricResult`: the unit and whichever statistics the metric has."""

    model_config = ConfigDict(extra="ignore")

    unit: str
    avg: float | None = None
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    min: float | None = None
    max: float | None = None
    std: float | None = None


class AiperfEndpoint(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model_names: list[str] = []
    type: str | None = None
    streaming: bool | None = None
    url: str | None = None

    @field_validator("model_names", mode="before")
    @classmethod
    def _one_name(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


class AiperfLoadgen(BaseModel):
    model_config = ConfigDict(extra="ignore")

    concurrency: int | None = None
    request_rate: float | None = None
    request_rate_mode: str | None = None
    request_count: int | None = None


class AiperfInputConfig(BaseModel):
    """The `UserConfig` AIPerf saves: what assay reads of it."""

    model_config = ConfigDict(extra="ignore")

    endpoint: AiperfEndpoint | None = None
    loadgen: AiperfLoadgen | None = None

    def models(self) -> list[str]:
        return self.endpoint.model_names if self.endpoint else []

    def load(self) -> tuple[int | None, float | None]:
        """(concurrency, request rate); AIPerf runs at concurrency 1 when given neither."""
        if self.loadgen is None:
            return None, None
        return self.loadgen.concurrency, self.loadgen.request_rate

    def stream(self) -> bool | None:
        return self.endpoint.streaming if self.endpoint else None

    def url(self) -> str | None:
        return self.endpoint.url if self.endpoint else None


class AiperfError(BaseModel):
    model_config = ConfigDict(extra="ignore")

    message: str


class AiperfErrorCount(BaseModel):
    model_config = ConfigDict(extra="ignore")

    error_details: AiperfError
    count: int


class AiperfExport(BaseModel):
    """`JsonExportData`: the metrics assay maps, the run's configuration and its times."""

    model_config = ConfigDict(extra="ignore")

    request_throughput: AiperfMetric | None = None
    request_latency: AiperfMetric | None = None
    request_count: AiperfMetric | None = None
    time_to_first_token: AiperfMetric | None = None
    inter_token_latency: AiperfMetric | None = None
    output_token_throughput: AiperfMetric | None = None
    output_token_throughput_per_user: AiperfMetric | None = None
    output_sequence_length: AiperfMetric | None = None
    input_sequence_length: AiperfMetric | None = None
    goodput: AiperfMetric | None = None
    good_request_count: AiperfMetric | None = None
    inter_chunk_latency: AiperfMetric | None = None
    benchmark_duration: AiperfMetric | None = None
    error_request_count: AiperfMetric | None = None
    input_config: AiperfInputConfig | None = None
    was_cancelled: bool | None = None
    error_summary: list[AiperfErrorCount] | None = None
    start_time: str | None = None
    end_time: str | None = None


# --- import -------------------------------------------------------------------------------


def import_aiperf(path: Path, catalog: Catalog | None = None) -> Report:
    """A Report of an AIPerf export, or of every export under an artifact directory."""
    files = _export_files(path)
    runs = [(file, _read(file)) for file in files]
    levels = [_level(file, run) for file, run in runs]
    starts = sorted(run.start_time for _, run in runs if run.start_time)
    ends = sorted(run.end_time for _, run in runs if run.end_time)
    configs = [run.input_config for _, run in runs if run.input_config]
    streams = {config.stream() for config in configs}
    urls = {config.url() for config in configs}
    return imported_report(
        ReportSource(tool="AIPerf", version=None, file=str(path)),
        levels,
        run_name=f"aiperf {(path.parent if path.is_file() else path).name}",  # AIPerf's run
        started_at=starts[0] if starts else None,
        finished_at=ends[-1] if ends else None,
        interrupted=any(run.was_cancelled for _, run in runs),
        stream=streams.pop() if len(streams) == 1 else None,
        endpoint=urls.pop() if len(urls) == 1 else None,
        catalog=catalog,
    )


def _export_files(path: Path) -> list[Path]:
    if not path.is_dir():
        return [path]
    found = sorted(path.rglob(EXPORT_FILE))
    if not found:
        raise ForeignExportError(f"{path} holds no {EXPORT_FILE}; {_FIX}")
    return found


def _read(file: Path) -> AiperfExport:
    data = read_json(file, "AIPerf", _FIX)
    if isinstance(data, dict) and "benchmarks" in data:
        raise ForeignExportError(
            f"{file} is GuideLLM's benchmarks.json, not an AIPerf export; "
            f"import it with --import guidellm"
        )
    if not isinstance(data, dict):
        raise ForeignExportError(
            f"{file} holds a JSON {type(data).__name__}, not an object; {_FIX}"
        )
    try:
        run = AiperfExport.model_validate(data)
    except ValidationError as exc:
        where = ".".join(str(p) for p in exc.errors()[0]["loc"])
        raise ForeignExportError(f"{file} is not an AIPerf export (bad {where}); {_FIX}") from None
    for tag in ("request_latency", "request_count", "benchmark_duration"):
        if getattr(run, tag) is None or getattr(run, tag).avg is None:
            raise ForeignExportError(
                f"{file} has no {tag} record, which every AIPerf export has (GenAI-Perf's "
                f"has no benchmark_duration); {_FIX}"
            )
    if run.input_config is None or not run.input_config.models():
        raise ForeignExportError(
            f"{file} names no model (input_config.endpoint.model_names); {_FIX}"
        )
    return run


def _level(file: Path, run: AiperfExport) -> ImportedLevel:
    assert run.input_config is not None  # _read checked
    concurrency, rate = run.input_config.load()
    name, kind, streams = level_shape(concurrency, rate)
    ok = int(_avg(run.request_count) or 0)
    errors = int(_avg(run.error_request_count) or 0)
    good = _avg(run.good_request_count)
    level = LevelSummary(
        level=name,
        kind=kind,
        concurrency=streams,
        rate=rate,
        requests=ok + errors,
        errors=errors,
        duration_s=_seconds(file, "benchmark_duration", run.benchmark_duration),
        request_throughput=_avg(run.request_throughput),
        output_tokens_per_second=_avg(run.output_token_throughput),
        token_sources=[],
        ttft_s=_stats(file, "time_to_first_token", run.time_to_first_token, ok, time=True),
        itl_s=_stats(file, "inter_chunk_latency", run.inter_chunk_latency, None, time=True),
        tpot_s=_stats(file, "inter_token_latency", run.inter_token_latency, None, time=True),
        e2e_s=_stats(file, "request_latency", run.request_latency, ok, time=True),
        decode_tokens_per_second=_stats(
            file, "output_token_throughput_per_user", run.output_token_throughput_per_user, None
        ),
        total_tokens_per_second=None,
        prompt_tokens=_stats(file, "input_sequence_length", run.input_sequence_length, ok),
        completion_tokens=_stats(file, "output_sequence_length", run.output_sequence_length, ok),
        first_error=run.error_summary[0].error_details.message if run.error_summary else None,
        slo_met_rate=good / (ok + errors) if good is not None and ok + errors else None,
        goodput=_avg(run.goodput),
    )
    return ImportedLevel(model="+".join(run.input_config.models()), level=level)


def _avg(metric: AiperfMetric | None) -> float | None:
    return metric.avg if metric is not None else None


def _seconds(file: Path, tag: str, metric: AiperfMetric | None) -> float:
    """A run-level duration in seconds (the caller checked that it is there)."""
    assert metric is not None and metric.avg is not None
    return metric.avg * _time_scale(file, tag, metric)


def _time_scale(file: Path, tag: str, metric: AiperfMetric) -> float:
    scale = _TIME_UNITS.get(metric.unit)
    if scale is None:
        raise ForeignExportError(
            f"{file}: {tag} is in '{metric.unit}', not a time unit assay knows "
            f"({', '.join(_TIME_UNITS)}); {_FIX}"
        )
    return scale


def _stats(
    file: Path, tag: str, metric: AiperfMetric | None, n: int | None, time: bool = False
) -> Stats | None:
    """assay's Stats of one AIPerf metric (seconds for a duration); None when the export
    lacks it or any of the statistics assay keeps."""
    if metric is None:
        return None
    scale = _time_scale(file, tag, metric) if time else 1.0
    found = [metric.avg, metric.p50, metric.p90, metric.p95, metric.p99, metric.min, metric.max]
    values = [v * scale for v in found if v is not None]
    if metric.std is None or len(values) < len(found):
        return None
    mean, p50, p90, p95, p99, low, high = values
    return Distribution(mean, p50, p90, p95, p99, low, high, metric.std * scale, n).stats()


# --- export -------------------------------------------------------------------------------


def to_aiperf(report: Report) -> dict[str, AiperfExport]:
    """AIPerf's export of each model and level, keyed by the path to write it at: one run
    gives `profile_export_aiperf.json`; several give `<model>-<stimulus>/…`, one directory
    per run as AIPerf's sweeps lay them out (its readers take one object per file)."""
    runs = [(r, lv) for r in report.models for lv in r.levels]
    if len(runs) == 1:
        model, level = runs[0]
        return {EXPORT_FILE: _export(report, model, level)}
    return {
        f"{_artifact_name(model.model, level)}/{EXPORT_FILE}": _export(report, model, level)
        for model, level in runs
    }


def write_aiperf(report: Report, out: Path) -> list[Path]:
    """Write `to_aiperf`'s files under `out`; returns their paths."""
    paths = []
    for relative, export in to_aiperf(report).items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, export.model_dump_json(indent=2, exclude_none=True))
        paths.append(path)
    return paths


def _artifact_name(model: str, level: LevelSummary) -> str:
    """As AIPerf names an artifact directory: the model ('/' -> '_') and the stimulus."""
    stimulus = (
        f"request_rate{level.rate:g}"
        if level.rate is not None
        else f"concurrency{level.concurrency}"
    )
    return re.sub(r"[^A-Za-z0-9._-]", "_", model) + f"-{stimulus}"


def _export(report: Report, model: ModelReport, level: LevelSummary) -> AiperfExport:
    ok = level.requests - level.errors
    good = round(level.slo_met_rate * level.requests) if level.slo_met_rate is not None else None
    return AiperfExport(
        request_throughput=_scalar("requests/sec", level.request_throughput),
        request_latency=_metric("ms", level.e2e_s, 1e3),
        request_count=_scalar("requests", ok),
        time_to_first_token=_metric("ms", level.ttft_s, 1e3),
        inter_token_latency=_metric("ms", level.tpot_s, 1e3),
        output_token_throughput=_scalar("tokens/sec", level.output_tokens_per_second),
        output_token_throughput_per_user=_metric("tokens/sec/user", level.decode_tokens_per_second),
        output_sequence_length=_metric("tokens", level.completion_tokens),
        input_sequence_length=_metric("tokens", level.prompt_tokens),
        goodput=_scalar("requests/sec", level.goodput),
        good_request_count=_scalar("requests", good),
        inter_chunk_latency=_metric("ms", level.itl_s, 1e3),
        benchmark_duration=_scalar("sec", level.duration_s),
        error_request_count=_scalar("requests", level.errors) if level.errors else None,
        input_config=AiperfInputConfig(
            endpoint=AiperfEndpoint(
                model_names=[model.model],
                type="chat",
                streaming=report.spec.stream,
                url=report.spec.endpoint,
            ),
            loadgen=_loadgen(level),
        ),
        was_cancelled=report.status == "interrupted",
        start_time=report.started_at,
        end_time=report.finished_at,
    )


def _loadgen(level: LevelSummary) -> AiperfLoadgen:
    count = level.requests or None  # AIPerf's request_count is at least 1
    if level.rate is not None:  # assay's open loop sends at exponential gaps: Poisson
        return AiperfLoadgen(
            request_rate=level.rate, request_rate_mode="poisson", request_count=count
        )
    return AiperfLoadgen(concurrency=level.concurrency, request_count=count)


def _scalar(unit: str, value: float | None) -> AiperfMetric | None:
    return AiperfMetric(unit=unit, avg=value) if value is not None else None


def _metric(unit: str, stats: Stats | None, scale: float = 1.0) -> AiperfMetric | None:
    if stats is None:
        return None
    return AiperfMetric(
        unit=unit,
        avg=stats.mean * scale,
        p50=stats.p50 * scale,
        p90=stats.p90 * scale,
        p95=stats.p95 * scale,
        p99=stats.p99 * scale,
        min=stats.min * scale,
        max=stats.max * scale,
        std=population_std(stats) * scale,
    )
