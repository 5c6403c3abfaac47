"""The HTML report in a real headless Chromium, at a desktop's width and a phone's: loads
cleanly, charts at the page's width, figures that never wrap, the details as HTML (not
Markdown); and the Markdown subset that html_sections.py reads, without a browser."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from assay.catalog.loader import load_builtin
from assay.reports.html import fluid_svg, render_html
from assay.reports.html_sections import (
    Bullets,
    Heading,
    Paragraph,
    Table,
    inline,
    is_figure,
    parse_markdown,
)
from assay.reports.model import Report, build_report
from assay.reports.render import write_report
from tests.reports.browser import chromium_path, load_page, save_artifact
from tests.reports.conftest import RunFactory, make_record, ok_state, score_row

needs_chromium = pytest.mark.skipif(
    chromium_path() is None, reason="needs Debian's chromium (.ci/run installs it)"
)

# One expression measuring the laid-out page. A figure is what html_sections.is_figure
# calls one: a number (with its unit, share or interval) or '-'. A cell's lines are the
# distinct tops of its text's line boxes.
LAYOUT = r"""(() => {
  const body = document.body, style = getComputedStyle(body);
  const content = body.clientWidth - parseFloat(style.paddingLeft)
    - parseFloat(style.paddingRight);
  const isFigure = (t) => ['', '-'].includes(t)
    || (/^[-+]?\.?\d/.test(t) && !/[A-Za-z]{6,}/.test(t));
  const lines = (cell) => {
    const tops = [], walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    const half = parseFloat(getComputedStyle(cell).lineHeight) / 2;
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const range = document.createRange();
      range.selectNodeContents(node);
      for (const r of range.getClientRects()) {
        if (r.width > 0 && !tops.some(t => Math.abs(t - r.top) < half)) tops.push(r.top);
      }
    }
    return tops.length;
  };
  const figures = [...document.querySelectorAll('td')]
    .filter(td => isFigure(td.textContent.trim()));
  const text = body.innerText;
  return {
    content: content,
    charts: [...document.querySelectorAll('figure.chart svg')]
      .map(s => s.getBoundingClientRect().width),
    figures: figures.length,
    wrapped: figures.filter(td => lines(td) > 1).map(td => td.textContent),
    overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    scrolling: [...document.querySelectorAll('.table-wrap')]
      .filter(w => w.scrollWidth > w.clientWidth).length,
    unwrapped: [...document.querySelectorAll('table')]
      .filter(t => !t.parentElement.classList.contains('table-wrap')).length,
    markdown: [/\|\s*:?-{3,}/, /\*\*/, /^#+ /m, /`/].filter(re => re.test(text)).map(String),
    pre: document.querySelectorAll('pre').length,
    scripts: document.scripts.length,
    sections: [...document.querySelectorAll('h2')].map(h => h.textContent),
    tables: document.querySelectorAll('table').length,
    environment: document.querySelectorAll('ul li').length,
  };
})()"""

EXPRESSIONS = {
    "layout": LAYOUT,
    "rows": "document.querySelectorAll('#headline tbody tr').length",
    "title": "document.title",
    "external": "[...document.querySelectorAll('[src],[href]')]"
    ".filter(e => /^https?:/.test(e.getAttribute('src') || e.getAttribute('href')))"
    ".length",
}


def _report(run_factory: RunFactory) -> Report:
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
    return build_report(run, load_builtin())


def _check_layout(layout: dict[str, Any], width: int) -> None:
    content = layout["content"]
    assert len(layout["charts"]) >= 5, layout  # latency, TTFT/decode, concurrency, quality, memory
    for chart in layout["charts"]:  # each on its own row, as wide as the text
        assert chart == pytest.approx(content, rel=0.02), (width, content, layout["charts"])
    assert layout["figures"] >= 40, layout
    assert layout["wrapped"] == [], (width, layout["wrapped"])
    assert layout["overflow"] <= 0, (width, layout)  # wide tables scroll in their own box
    assert layout["unwrapped"] == 0, layout
    assert layout["markdown"] == [] and layout["pre"] == 0, layout
    assert layout["scripts"] == 0, layout


@pytest.mark.parametrize(("width", "name"), [(1280, "desktop"), (420, "phone")])
@pytest.mark.slow
@needs_chromium
def test_the_html_report_in_chromium_charts_at_the_page_width_and_figures_unwrapped(
    run_factory: RunFactory, tmp_path: Path, width: int, name: str
) -> None:
    (html,) = write_report(_report(run_factory), ["html"], tmp_path)
    page = load_page(html.as_uri(), EXPRESSIONS, width=width)
    suffix = "" if name == "desktop" else f"_{name}"
    artifact = save_artifact(page.screenshot, f"benchmark_report{suffix}.png")
    assert page.errors == [], page.errors
    layout = page.values["layout"]
    _check_layout(layout, width)
    assert layout["sections"][:3] == ["Highlights", "Charts", "Load levels"], layout
    assert {"Energy and cost (estimates)", "Environment"} <= set(layout["sections"]), layout
    assert layout["tables"] == 3 and layout["environment"] >= 10, layout
    if name == "phone":
        assert layout["scrolling"] >= 1, layout  # the headline table is wider than a phone
    assert page.values["rows"] == 2
    assert page.values["title"] == "assay: hand"
    assert page.values["external"] == 0
    assert artifact.stat().st_size > 10_000


MARKDOWN = """# Model comparison: <run>

