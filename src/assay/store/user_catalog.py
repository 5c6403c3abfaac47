"""Edits of the user's models.json: add or drop one alias, keep every other entry as it is.

Writes take a file lock and replace the file atomically, so two commands editing it at
once cannot lose each other's entries and a reader never sees half a file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock

from assay.catalog.loader import read_user_json
from assay.errors import CatalogError
from assay.store.integrity import atomic_write_text

Entries = dict[str, Any]


def add_entry(path: Path, alias: str, fields: dict[str, Any]) -> None:
    """Add alias to the user catalog; refuses an alias the file already has."""

    def change(entries: Entries) -> None:
        if alias in entries:
            raise CatalogError(f"'{alias}' is already in {path}; choose another alias")
        entries[alias] = fields

    _edit(path, change)


def remove_entries(path: Path, aliases: set[str]) -> None:
    if not aliases or not path.exists():
        return

    def change(entries: Entries) -> None:
        for alias in aliases:
            entries.pop(alias, None)

    _edit(path, change)


def _edit(path: Path, change: Callable[[Entries], None]) -> None:
    with _locked(path):
        entries = _read(path)
        change(entries)
        atomic_write_text(path, json.dumps(entries, indent=2, ensure_ascii=False) + "\n")


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        yield


def _read(path: Path) -> Entries:
    if not path.exists():
        return {}
    return read_user_json(path)
