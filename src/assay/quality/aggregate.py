"""Per model and source: mean score, its 95% confidence interval and n; and how well the
judge agrees with people on the outputs both scored.

The interval is Student's t: mean +/- t(0.975, n-1) * s / sqrt(n), with s the sample
standard deviation. With the few outputs of a bench run a bootstrap interval comes out too
narrow; the t interval is the conservative choice. One score has no interval; scores that
are all equal have a zero-width one. Invalid judge replies are counted apart, never averaged.

Agreement pairs each human score with the judge's score of the same output: Spearman's rho
(rank correlation) and Cohen's kappa with quadratic weights over the categories 1-5.
Either is None where it is undefined (fewer than two pairs, or a constant rater).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from assay.quality.scores import Score

SourceKind = Literal["rules", "human", "judge"]

CONFIDENCE = 0.95


@dataclass(frozen=True)
class SourceStats:
    model: str
    source: str
    n: int
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    invalid: int = 0
    # What produced the scores, apart from the label (which names a judge and its rubric).
    kind: SourceKind = "rules"


@dataclass(frozen=True)
class Agreement:
    judge: str
    n: int
    spearman: float | None
    kappa: float | None


def source_label(score: Score) -> str:
    """ "rules", "human", or the judge with its rubric version (judges are never pooled)."""
    if score.source == "judge":
        return f"judge {score.judge} ({score.rubric_version})"
    return score.source


def mean_ci(values: Sequence[float]) -> tuple[float | None, float | None, float | None]:
    """The mean and its two-sided 95% Student's t interval."""
    n = len(values)
    if n == 0:
        return None, None, None
    mean = math.fsum(values) / n
    if n == 1:
        return mean, None, None
    from scipy.stats import t

    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def summarize(scores: Sequence[Score], models: Sequence[str] = ()) -> list[SourceStats]:
    """One row per model and source: the models in `models` order first, sources in the
    order rules, human, judges."""
    groups: dict[tuple[str, str], list[Score]] = {}
    for score in scores:
        groups.setdefault((score.model, source_label(score)), []).append(score)
    order = {model: i for i, model in enumerate(models)}

    def rank(key: tuple[str, str]) -> tuple[int, str, int, str]:
        model, source = key
        kind = {"rules": 0, "human": 1}.get(source, 2)
        return order.get(model, len(order)), model, kind, source

    stats = []
    for key in sorted(groups, key=rank):
        rows = groups[key]
        values = [row.score for row in rows if row.score is not None]
        mean, low, high = mean_ci(values)
        invalid = len(rows) - len(values)
        kind = rows[0].source
        stats.append(SourceStats(*key, len(values), mean, low, high, invalid, kind))
    return stats


def agreement(scores: Sequence[Score]) -> list[Agreement]:
    """For each judge, its agreement with the human scores of the same outputs."""
    judged: dict[str, dict[str, float]] = {}
    for score in scores:
        if score.source == "judge" and score.score is not None:
            judged.setdefault(source_label(score), {})[score.ref] = score.score
    human = [(s.ref, s.score) for s in scores if s.source == "human" and s.score is not None]
    results = []
    for judge, by_ref in judged.items():
        pairs = [(float(value), by_ref[ref]) for ref, value in human if ref in by_ref]
        if not pairs:
            continue
        x, y = [p[0] for p in pairs], [p[1] for p in pairs]
        results.append(Agreement(judge, len(pairs), spearman_rho(x, y), weighted_kappa(x, y)))
    return results


def spearman_rho(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation (ties take their average rank)."""
    if len(x) < 2 or len(set(x)) < 2 or len(set(y)) < 2:
        return None
    import numpy as np
    from scipy.stats import rankdata

    return float(np.corrcoef(rankdata(x), rankdata(y))[0, 1])


def weighted_kappa(
    x: Sequence[float], y: Sequence[float], categories: Sequence[int] = (1, 2, 3, 4, 5)
) -> float | None:
    """Cohen's kappa with quadratic weights: 1 - sum(w*observed) / sum(w*expected)."""
    if len(x) < 2:
        return None
    import numpy as np

    k = len(categories)
    index = {c: i for i, c in enumerate(categories)}
    observed = np.zeros((k, k))
    for a, b in zip(x, y, strict=True):
        observed[index[round(a)], index[round(b)]] += 1
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / len(x)
    i, j = np.indices((k, k))
    weights = (i - j) ** 2 / (k - 1) ** 2
    disagreement = float((weights * expected).sum())
    if disagreement == 0:
        return None
    return 1.0 - float((weights * observed).sum()) / disagreement
