"""benchmark_report.md: the workshop's table, extended, with highlights and the machine."""

from __future__ import annotations

import re

from assay.bench.probes import Environment
from assay.reports.formatting import (
    HEADLINE_COLUMNS,
    REASONING_COLUMNS,
    REASONING_NOTE,
    has_reasoning,
    headline_cells,
    reasoning_cells,
    with_reasoning,
)
from assay.reports.model import ModelReport, Report
from assay.reports.replicas import REPLICA_COLUMNS, REPLICA_NOTE, replica_rows, served_by
from assay.reports.suite import suite_section
from assay.reports.workloads import workload_sections
from assay.units import format_bytes
from assay.units import format_millis as millis
from assay.units import format_number as number
from assay.units import format_seconds as seconds


def _table(header: list[str] | tuple[str, ...], rows: list[list[str]]) -> list[str]:
    def line(cells: list[str] | tuple[str, ...]) -> str:
        return "|" + "|".join(c.replace("|", "\\|") for c in cells) + "|"

    return [line(header), "|" + "|".join("---" for _ in header) + "|", *map(line, rows)]


def render_markdown(report: Report) -> str:
    reasoning = has_reasoning(report)
    out = [
        f"# Model comparison: {report.run_name}",
        "",
        _imported(report) if report.source else _run(report),
        "",
        *_table(
            with_reasoning(HEADLINE_COLUMNS, reasoning),
            [headline_cells(r, reasoning) for r in report.models],
        ),
        "",
        "Avg Latency and p95: end-to-end seconds per request. TPS: the workshop's total tokens "
        "(prompt + completion) per second of latency. Decode tok/s: tokens after the first per "
        "second after the first." + (f" {REASONING_NOTE}" if reasoning else ""),
        "",
    ]
    if report.highlights:
        out += ["## Highlights", "", *[f"- {h}" for h in report.highlights], ""]
    out += suite_section(report, _table)
    out += _levels(report) + workload_sections(report, _table) + _replicas(report)
    out += _server(report) + _energy(report) + _environment(report)
    return "\n".join(out) + "\n"


def _run(report: Report) -> str:
    spec = report.spec
    return (
        f"Run `{report.run_path}`, started {report.started_at}, status **{report.status}**. "
        f"{spec.prompts} prompts x {spec.rounds} rounds after {spec.warmup} warm-up "
        f"pass(es), max {spec.max_tokens} tokens, temperature {spec.temperature}, "
        f"{'streamed' if spec.stream else 'not streamed'}, "
        f"{'prompt cache allowed' if spec.allow_prefix_cache else 'cold prompt cache'}"
        + f", {served_by(spec)}."
        + (f" Workload: {spec.workload}." if spec.workload else "")
    )


def _imported(report: Report) -> str:
    assert report.source is not None
    when = f", started {report.started_at}" if report.started_at else ""
    return (
        f"Figures {report.source.describe()}{when}, status **{report.status}**"
        + (f", endpoint {report.spec.endpoint}" if report.spec.endpoint else "")
        + ". Only what that tool measured is shown; '-' is a figure it does not record."
    )


def _levels(report: Report) -> list[str]:
    rows = []
    schema = any(lv.schema_valid_rate is not None for r in report.models for lv in r.levels)
    slo = any(lv.slo_met_rate is not None for r in report.models for lv in r.levels)
    reasoning = has_reasoning(report)
    for r in report.models:
        for lv in r.levels:
            valid = lv.schema_valid_rate
            rows.append(
                [
                    r.model,
                    lv.level,
                    str(lv.requests),
                    str(lv.errors),
                    number(lv.request_throughput, 2),
                    number(lv.output_tokens_per_second),
                    millis(lv.ttft_s.p95 if lv.ttft_s else None),
                    *(reasoning_cells(lv) if reasoning else []),
                    millis(lv.itl_s.p50 if lv.itl_s else None),
                    seconds(lv.e2e_s.p95 if lv.e2e_s else None),
                    *([f"{valid:.0%}" if valid is not None else "-"] if schema else []),
                    *(_goodput_cells(lv.slo_met_rate, lv.goodput) if slo else []),
                ]
            )
    if not rows:
        return []
    header = [
        "Model",
        "Level",
        "Requests",
        "Errors",
        "Req/s",
        "Output tok/s",
        "TTFT p95",
        *(REASONING_COLUMNS if reasoning else ()),
        "ITL p50",
        "E2E p95",
        *(["Schema valid"] if schema else []),
        *(["SLO met", "Goodput req/s"] if slo else []),
    ]
    notes = []
    if slo and report.spec.slo:
        notes = [
            f"SLO met: the share of a level's requests (failed ones count as missed) with "
            f"{report.spec.slo}; goodput: those requests per second of the level.",
            "",
        ]
    return ["## Load levels", "", *_table(header, rows), "", *notes]


