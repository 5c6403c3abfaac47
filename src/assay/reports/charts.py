"""Charts as inline SVG (matplotlib, imported only here): a report needs no network."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

from assay.reports.model import ModelReport, Report


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "assay", "font.size": 9})
    import matplotlib.pyplot as plt

    return plt


def _svg(fig: Any) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    _pyplot().close(fig)
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    # The RDF metadata block carries a date and schema URLs: keep the page offline and stable.
    return re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)


def pareto_front(points: Sequence[tuple[float, ...]]) -> list[int]:
    """Indices of the points that no other point dominates (every coordinate: higher is
    better; dominated = another point at least as good everywhere and better somewhere)."""

    def dominates(q: tuple[float, ...], p: tuple[float, ...]) -> bool:
        return all(a >= b for a, b in zip(q, p, strict=True)) and q != p

    return [i for i, p in enumerate(points) if not any(dominates(q, p) for q in points)]


def latency_distribution(report: Report) -> str | None:
    models = [r for r in report.models if r.e2e_samples_s]
    if not models:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 0.6 + 0.5 * len(models)))
    ax.boxplot([r.e2e_samples_s for r in models], orientation="horizontal", showmeans=True)
    ax.set_yticks(range(1, len(models) + 1), [r.model for r in models])
    ax.set_xlabel("end-to-end latency per request (s)")
    ax.set_title("Latency distribution")
    return _svg(fig)


def ttft_vs_decode(report: Report) -> str | None:
    rows = [
        (r.model, r.headline.ttft_s.p50, r.headline.decode_tokens_per_second.mean)
        for r in report.models
        if r.headline and r.headline.ttft_s and r.headline.decode_tokens_per_second
    ]
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for name, ttft, decode in rows:
        ax.scatter(ttft * 1000, decode)
        ax.annotate(name, (ttft * 1000, decode), textcoords="offset points", xytext=(5, 4))
    ax.set_xlabel("TTFT p50 (ms)")
    ax.set_ylabel("decode tok/s")
    ax.set_title("First token vs decode speed (up and left is better)")
    return _svg(fig)


def concurrency_curves(report: Report) -> str | None:
    series = {
        r.model: sorted(
            (lv.concurrency, lv.output_tokens_per_second, lv.e2e_s.p95)
            for lv in r.levels
            if lv.kind == "concurrency" and lv.e2e_s
        )
        for r in report.models
    }
    series = {k: v for k, v in series.items() if len(v) > 1}
    if not series:
        return None
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.4, 3.4))
    for name, points in series.items():
        xs = [p[0] for p in points]
        left.plot(xs, [p[1] or 0 for p in points], marker="o", label=name)
        right.plot(xs, [p[2] for p in points], marker="o", label=name)
    left.set(xlabel="concurrency", ylabel="output tok/s", title="Throughput")
    right.set(xlabel="concurrency", ylabel="E2E p95 (s)", title="p95 latency")
    left.legend()
    return _svg(fig)


def quality_vs_speed(report: Report) -> str | None:
    rows: list[tuple[ModelReport, float, float]] = [
        (r, r.headline.decode_tokens_per_second.mean, r.quality_score)
        for r in report.models
        if r.quality_score is not None and r.headline and r.headline.decode_tokens_per_second
    ]
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    front = set(pareto_front([(speed, quality) for _, speed, quality in rows]))
    for i, (r, speed, quality) in enumerate(rows):
        marker = "*" if i in front else "o"
        ax.scatter(speed, quality, marker=marker, s=140 if i in front else 40)
        ax.annotate(r.model, (speed, quality), textcoords="offset points", xytext=(5, 4))
    ax.set_xlabel("decode tok/s")
    ax.set_ylabel("quality (1-5)")
    ax.set_title("Quality vs speed (stars: Pareto front)")
    return _svg(fig)


def memory_and_disk(report: Report) -> str | None:
    models = [r for r in report.models if r.peak_rss_bytes or r.disk_bytes]
    if not models:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 0.8 + 0.5 * len(models)))
    ys = range(len(models))
    ax.barh(
        [y - 0.2 for y in ys],
        [(r.peak_rss_bytes or 0) / 1e6 for r in models],
        height=0.4,
        label="peak RSS",
    )
    ax.barh(
        [y + 0.2 for y in ys], [(r.disk_bytes or 0) / 1e6 for r in models], height=0.4, label="disk"
    )
    ax.set_yticks(list(ys), [r.model for r in models])
    ax.set_xlabel("MB")
    ax.set_title("Memory and disk")
    ax.legend()
    return _svg(fig)


def sweep_curves(report: Report) -> str | None:
    """Per model: the share of requests meeting the SLOs and the goodput at each offered
    rate of a sweep, with the target's line."""
    swept = [r for r in report.models if r.sweep and r.sweep.points]
    if not swept:
        return None
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.4, 3.4))
    target = None
    for r in swept:
        assert r.sweep is not None
        target = r.sweep.target
        rates = [p.rate for p in r.sweep.points]
        left.plot(rates, [(p.slo_met_rate or 0) * 100 for p in r.sweep.points], marker="o",
                  label=r.model)  # fmt: skip
        right.plot(rates, [p.goodput or 0 for p in r.sweep.points], marker="o", label=r.model)
        if r.sweep.best_rate is not None:
            left.axvline(r.sweep.best_rate, linestyle=":", linewidth=1)
    if target is not None:
        left.axhline(target * 100, color="grey", linestyle="--", linewidth=1, label="target")
    left.set(xlabel="offered rate (req/s)", ylabel="requests meeting the SLOs (%)",
             title="SLO attainment")  # fmt: skip
    right.set(xlabel="offered rate (req/s)", ylabel="goodput (req/s)", title="Goodput")
    left.legend()
    return _svg(fig)


