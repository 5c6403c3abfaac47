"""Pick a model under the user's constraints: filter, rank by weights, show the Pareto front,
and say why the winner won and what it traded away."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from assay import units
from assay.errors import AssayError
from assay.reports.charts import pareto_front
from assay.reports.model import ModelReport, Report
from assay.units import format_bytes

_UNITS_B = {
    "b": 1,
    "kb": 1e3,
    "mb": 1e6,
    "gb": 1e9,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "": 1,
}


def parse_seconds(text: str) -> float:
    try:
        return units.parse_seconds(text)
    except ValueError as exc:
        raise AssayError(str(exc)) from None


def parse_bytes(text: str) -> int:
    match = re.fullmatch(r"\s*([0-9.]+)\s*([kmg]i?b|b|)\s*", text.lower())
    if not match:
        raise AssayError(f"bad size '{text}'; write e.g. 2GB or 512MB")
    return int(float(match.group(1)) * _UNITS_B[match.group(2)])


@dataclass(frozen=True)
class Criterion:
    name: str
    value: Callable[[ModelReport], float | None]
    higher_is_better: bool
    describe: Callable[[float], str]


def _headline(r: ModelReport, attr: str, stat: str) -> float | None:
    level = r.headline
    stats = getattr(level, attr) if level else None
    return getattr(stats, stat) if stats else None


CRITERIA = {
    "latency": Criterion(
        "latency",
        lambda r: _headline(r, "e2e_s", "mean"),
        False,
        lambda v: f"{v:.2f} s mean latency",
    ),
    "ttft": Criterion(
        "ttft",
        lambda r: _headline(r, "ttft_s", "p50"),
        False,
        lambda v: f"{v * 1000:.0f} ms TTFT p50",
    ),
    "throughput": Criterion(
        "throughput",
        lambda r: _headline(r, "decode_tokens_per_second", "mean"),
        True,
        lambda v: f"{v:.1f} decode tok/s",
    ),
    "memory": Criterion(
        "memory", lambda r: r.peak_rss_bytes, False, lambda v: f"{format_bytes(int(v))} peak memory"
    ),
    "disk": Criterion(
        "disk", lambda r: r.disk_bytes, False, lambda v: f"{format_bytes(int(v))} on disk"
    ),
    "quality": Criterion(
        "quality", lambda r: r.quality_score, True, lambda v: f"quality {v:.2f}/5"
    ),
    # A meeting-notes run's: the task score, and TTFT at a 4k-token transcript.
    "task": Criterion(
        "task",
        lambda r: r.suite.task_score_mean if r.suite else None,
        True,
        lambda v: f"task score {v:.2f}",
    ),
    "ttft_4k": Criterion(
        "ttft_4k",
        lambda r: r.suite.ttft_at_4k_s if r.suite else None,
        False,
        lambda v: f"{v:.2f} s TTFT at 4k tokens",
    ),
}
DEFAULT_WEIGHTS = {
    "latency": 1.0,
    "ttft": 1.0,
    "throughput": 1.0,
    "memory": 1.0,
    "disk": 0.5,
    "quality": 2.0,
    "task": 3.0,
    "ttft_4k": 1.0,
}


def parse_weights(text: str | None) -> dict[str, float]:
    weights = dict(DEFAULT_WEIGHTS)
    for item in (text or "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep or key not in CRITERIA:
            raise AssayError(
                f"bad weight '{item}'; use name=number with name one of {', '.join(CRITERIA)}"
            )
        try:
            weights[key] = float(value)
        except ValueError:
            raise AssayError(f"bad weight '{item}': '{value}' is not a number") from None
    return weights


@dataclass(frozen=True)
class Constraints:
    max_p95_s: float | None = None
    max_ttft_s: float | None = None
    max_memory_bytes: int | None = None
    min_quality: float | None = None
    license: str = "any"
    # A meeting-notes run: the least task score (0-1) and the most TTFT at 4k tokens.
    min_suite_score: float | None = None
    max_ttft_4k_s: float | None = None

    def failures(self, r: ModelReport) -> list[str]:
        out: list[str] = []
        checks: tuple[tuple[float | None, float | None, str, Callable[[float], str], bool], ...] = (
            (
                self.max_p95_s,
                _headline(r, "e2e_s", "p95"),
                "p95 latency",
                lambda v: f"{v:.2f} s",
                False,
            ),
            (
                self.max_ttft_s,
                _headline(r, "ttft_s", "p95"),
                "TTFT p95",
                lambda v: f"{v * 1000:.0f} ms",
                False,
            ),
            (
                self.max_memory_bytes,
                r.peak_rss_bytes,
                "peak memory",
                lambda v: format_bytes(int(v)),
                False,
            ),
            (self.min_quality, r.quality_score, "quality", lambda v: f"{v:.2f}", True),
            (
                self.min_suite_score,
                r.suite.task_score_mean if r.suite else None,
                "task score",
                lambda v: f"{v:.2f}",
                True,
            ),
            (
                self.max_ttft_4k_s,
                r.suite.ttft_at_4k_s if r.suite else None,
                "TTFT at 4k tokens",
                lambda v: f"{v:.2f} s",
                False,
            ),
        )
        for limit, value, label, fmt, at_least in checks:
            if limit is None:
                continue
            if value is None:
                out.append(f"{label} unknown")
            elif (value < limit) if at_least else (value > limit):
                out.append(f"{label} {fmt(value)} {'<' if at_least else '>'} {fmt(limit)}")
        if self.license == "permissive" and r.license_class != "permissive":
            out.append(f"license {r.license} is {r.license_class}, not permissive")
        return out


@dataclass
class Selection:
    ranked: list[tuple[ModelReport, float]]
    rejected: list[tuple[ModelReport, list[str]]]
    pareto: list[str]
    weights: dict[str, float]
    rationale: list[str] = field(default_factory=list)

    @property
    def winner(self) -> ModelReport | None:
        return self.ranked[0][0] if self.ranked else None


def select(report: Report, constraints: Constraints, weights: dict[str, float]) -> Selection:
    usable = [r for r in report.models if r.headline is not None and r.headline.e2e_s is not None]
    passing = [r for r in usable if not constraints.failures(r)]
    rejected = [
        (r, constraints.failures(r) or [f"status {r.status}"])
        for r in report.models
        if r not in passing
    ]
    ranked = sorted(((r, _score(r, passing, weights)) for r in passing), key=lambda x: -x[1])
    selection = Selection(ranked, rejected, _pareto(usable), weights)
    selection.rationale = _rationale(selection, constraints)
    return selection


def _score(r: ModelReport, pool: list[ModelReport], weights: dict[str, float]) -> float:
    """Weighted mean of min-max normalised criteria (1 = best in the pool)."""
    total = weight_sum = 0.0
    for name, criterion in CRITERIA.items():
        weight = weights.get(name, 0.0)
        values = [v for p in pool if (v := criterion.value(p)) is not None]
        mine = criterion.value(r)
        if weight <= 0 or mine is None or not values:
            continue
        low, high = min(values), max(values)
        if high == low:
            goodness = 1.0  # everyone is equally good here
        else:
            norm = (mine - low) / (high - low)
            goodness = norm if criterion.higher_is_better else 1.0 - norm
        total += weight * goodness
        weight_sum += weight
    return total / weight_sum if weight_sum else 0.0


def _pareto(models: list[ModelReport]) -> list[str]:
    """Models no other beats on speed, memory and (when scored) quality at once."""
    have_quality = all(r.quality_score is not None for r in models)
    points: list[tuple[float, ...]] = []
    for r in models:
        speed = -(CRITERIA["latency"].value(r) or 0.0)
        memory = -float(r.peak_rss_bytes or 0)
        points.append((speed, memory, r.quality_score or 0.0) if have_quality else (speed, memory))
    return [models[i].model for i in pareto_front(points)]


def _rationale(selection: Selection, constraints: Constraints) -> list[str]:
    winner = selection.winner
    if winner is None:
        return [
            "No model meets every constraint: "
            + "; ".join(f"{r.model}: {', '.join(reasons)}" for r, reasons in selection.rejected)
        ]
    lines = [f"Recommended: {winner.model} (weighted score {selection.ranked[0][1]:.2f})."]
    met = [
        c
        for c in (
            "max_p95_s",
            "max_ttft_s",
            "max_memory_bytes",
            "min_quality",
            "min_suite_score",
            "max_ttft_4k_s",
        )
        if getattr(constraints, c) is not None
    ]
    if met or constraints.license == "permissive":
        lines.append("It meets every constraint given.")
    if winner.suite is not None:
        lines.append(_suite_figures(winner))
    if len(selection.ranked) > 1:
        runner = selection.ranked[1][0]
        better, worse = _trade(winner, runner)
        if better:
            lines.append(f"Against {runner.model}: " + "; ".join(better) + ".")
        if worse:
            lines.append("Traded away: " + "; ".join(worse) + ".")
    lines.append(f"Licence: {winner.license} ({winner.license_class}).")
    if winner.quality_score is None:
        lines.append("No quality scores in this run: run `assay score` to weigh quality too.")
    return lines


def _suite_figures(r: ModelReport) -> str:
    """The figures of the job the choice is for: a meeting-notes run's."""
    suite = r.suite
    assert suite is not None
    interval = suite.task_score
    score = (
        f"task score {interval.mean:.2f} (95% interval {max(interval.low, 0):.2f}-"
        f"{min(interval.high, 1):.2f}, {interval.n} outputs)"
        if interval
        else f"task score {suite.task_score_mean}"
    )
    parts = [score]
    if suite.decision_recall is not None and suite.action_recall is not None:
        parts.append(
            f"decisions found {suite.decision_recall:.0%}, action items {suite.action_recall:.0%}"
        )
    if suite.invented_people_rate is not None:
        parts.append(f"invented people in {suite.invented_people_rate:.0%} of outputs")
    if suite.ttft_at_4k_s is not None:
        parts.append(f"TTFT at 4k tokens {suite.ttft_at_4k_s:.2f} s")
    if r.peak_rss_bytes:
        parts.append(f"peak memory {format_bytes(r.peak_rss_bytes)}")
    if suite.not_fit:
        parts.append(f"{suite.not_fit} transcripts did not fit its context")
    return "On the meeting-notes suite: " + "; ".join(parts) + "."


