"""Write a run's report in the asked-for formats; returns the paths written.

`aiperf` writes AIPerf's profile_export_aiperf.json (one per model and level) beside the
others: see interchange_aiperf.py."""

from __future__ import annotations

from pathlib import Path

from assay.errors import AssayError
from assay.reports.csv_table import render_csv
from assay.reports.html import render_html
from assay.reports.interchange_aiperf import write_aiperf
from assay.reports.markdown import render_markdown
from assay.reports.model import REPORT_FILE, Report
from assay.store.integrity import atomic_write_text

FORMATS = {
    "md": ("benchmark_report.md", render_markdown),
    "csv": ("benchmark_report.csv", render_csv),
    "json": (REPORT_FILE, lambda report: report.model_dump_json(indent=2)),
    "html": ("benchmark_report.html", render_html),
}


AIPERF = "aiperf"


def parse_formats(text: str) -> list[str]:
    formats = [f.strip().lower() for f in text.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS and f != AIPERF]
    if unknown or not formats:
        raise AssayError(
            f"unknown report format '{','.join(unknown) or text}'; "
            f"use any of {','.join(FORMATS)},{AIPERF}"
        )
    return formats


def write_report(report: Report, formats: list[str], out: Path) -> list[Path]:
    paths = []
    for fmt in formats:
        if fmt == AIPERF:
            paths += write_aiperf(report, out)
            continue
        name, render = FORMATS[fmt]
        path = out / name
        atomic_write_text(path, render(report))
        paths.append(path)
    return paths
