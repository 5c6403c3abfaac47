"""The Markdown report (markdown.py) as blocks for the HTML page to render: the one source of
every section's words and figures, so a section added there shows in the page too.

Only the subset that markdown.py writes is read: `#` headings, `|` tables with a `|---|`
line (cells' own `|` escaped as `\\|`), `- ` lists, paragraphs, and inline `**bold**` and
`code`. Anything else reads as a paragraph: the converter never fails on its input. The
text is escaped here (markupsafe, as jinja2's autoescape does), then the bold and code
marks turned into tags."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from markupsafe import Markup, escape


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    kind: str = "heading"


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]
    id: str = ""
    # Per column: every cell a figure ("1.54 s", "45%", "0.62 [0.50, 0.71]", "-").
    numeric: list[bool] = field(default_factory=list)
    kind: str = "table"


@dataclass(frozen=True)
class Paragraph:
    text: str
    note: bool = False  # the note under a table
    kind: str = "paragraph"


@dataclass(frozen=True)
class Bullets:
    items: list[str]
    kind: str = "bullets"


Block = Heading | Table | Paragraph | Bullets

_HEADING = re.compile(r"(#{1,6})\s+(.*)")
_RULE = re.compile(r"\|(?:\s*:?-{3,}:?\s*\|)+")
_INLINE = re.compile(r"`([^`]+)`|\*\*(.+?)\*\*")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")


def inline(text: str) -> Markup:
    """Escaped text with `code` and **bold** as tags."""
    out = []
    pos = 0
    for match in _INLINE.finditer(text):
        out.append(escape(text[pos : match.start()]))
        code, bold = match.groups()
        if code is not None:
            out.append(Markup("<code>{}</code>").format(code))
        else:
            out.append(Markup("<strong>{}</strong>").format(inline(bold)))
        pos = match.end()
    out.append(escape(text[pos:]))
    return Markup("").join(out)


def is_figure(cell: str) -> bool:
    """A number with its unit, interval or share ("1.54 s", "12.3 ± 0.4", "0.62 [0.50, 0.71]",
    "45%"), or none ("-"): what must never wrap. A cell with a word in it is text."""
    cell = cell.strip()
    if cell in ("", "-"):
        return True
    return re.match(r"[-+]?\.?\d", cell) is not None and re.search(r"[A-Za-z]{6,}", cell) is None


def _cells(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [c.replace("\\|", "|").strip() for c in _CELL_SPLIT.split(line)]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "table"


def _starts_block(lines: list[str], i: int) -> bool:
    line = lines[i]
    return (
        not line.strip()
        or _HEADING.fullmatch(line) is not None
        or line.startswith("- ")
        or _is_table(lines, i)
    )


def _is_table(lines: list[str], i: int) -> bool:
    return (
        lines[i].lstrip().startswith("|")
        and i + 1 < len(lines)
        and _RULE.fullmatch(lines[i + 1].strip()) is not None
    )


def parse_markdown(text: str) -> list[Block]:
    """The blocks of a Markdown report, in order. A table takes the id of the heading above
    it (the first table, under the title, is "headline"), made unique with a suffix."""
    lines = text.splitlines()
    blocks: list[Block] = []
    ids: set[str] = set()
    place = "headline"
    i = 0
    while i < len(lines):
        line = lines[i]
        heading = _HEADING.fullmatch(line.strip())
        if not line.strip():
            i += 1
        elif heading:
            blocks.append(Heading(len(heading.group(1)), heading.group(2).strip()))
            if len(heading.group(1)) > 1:
                place = _slug(heading.group(2))
            i += 1
        elif _is_table(lines, i):
            header = _cells(line)
            i += 2
            rows = []
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            width = max([len(header), *map(len, rows)])
            rows = [r + [""] * (width - len(r)) for r in rows]
            header += [""] * (width - len(header))
            numeric = [all(is_figure(r[c]) for r in rows) for c in range(width)]
            table_id, n = place, 2
            while table_id in ids:
                table_id, n = f"{place}-{n}", n + 1
            ids.add(table_id)
            blocks.append(Table(header, rows, table_id, numeric))
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(lines[i][2:].strip())
                i += 1
            blocks.append(Bullets(items))
        else:
            paragraph = [line.strip()]
            i += 1
            while i < len(lines) and not _starts_block(lines, i):
                paragraph.append(lines[i].strip())
                i += 1
            after_table = bool(blocks) and isinstance(blocks[-1], Table)
            blocks.append(Paragraph(" ".join(paragraph), note=after_table))
    return blocks
