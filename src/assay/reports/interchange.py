"""Interchange with AIPerf and GuideLLM: their JSON exports become an assay Report, so their
runs sit in assay's tables, charts, `compare` and `select`; and a Report becomes AIPerf's
`profile_export_aiperf.json` (interchange_aiperf.py).

An imported report holds only what the export measured: a figure it lacks stays None (a "-"
in every format), nothing is estimated, and `Report.source` names the tool, its version and
the file. What each tool's fields mean, and which have no counterpart, is documented in
interchange_aiperf.py, interchange_guidellm.py and the README's interchange section.

Units: both tools write latencies in milliseconds (GuideLLM's request latency in seconds);
assay's Stats hold seconds; token and request rates stay per second. Both tools' standard
deviations are the population's (numpy's default), assay's the sample's: where the export
gives the count, the import scales by sqrt(n / (n - 1)), and the export by its inverse.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from assay.bench.metrics import Stats
from assay.bench.probes import Environment
from assay.bench.summary import ClientSummary, LevelSummary, SummaryStatus
from assay.catalog import Catalog
from assay.errors import ForeignExportError
from assay.reports.licenses import license_class
from assay.reports.model import (
    ModelReport,
    Report,
    ReportSource,
    ReportSpec,
    headline_level,
    highlights,
    license_of,
)

Tool = Literal["aiperf", "guidellm"]
TOOLS: tuple[Tool, ...] = ("aiperf", "guidellm")


@dataclass(frozen=True)
class Distribution:
    """One figure's summary as another tool writes it, already in assay's unit. `std` is the
    population's; `n` the count of values, when the tool gives it."""

    mean: float
    p50: float
    p90: float
    p95: float
    p99: float
    low: float
    high: float
    std: float
    n: int | None

    def stats(self) -> Stats:
        """assay's Stats: the sample standard deviation where the count is known."""
        stdev = self.std
        if self.n is not None and self.n > 1:
            stdev = self.std * math.sqrt(self.n / (self.n - 1))
        return Stats(
            n=self.n,
            mean=self.mean,
            p50=self.p50,
            p90=self.p90,
            p95=self.p95,
            p99=self.p99,
            min=self.low,
            max=self.high,
            stdev=stdev,
        )


def population_std(stats: Stats) -> float:
    """The population standard deviation behind assay's sample one (what the tools write)."""
    if stats.n is not None and stats.n > 1:
        return stats.stdev * math.sqrt((stats.n - 1) / stats.n)
    return stats.stdev


@dataclass(frozen=True)
class ImportedLevel:
    """One model at one load setting, as an export measured it."""

    model: str
    level: LevelSummary


def read_json(path: Path, tool: str, fix: str) -> Any:
    """The parsed JSON of an export file; a missing, unreadable or non-JSON file is one
    line naming the file, the problem and `fix`."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise ForeignExportError(f"{path} does not exist; {fix}") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ForeignExportError(f"cannot read {path} ({reason}); {fix}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ForeignExportError(
            f"{path} is not JSON ({exc.msg} at line {exc.lineno}), so not {tool}'s export; {fix}"
        ) from None


def level_shape(concurrency: int | None, rate: float | None) -> tuple[str, str, int]:
    """(name, kind, concurrency) of a load setting, named as assay's plan names its levels:
    an open-loop rate, else one request at a time ("sequential"), else "c<N>"."""
    if rate is not None:
        return f"rate{rate:g}", "rate", concurrency or 1
    streams = concurrency or 1
    if streams == 1:
        return "sequential", "sequential", 1
    return f"c{streams}", "concurrency", streams


def imported_report(
    source: ReportSource,
    levels: list[ImportedLevel],
    *,
    run_name: str,
    started_at: str | None,
    finished_at: str | None,
    interrupted: bool,
    stream: bool | None,
    endpoint: str | None,
    catalog: Catalog | None,
) -> Report:
    """The Report of an import: one ModelReport per model, its levels in the export's order
    (a repeated setting gets "-2", "-3"), and only the figures the export holds."""
    by_model: dict[str, list[LevelSummary]] = {}
    for item in levels:
        by_model.setdefault(item.model, []).append(item.level)
    models = [
        _model_report(name, _unique_names(found), catalog) for name, found in by_model.items()
    ]
    all_levels = [item.level for item in levels]
    rates = [lv.rate for lv in all_levels if lv.rate is not None]
    spec = ReportSpec(
        models=list(by_model),
        prompts=None,
        rounds=None,
        warmup=None,
        max_tokens=None,
        temperature=None,
        stream=stream,
        endpoint=endpoint,
        concurrency=sorted({lv.concurrency for lv in all_levels if lv.kind == "concurrency"}),
        rate=rates[0] if len(set(rates)) == 1 else None,
        allow_prefix_cache=None,
    )
    return Report(
        run_name=run_name,
        run_path=source.file,
        started_at=started_at,
        finished_at=finished_at,
        status="interrupted" if interrupted else "complete",
        environment=Environment(),
        environment_end=None,
        spec=spec,
        models=models,
        client=ClientSummary(),
        highlights=highlights(models),
        source=source,
    )


def _unique_names(levels: list[LevelSummary]) -> list[LevelSummary]:
    seen: dict[str, int] = {}
    out = []
    for lv in levels:
        seen[lv.level] = seen.get(lv.level, 0) + 1
        count = seen[lv.level]
        out.append(lv if count == 1 else lv.model_copy(update={"level": f"{lv.level}-{count}"}))
    return out


def _model_report(model: str, levels: list[LevelSummary], catalog: Catalog | None) -> ModelReport:
    license_id = license_of(model, catalog)
    return ModelReport(
        model=model,
        status=_status(levels),
        error=None,
        license=license_id,
        license_class=license_class(license_id),
        engine=None,
        engine_version=None,
        threads=None,
        context_size=None,
        load_seconds=None,
        disk_bytes=None,
        peak_rss_bytes=None,
        steady_rss_bytes=None,
        gpu_used_bytes=None,
        headline_level=headline_level(levels),
        levels=levels,
        quality=[],
        energy=None,
        e2e_samples_s=[],
        ttft_samples_s=[],
    )


def _status(levels: Iterable[LevelSummary]) -> SummaryStatus:
    """As a run's summary says it: ok, partial (some requests failed), failed (all did)."""
    found = list(levels)
    if not any(lv.errors for lv in found):
        return "ok"
    return "partial" if any(lv.requests > lv.errors for lv in found) else "failed"


def import_report(tool: str, path: Path, catalog: Catalog | None = None) -> Report:
    """The Report of another tool's export: `tool` is aiperf or guidellm; `path` the export
    file, or a directory holding them (AIPerf writes one artifact directory per run)."""
    from assay.reports.interchange_aiperf import import_aiperf
    from assay.reports.interchange_guidellm import import_guidellm

    if tool == "aiperf":
        return import_aiperf(path, catalog)
    if tool == "guidellm":
        return import_guidellm(path, catalog)
    raise ForeignExportError(f"cannot import '{tool}'; use --import {' or --import '.join(TOOLS)}")
