"""`assay`: the entry point. Errors become one line on stderr and an exit code."""

from __future__ import annotations

import sys

import typer
from pydantic import ValidationError

from assay.cli import (
    bench,
    cache,
    convert,
    doctor,
    mock_server,
    models,
    pull,
    quantize,
    report,
    run,
    score,
    serve,
    supervise,
)
from assay.config import settings_error
from assay.errors import AssayError

app = typer.Typer(
    name="assay",
    help="Run, benchmark and choose open-source language models on your own machine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(models.app, name="models")
app.command(name="run")(run.run)
app.command(name="pull")(pull.pull)
app.add_typer(cache.app, name="cache")
app.command(name="quantize")(quantize.quantize)
app.command(name="convert")(convert.convert)
app.command(name="serve")(serve.serve)
app.command(name="bench")(bench.bench)
app.command(name="mock-server")(mock_server.mock_server)
app.command(name="score")(score.score)
app.command(name="report")(report.report)
app.command(name="compare")(report.compare)
app.command(name="select")(report.select)
app.command(name="doctor")(doctor.doctor)


def main() -> None:
    # Typer handles usage errors (exit 2) and Ctrl-C itself; assay's own errors surface here.
    supervise.as_child()
    try:
        app()
    except AssayError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except ValidationError as exc:
        if exc.title != "Settings":
            raise
        print(f"error: {settings_error(exc)}", file=sys.stderr)  # a bad ASSAY_* variable
        sys.exit(2)
