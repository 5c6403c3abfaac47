"""The Replicas table, for a run whose model was served by several endpoints: each level per
replica, shared by the Markdown, console and HTML renderers. A run against one endpoint, or
in-process, has no such table."""

from __future__ import annotations

from assay.reports.model import Report, ReportSpec
from assay.units import format_millis as millis
from assay.units import format_number as number
from assay.units import format_seconds as seconds

REPLICA_COLUMNS = (
    "Model",
    "Level",
    "Replica",
    "Requests",
    "Errors",
    "Req/s",
    "Output tok/s",
    "TTFT mean",
    "TTFT p95",
    "E2E p95",
)

REPLICA_NOTE = (
    "Each level's requests as the replicas served them. Req/s and output tok/s are over the "
    "whole level's duration, so the replicas' figures add up to the level's."
)


def replica_rows(report: Report) -> list[list[str]]:
    """One row per model, level and replica; none when no level had replicas."""
    rows = []
    for r in report.models:
        for lv in r.levels:
            for rep in lv.replicas or []:
                rows.append(
                    [
                        r.model,
                        lv.level,
                        rep.replica,
                        str(rep.requests),
                        str(rep.errors),
                        number(rep.request_throughput, 2),
                        number(rep.output_tokens_per_second),
                        millis(rep.ttft_s.mean if rep.ttft_s else None),
                        millis(rep.ttft_s.p95 if rep.ttft_s else None),
                        seconds(rep.e2e_s.p95 if rep.e2e_s else None),
                    ]
                )
    return rows


def served_by(spec: ReportSpec) -> str:
    """Where the run's requests went, for the report's opening sentence."""
    urls = [url for url in (spec.endpoint or "").split(",") if url]
    if not urls:
        return "in-process"
    if len(urls) == 1:
        return f"endpoint {urls[0]}"
    return f"{len(urls)} replicas ({spec.balance or 'round-robin'}): {', '.join(urls)}"
