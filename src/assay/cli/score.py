"""`assay score`: quality of a bench run's outputs by rules, by people and by a judge."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from assay.bench.rundir import RunDir
from assay.cli.output import make_console
from assay.config import Settings
from assay.errors import AssayError
from assay.quality import aggregate
from assay.quality.annotation import import_sheet, write_sheet
from assay.quality.console import agreement_table, pairwise_table, scores_table
from assay.quality.judge import Judge, grade_outputs, open_judge
from assay.quality.outputs import Output, load_outputs
from assay.quality.pairwise import (
    judge_pairs,
    pair_outputs,
    pairwise_origin,
    read_pairwise,
    replace_pairwise,
    tally,
)
from assay.quality.rubric import PAIRWISE_VERSION, RUBRIC_VERSION
from assay.quality.rules import score_rules
from assay.quality.scores import import_origin, judge_origin, read_scores, replace_scores
from assay.registry import ModelRegistry


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
    models = RunDir(run_dir).read_meta().spec.models
    pair = _pair(pairwise, models) if pairwise else None
    if blind and annotate is None:
        raise AssayError("--blind goes with --annotate FILE.csv")
    if seed is not None and not blind:
        raise AssayError("--seed sets the shuffle of a --blind sheet; add --blind")
    if pair and judge is None:
        raise AssayError("--pairwise A,B needs a judge: add --judge ALIAS|URL")
    if annotate is not None and annotate.exists():
        raise AssayError(f"{annotate} exists; choose another name (it may hold annotations)")
    outputs = load_outputs(run_dir)
    err = make_console(stderr=True)
    if not outputs:
        err.print(f"{run_dir} has no outputs to score (only warm-up or errored requests)")
    if rules:
        _rules(run_dir, outputs, err)
    if import_file is not None:
        _import(run_dir, outputs, import_file, err)
    if annotate is not None:
        _annotate(run_dir, outputs, annotate, blind, seed, err)
    if judge is not None:
        key = api_key or os.environ.get("ASSAY_API_KEY")
        opened = open_judge(judge, ModelRegistry(Settings()), judge_model, key, timeout)
        try:
            if pair:
                _pairwise(run_dir, outputs, opened, pair, err)
            else:
                _judge(run_dir, outputs, opened, err)
        finally:
            opened.close()
    _print_summary(run_dir, models)


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


def _rules(run_dir: Path, outputs: list[Output], err: Console) -> None:
    scores = score_rules(outputs)
    replace_scores(run_dir, "rules", scores)
    unchecked = len(outputs) - len(scores)
    note = f" ({unchecked} without rule checks in their prompt: no rule score)" if unchecked else ""
    err.print(f"rules: {len(scores)} outputs scored{note}")


def _import(run_dir: Path, outputs: list[Output], path: Path, err: Console) -> None:
    scores = import_sheet(run_dir, outputs, path)
    replace_scores(run_dir, import_origin(str(path.resolve())), scores)
    err.print(f"imported {len(scores)} human scores from {path} (replacing its earlier import)")


def _annotate(
    run_dir: Path, outputs: list[Output], path: Path, blind: bool, seed: int | None, err: Console
) -> None:
    sheet = write_sheet(run_dir, outputs, path, blind, seed)
    err.print(f"annotation sheet: {path} ({sheet.rows} rows); fill in 'score' (1-5) and 'notes'")
    if sheet.key_path is not None:
        err.print(f"blind key: {sheet.key_path} (model names; keep it from the annotators)")
    err.print(f"then: assay score {run_dir} --import {path}")


def _progress(err: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err,
        transient=True,
    )  # fmt: skip


def _judge(run_dir: Path, outputs: list[Output], judge: Judge, err: Console) -> None:
    with _progress(err) as progress:
        task = progress.add_task(f"judge {judge.name}", total=len(outputs))
        try:
            scores = grade_outputs(outputs, judge, lambda *_: progress.advance(task))
        except KeyboardInterrupt:
            err.print("interrupted: no judge scores were written")
            sys.exit(130)
    replace_scores(run_dir, judge_origin(judge.name, RUBRIC_VERSION), scores)
    invalid = sum(1 for s in scores if not s.valid)
    err.print(f"judge {judge.name} ({RUBRIC_VERSION}): {len(scores)} outputs, {invalid} invalid")


def _pairwise(
    run_dir: Path, outputs: list[Output], judge: Judge, pair: tuple[str, str], err: Console
) -> None:
    pairs = pair_outputs(outputs, *pair)
    with _progress(err) as progress:
        task = progress.add_task(f"pairwise {judge.name}", total=len(pairs))
        try:
            results = judge_pairs(pairs, judge, lambda _: progress.advance(task))
        except KeyboardInterrupt:
            err.print("interrupted: no pairwise results were written")
            sys.exit(130)
    replace_pairwise(run_dir, pairwise_origin(judge.name, PAIRWISE_VERSION, *pair), results)
    err.print(f"pairwise {pair[0]} vs {pair[1]}: {len(results)} pairs judged in both orders")


def _print_summary(run_dir: Path, models: list[str]) -> None:
    console = make_console()
    scores = read_scores(run_dir)
    if scores:
        console.print(scores_table(aggregate.summarize(scores, models)))
        agreements = aggregate.agreement(scores)
        if agreements:
            console.print(agreement_table(agreements))
    results = read_pairwise(run_dir)
    if results:
        console.print(pairwise_table(tally(results)))
    if not scores and not results:
        console.print("no scores yet: score with --rules, --judge or --import")
