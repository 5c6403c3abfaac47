"""assay's library functions: what every CLI command calls, importable from `assay`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.config import Settings
from assay.registry import ModelRegistry

if TYPE_CHECKING:
    from assay.bench.records import RequestRecord
    from assay.bench.runner import BenchRunner
    from assay.bench.spec import BenchSpec, Level
    from assay.quality.aggregate import SourceStats
    from assay.reports.compare import Change
    from assay.reports.model import Report
    from assay.reports.select import Selection


@dataclass(frozen=True)
class BenchHooks:
    """Callbacks for showing progress: the run directory once it exists, each level as it
    starts, each request as it completes, and the runner (for counts) before it runs."""

    on_start: Callable[[Path], None] | None = None
    on_level: Callable[[str, Level], None] | None = None
    on_record: Callable[[RequestRecord], None] | None = None
    on_runner: Callable[[BenchRunner], None] | None = None


def bench_spec(
    models: Sequence[str],
    *,
    prompts: Path | Sequence[str | dict[str, Any]] | None = None,
    **options: Any,
) -> BenchSpec:
    """A validated benchmark spec; options are BenchSpec's fields (rounds, max_tokens, …)."""
    from assay.bench.prompts import default_prompts, load_prompts, parse_prompts
    from assay.bench.spec import BenchSpec

    if prompts is None:
        prompt_list = default_prompts()
    elif isinstance(prompts, Path | str) and not isinstance(prompts, list):
        prompt_list = load_prompts(Path(prompts))
    else:
        prompt_list = parse_prompts(Path("<prompts>"), list(prompts))
    return BenchSpec(models=list(models), prompts=prompt_list, **options)


def bench(
    models: Sequence[str],
    *,
    prompts: Path | Sequence[str | dict[str, Any]] | None = None,
    out: Path = Path("runs"),
    api_key: str | None = None,
    settings: Settings | None = None,
    hooks: BenchHooks | None = None,
    **options: Any,
) -> Report:
    """Benchmark models (in-process, or at `endpoint=`) and return the run's Report.

    Options are BenchSpec's fields: name, rounds, warmup, max_tokens, temperature, seed,
    stream, threads, context_size, endpoint, concurrency, requests, duration_s, rate,
    allow_prefix_cache, timeout_s. The run directory is `report.run_path`.
    """
    spec = bench_spec(models, prompts=prompts, **options)
    return run_spec(spec, out=out, api_key=api_key, settings=settings, hooks=hooks)


def run_spec(
    spec: BenchSpec,
    *,
    out: Path = Path("runs"),
    api_key: str | None = None,
    settings: Settings | None = None,
    hooks: BenchHooks | None = None,
) -> Report:
    """Run a spec made by `bench_spec` in a new run directory under `out`."""
    from assay.bench.session import create_run

    registry = ModelRegistry(settings or Settings())
    check_models(spec, registry)
    run = create_run(spec, out)
    return _execute(run.path, registry, api_key, hooks)


def check_models(spec: BenchSpec, registry: ModelRegistry | None = None) -> None:
    """Unknown model names fail before anything runs (endpoint models are the server's)."""
    if not spec.endpoint:
        registry = registry or ModelRegistry(Settings())
        for model in spec.models:
            registry.resolve(model)


def resume(
    run_dir: Path,
    *,
    api_key: str | None = None,
    settings: Settings | None = None,
    hooks: BenchHooks | None = None,
) -> Report:
    """Finish an interrupted run (Ctrl-C or kill -9) and return its Report."""
    from assay.bench.rundir import RunDir

    RunDir(run_dir).read_meta()
    return _execute(run_dir, ModelRegistry(settings or Settings()), api_key, hooks)


def _execute(
    run_dir: Path, registry: ModelRegistry, api_key: str | None, hooks: BenchHooks | None
) -> Report:
    from assay.bench.rundir import RunDir
    from assay.bench.session import execute
    from assay.reports.model import build_report

    hooks = hooks or BenchHooks()
    if hooks.on_start is not None:
        hooks.on_start(run_dir)
    execute(RunDir(run_dir), registry, api_key, hooks.on_record, hooks.on_level, hooks.on_runner)
    return build_report(run_dir, registry.catalog)