def _trade(a: ModelReport, b: ModelReport) -> tuple[list[str], list[str]]:
    better: list[str] = []
    worse: list[str] = []
    for criterion in CRITERIA.values():
        va, vb = criterion.value(a), criterion.value(b)
        if va is None or vb is None or va == vb:
            continue
        a_wins = va > vb if criterion.higher_is_better else va < vb
        text = f"{criterion.describe(va)} vs {criterion.describe(vb)}"
        (better if a_wins else worse).append(text)
    return better, worse


def render_selection(selection: Selection) -> str:
    lines = [
        "# Recommendation",
        "",
        *selection.rationale,
        "",
        "|Rank|Model|Score|",
        "|---|---|---|",
    ]
    lines += [f"|{i + 1}|{r.model}|{score:.2f}|" for i, (r, score) in enumerate(selection.ranked)]
    if selection.rejected:
        lines += [
            "",
            "Filtered out:",
            *[f"- {r.model}: {', '.join(reasons)}" for r, reasons in selection.rejected],
        ]
    lines += [
        "",
        "Pareto front (faster, smaller in memory, better quality when scored): "
        + ", ".join(selection.pareto),
    ]
    weights = ", ".join(f"{k}={v:g}" for k, v in selection.weights.items())
    lines += [f"Weights: {weights}."]
    return "\n".join(lines) + "\n"
