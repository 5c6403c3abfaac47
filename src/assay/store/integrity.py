"""Hashes and the small verification record kept beside each cached file."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

from pydantic import BaseModel, ValidationError


class VerifiedRecord(BaseModel):
    """Written beside a model file once its sha256 matched, so it is not re-hashed each load."""

    sha256: str
    size: int
    mtime_ns: int


def sha256_file(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def record_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def write_verified(path: Path, sha256: str, record: Path | None = None) -> None:
    """Record path's hash; beside it, or at record for files assay must not write beside."""
    stat = path.stat()
    data = VerifiedRecord(sha256=sha256, size=stat.st_size, mtime_ns=stat.st_mtime_ns)
    atomic_write_text(record or record_path(path), data.model_dump_json())


def read_verified(path: Path, record: Path | None = None) -> VerifiedRecord | None:
    """The record for path when it still describes this exact file (size and mtime)."""
    try:
        data = VerifiedRecord.model_validate_json((record or record_path(path)).read_text("utf-8"))
        stat = path.stat()
    except (OSError, ValidationError, json.JSONDecodeError):
        return None
    if data.size != stat.st_size or data.mtime_ns != stat.st_mtime_ns:
        return None
    return data


def is_verified(path: Path, sha256: str | None, record: Path | None = None) -> bool:
    """True when a record says this exact file (size and mtime unchanged) had this hash."""
    data = read_verified(path, record)
    return data is not None and (sha256 is None or data.sha256 == sha256)


def atomic_write_text(path: Path, text: str) -> None:
    """Write a file so that readers see the old content or the new, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(text, "utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