def load_report(
    run_dir: Path,
    *,
    watts_per_core: float | None = None,
    kwh_price: float | None = None,
    settings: Settings | None = None,
) -> Report:
    """The Report of a saved run, built from its files alone."""
    from assay.reports.energy import DEFAULT_KWH_PRICE, DEFAULT_WATTS_PER_CORE
    from assay.reports.model import build_report

    catalog = ModelRegistry(settings or Settings()).catalog
    return build_report(
        run_dir,
        catalog,
        watts_per_core if watts_per_core is not None else DEFAULT_WATTS_PER_CORE,
        kwh_price if kwh_price is not None else DEFAULT_KWH_PRICE,
    )


def report(
    run_dir: Path,
    formats: Sequence[str] = ("md", "csv", "json", "html"),
    *,
    out: Path | None = None,
    watts_per_core: float | None = None,
    kwh_price: float | None = None,
) -> list[Path]:
    """Write a run's reports (md, csv, json, html) and return their paths."""
    from assay.reports.render import parse_formats, write_report

    chosen = parse_formats(",".join(formats))
    built = load_report(run_dir, watts_per_core=watts_per_core, kwh_price=kwh_price)
    return write_report(built, chosen, out or run_dir)


def compare(run_a: Path, run_b: Path, *, threshold: float = 0.05) -> list[Change]:
    """Per model, level and metric: the change from run A to run B and whether it is a
    significant regression."""
    from assay.bench.rundir import RunDir
    from assay.reports.compare import compare_runs

    first, second = RunDir(run_a), RunDir(run_b)
    first.read_meta()
    second.read_meta()
    return compare_runs(first, second, threshold)


def select(
    run_dir: Path,
    *,
    max_p95: str | float | None = None,
    max_ttft: str | float | None = None,
    max_memory: str | int | None = None,
    min_quality: float | None = None,
    license: str = "any",
    weights: str | dict[str, float] | None = None,
) -> Selection:
    """Filter a run's models by constraints, rank them, and explain the recommendation.
    Durations and sizes take numbers (seconds, bytes) or text ("2s", "2GB")."""
    from assay.errors import AssayError
    from assay.reports.select import Constraints, parse_bytes, parse_seconds, parse_weights
    from assay.reports.select import select as choose

    if license not in ("permissive", "any"):
        raise AssayError(f"license must be 'permissive' or 'any', not '{license}'")

    def seconds(value: str | float | None) -> float | None:
        return parse_seconds(value) if isinstance(value, str) else value

    constraints = Constraints(
        max_p95_s=seconds(max_p95),
        max_ttft_s=seconds(max_ttft),
        max_memory_bytes=parse_bytes(max_memory) if isinstance(max_memory, str) else max_memory,
        min_quality=min_quality,
        license=license,
    )
    if isinstance(weights, dict):
        weights = ",".join(f"{k}={v}" for k, v in weights.items())
    return choose(load_report(run_dir), constraints, parse_weights(weights))


def charts(report: Report) -> list[tuple[str, str]]:
    """The report's charts as (title, SVG) pairs, e.g. to show inline in a notebook."""
    from assay.reports.charts import all_charts

    return all_charts(report)


def score(
    run_dir: Path | str,
    *,
    rules: bool = False,
    import_file: Path | None = None,
    judge: str | None = None,
    judge_model: str | None = None,
    api_key: str | None = None,
    timeout: float = 300.0,
    settings: Settings | None = None,
) -> list[SourceStats]:
    """Score a run's outputs (rule checks, an imported annotation sheet, and/or a judge: a
    catalog alias or an OpenAI-compatible URL), write scores.jsonl beside the run, and return
    mean, 95% CI and n per model and source."""
    from assay.bench.rundir import RunDir
    from assay.quality import aggregate
    from assay.quality.annotation import import_sheet
    from assay.quality.judge import grade_outputs, open_judge
    from assay.quality.outputs import load_outputs
    from assay.quality.rubric import RUBRIC_VERSION
    from assay.quality.rules import score_rules
    from assay.quality.scores import import_origin, judge_origin, read_scores, replace_scores

    path = Path(run_dir)
    models = RunDir(path).read_meta().spec.models
    outputs = load_outputs(path)
    if rules:
        replace_scores(path, "rules", score_rules(outputs))
    if import_file is not None:
        imported = import_sheet(path, outputs, import_file)
        replace_scores(path, import_origin(str(import_file.resolve())), imported)
    if judge is not None:
        registry = ModelRegistry(settings or Settings())
        opened = open_judge(judge, registry, judge_model, api_key, timeout)
        try:
            graded = grade_outputs(outputs, opened)
        finally:
            opened.close()
        replace_scores(path, judge_origin(opened.name, RUBRIC_VERSION), graded)
    return aggregate.summarize(read_scores(path), models)
