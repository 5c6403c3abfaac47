"""A self-contained HTML report: CSS and charts inline, nothing fetched from anywhere."""

from __future__ import annotations

import jinja2

from assay.reports.charts import all_charts
from assay.reports.formatting import (
    HEADLINE_COLUMNS,
    has_reasoning,
    headline_cells,
    with_reasoning,
)
from assay.reports.markdown import render_markdown
from assay.reports.model import Report
from assay.reports.replicas import REPLICA_COLUMNS, REPLICA_NOTE, replica_rows

_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>assay: {{ report.run_name }}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #1d232b; }
table { border-collapse: collapse; margin: 1rem 0; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #d8dde3; padding: .3rem .6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f5f7; }
#replicas th:nth-child(-n+3), #replicas td:nth-child(-n+3) { text-align: left; }
figure { margin: 1.5rem 0; }
figure svg { max-width: 100%; height: auto; }
.note { color: #5b6672; }
pre { white-space: pre-wrap; background: #f7f8fa; padding: 1rem; }
</style>
</head>
<body>
<h1>Model comparison: {{ report.run_name }}</h1>
{% if report.source %}<p class="note">Figures {{ report.source.describe() }}
{% if report.started_at %} · started {{ report.started_at }}{% endif %}
 · status {{ report.status }}</p>
{% else %}<p class="note">Run {{ report.run_path }} · started {{ report.started_at }}
 · status {{ report.status }}</p>{% endif %}
<table id="headline">
<thead><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in rows %}<tr>
{% for cell in row %}<td>{{ cell }}</td>{% endfor %}
</tr>{% endfor %}</tbody>
</table>
{% if report.highlights %}<h2>Highlights</h2>
<ul>{% for h in report.highlights %}<li>{{ h }}</li>{% endfor %}</ul>{% endif %}
{% if replica_rows %}<h2>Replicas</h2>
<table id="replicas">
<thead><tr>{% for c in replica_columns %}<th>{{ c }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in replica_rows %}<tr>
{% for cell in row %}<td>{{ cell }}</td>{% endfor %}
</tr>{% endfor %}</tbody>
</table>
<p class="note">{{ replica_note }}</p>{% endif %}
<h2>Charts</h2>
{% for title, svg in charts %}
<figure class="chart"><figcaption>{{ title }}</figcaption>{{ svg | safe }}</figure>
{% endfor %}
<h2>Details</h2>
<pre>{{ markdown }}</pre>
</body>
</html>
"""


def render_html(report: Report) -> str:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    reasoning = has_reasoning(report)
    return env.from_string(_TEMPLATE).render(
        report=report,
        columns=with_reasoning(HEADLINE_COLUMNS, reasoning),
        rows=[headline_cells(r, reasoning) for r in report.models],
        charts=all_charts(report),
        markdown=render_markdown(report),
        replica_columns=REPLICA_COLUMNS,
        replica_rows=replica_rows(report),
        replica_note=REPLICA_NOTE,
    )
