"""A run directory: run.json, requests.jsonl, progress.jsonl and summary.json.

Records are appended one line each, as each request completes, so whatever was measured
before an interruption (Ctrl-C, kill -9) is on disk; a torn last line is dropped on resume.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TextIO

from pydantic import BaseModel

from assay.bench.events import ProgressEvent, dump_event, parse_event
from assay.bench.probes import Environment
from assay.bench.records import RequestRecord
from assay.bench.spec import BenchSpec
from assay.errors import AssayError
from assay.store.integrity import atomic_write_text

RUN_FILE = "run.json"
REQUESTS_FILE = "requests.jsonl"
PROGRESS_FILE = "progress.jsonl"
SUMMARY_FILE = "summary.json"


RunStatus = Literal["running", "complete", "interrupted"]


class RunMeta(BaseModel):
    # The run directory's format (bench/events.py); files without one are format 1.
    format_version: int = 1
    spec: BenchSpec
    started_at: str
    finished_at: str | None = None
    status: RunStatus = "running"
    environment: Environment
    environment_end: Environment | None = None
    attempts: int = 1


def new_run_dir(out: Path, name: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in name) or "bench"
    path = out / f"{stamp}-{safe}"
    suffix = 1
    while path.exists():
        suffix += 1
        path = out / f"{stamp}-{safe}-{suffix}"
    path.mkdir(parents=True)
    return path


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class RunDir:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._requests: TextIO | None = None
        self._progress: TextIO | None = None

    def write_meta(self, meta: RunMeta) -> None:
        atomic_write_text(self.path / RUN_FILE, meta.model_dump_json(indent=2))

    def read_meta(self) -> RunMeta:
        try:
            return RunMeta.model_validate_json((self.path / RUN_FILE).read_text("utf-8"))
        except OSError:
            raise AssayError(f"{self.path} is not a run directory (no {RUN_FILE})") from None
        except ValueError as exc:
            raise AssayError(f"{self.path / RUN_FILE} is damaged: {exc}") from None

    def open_for_append(self) -> None:
        _drop_torn_line(self.path / REQUESTS_FILE)
        _drop_torn_line(self.path / PROGRESS_FILE)
        self._requests = open(self.path / REQUESTS_FILE, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
        self._progress = open(self.path / PROGRESS_FILE, "a", buffering=1, encoding="utf-8")  # noqa: SIM115

    def append_record(self, record: RequestRecord) -> None:
        assert self._requests is not None
        self._requests.write(record.model_dump_json() + "\n")

    def append_progress(self, event: ProgressEvent) -> None:
        assert self._progress is not None
        self._progress.write(dump_event(event) + "\n")

    def close(self) -> None:
        for fh in (self._requests, self._progress):
            if fh is not None:
                fh.close()
        self._requests = self._progress = None

    def records(self) -> list[RequestRecord]:
        return [
            RequestRecord.model_validate_json(line) for line in _lines(self.path / REQUESTS_FILE)
        ]

    def progress(self) -> list[ProgressEvent]:
        return [parse_event(line) for line in _lines(self.path / PROGRESS_FILE)]

    def write_summary(self, summary: BaseModel) -> None:
        atomic_write_text(self.path / SUMMARY_FILE, summary.model_dump_json(indent=2))


def _lines(path: Path) -> list[str]:
    """Complete lines only: a line torn by a crash (no newline yet) is not a record."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return []
    lines = text.split("\n")
    return [line for line in lines[:-1] if line.strip()]


def _drop_torn_line(path: Path) -> None:
    if not path.exists():
        return
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end != len(data):
        with path.open("r+b") as fh:
            fh.truncate(end)
