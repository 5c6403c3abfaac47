"""`assay score`: quality of a bench run's outputs by rules, by people and by a judge."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from assay.bench.rundir import RunDir
from assay.cli.output import make_console
from assay.config import Settings
from assay.errors import AssayError

if TYPE_CHECKING:
    from assay.api import ScoreResult


def score(
    run_dir: Annotated[Path, typer.Argument(help="A bench run directory.")],
    rules: Annotated[
        bool, typer.Option("--rules", help="Score outputs by their prompts' rule checks.")
    ] = False,
    annotate: Annotated[
        Path | None, typer.Option(help="Write an annotation sheet (CSV) for people to score.")
    ] = None,
    blind: Annotated[
        bool, typer.Option("--blind", help="With --annotate: code model names, shuffle rows.")
    ] = False,
    seed: Annotated[
        int | None, typer.Option(help="With --blind: the shuffle seed (default: random).")
    ] = None,
    import_file: Annotated[
        Path | None, typer.Option("--import", help="Import a filled-in annotation sheet.")
    ] = None,
    judge: Annotated[
        str | None, typer.Option(help="Grade outputs 1-5 with a judge: a catalog ALIAS or a URL.")
    ] = None,
    judge_model: Annotated[
        str | None, typer.Option(help="The model to ask at a judge URL (default: its first).")
    ] = None,
    pairwise: Annotated[
        str | None, typer.Option(help="With --judge: compare models A,B in both orders.")
    ] = None,
    api_key: Annotated[str | None, typer.Option(help="API key for a judge URL.")] = None,
    timeout: Annotated[float, typer.Option(min=1.0, help="Seconds per judge request.")] = 300.0,
) -> None:
    """Score a bench run's outputs, then show mean, 95% CI and n per model and source."""
    from assay import api

    models = RunDir(run_dir).read_meta().spec.models
    pair = _pair(pairwise, models) if pairwise else None
    if blind and annotate is None:
        raise AssayError("--blind goes with --annotate FILE.csv")
    if seed is not None and not blind:
        raise AssayError("--seed sets the shuffle of a --blind sheet; add --blind")
    if pair and judge is None:
        raise AssayError("--pairwise A,B needs a judge: add --judge ALIAS|URL")
    settings = Settings()  # once: the judge's registry and its API key come from it
    err = make_console(stderr=True)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err,
        transient=True,
    ) as progress:  # fmt: skip

        def start(label: str, total: int) -> Callable[[], None]:
            task = progress.add_task(label, total=total)
            return lambda: progress.advance(task)

        try:
            result = api.score(
                run_dir, rules=rules, annotate=annotate, blind=blind, seed=seed,
                import_file=import_file, judge=judge, judge_model=judge_model, pairwise=pair,
                api_key=api_key or settings.api_key, timeout=timeout,
                progress=start, settings=settings,
            )  # fmt: skip
        except KeyboardInterrupt:
            progress.stop()
            err.print("interrupted: no scores from this step were written")
            sys.exit(130)
    for note in result.notes:
        err.print(note, highlight=False)
    _print_summary(result)


def _pair(text: str, models: list[str]) -> tuple[str, str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if len(names) != 2 or names[0] == names[1]:
        raise AssayError(f"--pairwise takes two different models, A,B (got '{text}')")
    for name in names:
        if name not in models:
            raise AssayError(
                f"--pairwise: '{name}' is not in this run; its models: {', '.join(models)}"
            )
    return names[0], names[1]


def _print_summary(result: ScoreResult) -> None:
    from assay.quality.console import agreement_table, pairwise_table, scores_table

    console = make_console()
    if result.stats:
        console.print(scores_table(result.stats))
    if result.agreements:
        console.print(agreement_table(result.agreements))
    if result.pairwise:
        console.print(pairwise_table(result.pairwise))
    if not result.stats and not result.pairwise:
        console.print("no scores yet: score with --rules, --judge or --import")
