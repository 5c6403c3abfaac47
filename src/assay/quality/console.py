"""The console tables of `assay score`: scores per model and source, agreement, pairwise."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from assay.quality.aggregate import Agreement, SourceStats
from assay.quality.pairwise import PairwiseTally


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def scores_table(stats: Sequence[SourceStats]) -> Table:
    table = Table(title="assay score (1-5)", show_edge=False)
    for column in ("Model", "Source", "Mean", "95% CI", "n", "Invalid"):
        table.add_column(column, justify="left" if column in ("Model", "Source") else "right")
    for row in stats:
        ci = "-" if row.ci_low is None else f"{row.ci_low:.2f}-{row.ci_high:.2f}"
        table.add_row(row.model, row.source, _num(row.mean), ci, str(row.n), str(row.invalid or ""))
    return table


def agreement_table(agreements: Sequence[Agreement]) -> Table:
    table = Table(title="human-judge agreement", show_edge=False)
    for column in ("Judge", "Pairs", "Spearman rho", "Weighted kappa"):
        table.add_column(column, justify="left" if column == "Judge" else "right")
    for row in agreements:
        table.add_row(row.judge, str(row.n), _num(row.spearman), _num(row.kappa))
    return table


def pairwise_table(tallies: Sequence[PairwiseTally]) -> Table:
    table = Table(title="pairwise (a win needs both orders to agree)", show_edge=False)
    columns = ("Judge", "A", "B", "A wins", "B wins", "Ties", "Inconsistent", "Invalid")
    for column in columns:
        table.add_column(column, justify="left" if column in columns[:3] else "right")
    for t in tallies:
        table.add_row(
            f"{t.judge} ({t.rubric_version})",
            t.model_a,
            t.model_b,
            str(t.a_wins),
            str(t.b_wins),
            str(t.ties),
            str(t.inconsistent),
            str(t.invalid),
        )
    return table
