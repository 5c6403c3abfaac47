"""Run-to-run comparison: per model and metric, the change and whether it is beyond noise.

Noise is judged on the per-request values inside each run with a two-sided Mann-Whitney U
test (no assumption of normal latencies); a change is a regression when it goes the wrong
way, is larger than the threshold, and p < alpha. When both runs repeated the level
(`--repeat`), the samples are the repeats instead: each repeat's median, compared with
Welch's t-test, so the verdict holds run-to-run variation (a model loaded again, another
moment of the machine), which requests inside one run cannot show.

A report imported from another tool's export has no per-request values, only each level's
statistics: against one, the medians come from those (the p50s) and nothing can be tested,
so a change the wrong way beyond the threshold is a regression, marked untested.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import mannwhitneyu, ttest_ind

from assay.bench import metrics as m
from assay.bench.records import RequestRecord
from assay.bench.rundir import RunDir
from assay.bench.spec import base_level, repeat_of
from assay.bench.summary import LevelSummary, latest_attempt
from assay.reports.model import Report

Metric = tuple[str, Callable[[RequestRecord], float | None], bool]

# (name, per-request value, higher is better)
METRICS: tuple[Metric, ...] = (
    ("e2e_s", m.e2e, False),
    ("ttft_s", m.ttft, False),
    ("tpot_s", m.tpot, False),
    ("decode_tok_s", m.decode_tokens_per_second, True),
    ("total_tok_s", m.total_tokens_per_second, True),
)


@dataclass(frozen=True)
class Change:
    model: str
    level: str
    metric: str
    median_a: float
    median_b: float
    change: float
    p_value: float | None
    worse: bool
    significant: bool
    regression: bool
    # False when a side had no per-request values (an imported report): no test was possible.
    tested: bool = True
    # "requests": per-request values (Mann-Whitney U); "repeats": per-repeat medians (Welch).
    samples: str = "requests"


def _values(
    records: list[RequestRecord], model: str, level: str, fn: Callable[..., float | None]
) -> dict[int, list[float]]:
    """The metric's per-request values of one model and level, by repeat."""
    out: dict[int, list[float]] = {}
    for r in records:
        if r.model == model and base_level(r.level) == level and r.ok and not r.warmup:
            value = fn(r)
            if value is not None:
                out.setdefault(repeat_of(r.level), []).append(value)
    return out


def compare_runs(
    path_a: RunDir, path_b: RunDir, threshold: float = 0.05, alpha: float = 0.05
) -> list[Change]:
    a, b = latest_attempt(path_a.records()), latest_attempt(path_b.records())
    pairs = sorted(
        {(r.model, base_level(r.level)) for r in a if not r.warmup}
        & {(r.model, base_level(r.level)) for r in b if not r.warmup}
    )
    changes = []
    for model, level in pairs:
        for name, fn, higher_better in METRICS:
            va, vb = _values(a, model, level, fn), _values(b, model, level, fn)
            if not va or not vb:
                continue
            changes.append(_change(model, level, name, va, vb, higher_better, threshold, alpha))
    return changes


def _change(
    model: str,
    level: str,
    name: str,
    va: dict[int, list[float]],
    vb: dict[int, list[float]],
    higher_better: bool,
    threshold: float,
    alpha: float,
) -> Change:
    pooled_a = [v for values in va.values() for v in values]
    pooled_b = [v for values in vb.values() for v in values]
    median_a, median_b = float(np.median(pooled_a)), float(np.median(pooled_b))
    change = (median_b - median_a) / median_a if median_a else 0.0
    p_value = None
    samples = "requests"
    if len(va) >= 2 and len(vb) >= 2:  # both repeated: one sample per repeat
        samples = "repeats"
        ra = [float(np.median(v)) for v in va.values()]
        rb = [float(np.median(v)) for v in vb.values()]
        if len(set(ra)) > 1 or len(set(rb)) > 1:
            p_value = float(ttest_ind(ra, rb, equal_var=False).pvalue)
    elif (
        len(pooled_a) >= 2
        and len(pooled_b) >= 2
        and (len(set(pooled_a)) > 1 or len(set(pooled_b)) > 1)
    ):
        p_value = float(mannwhitneyu(pooled_a, pooled_b, alternative="two-sided").pvalue)
    worse = change < 0 if higher_better else change > 0
    significant = p_value is not None and p_value < alpha
    regression = worse and abs(change) > threshold and significant
    return Change(
        model,
        level,
        name,
        median_a,
        median_b,
        change,
        p_value,
        worse,
        significant,
        regression,
        samples=samples,
    )