def task_score_vs_ttft(report: Report) -> str | None:
    """Task score against TTFT at the longest transcripts each model ran, Pareto front
    starred (a higher score and a lower TTFT are better)."""
    rows = []
    for r in report.models:
        if r.suite is None or r.suite.task_score_mean is None or not r.suite.buckets:
            continue
        last = r.suite.buckets[-1]
        rows.append((r.model, last.bucket, last.ttft_mean_s, r.suite.task_score_mean))
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    front = set(pareto_front([(-ttft, score) for _, _, ttft, score in rows]))
    for i, (name, bucket, ttft, score) in enumerate(rows):
        ax.scatter(ttft, score, marker="*" if i in front else "o", s=140 if i in front else 40)
        ax.annotate(f"{name} ({bucket})", (ttft, score), textcoords="offset points",
                    xytext=(5, 4))  # fmt: skip
    ax.set_xlabel("TTFT at the longest transcripts run (s)")
    ax.set_ylabel("task score (0-1)")
    ax.set_title("Meeting notes: task score vs TTFT (stars: Pareto front)")
    return _svg(fig)


def ttft_vs_length(report: Report) -> str | None:
    series = [
        (r.model, [(b.prompt_tokens_mean, b.ttft_mean_s) for b in r.suite.buckets])
        for r in report.models
        if r.suite is not None and r.suite.buckets
    ]
    if not series:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for name, points in series:
        ax.plot([p for p, _ in points], [t for _, t in points], marker="o", label=name)
    ax.set_xlabel("prompt tokens (bucket mean)")
    ax.set_ylabel("TTFT mean (s)")
    ax.set_title("Meeting notes: TTFT vs transcript length")
    ax.legend()
    return _svg(fig)


def all_charts(report: Report) -> list[tuple[str, str]]:
    """(title, svg) for every chart the run has data for."""
    makers = (
        ("Latency distribution", latency_distribution),
        ("TTFT vs decode speed", ttft_vs_decode),
        ("Throughput and p95 vs concurrency", concurrency_curves),
        ("Quality vs speed", quality_vs_speed),
        ("Memory and disk", memory_and_disk),
        ("Sweep: SLO attainment and goodput vs rate", sweep_curves),
        ("Meeting notes: task score vs TTFT", task_score_vs_ttft),
        ("Meeting notes: TTFT vs transcript length", ttft_vs_length),
    )
    return [(title, svg) for title, make in makers if (svg := make(report)) is not None]
