"""Cell formatting shared by the Markdown, CSV-adjacent and HTML renderers."""

from __future__ import annotations

from assay.bench.summary import LevelSummary
from assay.reports.model import ModelReport
from assay.units import format_bytes
from assay.units import format_millis as millis
from assay.units import format_number as number
from assay.units import format_seconds as seconds


def quality(report: ModelReport) -> str:
    if not report.quality:
        return "-"
    return ", ".join(f"{q.source} {q.mean:.2f} (n={q.n})" for q in report.quality)


HEADLINE_COLUMNS = (
    "Model",
    "Avg Latency",
    "p95",
    "TPS",
    "TTFT p50",
    "TTFT p95",
    "Decode tok/s",
    "Peak memory",
    "Disk",
    "Load",
    "Quality",
    "License",
    "Status",
)


def latency_cells(level: LevelSummary | None) -> list[str]:
    """Avg Latency, p95, TPS, TTFT p50, TTFT p95, Decode tok/s of one load level."""
    e2e = level.e2e_s if level else None
    ttft = level.ttft_s if level else None
    tps = level.total_tokens_per_second if level else None
    decode = level.decode_tokens_per_second if level else None
    return [
        seconds(e2e.mean if e2e else None),
        seconds(e2e.p95 if e2e else None),
        number(tps.mean if tps else None),
        millis(ttft.p50 if ttft else None),
        millis(ttft.p95 if ttft else None),
        number(decode.mean if decode else None),
    ]


def status_cell(r: ModelReport, level: LevelSummary | None) -> str:
    status = r.status + (f": {r.error}" if r.error else "")
    if level and level.errors:
        status += f" ({level.errors} errors)"
    if level and level.schema_valid_rate is not None:
        status += f", schema-valid {level.schema_valid_rate:.0%}"
    return status


def headline_cells(r: ModelReport) -> list[str]:
    level = r.headline
    return [
        r.model,
        *latency_cells(level),
        format_bytes(r.peak_rss_bytes),
        format_bytes(r.disk_bytes),
        seconds(r.load_seconds),
        quality(r),
        f"{r.license} ({r.license_class})",
        status_cell(r, level),
    ]
