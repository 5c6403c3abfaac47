"""assay's library functions: what every CLI command calls, importable from `assay`."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from assay.config import Settings
from assay.errors import AssayError
from assay.registry import ModelRegistry

if TYPE_CHECKING:
    from assay.bench.records import RequestRecord
    from assay.bench.runner import BenchRunner
    from assay.bench.spec import BenchSpec, Level
    from assay.quality.aggregate import Agreement, SourceStats
    from assay.quality.judge import Judge
    from assay.quality.outputs import Output
    from assay.quality.pairwise import PairwiseTally
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
    dataset: Path | None = None,
    dataset_format: str = "auto",
    suite: str | None = None,
    **options: Any,
) -> BenchSpec:
    """A validated benchmark spec; options are BenchSpec's fields (rounds, max_tokens, …).

    The prompts come from one source: `prompts` (a file or a list), a `dataset` file (JSONL,
    ShareGPT or a trace), synthetic ones of `input_tokens` (a TokenDist or "MEAN,STDEV"), or
    the workshop's four. `output_tokens` ("MEAN,STDEV") asks each for a held length."""
    from assay.bench.spec import BenchSpec

    unknown = sorted(set(options) - set(BenchSpec.model_fields))
    if unknown:  # a misspelt option would otherwise run with its default, silently
        close = difflib.get_close_matches(unknown[0], list(BenchSpec.model_fields), n=1)
        hint = f"did you mean '{close[0]}'?" if close else "see help(assay.bench)"
        raise AssayError(f"unknown bench option '{unknown[0]}'; {hint}")
    for name in ("input_tokens", "output_tokens"):
        if isinstance(options.get(name), str):
            options[name] = _token_dist(options[name], name)
    if suite is not None:
        prompt_list, described = _suite_prompts(suite, prompts, dataset, options)
    else:
        prompt_list, described = _prompt_source(prompts, dataset, dataset_format, options)
    if described is not None:
        options["dataset"] = described
    try:
        return BenchSpec(models=list(models), prompts=prompt_list, **options)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise AssayError(f"{field}: {message}" if field else message) from None


def _suite_prompts(
    suite: str, prompts: Any, dataset: Path | None, options: dict[str, Any]
) -> tuple[list[Any], None]:
    """A task suite's prompts; a meeting-notes run gets a context that holds its longest
    transcript (unless --ctx), and the name of the suite in the spec."""
    from assay.bench.prompts import default_prompts
    from assay.quality.meeting_notes import suite as notes

    if prompts is not None or dataset is not None or options.get("input_tokens") is not None:
        raise AssayError("--suite gives the prompts; drop --prompts, --dataset and --input-tokens")
    name, ids = notes.parse_suite(suite)
    options["suite"] = suite
    if name == "workshop":
        return default_prompts(), None
    chosen = notes.suite_prompts(notes.transcripts(ids))
    if options.get("context_size") is None:
        options["context_size"] = notes.context_needed(
            chosen, ModelRegistry(Settings()).count_tokens
        )
    return chosen, None


def _token_dist(text: str, name: str) -> Any:
    from assay.bench.workload import parse_token_dist

    try:
        return parse_token_dist(text, "--" + name.replace("_", "-"))
    except ValueError as exc:
        raise AssayError(str(exc)) from None


