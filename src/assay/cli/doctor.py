"""`assay doctor`: is this machine ready to benchmark, and if not, what to do."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape

from assay.cli.output import make_console
from assay.config import Settings
from assay.doctor.checks import Doctor, diagnose
from assay.registry import ModelRegistry

_MARK = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]"}


def doctor(
    engine: Annotated[
        bool, typer.Option("--engine", help="Only the engine build and a test generation.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the findings as JSON.")] = False,
) -> None:
    """Check the engine build, a test generation, GPU, threads, load, memory, disk and versions.
    Exits 1 when something would make a benchmark crash or lie."""
    settings = Settings()
    registry = ModelRegistry(settings)
    report = diagnose(settings, lambda name: registry.path(registry.resolve(name)), engine)
    if as_json:
        print(report.model_dump_json(indent=2))
    else:
        _print(report)
    if report.failed:
        sys.exit(1)


def _print(report: Doctor) -> None:
    console = make_console()
    for check in report.checks:
        fix = f" [bold]→ {escape(check.fix)}[/]" if check.fix and check.status != "ok" else ""
        console.print(
            f"{_MARK[check.status]} {escape(check.name)}: {escape(check.detail)}{fix}",
            markup=True,
            highlight=False,
            soft_wrap=True,
        )
