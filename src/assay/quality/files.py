"""JSON-lines tables kept beside a run (scores.jsonl, pairwise.jsonl).

A write takes a lock, reads the table, swaps one origin's rows for new ones and replaces the
file atomically, so readers see the old table or the new one, and concurrent writers queue.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from filelock import FileLock
from pydantic import BaseModel, ValidationError

from assay.errors import AssayError
from assay.store.integrity import atomic_write_text

Row = TypeVar("Row", bound=BaseModel)


def read_rows(path: Path, model: type[Row]) -> list[Row]:
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return []
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(model.model_validate_json(line))
        except ValidationError:
            raise AssayError(f"{path} line {number} is damaged; fix or delete that line") from None
    return rows


def replace_rows(
    path: Path, model: type[Row], drop: Callable[[Row], bool], rows: Sequence[Row]
) -> None:
    """Remove the rows `drop` selects and append `rows`, in one atomic replacement."""
    with FileLock(path.with_name(f".{path.name}.lock")):
        kept = [row for row in read_rows(path, model) if not drop(row)]
        atomic_write_text(path, "".join(row.model_dump_json() + "\n" for row in [*kept, *rows]))
