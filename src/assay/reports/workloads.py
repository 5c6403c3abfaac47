"""The report's sections for richer workloads: synthetic lengths and held outputs, turns of
a conversation, intervals across repeats, and a sweep's highest rate under the SLOs."""

from __future__ import annotations

from collections.abc import Callable

from assay.bench.metrics import Interval, Stats
from assay.reports.model import Report
from assay.units import format_millis as millis
from assay.units import format_number as number

Table = Callable[[list[str], list[list[str]]], list[str]]


def workload_sections(report: Report, table: Table) -> list[str]:
    """Markdown lines for each section the run has data for (none for a plain run)."""
    return (
        _lengths(report, table) + _turns(report, table) + _repeats(report, table)
        + _sweep(report, table)
    )  # fmt: skip


def _mean(stats: Stats | None, digits: int = 0) -> str:
    return number(stats.mean, digits) if stats else "-"


def _lengths(report: Report, table: Table) -> list[str]:
    rows = [
        [
            r.model,
            lv.level,
            r.token_counter or "-",
            _mean(lv.input_tokens),
            _mean(lv.prompt_tokens),
            _mean(lv.completion_tokens),
            "-" if lv.output_held_rate is None else f"{lv.output_held_rate:.0%}",
        ]
        for r in report.models
        for lv in r.levels
        if lv.input_tokens is not None or lv.output_held_rate is not None
    ]
    if not rows:
        return []
    header = ["Model", "Level", "Counted by", "Input tokens", "Prompt tokens", "Output tokens",
              "Length held"]  # fmt: skip
    note = (
        "Input tokens: the synthetic text's length under the tokenizer named (the engine's, "
        "the server's /tokenize, or approximate); prompt tokens add the chat template's. "
        "Length held: the share of answers with exactly the output tokens asked for "
        "(min_tokens/ignore_eos where the target honours them)."
    )
    return ["## Input and output lengths", "", *table(header, rows), "", note, ""]


def _turns(report: Report, table: Table) -> list[str]:
    rows = [
        [
            r.model,
            lv.level,
            str(t.turn + 1),
            str(t.requests),
            millis(t.ttft_s.mean if t.ttft_s else None),
            millis(t.ttft_s.p95 if t.ttft_s else None),
            _mean(t.prompt_tokens),
            _mean(t.cached_tokens),
        ]
        for r in report.models
        for lv in r.levels
        for t in lv.turns or []
    ]
    if not rows:
        return []
    header = ["Model", "Level", "Turn", "Requests", "TTFT mean", "TTFT p95", "Prompt tokens",
              "Cached tokens"]  # fmt: skip
    note = (
        "Each turn sends the conversation so far; cached tokens are those the server said "
        "its prompt cache served (- where it does not say)."
    )
    return ["## Turns", "", *table(header, rows), "", note, ""]


def _ci(interval: Interval | None, scale: float = 1.0, digits: int = 1) -> str:
    if interval is None:
        return "-"
    mean, half = interval.mean * scale, interval.half_width * scale
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def _repeats(report: Report, table: Table) -> list[str]:
    rows = []
    for r in report.models:
        for lv in r.levels:
            rep = lv.repeats
            if rep is None:
                continue
            rows.append(
                [
                    r.model,
                    lv.level,
                    str(rep.repeats),
                    _ci(rep.ttft_mean_s, 1000),
                    _ci(rep.ttft_p95_s, 1000),
                    _ci(rep.e2e_p95_s, 1, 3),
                    _ci(rep.decode_tokens_per_second),
                    _ci(rep.request_throughput, 1, 3),
                    _ci(rep.output_tokens_per_second),
                ]
            )
    if not rows:
        return []
    header = ["Model", "Level", "Repeats", "TTFT mean ms", "TTFT p95 ms", "E2E p95 s",
              "Decode tok/s", "Req/s", "Output tok/s"]  # fmt: skip
    note = (
        "Mean across repeats ± the half-width of its 95% interval (Student's t): each repeat "
        "loaded the model again and ran the whole plan, the models taking turns."
    )
    return ["## Across repeats", "", *table(header, rows), "", note, ""]


def _sweep(report: Report, table: Table) -> list[str]:
    lines: list[str] = []
    for r in report.models:
        sweep = r.sweep
        if sweep is None:
            continue
        rows = [
            [
                p.level,
                number(p.rate, 2),
                number(p.request_throughput, 2),
                "-" if p.slo_met_rate is None else f"{p.slo_met_rate:.0%}",
                number(p.goodput, 2),
                millis(p.ttft_p95_s),
            ]
            for p in sweep.points
        ]
        best = (
            f"**{sweep.best_rate:.2f} req/s**"
            if sweep.best_rate is not None
            else "**none** (even the lowest rate missed it)"
        )
        lines += [
            f"### {r.model}",
            "",
            f"Throughput level: {number(sweep.max_rate, 2)} req/s. Highest rate with at least "
            f"{sweep.target:.0%} of requests meeting the SLOs: {best}.",
            "",
            *table(
                ["Level", "Rate req/s", "Achieved req/s", "SLO met", "Goodput", "TTFT p95"], rows
            ),
            "",
        ]
    if not lines:
        return []
    slo = report.spec.slo or "the SLOs"
    return ["## Sweep", "", f"Objectives: {slo}.", "", *lines]
