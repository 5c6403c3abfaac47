"""Means, 95% intervals, n and agreement, on hand-built scores."""

from __future__ import annotations

import dataclasses

import pytest

from assay.quality.aggregate import (
    Agreement,
    SourceStats,
    agreement,
    mean_ci,
    spearman_rho,
    summarize,
    weighted_kappa,
)
from assay.quality.scores import Score, Source


def score(
    model: str, key: int, source: Source, value: float | None, judge: str | None = None
) -> Score:
    return Score(
        run="r",
        model=model,
        prompt_id="p",
        round=0,
        key=f"{model}|sequential|{key}",
        source=source,
        score=value,
        judge=judge,
        rubric_version="v1" if judge else None,
        import_file="/a.csv" if source == "human" else None,
        scored_at="now",
    )


def test_the_interval_is_students_t() -> None:
    # mean 3, s = sqrt(2.5), t(0.975, 4) = 2.776445
    mean, low, high = mean_ci([1, 2, 3, 4, 5])
    assert mean == 3
    assert low == pytest.approx(3 - 2.776445 * 2.5**0.5 / 5**0.5, abs=1e-6)
    assert high == pytest.approx(4.963243, abs=1e-6)
    # two values: t(0.975, 1) = 12.7062
    assert mean_ci([4, 5]) == pytest.approx((4.5, 4.5 - 6.3531, 4.5 + 6.3531), abs=1e-4)


def test_one_value_has_no_interval_and_equal_values_a_zero_width_one() -> None:
    assert mean_ci([]) == (None, None, None)
    assert mean_ci([4]) == (4, None, None)
    assert mean_ci([3, 3, 3]) == (3, 3, 3)


def test_stats_per_model_and_source_with_invalid_judge_replies_apart() -> None:
    scores = [
        score("b", 0, "rules", 5.0),
        score("a", 0, "judge", 2, "j"),
        score("a", 1, "judge", None, "j"),
        score("a", 0, "rules", 1.0),
        score("a", 1, "rules", 3.0),
        score("a", 0, "human", 4),
        score("a", 0, "judge", 5, "other"),
    ]
    stats = summarize(scores, models=["a", "b"])
    rows = [(s.model, s.source, s.n, s.mean, s.invalid) for s in stats]
    assert rows == [
        ("a", "rules", 2, 2.0, 0),
        ("a", "human", 1, 4.0, 0),
        ("a", "judge j (v1)", 1, 2.0, 1),
        ("a", "judge other (v1)", 1, 5.0, 0),
        ("b", "rules", 1, 5.0, 0),
    ]
    first = stats[0]
    # Every field but the interval exactly; the interval (t(0.975, df=1) = 12.7062) to 1e-3.
    assert dataclasses.replace(first, ci_low=None, ci_high=None) == SourceStats(
        "a", "rules", 2, 2.0, None, None
    )
    assert (first.ci_low, first.ci_high) == pytest.approx((2 - 12.7062, 2 + 12.7062), abs=1e-3)


def test_a_judge_with_only_invalid_replies_has_n_0() -> None:
    (row,) = summarize([score("a", 0, "judge", None, "j")])
    assert (row.n, row.mean, row.ci_low, row.invalid) == (0, None, None, 1)


def test_weighted_kappa_by_hand() -> None:
    assert weighted_kappa([1, 2, 3, 4, 5], [1, 2, 3, 4, 5]) == pytest.approx(1.0)
    assert weighted_kappa([1, 2, 3, 4, 5], [5, 4, 3, 2, 1]) == pytest.approx(-1.0)
    # x = 1,2,3  y = 1,3,3: observed weighted disagreement (1/16)/3; expected from the
    # marginals x:{1,2,3} y:{1:1,3:2}: sum over cells of w * px * py
    w = {(a, b): (a - b) ** 2 / 16 for a in range(1, 6) for b in range(1, 6)}
    observed = w[(2, 3)] / 3
    px = {1: 1 / 3, 2: 1 / 3, 3: 1 / 3}
    py = {1: 1 / 3, 3: 2 / 3}
    expected = sum(w[(a, b)] * pa * pb for a, pa in px.items() for b, pb in py.items())
    assert weighted_kappa([1, 2, 3], [1, 3, 3]) == pytest.approx(1 - observed / expected)
    assert weighted_kappa([3, 3], [3, 3]) is None  # no disagreement possible
    assert weighted_kappa([3], [4]) is None


def test_spearman_rho_by_hand() -> None:
    assert spearman_rho([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman_rho([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    # ties take the average rank: x ranks 1.5,1.5,3 ; y ranks 1,2,3
    assert spearman_rho([1, 1, 2], [1, 2, 3]) == pytest.approx(0.8660254)
    assert spearman_rho([2, 2, 2], [1, 2, 3]) is None


def test_agreement_pairs_human_and_judge_scores_of_the_same_outputs() -> None:
    scores = [
        score("a", 0, "human", 1),
        score("a", 1, "human", 3),
        score("a", 2, "human", 5),
        score("a", 3, "human", 2),  # the judge did not score it: no pair
        score("a", 0, "judge", 2, "j"),
        score("a", 1, "judge", 3, "j"),
        score("a", 2, "judge", 4, "j"),
        score("a", 3, "judge", None, "j"),
        score("a", 0, "judge", 5, "lonely"),
        score("a", 0, "rules", 1.0),
    ]
    results = {a.judge: a for a in agreement(scores)}
    j = results["judge j (v1)"]
    assert j.n == 3 and j.spearman == pytest.approx(1.0)
    assert j.kappa == pytest.approx(weighted_kappa([1, 3, 5], [2, 3, 4]))
    assert results["judge lonely (v1)"] == Agreement("judge lonely (v1)", 1, None, None)
    assert agreement([score("a", 0, "judge", 5, "j")]) == []
