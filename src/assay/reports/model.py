"""The Report: one versioned pydantic model built from a run directory's files alone.

Every renderer (Markdown, CSV, JSON, HTML), `compare` and `select` read only this, so a
saved run can be re-rendered at any time without running anything again.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError, model_validator

from assay.bench import metrics as m
from assay.bench.probes import Environment, MemoryReport
from assay.bench.records import RequestRecord
from assay.bench.rundir import SUMMARY_FILE, RunDir, RunStatus
from assay.bench.server_metrics import ServerSide
from assay.bench.spec import BenchSpec, model_of
from assay.bench.summary import (
    ClientSummary,
    LevelSummary,
    ModelSummary,
    Summary,
    SummaryStatus,
    SweepSummary,
    summarize,
)
from assay.catalog import Catalog
from assay.errors import AssayError
from assay.quality.aggregate import SourceKind
from assay.quality.meeting_notes.suite import ModelSuite, summarize_suite
from assay.reports.energy import (
    DEFAULT_KWH_PRICE,
    DEFAULT_WATTS_PER_CORE,
    EnergyEstimate,
    estimate_energy,
)
from assay.reports.licenses import LicenseClass, license_class

REPORT_VERSION = 1
# The JSON format's file name: the saved Report, which `load_report` reads back.
REPORT_FILE = "benchmark_report.json"


class QualityStat(BaseModel):
    # The label shown ("rules", "human", "judge <model> (assay-rubric-1)"); `kind` is what
    # code reads: a label is for people, never parsed.
    source: str
    kind: SourceKind
    mean: float
    ci_low: float | None
    ci_high: float | None
    n: int

    @model_validator(mode="before")
    @classmethod
    def _kind_of_saved_reports(cls, data: Any) -> Any:
        """Reports saved before `kind` existed: the label's first word was the kind."""
        if isinstance(data, dict) and "kind" not in data and "source" in data:
            data = {**data, "kind": str(data["source"]).split(" ")[0]}
        return data


class ModelReport(BaseModel):
    model: str
    status: SummaryStatus
    error: str | None
    license: str
    license_class: LicenseClass
    engine: str | None
    engine_version: str | None
    threads: int | None
    # "adaptive": up to `threads`, fewer while other programs used the cores; "fixed".
    thread_policy: str | None = None
    # 1/5/15-minute load averages when the model started and when it ended.
    load_average: list[list[float]] | None = None
    context_size: int | None
    load_seconds: float | None
    disk_bytes: int | None
    peak_rss_bytes: int | None
    steady_rss_bytes: int | None
    # Whose memory that is: "runner process (pid N) and its children, every 100 ms", ...
    memory_source: str | None = None
    # Against an endpoint with /metrics: its peaks of waiting and running requests and KV use.
    server: ServerSide | None = None
    # With --sweep: its rates and the highest one that met the SLOs at the target.
    sweep: SweepSummary | None = None
    # Whose tokenizer measured synthetic prompts (an endpoint without /tokenize: approximate).
    token_counter: str | None = None
    # A task suite's results (--suite meeting-notes): quality and the cost of prefill.
    suite: ModelSuite | None = None
    gpu_used_bytes: int | None
    headline_level: str | None
    levels: list[LevelSummary]
    quality: list[QualityStat]
    energy: EnergyEstimate | None
    e2e_samples_s: list[float]
    ttft_samples_s: list[float]

    def level(self, name: str | None = None) -> LevelSummary | None:
        wanted = name or self.headline_level
        return next((lv for lv in self.levels if lv.level == wanted), None)

    @property
    def headline(self) -> LevelSummary | None:
        return self.level()

    @property
    def quality_score(self) -> float | None:
        """The most direct quality figure there is: human, then a judge (the best scored
        one, if several), then rules."""
        for kind in ("human", "judge", "rules"):
            means = [q.mean for q in self.quality if q.kind == kind]
            if means:
                return means[0]
        return None


class ReportSpec(BaseModel):
    """What the run asked for, as the report shows it (run.json keeps the whole BenchSpec)."""

    models: list[str]
    # None in a report imported from another tool's export, which does not record it.
    prompts: int | None
    rounds: int | None
    warmup: int | None
    max_tokens: int | None
    temperature: float | None
    stream: bool | None
    endpoint: str | None
    concurrency: list[int]
    rate: float | None
    allow_prefix_cache: bool | None
    # The objectives goodput counts against, in words ("TTFT <= 300 ms, E2E <= 5000 ms").
    slo: str | None = None
    # The workload beyond a prompt list, in words ("synthetic 1000±100 tokens in, ...").
    workload: str | None = None
    repeat: int = 1
    # With several endpoints (replicas, comma-separated in `endpoint`): how requests spread.
    balance: str | None = None

    @classmethod
    def of(cls, spec: BenchSpec) -> ReportSpec:
        fields = spec.model_dump(include=set(cls.model_fields) - {"prompts", "slo", "balance"})
        slo = spec.slo.describe() if spec.slo is not None else None
        return cls(
            **fields,
            prompts=len(spec.prompts),
            slo=slo,
            workload=describe_workload(spec),
        )


