"""The console table of a run's Report: the workshop's shape plus assay's columns."""

from __future__ import annotations

from rich.table import Table

from assay.reports.formatting import latency_cells, status_cell
from assay.reports.model import Report
from assay.units import format_bytes, format_number, format_seconds


def report_table(report: Report) -> Table:
    table = Table(title=f"assay bench: {report.run_name}", show_edge=False)
    columns = (
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
    for column in columns:
        justify = "left" if column in ("Model", "Level", "Status") else "right"
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for model in report.models:
        if not model.levels:
            table.add_row(model.model, "-", *["-"] * 10, status_cell(model, None))
        for level in model.levels:
            table.add_row(
                model.model,
                level.level,
                *latency_cells(level),
                format_number(level.request_throughput, 2),
                format_bytes(model.peak_rss_bytes),
                format_bytes(model.disk_bytes),
                format_seconds(model.load_seconds),
                status_cell(model, level),
            )
    return table
