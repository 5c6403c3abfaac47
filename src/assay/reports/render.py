"""Write a run's report in the asked-for formats; returns the paths written."""

from __future__ import annotations

from pathlib import Path

from assay.errors import AssayError
from assay.reports.csv_table import render_csv
from assay.reports.html import render_html
from assay.reports.markdown import render_markdown
from assay.reports.model import Report
from assay.store.integrity import atomic_write_text

FORMATS = {
    "md": ("benchmark_report.md", render_markdown),
    "csv": ("benchmark_report.csv", render_csv),
    "json": ("benchmark_report.json", lambda report: report.model_dump_json(indent=2)),
    "html": ("benchmark_report.html", render_html),
}


def parse_formats(text: str) -> list[str]:
    formats = [f.strip().lower() for f in text.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise AssayError(
            f"unknown report format '{','.join(unknown) or text}'; use any of md,csv,json,html"
        )
    return formats


def write_report(report: Report, formats: list[str], out: Path) -> list[Path]:
    paths = []
    for fmt in formats:
        name, render = FORMATS[fmt]
        path = out / name
        atomic_write_text(path, render(report))
        paths.append(path)
    return paths