def describe_workload(spec: BenchSpec) -> str | None:
    """What a run sent beyond a list of prompts, in words; None for a plain prompt list."""
    parts = []
    if spec.dataset:
        parts.append(f"dataset {spec.dataset}")
    if spec.input_tokens:
        parts.append(f"synthetic prompts of {spec.input_tokens.describe()} tokens")
    if spec.output_tokens:
        parts.append(f"{spec.output_tokens.describe()} output tokens asked (held where honoured)")
    if spec.is_trace and spec.time_scale != 1:
        parts.append(f"replayed {spec.time_scale:g}x as fast")
    if spec.turns > 1:
        parts.append(f"conversations of {spec.turns} turns")
    if spec.repeat > 1:
        parts.append(f"{spec.repeat} repeats, models interleaved")
    if spec.sweep:
        parts.append(f"a sweep of {spec.sweep_rates} rates up to the throughput level's")
    return "; ".join(parts) or None


ImportedTool = Literal["AIPerf", "GuideLLM"]


class ReportSource(BaseModel):
    """Where an imported report's figures came from: another tool's export file. A report
    built from an assay run has none."""

    tool: ImportedTool
    version: str | None
    file: str

    def describe(self) -> str:
        version = self.version or "(the file names no version)"
        return f"imported from {self.tool} {version}, {self.file}"


class Report(BaseModel):
    version: int = REPORT_VERSION
    run_name: str
    run_path: str
    # None when an imported export does not say when it ran.
    started_at: str | None
    finished_at: str | None
    status: RunStatus
    environment: Environment
    environment_end: Environment | None
    spec: ReportSpec
    models: list[ModelReport]
    client: ClientSummary
    highlights: list[str]
    source: ReportSource | None = None

    def model(self, name: str) -> ModelReport | None:
        return next((r for r in self.models if r.model == name), None)


def read_report(path: Path) -> Report:
    """A saved Report: `benchmark_report.json`, or a directory holding one (an imported
    export's report directory, or a run's once rendered)."""
    file = path / REPORT_FILE if path.is_dir() else path
    try:
        return Report.model_validate_json(file.read_text("utf-8"))
    except OSError:
        raise AssayError(
            f"{path} is not a run directory (no run.json) nor an assay report (no {REPORT_FILE})"
        ) from None
    except ValidationError as exc:
        raise AssayError(
            f"{file} is not an assay report ({exc.error_count()} problem(s), first at "
            f"{_location(exc)}); give a run directory or a {REPORT_FILE} that assay wrote"
        ) from None