# (name, the level's statistics, higher is better): METRICS, read from a report's levels.
SUMMARY_METRICS: tuple[tuple[str, str, bool], ...] = (
    ("e2e_s", "e2e_s", False),
    ("ttft_s", "ttft_s", False),
    ("tpot_s", "tpot_s", False),
    ("decode_tok_s", "decode_tokens_per_second", True),
    ("total_tok_s", "total_tokens_per_second", True),
)


def compare_reports(a: Report, b: Report, threshold: float = 0.05) -> list[Change]:
    """Per model, level and metric in both reports: the change of the medians (the levels'
    p50s); untested, for want of per-request values."""
    changes = []
    for model_a in a.models:
        model_b = b.model(model_a.model)
        if model_b is None:
            continue
        for level_a in model_a.levels:
            level_b = model_b.level(level_a.level)
            if level_b is not None:
                changes += _summary_changes(model_a.model, level_a, level_b, threshold)
    return changes


def _summary_changes(
    model: str, a: LevelSummary, b: LevelSummary, threshold: float
) -> list[Change]:
    changes = []
    for name, attr, higher_better in SUMMARY_METRICS:
        stats_a, stats_b = getattr(a, attr), getattr(b, attr)
        if stats_a is None or stats_b is None:
            continue
        median_a, median_b = stats_a.p50, stats_b.p50
        change = (median_b - median_a) / median_a if median_a else 0.0
        worse = change < 0 if higher_better else change > 0
        regression = worse and abs(change) > threshold
        changes.append(
            Change(
                model,
                a.level,
                name,
                median_a,
                median_b,
                change,
                None,
                worse,
                False,
                regression,
                tested=False,
            )
        )
    return changes


def _verdict(c: Change, threshold: float) -> str:
    if not c.tested:
        beyond = abs(c.change) > threshold
        word = "**regression**" if c.regression else "improvement" if beyond else "small change"
        return f"{word} (untested)"
    if c.regression:
        return "**regression**"
    if c.significant and not c.worse and abs(c.change) > threshold:
        return "improvement"
    return "within noise" if not c.significant else "small change"


def render_comparison(changes: list[Change], run_a: str, run_b: str, threshold: float) -> str:
    lines = [
        f"# Comparison: {run_b} against {run_a}",
        "",
        f"Medians of per-request values; change = (B - A) / A. A regression goes the wrong way by "
        f"more than {threshold:.0%} with p < 0.05: two-sided Mann-Whitney U on the requests, "
        "or, where both runs repeated the level, Welch's t-test on the repeats' medians.",
        "",
        "|Model|Level|Metric|A|B|Change|p|Samples|Verdict|",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in changes:
        p = "-" if c.p_value is None else f"{c.p_value:.3g}"
        lines.append(
            f"|{c.model}|{c.level}|{c.metric}|{c.median_a:.4g}|{c.median_b:.4g}|"
            f"{c.change:+.1%}|{p}|{c.samples if c.tested else '-'}|{_verdict(c, threshold)}|"
        )
    if not changes:
        lines.append("|-|-|-|-|-|-|-|-|no model and level in common|")
    if any(not c.tested for c in changes):
        lines += [
            "",
            "Untested: an imported report has no per-request values, so its medians are the "
            "levels' p50s and nothing separates a change from noise; a change the wrong way "
            f"beyond {threshold:.0%} counts as a regression.",
        ]
    regressions = [c for c in changes if c.regression]
    lines += ["", f"{len(regressions)} significant regression(s)."]
    return "\n".join(lines) + "\n"
