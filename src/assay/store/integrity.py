"""Hashes and the small verification record kept beside each cached file."""

from __future__ import annotations

import hashlib
import json
import os
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


def write_verified(path: Path, sha256: str) -> None:
    stat = path.stat()
    record = VerifiedRecord(sha256=sha256, size=stat.st_size, mtime_ns=stat.st_mtime_ns)
    atomic_write_text(record_path(path), record.model_dump_json())


def is_verified(path: Path, sha256: str | None) -> bool:
    """True when a record says this exact file (size and mtime unchanged) had this hash."""
    try:
        record = VerifiedRecord.model_validate_json(record_path(path).read_text("utf-8"))
        stat = path.stat()
    except (OSError, ValidationError, json.JSONDecodeError):
        return False
    same_file = record.size == stat.st_size and record.mtime_ns == stat.st_mtime_ns
    return same_file and (sha256 is None or record.sha256 == sha256)


def atomic_write_text(path: Path, text: str) -> None:
    """Write a file so that readers see the old content or the new, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, "utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