def _prompt_source(
    prompts: Path | Sequence[str | dict[str, Any]] | None,
    dataset: Path | None,
    dataset_format: str,
    options: dict[str, Any],
) -> tuple[list[Any], str | None]:
    """The run's prompts and, for a dataset, what to call it in run.json."""
    from assay.bench.datasets import DATASET_FORMATS, load_dataset
    from assay.bench.prompts import default_prompts, load_prompts, parse_prompts
    from assay.bench.workload import synthetic_prompts, with_output_lengths

    synthetic = options.get("input_tokens")
    given = [
        n
        for n, v in (("--prompts", prompts), ("--dataset", dataset), ("--input-tokens", synthetic))
        if v is not None
    ]
    if len(given) > 1:
        raise AssayError(f"{' and '.join(given)} are two sources of prompts; give one")
    seed = options.get("seed", 1234)
    described = None
    if dataset is not None:
        if dataset_format not in DATASET_FORMATS:
            raise AssayError(
                f"--dataset-format takes {', '.join(DATASET_FORMATS)} (got '{dataset_format}')"
            )
        loaded = load_dataset(Path(dataset), dataset_format)  # type: ignore[arg-type]
        prompt_list, described = loaded.prompts, loaded.describe(Path(dataset))
        if loaded.is_trace and options.get("output_tokens") is not None:
            raise AssayError("a trace gives each row's output length; drop --output-tokens")
    elif synthetic is not None:
        prompt_list = synthetic_prompts(synthetic, options.get("requests") or 16, seed)
    elif prompts is None:
        prompt_list = default_prompts()
    elif isinstance(prompts, Path | str):
        prompt_list = load_prompts(Path(prompts))
    else:
        prompt_list = parse_prompts(Path("<prompts>"), list(prompts))
    if options.get("output_tokens") is not None:
        prompt_list = with_output_lengths(prompt_list, options["output_tokens"], seed)
    return prompt_list, described


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
    stream, threads, context_size, endpoint (several, comma-separated, are replicas of each
    model), balance ("round-robin" or "least", over the replicas), concurrency, requests,
    duration_s, rate, allow_prefix_cache, timeout_s. The run directory is `report.run_path`.
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
        for device in spec.devices:
            registry.load_options(device=device)  # gpu without one fails here


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
    run = RunDir(run_dir)
    execute(run, registry, api_key, hooks.on_record, hooks.on_level, hooks.on_runner)
    suite = run.read_meta().spec.suite
    if suite is not None and suite.startswith("meeting-notes"):
        from assay.quality.meeting_notes.suite import write_scores

        write_scores(run_dir)  # the notes' quality, beside the speed, in one go
    return build_report(run_dir, registry.catalog)


def load_report(
    run_dir: Path,
    *,
    watts_per_core: float | None = None,
    kwh_price: float | None = None,
    settings: Settings | None = None,
    import_from: str | None = None,
) -> Report:
    """The Report of a saved run, built from its files alone; or a saved report (a
    benchmark_report.json, or a directory holding one and no run); or, with
    `import_from="aiperf"` or `"guidellm"`, that tool's export at `run_dir`. The energy
    options apply only to a run built afresh."""
    from assay.reports.energy import DEFAULT_KWH_PRICE, DEFAULT_WATTS_PER_CORE
    from assay.reports.model import build_report, read_report

    catalog = ModelRegistry(settings or Settings()).catalog
    if import_from is not None:
        from assay.reports.interchange import import_report

        return import_report(import_from, run_dir, catalog)
    if _is_saved_report(run_dir):
        return read_report(run_dir)
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
    settings: Settings | None = None,
    import_from: str | None = None,
) -> list[Path]:
    """Write a run's reports (md, csv, json, html, aiperf) and return their paths.

    With `import_from` ("aiperf" or "guidellm"), `run_dir` is that tool's export file (or
    its directory) and the reports go beside it unless `out` says where; the JSON report is
    always written then, as `compare` and `select` read an import from it."""
    from assay.reports.render import parse_formats, write_report

    chosen = parse_formats(",".join(formats))
    built = load_report(
        run_dir,
        watts_per_core=watts_per_core,
        kwh_price=kwh_price,
        settings=settings,
        import_from=import_from,
    )
    if import_from is None:
        return write_report(built, chosen, out or run_dir)
    if "json" not in chosen:
        chosen.append("json")
    return write_report(built, chosen, out or (run_dir if run_dir.is_dir() else run_dir.parent))


def compare(run_a: Path, run_b: Path, *, threshold: float = 0.05) -> list[Change]:
    """Per model, level and metric: the change from run A to run B and whether it is a
    significant regression. Either may be a saved or imported report (a benchmark_report.json
    or its directory): then the medians are its levels' p50s, and the change is untested."""
    from assay.bench.rundir import RunDir
    from assay.reports.compare import compare_reports, compare_runs

    if _is_saved_report(run_a) or _is_saved_report(run_b):
        return compare_reports(load_report(run_a), load_report(run_b), threshold)
    first, second = RunDir(run_a), RunDir(run_b)
    first.read_meta()
    second.read_meta()
    return compare_runs(first, second, threshold)