def _location(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return ".".join(str(part) for part in first["loc"]) or "the top level"


def build_report(
    path: Path,
    catalog: Catalog | None = None,
    watts_per_core: float = DEFAULT_WATTS_PER_CORE,
    kwh_price: float = DEFAULT_KWH_PRICE,
) -> Report:
    run = RunDir(path)
    meta = run.read_meta()
    summary = _summary(run)
    records = run.records()
    quality = quality_by_model(path)
    models = [
        _model_report(s, records, quality.get(s.model, []), catalog, watts_per_core, kwh_price)
        for s in summary.models
    ]
    spec = meta.spec
    if spec.suite is not None and spec.suite.startswith("meeting-notes"):
        suites = {s.model: s for s in summarize_suite(path)}
        models = [r.model_copy(update={"suite": suites.get(r.model)}) for r in models]
    return Report(
        run_name=spec.name,
        run_path=str(path),
        started_at=meta.started_at,
        finished_at=meta.finished_at,
        status=meta.status,
        environment=meta.environment,
        environment_end=meta.environment_end,
        spec=ReportSpec.of(spec),
        models=models,
        client=summary.client,
        highlights=highlights(models),
    )


def _summary(run: RunDir) -> Summary:
    saved = run.path / SUMMARY_FILE
    if saved.exists():
        return Summary.model_validate_json(saved.read_text("utf-8"))
    return summarize(run)


def _model_report(
    summary: ModelSummary,
    records: list[RequestRecord],
    quality: list[QualityStat],
    catalog: Catalog | None,
    watts_per_core: float,
    kwh_price: float,
) -> ModelReport:
    info = summary.info
    memory = summary.memory or MemoryReport(
        peak_rss_bytes=None, steady_rss_bytes=None, samples=0, source="none"
    )
    headline = headline_level(summary.levels)
    timed = [
        r
        for r in records
        if r.model == summary.model and r.ok and not r.warmup and r.level == headline
    ]
    all_tokens = sum(r.completion_tokens or 0 for r in records if r.model == summary.model)
    license_id = license_of(summary.model, catalog)
    return ModelReport(
        model=summary.model,
        status=summary.status,
        error=summary.error,
        license=license_id,
        license_class=license_class(license_id),
        engine=info.engine,
        engine_version=info.engine_version,
        threads=info.threads,
        thread_policy=info.thread_policy,
        load_average=info.load_average,
        context_size=info.context_size,
        load_seconds=info.load_seconds,
        disk_bytes=info.disk_bytes or _catalog_size(summary.model, catalog),
        peak_rss_bytes=memory.peak_rss_bytes,
        steady_rss_bytes=memory.steady_rss_bytes,
        memory_source=memory.source if memory.samples else None,
        server=summary.server,
        sweep=summary.sweep,
        token_counter=info.token_counter,
        gpu_used_bytes=memory.gpu_used_bytes,
        headline_level=headline,
        levels=summary.levels,
        quality=quality,
        energy=estimate_energy(
            all_tokens,
            memory.cpu_seconds,
            memory.rapl_joules,
            watts_per_core,
            kwh_price,
        ),
        e2e_samples_s=[m.e2e(r) for r in timed],
        ttft_samples_s=[t for r in timed if (t := m.ttft(r)) is not None],
    )


def headline_level(levels: list[LevelSummary]) -> str | None:
    """The level the headline table shows: sequential, else c1, else the first."""
    names = [lv.level for lv in levels]
    for preferred in ("sequential", "c1"):
        if preferred in names:
            return preferred
    return names[0] if names else None


def _alias(run_name: str) -> str:
    return model_of(run_name).partition(":")[0]


def license_of(model: str, catalog: Catalog | None) -> str:
    """The catalog's licence for a run name (alias, alias:variant, …@device), else unknown."""
    entry = catalog.get(_alias(model)) if catalog else None
    return entry.license if entry else "unknown"


def _catalog_size(model: str, catalog: Catalog | None) -> int | None:
    entry = catalog.get(_alias(model)) if catalog else None
    return entry.variants[0].size_bytes if entry else None


def quality_by_model(run_dir: Path) -> dict[str, list[QualityStat]]:
    """Mean, 95% t interval and n per model and source from scores.jsonl (see
    assay.quality; each judge and rubric version is its own source)."""
    from assay.quality.aggregate import summarize as summarize_scores
    from assay.quality.scores import read_scores

    by_model: dict[str, list[QualityStat]] = defaultdict(list)
    for stat in summarize_scores(read_scores(run_dir)):
        if stat.mean is not None:
            by_model[stat.model].append(
                QualityStat(
                    source=stat.source,
                    kind=stat.kind,
                    mean=stat.mean,
                    ci_low=stat.ci_low,
                    ci_high=stat.ci_high,
                    n=stat.n,
                )
            )
    return dict(by_model)


def highlights(models: list[ModelReport]) -> list[str]:
    ok = [r for r in models if r.headline is not None and r.headline.e2e_s is not None]
    lines: list[str] = []

    def best(label: str, key: Any, fmt: Any, reverse: bool = False) -> None:
        candidates = [(key(r), r) for r in ok if key(r) is not None]
        if candidates:
            value, winner = (max if reverse else min)(candidates, key=lambda c: c[0])
            lines.append(f"{label}: {winner.model} ({fmt(value)})")

    best("Fastest (mean latency)", lambda r: r.headline.e2e_s.mean, lambda v: f"{v:.2f} s")
    best(
        "Quickest first token (TTFT p50)",
        lambda r: r.headline.ttft_s.p50 if r.headline.ttft_s else None,
        lambda v: f"{v * 1000:.0f} ms",
    )
    best(
        "Highest decode speed",
        lambda r: (
            r.headline.decode_tokens_per_second.mean
            if r.headline.decode_tokens_per_second
            else None
        ),
        lambda v: f"{v:.1f} tok/s",
        reverse=True,
    )
    best("Smallest on disk", lambda r: r.disk_bytes, lambda v: f"{v / 1e6:.0f} MB")
    best("Least memory (peak RSS)", lambda r: r.peak_rss_bytes, lambda v: f"{v / 1e6:.0f} MB")
    best("Best quality", lambda r: r.quality_score, lambda v: f"{v:.2f} / 5", reverse=True)
    for r in models:
        if r.status not in ("ok", "complete"):
            lines.append(
                f"{r.status.capitalize()}: {r.model}" + (f" ({r.error})" if r.error else "")
            )
    return lines
