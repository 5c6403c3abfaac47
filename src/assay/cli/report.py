"""`assay report`, `assay compare`, `assay select`: read run directories, never re-run them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from assay.bench.rundir import RunDir
from assay.cli.output import make_console
from assay.config import Settings
from assay.errors import AssayError
from assay.registry import ModelRegistry

if TYPE_CHECKING:
    from assay.report.model import Report
from assay.report.energy import DEFAULT_KWH_PRICE, DEFAULT_WATTS_PER_CORE


def load_report(
    run_dir: Path,
    watts_per_core: float = DEFAULT_WATTS_PER_CORE,
    kwh_price: float = DEFAULT_KWH_PRICE,
) -> Report:
    from assay.report.model import build_report

    catalog = ModelRegistry(Settings()).catalog
    return build_report(run_dir, catalog, watts_per_core, kwh_price)


def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory from assay bench.")],
    format_: Annotated[
        str, typer.Option("--format", help="Any of md,csv,json,html.")
    ] = "md,csv,json,html",
    out: Annotated[
        Path | None, typer.Option(help="Where to write (default: the run directory).")
    ] = None,
    watts_per_core: Annotated[
        float, typer.Option(min=0.1, help="For the energy estimate.")
    ] = DEFAULT_WATTS_PER_CORE,
    kwh_price: Annotated[
        float, typer.Option(min=0, help="Price per kWh for the cost estimate.")
    ] = DEFAULT_KWH_PRICE,
) -> None:
    """Render a run's report (Markdown, CSV, JSON, self-contained HTML with charts)."""
    from assay.report.render import parse_formats, write_report

    formats = parse_formats(format_)
    paths = write_report(load_report(run_dir, watts_per_core, kwh_price), formats, out or run_dir)
    for path in paths:
        typer.echo(str(path))


def _threshold(text: str) -> float:
    value = text.strip().removesuffix("%")
    try:
        number = float(value)
    except ValueError:
        raise AssayError(f"bad threshold '{text}'; write e.g. 5%") from None
    return number / 100 if text.strip().endswith("%") or number > 1 else number


def compare(
    run_a: Annotated[Path, typer.Argument(help="The baseline run directory.")],
    run_b: Annotated[Path, typer.Argument(help="The run to check against it.")],
    threshold: Annotated[str, typer.Option(help="Smallest change that counts, e.g. 5%.")] = "5%",
    out: Annotated[Path | None, typer.Option(help="Also write the Markdown here.")] = None,
) -> None:
    """Compare two runs; exit 1 when a significant regression is found (a CI gate)."""
    from assay.report.compare import compare_runs, render_comparison
    from assay.store.integrity import atomic_write_text

    limit = _threshold(threshold)
    for path in (run_a, run_b):
        RunDir(path).read_meta()  # a clear error for a path that is not a run
    changes = compare_runs(RunDir(run_a), RunDir(run_b), limit)
    text = render_comparison(changes, run_a.name, run_b.name, limit)
    typer.echo(text)
    if out is not None:
        atomic_write_text(out, text)
    if any(c.regression for c in changes):
        sys.exit(1)


def select(
    run_dir: Annotated[Path, typer.Argument(help="A run directory from assay bench.")],
    max_p95: Annotated[str | None, typer.Option(help="e.g. 2s")] = None,
    max_ttft: Annotated[str | None, typer.Option(help="TTFT p95 limit, e.g. 0.5s")] = None,
    max_memory: Annotated[str | None, typer.Option(help="Peak RSS limit, e.g. 2GB")] = None,
    min_quality: Annotated[float | None, typer.Option(min=1, max=5, help="1-5")] = None,
    license_: Annotated[str, typer.Option("--license", help="permissive or any")] = "any",
    weights: Annotated[str | None, typer.Option(help="e.g. latency=1,quality=2,memory=1")] = None,
) -> None:
    """Recommend a model under constraints, with the Pareto front and a rationale."""
    from assay.report.select import (
        Constraints,
        parse_bytes,
        parse_seconds,
        parse_weights,
        render_selection,
    )
    from assay.report.select import select as choose

    if license_ not in ("permissive", "any"):
        raise AssayError(f"--license must be 'permissive' or 'any', not '{license_}'")
    constraints = Constraints(
        max_p95_s=parse_seconds(max_p95) if max_p95 else None,
        max_ttft_s=parse_seconds(max_ttft) if max_ttft else None,
        max_memory_bytes=parse_bytes(max_memory) if max_memory else None,
        min_quality=min_quality,
        license=license_,
    )
    selection = choose(load_report(run_dir), constraints, parse_weights(weights))
    make_console().print(render_selection(selection), markup=False, highlight=False)
    if selection.winner is None:
        sys.exit(1)