def _is_saved_report(path: Path) -> bool:
    """A benchmark_report.json, or a directory holding one but no run (an import's)."""
    from assay.bench.rundir import RUN_FILE
    from assay.reports.model import REPORT_FILE

    if path.is_file():
        return True
    return not (path / RUN_FILE).exists() and (path / REPORT_FILE).exists()


def select(
    run_dir: Path,
    *,
    max_p95: str | float | None = None,
    max_ttft: str | float | None = None,
    max_memory: str | int | None = None,
    min_quality: float | None = None,
    license: str = "any",
    weights: str | dict[str, float] | None = None,
    min_suite_score: float | None = None,
    max_ttft_4k: str | float | None = None,
    settings: Settings | None = None,
) -> Selection:
    """Filter a run's models by constraints, rank them, and explain the recommendation.
    Durations and sizes take numbers (seconds, bytes) or text ("2s", "2GB"). A
    meeting-notes run also takes the least task score (0-1) and the most TTFT at 4k tokens."""
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
        min_suite_score=min_suite_score,
        max_ttft_4k_s=seconds(max_ttft_4k),
    )
    if isinstance(weights, dict):
        weights = ",".join(f"{k}={v}" for k, v in weights.items())
    return choose(load_report(run_dir, settings=settings), constraints, parse_weights(weights))


def charts(report: Report) -> list[tuple[str, str]]:
    """The report's charts as (title, SVG) pairs, e.g. to show inline in a notebook."""
    from assay.reports.charts import all_charts

    return all_charts(report)


@dataclass(frozen=True)
class ScoreResult:
    """What `score` did (one line per step) and the quality it now finds in the run."""

    notes: list[str]
    stats: list[SourceStats]
    agreements: list[Agreement]
    pairwise: list[PairwiseTally]


Advance = Callable[[], None]


def score(
    run_dir: Path | str,
    *,
    rules: bool = False,
    annotate: Path | None = None,
    blind: bool = False,
    seed: int | None = None,
    import_file: Path | None = None,
    judge: str | None = None,
    judge_model: str | None = None,
    pairwise: tuple[str, str] | None = None,
    api_key: str | None = None,
    timeout: float = 300.0,
    settings: Settings | None = None,
    progress: Callable[[str, int], Advance] | None = None,
) -> ScoreResult:
    """Score a run's outputs and return what the run's scores now say.

    rules: the prompts' rule checks. annotate: write a sheet for people (blind: model names
    coded, rows shuffled, the key kept in the run). import_file: merge a filled-in sheet.
    judge: a catalog alias or an OpenAI-compatible URL grades every output 1-5, or, with
    pairwise=(A, B), compares A's and B's answers in both orders. Scores go to scores.jsonl
    beside the run (the bench's files are never changed); scoring again from the same source
    replaces that source's rows. progress(label, total) may return a step callback.
    """
    from assay.bench.rundir import RunDir
    from assay.errors import AssayError
    from assay.quality import aggregate
    from assay.quality.outputs import load_outputs
    from assay.quality.pairwise import read_pairwise, tally

    path = Path(run_dir)
    models = RunDir(path).read_meta().spec.models
    if pairwise is not None and judge is None:
        raise AssayError("pairwise comparison needs a judge: add --judge ALIAS|URL")
    outputs = load_outputs(path)
    notes = [] if outputs else [f"{path} has no outputs to score (only warm-up or errors)"]
    if rules:
        notes.append(_score_rules(path, outputs))
    if import_file is not None:
        notes.append(_import_sheet(path, outputs, import_file))
    if annotate is not None:
        notes.extend(_annotate(path, outputs, annotate, blind, seed))
    if judge is not None:
        opened = _open_judge(judge, judge_model, api_key, timeout, settings)
        try:
            if pairwise is not None:
                notes.append(_judge_pairs(path, outputs, opened, pairwise, progress))
            else:
                notes.append(_judge_outputs(path, outputs, opened, progress))
        finally:
            opened.close()
    from assay.quality.scores import read_scores

    scores = read_scores(path)
    return ScoreResult(
        notes=notes,
        stats=aggregate.summarize(scores, models),
        agreements=aggregate.agreement(scores),
        pairwise=tally(read_pairwise(path)),
    )


