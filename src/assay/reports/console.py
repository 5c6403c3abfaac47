"""The console table of a run's Report: the workshop's shape plus assay's columns."""

from __future__ import annotations

from rich.table import Table

from assay.reports.model import ModelReport, Report
from assay.units import format_bytes, format_millis, format_number, format_seconds


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
            table.add_row(model.model, "-", *["-"] * 10, _status(model))
        for level in model.levels:
            e2e, ttft = level.e2e_s, level.ttft_s
            tps, decode = level.total_tokens_per_second, level.decode_tokens_per_second
            table.add_row(
                model.model,
                level.level,
                format_seconds(e2e.mean if e2e else None),
                format_seconds(e2e.p95 if e2e else None),
                format_number(tps.mean if tps else None),
                format_millis(ttft.p50 if ttft else None),
                format_millis(ttft.p95 if ttft else None),
                format_number(decode.mean if decode else None),
                format_number(level.request_throughput, 2),
                format_bytes(model.peak_rss_bytes),
                format_bytes(model.disk_bytes),
                format_seconds(model.load_seconds),
                _status(model) + (f" ({level.errors} errors)" if level.errors else ""),
            )
    return table


def _status(model: ModelReport) -> str:
    return f"{model.status}: {model.error}" if model.error else model.status
