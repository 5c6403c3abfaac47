"""The console table of a run, in the workshop's shape plus assay's columns."""

from __future__ import annotations

from rich.table import Table

from assay.bench.summary import LevelSummary, ModelSummary, Summary
from assay.units import format_bytes
from assay.units import format_millis as _ms
from assay.units import format_number as _num
from assay.units import format_seconds as _s


def summary_table(summary: Summary) -> Table:
    table = Table(title="assay bench", show_edge=False)
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
        table.add_column(
            column, justify="left" if column in ("Model", "Level", "Status") else "right"
        )
    for model in summary.models:
        if not model.levels:
            table.add_row(model.model, "-", *["-"] * 10, _status(model))
        for level in model.levels:
            table.add_row(*_row(model, level))
    return table


def _row(model: ModelSummary, level: LevelSummary) -> list[str]:
    e2e, ttft = level.e2e_s, level.ttft_s
    tps, decode = level.total_tokens_per_second, level.decode_tokens_per_second
    return [
        model.model,
        level.level,
        _s(e2e.mean if e2e else None),
        _s(e2e.p95 if e2e else None),
        _num(tps.mean if tps else None),
        _ms(ttft.p50 if ttft else None),
        _ms(ttft.p95 if ttft else None),
        _num(decode.mean if decode else None),
        _num(level.request_throughput, 2),
        format_bytes(model.memory.get("peak_rss_bytes")),
        format_bytes(model.info.get("disk_bytes")),
        _s(model.info.get("load_seconds")),
        _status(model) + (f" ({level.errors} errors)" if level.errors else ""),
    ]


def _status(model: ModelSummary) -> str:
    return f"{model.status}: {model.error}" if model.error else model.status
