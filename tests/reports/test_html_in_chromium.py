"""The HTML report in a real headless Chromium: loads cleanly, charts present, a screenshot."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.catalog.loader import load_builtin
from assay.reports.model import build_report
from assay.reports.render import write_report
from tests.reports.browser import chromium_path, load_page, save_artifact
from tests.reports.conftest import RunFactory, make_record, ok_state, score_row

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        chromium_path() is None, reason="needs Debian's chromium (.ci/run installs it)"
    ),
]


def test_the_html_report_loads_without_errors_and_shows_its_charts(
    run_factory: RunFactory, tmp_path: Path
) -> None:
    records = []
    for c in (1, 2, 4):
        records += [
            make_record("smollm2-135m", 100 * c + i, 400 * c + 15 * i, 100 * c, level=f"c{c}")
            for i in range(8)
        ]
        records += [
            make_record(
                "gemma3-270m", 100 * c + i, 900 * c + 25 * i, 40 * c, tokens=30, level=f"c{c}"
            )
            for i in range(8)
        ]
    scores = [
        score_row(m, s, index=i)
        for i, (m, s) in enumerate(
            (("smollm2-135m", 3), ("smollm2-135m", 4), ("gemma3-270m", 2), ("gemma3-270m", 3))
        )
    ]
    run = run_factory(
        {"smollm2-135m": ok_state(), "gemma3-270m": ok_state(500_000_000)},
        records,
        scores=scores,
        concurrency=[1, 2, 4],
    )
    (html,) = write_report(build_report(run, load_builtin()), ["html"], tmp_path)
    page = load_page(
        html.as_uri(),
        {
            "charts": "document.querySelectorAll('figure.chart svg').length",
            "rows": "document.querySelectorAll('#headline tbody tr').length",
            "title": "document.title",
            "external": "[...document.querySelectorAll('[src],[href]')]"
            ".filter(e => /^https?:/.test(e.getAttribute('src') || e.getAttribute('href')))"
            ".length",
        },
    )
    artifact = save_artifact(page.screenshot, "benchmark_report.png")
    assert page.errors == [], page.errors
    assert page.values["charts"] >= 5, (
        page.values
    )  # latency, TTFT/decode, concurrency, quality, memory
    assert page.values["rows"] == 2
    assert page.values["title"] == "assay: hand"
    assert page.values["external"] == 0
    assert artifact.stat().st_size > 10_000
