"""A self-contained HTML report to share: the Markdown report's sections rendered as HTML
(html_sections.py reads them), the charts inline at the page's width after the headline and
its highlights; CSS inline, no script, nothing fetched from anywhere (its Content Security
Policy lets nothing load)."""

from __future__ import annotations

import re

import jinja2

from assay.reports.charts import all_charts
from assay.reports.html_sections import Block, Heading, inline, parse_markdown
from assay.reports.markdown import render_markdown
from assay.reports.model import Report

_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>assay: {{ report.run_name }}</title>
<style>
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, sans-serif; margin: 0 auto; padding: 1.5rem 1rem 3rem;
  max-width: 72rem; color: #1d232b; background: #fff; }
h1 { font-size: 1.6rem; line-height: 1.25; margin: .5rem 0 1rem; }
h2 { font-size: 1.25rem; margin: 2.25rem 0 .75rem; padding-bottom: .2rem;
  border-bottom: 1px solid #d8dde3; }
h3 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
.table-wrap { overflow-x: auto; margin: 1rem 0; }
table { border-collapse: collapse; font-size: .93em; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #d8dde3; padding: .3rem .5rem; text-align: left;
  vertical-align: baseline; overflow-wrap: break-word; }
th { background: #f3f5f7; font-weight: 600; }
th.num, td.num { text-align: right; }
td.num { white-space: nowrap; }
td:first-child { min-width: 8rem; }
td.prose { min-width: 10rem; }
figure { margin: 1.5rem 0 2rem; }
figcaption { font-weight: 600; margin-bottom: .5rem; }
figure svg { display: block; width: 100%; height: auto; }
.note { color: #5b6672; }
code { font: .9em ui-monospace, monospace; background: #f3f5f7; padding: 0 .2em;
  border-radius: 3px; overflow-wrap: anywhere; }
li { margin: .15rem 0; }
@media print {
  body { max-width: none; padding: 0; }
  .table-wrap { overflow: visible; }
  figure, table { break-inside: avoid; }
}
</style>
</head>
<body>
{% macro render(blocks) %}{% for b in blocks %}
{% if b.kind == "heading" %}<h{{ b.level }}>{{ b.text | md }}</h{{ b.level }}>
{% elif b.kind == "table" %}<div class="table-wrap">
<table id="{{ b.id }}">
<thead><tr>{% for c in b.header %}<th{% if b.numeric[loop.index0] %} class="num"{% endif %}>
{{- c | md }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in b.rows %}
<tr>{% for c in row %}<td{% if b.numeric[loop.index0] %} class="num"
{%- elif c | length > 24 %} class="prose"{% endif %}>
{{- c | md }}</td>{% endfor %}</tr>{% endfor %}
</tbody>
</table>
</div>
{% elif b.kind == "bullets" %}<ul>
{% for item in b.items %}<li>{{ item | md }}</li>
{% endfor %}</ul>
{% else %}<p{% if b.note %} class="note"{% endif %}>{{ b.text | md }}</p>
{% endif %}{% endfor %}{% endmacro %}
{{ render(head) }}
{% if charts %}<h2>Charts</h2>
{% for title, svg in charts %}<figure class="chart">
<figcaption>{{ title }}</figcaption>
{{ svg | safe }}
</figure>
{% endfor %}{% endif %}
{{ render(tail) }}
</body>
</html>
"""


def fluid_svg(svg: str) -> str:
    """The chart's own width and height (matplotlib's, in pt) dropped from its <svg> tag, its
    viewBox kept: it then takes the width the page gives it and the height of its aspect
    ratio. A chart without a viewBox is left as it is."""
    end = svg.index(">")
    tag = svg[:end]
    if "viewBox" not in tag:
        return svg
    return re.sub(r'\s(?:width|height)="[^"]*"', "", tag) + svg[end:]


def _charts_at(blocks: list[Block]) -> int:
    """Where the charts go: after the headline table and the highlights, before the first
    other section."""
    for i, block in enumerate(blocks):
        if isinstance(block, Heading) and block.level == 2 and block.text != "Highlights":
            return i
    return len(blocks)


def render_html(report: Report) -> str:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["md"] = inline
    blocks = parse_markdown(render_markdown(report))
    at = _charts_at(blocks)
    return env.from_string(_TEMPLATE).render(
        report=report,
        head=blocks[:at],
        tail=blocks[at:],
        charts=[(title, fluid_svg(svg)) for title, svg in all_charts(report)],
    )
