"""The console table of a run's Report: the workshop's shape plus assay's columns.

Its thirteen columns need about 145 characters (three more, TTFO and reasoning tokens beside
TTFT, when a model reasoned). On a narrower terminal the same figures come in three tables
(latency and throughput per model and level; memory, disk and load time per model), rather
than the terminal wrapping figures inside their cells ("0.81" over "s").
Figures never wrap; a long model name folds onto a second line.
"""

from __future__ import annotations

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from assay.reports.formatting import has_reasoning, latency_cells, status_cell, with_reasoning
from assay.reports.model import ModelReport, Report
from assay.reports.replicas import REPLICA_COLUMNS, replica_rows
from assay.units import format_bytes, format_number, format_seconds

COLUMNS = (
    "Model",
    "Level",
    "Avg Latency",
    "p95",
    "TPS",
    "TTFT p50",
    "TTFT p95",
    "Decode tok/s",
    "Req/s",
    "Peak mem",
    "Disk",
    "Load",
    "Status",
)
_LATENCY = ("Model", "Level", "Avg Latency", "p95", "TTFT p50", "TTFT p95")
_THROUGHPUT = ("Model", "Level", "TPS", "Decode tok/s", "Req/s", "Status")
_RESOURCES = ("Model", "Peak mem", "Disk", "Load")


def report_tables(report: Report, width: int) -> list[Table]:
    """One table if it fits `width` characters, else the same figures in three (a model
    that reasoned adds its TTFO and reasoning tokens beside TTFT); then, when several
    endpoints served a model, its levels per replica; then a sweep's answer."""
    title = f"assay bench: {report.run_name}"
    tables = _model_tables(report, title, width) + _replica_tables(report, title)
    return tables + _sweep_tables(report, title)


_SWEEP = ("Model", "Throughput req/s", "Rates", "Best rate req/s", "Target")


def _sweep_tables(report: Report, title: str) -> list[Table]:
    """A sweep's answer per model: the highest rate that kept the SLOs at the target."""
    rows = [
        dict(
            zip(
                _SWEEP,
                (
                    m.model,
                    format_number(m.sweep.max_rate, 2),
                    ", ".join(format_number(p.rate, 2) for p in m.sweep.points),
                    format_number(m.sweep.best_rate, 2),
                    f"{m.sweep.target:.0%}",
                ),
                strict=True,
            )
        )
        for m in report.models
        if m.sweep is not None
    ]
    return [_table(f"{title}: sweep", _SWEEP, rows)] if rows else []


def _model_tables(report: Report, title: str, width: int) -> list[Table]:
    reasoning = has_reasoning(report)
    columns = with_reasoning(COLUMNS, reasoning)
    rows = [row for model in report.models for row in _rows(model, columns, reasoning)]
    whole = _table(title, columns, rows)
    if _natural_width(whole) <= width:
        return [whole]
    per_model = list({row["Model"]: row for row in rows}.values())
    return [
        _table(f"{title}: latency", with_reasoning(_LATENCY, reasoning), rows),
        _table(f"{title}: throughput", _THROUGHPUT, rows),
        _table(f"{title}: resources", _RESOURCES, per_model),
    ]


def _replica_tables(report: Report, title: str) -> list[Table]:
    rows = [dict(zip(REPLICA_COLUMNS, row, strict=True)) for row in replica_rows(report)]
    return [_table(f"{title}: replicas", REPLICA_COLUMNS, rows)] if rows else []


def _rows(model: ModelReport, columns: tuple[str, ...], reasoning: bool) -> list[dict[str, str]]:
    if not model.levels:
        empty = dict.fromkeys(columns, "-")
        return [{**empty, "Model": model.model, "Status": status_cell(model, None)}]
    rows = []
    for level in model.levels:
        cells = [
            model.model,
            level.level,
            *latency_cells(level, reasoning),
            format_number(level.request_throughput, 2),
            format_bytes(model.peak_rss_bytes),
            format_bytes(model.disk_bytes),
            format_seconds(model.load_seconds),
            status_cell(model, level),
        ]
        rows.append(dict(zip(columns, cells, strict=True)))
    return rows


def _table(title: str, columns: tuple[str, ...], rows: list[dict[str, str]]) -> Table:
    table = Table(title=title, show_edge=False)
    for column in columns:
        justify = "left" if column in ("Model", "Level", "Replica", "Status") else "right"
        if column in ("Model", "Replica"):
            table.add_column(column, overflow="fold")
        else:
            table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*(row[column] for column in columns))
    return table


def _natural_width(table: Table) -> int:
    console = Console(width=10_000)
    return Measurement.get(console, console.options, table).maximum
