"""What assay keeps beside each cached variant: how the file got there, and its last use.

`<models_dir>/<alias>/<variant>/variant.json` records a pulled or quantized file (repo and
commit, or the variant it was quantized from). Quantized variants exist only through this
record: `with_store_variants` adds them to the catalog so that `alias:variant` resolves.
`<models_dir>/<alias>/<variant>/.last-used` is touched on every load; its mtime is the
"last used" of `assay cache list`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from assay.catalog.loader import Catalog
from assay.catalog.schema import DerivedSource, Variant
from assay.errors import UnsafePathError
from assay.store.integrity import atomic_write_text
from assay.store.safety import check_segment

RECORD_NAME = "variant.json"
LAST_USED_NAME = ".last-used"


class StoreRecord(BaseModel):
    """How a file entered the cache. Written after the file is in place and verified."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: Literal["pulled", "quantized", "converted", "copied"]
    file: str
    engine: str = "llamacpp"
    size: int
    sha256: str | None = None
    created: datetime
    repo: str | None = None
    revision: str | None = None
    commit: str | None = None
    quantization: str | None = None
    derived_from: str | None = None


def now() -> datetime:
    return datetime.now(UTC)


def write_record(folder: Path, record: StoreRecord) -> None:
    atomic_write_text(folder / RECORD_NAME, record.model_dump_json(indent=2))


def read_record(folder: Path) -> StoreRecord | None:
    """The folder's record, or None when there is none or it does not validate."""
    try:
        return StoreRecord.model_validate_json((folder / RECORD_NAME).read_text("utf-8"))
    except (OSError, ValidationError, json.JSONDecodeError):
        return None


def touch_last_used(folder: Path) -> None:
    """Mark the variant as used now. Best effort: a read-only cache never fails a load."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / LAST_USED_NAME).touch()
    except OSError:
        pass


def last_used(folder: Path) -> datetime | None:
    try:
        return datetime.fromtimestamp((folder / LAST_USED_NAME).stat().st_mtime, UTC)
    except OSError:
        return None


def with_store_variants(catalog: Catalog, models_dir: Path) -> Catalog:
    """The catalog plus the variants `assay quantize` and `convert` made, after each alias's own.

    A record that does not validate, names an unsafe file, or clashes with a catalog variant
    is skipped: a stray folder in the cache must never break name resolution.
    """
    merged = dict(catalog)
    for alias, entry in catalog.items():
        folder = models_dir / alias
        if not folder.is_dir():
            continue
        extra = []
        for variant_dir in sorted(folder.iterdir()):
            variant = _made_variant(variant_dir)
            if variant is not None and entry.variant(variant.name) is None:
                extra.append(variant)
        if extra:
            merged[alias] = entry.model_copy(update={"variants": (*entry.variants, *extra)})
    return merged


def _made_variant(folder: Path) -> Variant | None:
    if folder.is_symlink() or not folder.is_dir():
        return None
    record = read_record(folder)
    if record is None or record.kind not in ("quantized", "converted"):
        return None
    try:
        check_segment(record.file, "file")
        made_by: Literal["quantized", "converted"] = (
            "converted" if record.kind == "converted" else "quantized"
        )
        source = DerivedSource(derived_from=record.derived_from, file=record.file, made_by=made_by)
        return Variant(
            name=folder.name,
            engine=record.engine,
            quantization=record.quantization,
            location=source,
            size_bytes=record.size,
            sha256=record.sha256,
        )
    except (ValidationError, UnsafePathError):
        return None
