"""`assay report`, `assay compare`, `assay select`: read run directories, never re-run them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from assay.cli.output import make_console
from assay.errors import AssayError
from assay.reports.energy import DEFAULT_KWH_PRICE, DEFAULT_WATTS_PER_CORE


def report(
    run_dir: Annotated[
        Path,
        typer.Argument(
            help="A run directory from assay bench; with --import, the other tool's export.",
            metavar="RUN_OR_FILE",
        ),
    ],
    format_: Annotated[
        str,
        typer.Option(
            "--format", help="Any of md,csv,json,html,aiperf (AIPerf's profile_export_aiperf.json)."
        ),
    ] = "md,csv,json,html",
    out: Annotated[
        Path | None,
        typer.Option(help="Where to write (default: the run directory, or the export's)."),
    ] = None,
    import_from: Annotated[
        str | None,
        typer.Option(
            "--import",
            help="Read another tool's JSON export instead of a run: aiperf "
            "(profile_export_aiperf.json, or a directory of them) or guidellm (benchmarks.json).",
        ),
    ] = None,
    watts_per_core: Annotated[
        float, typer.Option(min=0.1, help="For the energy estimate.")
    ] = DEFAULT_WATTS_PER_CORE,
    kwh_price: Annotated[
        float, typer.Option(min=0, help="Price per kWh for the cost estimate.")
    ] = DEFAULT_KWH_PRICE,
) -> None:
    """Render a run's report (Markdown, CSV, JSON, self-contained HTML with charts, AIPerf's
    JSON), or turn an AIPerf or GuideLLM export into one that compare and select read."""
    from assay import api

    paths = api.report(
        run_dir,
        format_.split(","),
        out=out,
        watts_per_core=watts_per_core,
        kwh_price=kwh_price,
        import_from=import_from,
    )
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
    run_a: Annotated[
        Path, typer.Argument(help="The baseline run directory (or an imported report).")
    ],
    run_b: Annotated[
        Path, typer.Argument(help="The run to check against it (or an imported report).")
    ],
    threshold: Annotated[str, typer.Option(help="Smallest change that counts, e.g. 5%.")] = "5%",
    out: Annotated[Path | None, typer.Option(help="Also write the Markdown here.")] = None,
) -> None:
    """Compare two runs; exit 1 when a significant regression is found (a CI gate)."""
    from assay import api
    from assay.reports.compare import render_comparison
    from assay.store.integrity import atomic_write_text

    limit = _threshold(threshold)
    changes = api.compare(run_a, run_b, threshold=limit)
    text = render_comparison(changes, run_a.name, run_b.name, limit)
    typer.echo(text)
    if out is not None:
        atomic_write_text(out, text)
    if any(c.regression for c in changes):
        sys.exit(1)


def select(
    run_dir: Annotated[
        Path, typer.Argument(help="A run directory from assay bench (or an imported report).")
    ],
    max_p95: Annotated[str | None, typer.Option(help="e.g. 2s")] = None,
    max_ttft: Annotated[str | None, typer.Option(help="TTFT p95 limit, e.g. 0.5s")] = None,
    max_memory: Annotated[str | None, typer.Option(help="Peak RSS limit, e.g. 2GB")] = None,
    min_quality: Annotated[float | None, typer.Option(min=1, max=5, help="1-5")] = None,
    license_: Annotated[str, typer.Option("--license", help="permissive or any")] = "any",
    weights: Annotated[str | None, typer.Option(help="e.g. latency=1,quality=2,memory=1")] = None,
    suite_score: Annotated[
        float | None,
        typer.Option(min=0, max=1, help="A meeting-notes run's least task score, e.g. 0.7."),
    ] = None,
    max_ttft_4k: Annotated[
        str | None,
        typer.Option(help="A meeting-notes run's most TTFT at 4k tokens, e.g. 2s."),
    ] = None,
) -> None:
    """Recommend a model under constraints, with the Pareto front and a rationale."""
    from assay import api
    from assay.reports.select import render_selection

    selection = api.select(
        run_dir,
        max_p95=max_p95,
        max_ttft=max_ttft,
        max_memory=max_memory,
        min_quality=min_quality,
        license=license_,
        weights=weights,
        min_suite_score=suite_score,
        max_ttft_4k=max_ttft_4k,
    )
    make_console().print(render_selection(selection), markup=False, highlight=False)
    if selection.winner is None:
        sys.exit(1)