def _replicas(report: Report) -> list[str]:
    rows = replica_rows(report)
    if not rows:
        return []
    return ["## Replicas", "", *_table(REPLICA_COLUMNS, rows), "", REPLICA_NOTE, ""]


def _server(report: Report) -> list[str]:
    replicas = any(r.server is not None and r.server.replicas for r in report.models)
    rows = []
    for r in report.models:
        if r.server is None:
            continue
        sides = [(r.server, "all (summed per tick)" if r.server.replicas else "-")]
        sides += [(side, side.replica or "-") for side in r.server.replicas or []]
        for side, replica in sides:
            rows.append(
                [
                    r.model,
                    *([replica] if replicas else []),
                    str(side.samples),
                    number(side.peak_waiting, 0),
                    number(side.peak_running, 0),
                    "-" if side.peak_kv_cache_usage is None else f"{side.peak_kv_cache_usage:.0%}",
                ]
            )
    if not rows:
        return []
    header = ["Model", *(["Replica"] if replicas else []), "Scrapes", "Peak waiting"]
    header += ["Peak running", "Peak KV cache use"]
    note = (
        "The endpoint's own /metrics, read every second while each model ran "
        "(server_metrics.jsonl): requests queued and running, and the KV cache's use."
    )
    if replicas:
        note += (
            " With replicas, every one is read at each tick: the 'all' row's peaks are of the "
            "replicas' waiting and running added up per tick, and of the fullest KV cache."
        )
    return ["## The server's side", "", *_table(header, rows), "", note, ""]


def _goodput_cells(rate: float | None, goodput: float | None) -> list[str]:
    return ["-" if rate is None else f"{rate:.0%}", number(goodput, 2)]


def _energy(report: Report) -> list[str]:
    rows = [
        [
            r.model,
            f"{r.energy.joules_per_output_token:.3f}",
            f"{r.energy.cost_per_million_tokens:.4f}",
            r.energy.method,
        ]
        for r in report.models
        if r.energy is not None
    ]
    if not rows:
        return []
    price = next(r.energy.kwh_price for r in report.models if r.energy is not None)
    header = ["Model", "J / output token", f"cost per 1M tokens at {price:g}/kWh", "Method"]
    return ["## Energy and cost (estimates)", "", *_table(header, rows), ""]


def _load(env: Environment | None) -> str:
    return f"{env.load_average[0]:.2f}" if env and env.load_average else "-"


def _threads(model: ModelReport) -> str:
    if model.thread_policy == "adaptive":
        return f"up to {model.threads} (adaptive: fewer while other programs use the cores)"
    return str(model.threads)


def _memory_of(source: str) -> str:
    """'runner process (pid 4242) and its children, every 100 ms' without the pid, which
    differs per model."""
    return re.sub(r" \(pid \d+\)", "", source)


def _environment(report: Report) -> list[str]:
    if report.source is not None:
        return ["## Environment", "", f"- Not recorded by {report.source.tool}.", ""]
    env = report.environment
    gpus = ", ".join(g.name for g in env.gpus) or "none"
    lines = [
        "## Environment",
        "",
        f"- CPU: {env.cpu} ({env.cores_available} cores available, {env.cores_logical} logical)",
        f"- RAM: {format_bytes(env.ram_bytes)}; GPU: {gpus}",
        f"- OS: {env.os}; Python {env.python}; assay {env.assay}; "
        f"llama-cpp-python {env.llama_cpp_python}",
        f"- Load average (1 min): {_load(env)} at start, {_load(report.environment_end)} at end",
    ]
    threads = sorted({_threads(r) for r in report.models if r.threads})
    if threads:
        lines.append(f"- Inference threads: {', '.join(threads)}")
    sources = sorted({_memory_of(r.memory_source) for r in report.models if r.memory_source})
    if sources:
        lines.append(f"- Memory (peak RSS): sampled from {', '.join(sources)}")
    loads = [
        f"{r.model} {r.load_average[0][0]:.2f} → {r.load_average[1][0]:.2f}"
        for r in report.models
        if r.load_average and len(r.load_average) == 2
    ]
    if loads:
        lines.append(f"- Load average (1 min) while each model ran: {'; '.join(loads)}")
    if report.client.saturated:
        lines.append(
            "- **The benchmark client saturated (its own lag passed 1 ms at p95): "
            "treat latency figures as suspect.**"
        )
    return [*lines, ""]
