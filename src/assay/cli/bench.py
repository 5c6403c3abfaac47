"""`assay bench`: latency, TTFT, throughput, memory and load time of several models."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from assay.cli.output import make_console
from assay.config import Settings
from assay.errors import AssayError
from assay.registry import ModelRegistry

if TYPE_CHECKING:
    from rich.console import Console

    from assay.api import BenchHooks
    from assay.bench.records import RequestRecord
    from assay.bench.runner import BenchRunner
    from assay.bench.spec import Level, Slo
    from assay.reports.model import Report

DEFAULT_MODELS = "smollm2-135m,gemma3-270m"


def _csv(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _slo(text: str) -> Slo:
    from assay.bench.spec import parse_slo

    try:
        return parse_slo(text)
    except ValueError as exc:
        raise AssayError(f"--slo: {exc}") from None


def _checked_schema(path: Path) -> dict[str, object]:
    """The schema of --response-format; one that decoding cannot enforce fails now, in one
    line, before any model loads."""
    from assay.engines.json_schema import grammar_for_schema, read_schema_file

    schema = read_schema_file(path)
    grammar_for_schema(schema)
    return schema


def bench(
    models: Annotated[
        str | None, typer.Option(help="Models, comma-separated (or BENCH_MODELS).")
    ] = None,
    prompts: Annotated[
        Path | None, typer.Option(help="prompts.json: a list of strings or {id, prompt} objects.")
    ] = None,
    rounds: Annotated[int, typer.Option(min=1, help="Timed passes over the prompts.")] = 3,
    warmup: Annotated[int, typer.Option(min=0, help="Warm-up passes, excluded.")] = 1,
    max_tokens: Annotated[int, typer.Option(min=1)] = 150,
    temperature: Annotated[float, typer.Option(min=0.0, max=2.0)] = 0.0,
    seed: Annotated[int | None, typer.Option()] = 1234,
    stream: Annotated[
        bool | None,
        typer.Option("--stream/--no-stream", help="Stream (TTFT needs it); or BENCH_STREAM=1|0."),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            min=1, help="In-process threads, fixed; default: adaptive, up to the cores available."
        ),
    ] = None,
    ctx: Annotated[int | None, typer.Option(min=64, help="In-process context window.")] = None,
    device: Annotated[
        str, typer.Option(help="cpu, gpu or auto; several (cpu,gpu) run each model both ways.")
    ] = "auto",
    endpoint: Annotated[
        str | None,
        typer.Option(
            help="An OpenAI-compatible base URL (or FOUNDRY_LOCAL_ENDPOINT, ASSAY_ENDPOINT); "
            "several, comma-separated, are replicas of each model, its requests spread over them."
        ),
    ] = None,
    balance: Annotated[
        str | None,
        typer.Option(
            help="With several --endpoint URLs: round-robin (the default) or least (the replica "
            "with the fewest requests in flight, ties in turn)."
        ),
    ] = None,
    api_key: Annotated[str | None, typer.Option(help="API key for --endpoint.")] = None,
    concurrency: Annotated[
        str | None, typer.Option(help="Closed-loop sweep, e.g. 1,2,4,8.")
    ] = None,
    requests: Annotated[
        int | None, typer.Option(min=1, help="Requests per concurrency or rate level.")
    ] = None,
    duration: Annotated[
        float | None, typer.Option(min=0.1, help="Seconds per level instead of --requests.")
    ] = None,
    rate: Annotated[
        float | None, typer.Option(min=0.001, help="Open-loop Poisson arrivals per second.")
    ] = None,
    allow_prefix_cache: Annotated[
        bool, typer.Option(help="Let repeated prompts hit the KV/prompt cache.")
    ] = False,
    timeout: Annotated[
        float, typer.Option(min=0.1, help="Per-request timeout in seconds.")
    ] = 300.0,
    out: Annotated[Path, typer.Option(help="Where run directories go.")] = Path("runs"),
    name: Annotated[str, typer.Option(help="Run name (part of the directory name).")] = "bench",
    resume: Annotated[
        Path | None, typer.Option(help="Finish an interrupted run directory.")
    ] = None,
    report: Annotated[
        str | None, typer.Option(help="Also write reports: any of md,csv,json,html.")
    ] = None,
    response_format: Annotated[
        Path | None,
        typer.Option(
            help="A JSON schema file (or an OpenAI response_format object) every answer must "
            "match: sent with each request, and each answer checked against it."
        ),
    ] = None,
    slo: Annotated[
        str | None,
        typer.Option(
            help="Service-level objectives, e.g. ttft=300ms,itl=50ms,e2e=5s (any subset): each "
            "level reports the share of requests meeting all of them and the goodput."
        ),
    ] = None,
    suite: Annotated[
        str | None,
        typer.Option(
            help="A task suite: meeting-notes (long transcripts, notes as text and as JSON, "
            "scored against ground truth; meeting-notes:mn01,mn09 for some) or workshop."
        ),
    ] = None,
    input_tokens: Annotated[
        str | None,
        typer.Option(
            help="Synthetic prompts of MEAN[,STDEV] tokens for the target's own tokenizer, "
            "unique per request, e.g. 1000,100."
        ),
    ] = None,
    output_tokens: Annotated[
        str | None,
        typer.Option(
            help="Ask for MEAN[,STDEV] output tokens, held with min_tokens/ignore_eos where "
            "the target honours them (recorded per request)."
        ),
    ] = None,
    dataset: Annotated[
        Path | None,
        typer.Option(
            help="Prompts from a local file: JSONL ({prompt} or {messages}), ShareGPT JSON, "
            "or a trace (Mooncake JSONL, BurstGPT CSV) replayed on its own schedule."
        ),
    ] = None,
    dataset_format: Annotated[str, typer.Option(help="auto, jsonl, sharegpt or trace.")] = "auto",
    time_scale: Annotated[
        float, typer.Option(min=0.001, help="Replay a trace this many times faster.")
    ] = 1.0,
    turns: Annotated[
        int,
        typer.Option(min=1, help="Conversations of N user turns; later turns carry the history."),
    ] = 1,
    repeat: Annotated[
        int,
        typer.Option(
            min=1,
            help="Run the whole plan N times, models interleaved; figures get 95% intervals.",
        ),
    ] = 1,
    sweep: Annotated[
        bool,
        typer.Option(
            help="A throughput level, then rates up to it: the highest rate whose requests "
            "meet --slo at --slo-target or better."
        ),
    ] = False,
    slo_target: Annotated[
        float,
        typer.Option(min=0.01, max=1.0, help="The share of requests --sweep needs meeting --slo."),
    ] = 0.9,
) -> None:
    """Benchmark models in-process or at an OpenAI-compatible endpoint."""
    from assay import api
    from assay.reports.render import parse_formats

    settings = Settings()  # once, passed down; the registry checks the names up front
    registry = ModelRegistry(settings)
    key = api_key or settings.api_key
    formats = parse_formats(report) if report else []
    console = make_console(stderr=True)
    spec = None
    if resume is None:
        spec = api.bench_spec(
            _csv(models or settings.bench_models or DEFAULT_MODELS),
            prompts=prompts,
            name=name,
            rounds=rounds,
            warmup=warmup,
            max_tokens=max_tokens,
            temperature=temperature,
            seed=seed,
            stream=settings.bench_stream if stream is None else stream,
            threads=threads,
            context_size=ctx,
            devices=_devices(device),
            **_replicas(endpoint or settings.endpoint, balance),
            concurrency=[_positive(c) for c in _csv(concurrency)],
            requests=requests,
            duration_s=duration,
            rate=rate,
            allow_prefix_cache=allow_prefix_cache,
            timeout_s=timeout,
            json_schema=_checked_schema(response_format) if response_format else None,
            slo=_slo(slo) if slo else None,
            suite=suite,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            dataset=dataset,
            dataset_format=dataset_format,
            time_scale=time_scale,
            turns=turns,
            repeat=repeat,
            sweep=sweep,
            slo_target=slo_target,
        )
        api.check_models(spec, registry)  # bad input fails here, before the progress display starts
    progress, hooks, started = _progress(console)
    try:
        with progress:
            if spec is None:
                result = api.resume(resume, api_key=key, settings=settings, hooks=hooks)  # type: ignore[arg-type]
            else:
                result = api.run_spec(spec, out=out, api_key=key, settings=settings, hooks=hooks)
    except KeyboardInterrupt:
        where = started[0] if started else "the run directory"
        console.print(
            f"interrupted: what was measured is in {where}; finish it with "
            f"'assay bench --resume {where}'"
        )
        sys.exit(130)
    _print_result(result, console)
    for path in api.report(Path(result.run_path), formats) if formats else []:
        console.print(f"report: {path}")


def _replicas(endpoint: str | None, balance: str | None) -> dict[str, str | None]:
    """--endpoint and --balance, checked: bad input fails in one line before anything runs."""
    from assay.bench.spec import split_endpoints

    try:
        urls = split_endpoints(endpoint) if endpoint and "," in endpoint else None
    except ValueError as exc:
        raise AssayError(f"--endpoint: {exc}") from None
    if balance is None:
        return {"endpoint": endpoint}
    if balance not in ("round-robin", "least"):
        raise AssayError(f"--balance takes round-robin or least (got '{balance}')")
    if urls is None or len(urls) < 2:
        raise AssayError(
            "--balance spreads requests over several endpoints: give --endpoint URL1,URL2,... "
            "or leave --balance out"
        )
    return {"endpoint": endpoint, "balance": balance}


def _devices(text: str) -> list[str]:
    devices = _csv(text)
    bad = [d for d in devices if d not in ("auto", "cpu", "gpu")]
    if bad or not devices or len(set(devices)) != len(devices):
        raise AssayError(f"--device takes cpu, gpu or auto, comma-separated (got '{text}')")
    return devices


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise AssayError(f"--concurrency takes positive whole numbers, e.g. 1,2,4,8 (got '{text}')")
    return int(text)


def _progress(console: Console) -> tuple[Progress, BenchHooks, list[Path]]:
    """A progress bar per model, fed by the runner's hooks."""
    from assay.api import BenchHooks

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    tasks: dict[str, TaskID] = {}
    runners: list[BenchRunner] = []
    started: list[Path] = []

    def on_start(path: Path) -> None:
        started.append(path)
        console.print(f"run directory: {path}")

    def on_level(model: str, level: Level) -> None:
        if model not in tasks:
            tasks[model] = progress.add_task(model, total=runners[0].pending(model) or None)
        progress.update(tasks[model], description=f"{model} [{level.name}]")

    def on_record(record: RequestRecord) -> None:
        progress.advance(tasks[record.model])

    hooks = BenchHooks(on_start, on_level, on_record, runners.append)
    return progress, hooks, started


def _print_result(result: Report, console: Console) -> None:
    from assay.reports.console import report_tables

    out = make_console()
    for table in report_tables(result, out.width):
        out.print(table)
    client = result.client
    if client.saturated:
        console.print(
            "[yellow]warning: the client's own lag passed 1 ms at p95 (loop "
            f"{client.loop_lag_p95_ms} ms, send {client.send_lag_p95_ms} ms): "
            "it saturated and the numbers are suspect[/yellow]"
        )
    console.print(f"results: {result.run_path}")
