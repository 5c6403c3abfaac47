"""GuideLLM's `benchmarks.json`, read into a Report.

Follows vllm-project/guidellm v0.7.3 (src/guidellm/benchmark/schemas/: `GenerativeBenchmarksReport`
in report.py, `GenerativeBenchmark` in benchmark.py, `GenerativeMetrics` in metrics.py,
`BenchmarkConfig` in base.py; `DistributionSummary` and `StatusDistributionSummary` in
src/guidellm/schemas/statistics.py; the strategies in src/guidellm/scheduler/strategies.py),
and reads v0.4 to v0.6 and v0.3's layout too: the per-benchmark strategy and backend moved
from `args.strategy` and `worker.backend_model` (v0.3) to `config.strategy` and
`config.backend.model`, and the request counts from `request_totals` into
`metrics.request_totals`. A report holds one benchmark per strategy run (a sweep holds
several); each metric holds `successful`, `errored`, `incomplete` and `total` distributions
with `mean`, `median`, `std_dev` (the population's), `min`, `max`, `count` and `percentiles`.

assay <- GuideLLM, per benchmark, from the successful requests' distributions:
  e2e_s <- request_latency (seconds); ttft_s <- time_to_first_token_ms;
  itl_s <- inter_token_latency_ms ((last token - first token) / (output tokens - 1) per
    request, weighted by its gaps: the same mean as assay's ITL over all gaps);
  completion_tokens <- output_token_count; prompt_tokens <- prompt_token_count;
  request_throughput <- requests_per_second's mean; output_tokens_per_second <-
    output_tokens_per_second's mean (rates over the benchmark, not per request);
  requests <- successful + errored; errors <- errored; duration_s <- the benchmark's duration.
  Level: synchronous -> "sequential"; concurrent (streams N) -> "cN"; constant or poisson at
  rate R -> "rateR"; throughput and others -> their name, at max_concurrency, else the
  peak of request_concurrency (0 when GuideLLM recorded neither).
Not carried: GuideLLM's time_per_output_token_ms (it includes the first token, assay's TPOT
does not), tokens_per_second (a rate, not assay's per-request total tok/s), incomplete
requests (cut off when a benchmark ended), and the per-request samples; assay's TPOT,
decode tok/s, memory, load time, quality and environment stay empty.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from assay.bench.metrics import Stats
from assay.bench.summary import LevelSummary
from assay.catalog import Catalog
from assay.errors import ForeignExportError
from assay.reports.interchange import (
    Distribution,
    ImportedLevel,
    imported_report,
    level_shape,
    read_json,
)
from assay.reports.model import Report, ReportSource

_FIX = "give GuideLLM's benchmarks.json (written by guidellm benchmark --outputs json)"


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")


class GuidePercentiles(_Record):
    p50: float
    p90: float
    p95: float
    p99: float


class GuideDistribution(_Record):
    """A `DistributionSummary` (what assay reads of it)."""

    mean: float
    std_dev: float
    min: float
    max: float
    count: int | None = None
    percentiles: GuidePercentiles

    def stats(self, scale: float = 1.0) -> Stats | None:
        """assay's Stats, `scale` turning the unit into assay's; None without values."""
        if self.count == 0:
            return None
        p = self.percentiles
        return Distribution(
            self.mean * scale,
            p.p50 * scale,
            p.p90 * scale,
            p.p95 * scale,
            p.p99 * scale,
            self.min * scale,
            self.max * scale,
            self.std_dev * scale,
            self.count,
        ).stats()


class GuideByStatus(_Record):
    """A `StatusDistributionSummary`."""

    successful: GuideDistribution | None = None
    errored: GuideDistribution | None = None
    total: GuideDistribution | None = None


class GuideTotals(_Record):
    successful: int
    errored: int = 0


class GuideMetrics(_Record):
    request_totals: GuideTotals | None = None  # v0.4 on
    requests_per_second: GuideByStatus | None = None
    request_concurrency: GuideByStatus | None = None
    request_latency: GuideByStatus | None = None
    prompt_token_count: GuideByStatus | None = None
    output_token_count: GuideByStatus | None = None
    time_to_first_token_ms: GuideByStatus | None = None
    inter_token_latency_ms: GuideByStatus | None = None
    output_tokens_per_second: GuideByStatus | None = None


class GuideStrategy(_Record):
    """A `SchedulingStrategy`, told apart by `type_`."""

    type_: str
    streams: int | None = None
    rate: float | None = None
    max_concurrency: int | None = None


class GuideBackend(_Record):
    model: str | None = None
    target: str | None = None


class GuideConfig(_Record):
    """v0.4 on: the benchmark's `BenchmarkConfig`."""

    strategy: GuideStrategy
    backend: GuideBackend | None = None


class GuideArgs(_Record):
    """v0.3: the benchmark's `BenchmarkArgs`."""

    strategy: GuideStrategy


class GuideWorker(_Record):
    """v0.3: `GenerativeRequestsWorkerDescription`."""

    backend_model: str | None = None
    backend_target: str | None = None


class GuideBenchmark(_Record):
    config: GuideConfig | None = None
    args: GuideArgs | None = None
    worker: GuideWorker | None = None
    metrics: GuideMetrics
    request_totals: GuideTotals | None = None  # v0.3
    start_time: float | None = None
    end_time: float | None = None
    duration: float | None = None

    def strategy(self) -> GuideStrategy | None:
        holder = self.config or self.args
        return holder.strategy if holder else None

    def backend(self) -> GuideBackend:
        if self.config and self.config.backend:
            return self.config.backend
        if self.worker:
            return GuideBackend(model=self.worker.backend_model, target=self.worker.backend_target)
        return GuideBackend()