def _score_rules(path: Path, outputs: list[Output]) -> str:
    from assay.quality.rules import score_rules
    from assay.quality.scores import replace_scores

    scores = score_rules(outputs)
    replace_scores(path, "rules", scores)
    unchecked = len(outputs) - len(scores)
    note = f" ({unchecked} without rule checks in their prompt: no rule score)" if unchecked else ""
    return f"rules: {len(scores)} outputs scored{note}"


def _import_sheet(path: Path, outputs: list[Output], sheet: Path) -> str:
    from assay.quality.annotation import import_sheet
    from assay.quality.scores import import_origin, replace_scores

    scores = import_sheet(path, outputs, sheet)
    replace_scores(path, import_origin(str(sheet.resolve())), scores)
    return f"imported {len(scores)} human scores from {sheet} (replacing its earlier import)"


def _annotate(
    path: Path, outputs: list[Output], sheet_path: Path, blind: bool, seed: int | None
) -> list[str]:
    from assay.errors import AssayError
    from assay.quality.annotation import write_sheet

    if sheet_path.exists():
        raise AssayError(f"{sheet_path} exists; choose another name (it may hold annotations)")
    sheet = write_sheet(path, outputs, sheet_path, blind, seed)
    notes = [
        f"annotation sheet: {sheet_path} ({sheet.rows} rows); fill in 'score' (1-5) and 'notes'"
    ]
    if sheet.key_path is not None:
        notes.append(f"blind key: {sheet.key_path} (model names; keep it from the annotators)")
    notes.append(f"then: assay score {path} --import {sheet_path}")
    return notes


def _open_judge(
    spec: str,
    judge_model: str | None,
    api_key: str | None,
    timeout: float,
    settings: Settings | None,
) -> Judge:
    from assay.quality.judge import open_judge

    return open_judge(spec, ModelRegistry(settings or Settings()), judge_model, api_key, timeout)


def _judge_outputs(
    path: Path,
    outputs: list[Output],
    judge: Judge,
    progress: Callable[[str, int], Advance] | None,
) -> str:
    from assay.quality.judge import grade_outputs
    from assay.quality.meeting_notes.tasks import split_task_id
    from assay.quality.rubric import NOTES_RUBRIC_VERSION, RUBRIC_VERSION
    from assay.quality.scores import judge_origin, replace_scores

    step = progress(f"judge {judge.name}", len(outputs)) if progress else None
    tick = (lambda *_: step()) if step else None
    notes = [o for o in outputs if split_task_id(o.prompt.id)]  # a meeting-notes suite's
    answers = [o for o in outputs if not split_task_id(o.prompt.id)]
    said = []
    for batch, is_notes, version in (
        (answers, False, RUBRIC_VERSION),
        (notes, True, NOTES_RUBRIC_VERSION),
    ):
        if not batch:
            continue
        scores = grade_outputs(batch, judge, tick, notes=is_notes)
        replace_scores(path, judge_origin(judge.name, version), scores)
        invalid = sum(1 for s in scores if not s.valid)
        said.append(f"judge {judge.name} ({version}): {len(scores)} outputs, {invalid} invalid")
    return "; ".join(said) or f"judge {judge.name}: no outputs"


def _judge_pairs(
    path: Path,
    outputs: list[Output],
    judge: Judge,
    pair: tuple[str, str],
    progress: Callable[[str, int], Advance] | None,
) -> str:
    from assay.quality.pairwise import judge_pairs, pair_outputs, pairwise_origin, replace_pairwise
    from assay.quality.rubric import PAIRWISE_VERSION

    pairs = pair_outputs(outputs, *pair)
    step = progress(f"pairwise {judge.name}", len(pairs)) if progress else None
    results = judge_pairs(pairs, judge, (lambda _: step()) if step else None)
    replace_pairwise(path, pairwise_origin(judge.name, PAIRWISE_VERSION, *pair), results)
    return f"pairwise {pair[0]} vs {pair[1]}: {len(results)} pairs judged in both orders"