Run `/tmp/a*b`, status **complete**. Two
lines.

|Model|Avg Latency|Interval|Status|
|---|---|---|---|
|a\\|b <i>|1.54 s|0.62 [0.50, 0.71]|ok (2 errors)|
|c|-|12.3 ± 0.4|failed|

Avg Latency: seconds.

## Highlights

- Fastest: **a|b** (1.54 s)
- Not *this*

## Sweep

### m

|Level|Rate req/s|
|---|---|
|r1|0.50|

### m

|Level|Rate req/s|
|---|---|
"""


def test_the_markdown_subset_becomes_blocks() -> None:
    blocks = parse_markdown(MARKDOWN)
    assert [type(b) for b in blocks] == [
        Heading, Paragraph, Table, Paragraph, Heading, Bullets, Heading, Heading, Table,
        Heading, Table,
    ]  # fmt: skip
    title, run, headline, note = blocks[:4]
    assert title == Heading(1, "Model comparison: <run>")
    assert run == Paragraph("Run `/tmp/a*b`, status **complete**. Two lines.")
    assert isinstance(headline, Table) and headline.id == "headline"
    assert headline.header == ["Model", "Avg Latency", "Interval", "Status"]
    assert headline.rows[0] == ["a|b <i>", "1.54 s", "0.62 [0.50, 0.71]", "ok (2 errors)"]
    assert headline.numeric == [False, True, True, False]
    assert note == Paragraph("Avg Latency: seconds.", note=True)
    assert blocks[5] == Bullets(["Fastest: **a|b** (1.54 s)", "Not *this*"])
    first, second = blocks[8], blocks[10]
    assert isinstance(first, Table) and isinstance(second, Table)
    assert (first.id, second.id, second.rows) == ("m", "m-2", [])


def test_inline_marks_are_tags_and_everything_else_is_escaped() -> None:
    assert inline("Run `<x>` **ok** & <b>") == (
        "Run <code>&lt;x&gt;</code> <strong>ok</strong> &amp; &lt;b&gt;"
    )
    assert inline("**none `x`** (even)") == "<strong>none <code>x</code></strong> (even)"
    assert inline("a ** b") == "a ** b"
    assert [is_figure(c) for c in ("1.54 s", "45%", "-", "3.50 ± 0.2", "c1", "0.5 (adaptive)")] == [
        True, True, True, True, False, False,
    ]  # fmt: skip


def test_the_page_renders_the_details_as_html(run_factory: RunFactory) -> None:
    html = render_html(_report(run_factory))
    assert "<pre" not in html and "|---|" not in html and "**" not in html
    assert '<table id="headline">' in html and '<table id="load-levels">' in html
    assert "<h2>Environment</h2>" in html and "<li>CPU: test cpu" in html
    assert "<strong>complete</strong>" in html and "<code>/" in html
    assert '<td class="num">0.45 s</td>' in html
    tags = re.findall(r"<svg[^>]*>", html)
    assert len(tags) >= 5
    for tag in tags:
        assert "viewBox" in tag and " width=" not in tag and " height=" not in tag, tag
    assert "<script" not in html


def test_a_chart_keeps_its_size_without_a_viewbox() -> None:
    svg = '<svg width="10pt" height="5pt"><g width="3"/></svg>'
    assert fluid_svg(svg) == svg
    sized = '<svg width="10pt" height="5pt" viewBox="0 0 10 5"><rect width="3" height="1"/></svg>'
    assert fluid_svg(sized) == '<svg viewBox="0 0 10 5"><rect width="3" height="1"/></svg>'