class GuideMetadata(_Record):
    version: int | None = None
    guidellm_version: str | None = None


class GuideReport(_Record):
    """`GenerativeBenchmarksReport`; `args` is v0.4 to v0.6's report-wide arguments."""

    metadata: GuideMetadata | None = None
    args: GuideBackend | None = None
    benchmarks: list[GuideBenchmark]


def import_guidellm(path: Path, catalog: Catalog | None = None) -> Report:
    """A Report of GuideLLM's benchmarks.json: one level per benchmark (strategy)."""
    file = path / "benchmarks.json" if path.is_dir() else path
    report = _read(file)
    levels = [_level(file, report, i) for i in range(len(report.benchmarks))]
    starts = [b.start_time for b in report.benchmarks if b.start_time is not None]
    ends = [b.end_time for b in report.benchmarks if b.end_time is not None]
    targets = {_target(report, b) for b in report.benchmarks}
    version = report.metadata.guidellm_version if report.metadata else None
    return imported_report(
        ReportSource(tool="GuideLLM", version=version, file=str(file)),
        levels,
        run_name=f"guidellm {file.stem}",
        started_at=_iso(min(starts)) if starts else None,
        finished_at=_iso(max(ends)) if ends else None,
        interrupted=False,
        stream=None,
        endpoint=targets.pop() if len(targets) == 1 else None,
        catalog=catalog,
    )


def _read(file: Path) -> GuideReport:
    data = read_json(file, "GuideLLM", _FIX)
    if isinstance(data, dict) and "benchmarks" not in data and "request_latency" in data:
        raise ForeignExportError(
            f"{file} is an AIPerf export, not GuideLLM's benchmarks.json; "
            f"import it with --import aiperf"
        )
    if not isinstance(data, dict) or "benchmarks" not in data:
        raise ForeignExportError(f"{file} has no 'benchmarks' list, so is not GuideLLM's; {_FIX}")
    try:
        report = GuideReport.model_validate(data)
    except ValidationError as exc:
        where = ".".join(str(p) for p in exc.errors()[0]["loc"])
        raise ForeignExportError(
            f"{file} is not a GuideLLM report assay can read (bad or missing {where}); {_FIX}"
        ) from None
    if not report.benchmarks:
        raise ForeignExportError(f"{file} holds no benchmarks; {_FIX}")
    return report


def _level(file: Path, report: GuideReport, index: int) -> ImportedLevel:
    benchmark = report.benchmarks[index]
    metrics = benchmark.metrics
    totals = metrics.request_totals or benchmark.request_totals
    strategy = benchmark.strategy()
    model = benchmark.backend().model or (report.args.model if report.args else None)
    duration = _duration(benchmark)
    missing = [
        name
        for name, value in (
            ("config.strategy", strategy),
            ("metrics.request_totals", totals),
            ("metrics.request_latency", metrics.request_latency),
            ("the benchmark's duration", duration),
            ("the model (config.backend.model)", model),
        )
        if value is None
    ]
    if missing or strategy is None or totals is None or duration is None or model is None:
        raise ForeignExportError(
            f"{file}: benchmark {index} has no {', '.join(missing)}, which assay needs; {_FIX}"
        )
    name, kind, streams = _shape(strategy, metrics)
    return ImportedLevel(
        model=model,
        level=LevelSummary(
            level=name,
            kind=kind,
            concurrency=streams,
            rate=strategy.rate if kind == "rate" else None,
            requests=totals.successful + totals.errored,
            errors=totals.errored,
            duration_s=duration,
            request_throughput=_mean(metrics.requests_per_second),
            output_tokens_per_second=_mean(metrics.output_tokens_per_second),
            token_sources=[],
            ttft_s=_stats(metrics.time_to_first_token_ms, 1e-3),
            itl_s=_stats(metrics.inter_token_latency_ms, 1e-3),
            tpot_s=None,
            e2e_s=_stats(metrics.request_latency),
            decode_tokens_per_second=None,
            total_tokens_per_second=None,
            prompt_tokens=_stats(metrics.prompt_token_count),
            completion_tokens=_stats(metrics.output_token_count),
            first_error=None,
        ),
    )


def _shape(strategy: GuideStrategy, metrics: GuideMetrics) -> tuple[str, str, int]:
    """(level, kind, concurrency) of a strategy, named as assay names its levels."""
    if strategy.type_ == "synchronous":
        return level_shape(1, None)
    if strategy.type_ == "concurrent" and strategy.streams:
        return level_shape(strategy.streams, None)
    if strategy.type_ in ("constant", "poisson") and strategy.rate is not None:
        return level_shape(None, strategy.rate)
    peak = metrics.request_concurrency.total if metrics.request_concurrency else None
    streams = strategy.max_concurrency or (round(peak.max) if peak else 0)
    return strategy.type_, strategy.type_, streams


def _duration(benchmark: GuideBenchmark) -> float | None:
    if benchmark.duration is not None:
        return benchmark.duration
    if benchmark.start_time is not None and benchmark.end_time is not None:
        return benchmark.end_time - benchmark.start_time
    return None


def _target(report: GuideReport, benchmark: GuideBenchmark) -> str | None:
    return benchmark.backend().target or (report.args.target if report.args else None)


def _stats(metric: GuideByStatus | None, scale: float = 1.0) -> Stats | None:
    return metric.successful.stats(scale) if metric and metric.successful else None


def _mean(metric: GuideByStatus | None) -> float | None:
    return metric.successful.mean if metric and metric.successful else None


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
