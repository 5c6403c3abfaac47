"""The note of what runs, for a crash report: safe from many threads at once."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from assay.crash_context import CRASH_CONTEXT_ENV, note_running


def test_eight_workers_noting_at_once_never_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server with 8 slots notes from 8 worker threads; a shared temporary name once made
    one thread's rename fail, which ended that worker and left its request hanging."""
    context = tmp_path / "context.json"
    monkeypatch.setenv(CRASH_CONTEXT_ENV, str(context))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: note_running(command="serve", model=f"m{i % 8}"), range(4000)))
    assert json.loads(context.read_text())["command"] == "serve"
    assert [p.name for p in tmp_path.iterdir()] == ["context.json"], "no temporary left"
