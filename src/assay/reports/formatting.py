"""Cell formatting shared by the Markdown, CSV-adjacent and HTML renderers."""

from __future__ import annotations

from assay.bench.summary import LevelSummary
from assay.reports.model import ModelReport, Report
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


# Beside TTFT when a model reasoned: the time to its first answer token and its reasoning.
REASONING_COLUMNS = ("TTFO mean", "TTFO p95", "Reasoning tok")
REASONING_NOTE = (
    "TTFO: time to the first answer token, after the reasoning (TTFT: the first token of "
    "either). Reasoning tok: reasoning tokens per request (mean), part of the completion's."
)


def has_reasoning(report: Report) -> bool:
    """Whether any model reasoned at any level: only then do the tables show TTFO."""
    return any(lv.reasoning_tokens is not None for r in report.models for lv in r.levels)


def with_reasoning(columns: tuple[str, ...], reasoning: bool) -> tuple[str, ...]:
    """The columns with REASONING_COLUMNS after "TTFT p95", if `reasoning`."""
    if not reasoning:
        return columns
    at = columns.index("TTFT p95") + 1
    return (*columns[:at], *REASONING_COLUMNS, *columns[at:])


def reasoning_cells(level: LevelSummary | None) -> list[str]:
    """TTFO mean, TTFO p95 and mean reasoning tokens of one load level."""
    ttfo = level.ttfo_s if level else None
    thought = level.reasoning_tokens if level else None
    return [
        millis(ttfo.mean if ttfo else None),
        millis(ttfo.p95 if ttfo else None),
        number(thought.mean if thought else None, 0),
    ]


def latency_cells(level: LevelSummary | None, reasoning: bool = False) -> list[str]:
    """Avg Latency, p95, TPS, TTFT p50, TTFT p95, Decode tok/s of one load level; with
    `reasoning`, reasoning_cells after TTFT p95."""
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
        *(reasoning_cells(level) if reasoning else []),
        number(decode.mean if decode else None),
    ]


def status_cell(r: ModelReport, level: LevelSummary | None) -> str:
    status = r.status + (f": {r.error}" if r.error else "")
    if level and level.errors:
        status += f" ({level.errors} errors)"
    if level and level.schema_valid_rate is not None:
        status += f", schema-valid {level.schema_valid_rate:.0%}"
    return status


def headline_cells(r: ModelReport, reasoning: bool = False) -> list[str]:
    level = r.headline
    return [
        r.model,
        *latency_cells(level, reasoning),
        format_bytes(r.peak_rss_bytes),
        format_bytes(r.disk_bytes),
        seconds(r.load_seconds),
        quality(r),
        f"{r.license} ({r.license_class})",
        status_cell(r, level),
    ]
