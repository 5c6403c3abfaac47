"""The console table fits the terminal: folded in two below its natural width, never with
figures wrapped inside their cells."""

from __future__ import annotations

from rich.console import Console

from assay.catalog.loader import load_builtin
from assay.reports.console import report_tables
from assay.reports.model import build_report
from tests.reports.conftest import RunFactory
from tests.reports.test_report import two_models


def _render(run_factory: RunFactory, width: int) -> tuple[int, list[str]]:
    report = build_report(two_models(run_factory), load_builtin())
    console = Console(width=width, record=True, color_system=None)
    tables = report_tables(report, width)
    for table in tables:
        console.print(table)
    return len(tables), console.export_text().splitlines()


def test_a_wide_console_gets_one_table(run_factory: RunFactory) -> None:
    count, lines = _render(run_factory, 200)
    assert count == 1
    assert "Decode tok/s" in "".join(lines) and "Peak mem" in "".join(lines)


def test_80_columns_get_three_tables_and_no_wrapped_figure(run_factory: RunFactory) -> None:
    count, lines = _render(run_factory, 80)
    assert count == 3
    assert max(len(line) for line in lines) <= 80
    rows = [line for line in lines if line.lstrip().startswith(("smollm2-135m", "gemma3-270m"))]
    assert len(rows) == 6, "each model's row is one line in each table"
    assert "0.43 s" in rows[0] and "57.0" in rows[2] and "300.0 MB" in rows[4]
