"""What is on disk: scan the cache, verify it, and remove from it (plan first, then execute).

A scan lists every catalog variant that can load without a download, wherever its file is
(assay's cache, a bundled package, the user's own file), and collects what does not fit
(folders no catalog entry claims, partial downloads, unsafe names) as warnings instead of
failing, so one odd folder never hides the rest.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from assay.catalog.loader import Catalog
from assay.catalog.schema import ModelEntry, Variant
from assay.config import Settings
from assay.errors import UnsafePathError
from assay.store.integrity import is_verified
from assay.store.locate import cache_dir_for, find
from assay.store.records import last_used, read_record
from assay.units import format_bytes


@dataclass(frozen=True)
class CacheEntry:
    alias: str
    variant: str
    source: str  # pulled, quantized, imported, bundled, local file
    path: Path
    size: int
    in_cache: bool  # under models_dir: `assay cache rm` deletes it
    last_used: datetime | None
    verified: bool
    reference_sha256: str | None
    record: Path | None = None  # where its verification record lives, if not beside it

    @property
    def name(self) -> str:
        return f"{self.alias}:{self.variant}"


@dataclass(frozen=True)
class CacheScan:
    models_dir: Path
    entries: tuple[CacheEntry, ...]
    warnings: tuple[str, ...]
    disk_bytes: int  # everything under models_dir, partial downloads included

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self.entries)


def scan(settings: Settings, catalog: Catalog) -> CacheScan:
    entries: list[CacheEntry] = []
    warnings: list[str] = []
    for entry in catalog.values():
        for variant in entry.variants:
            try:
                found = _entry(settings, entry, variant)
            except UnsafePathError as exc:
                warnings.append(f"{entry.alias}:{variant.name}: {exc.message}")
                continue
            if found is not None:
                entries.append(found)
    warnings.extend(_stray(settings.models_dir, catalog))
    return CacheScan(settings.models_dir, tuple(entries), tuple(warnings), du(settings.models_dir))


def _entry(settings: Settings, entry: ModelEntry, variant: Variant) -> CacheEntry | None:
    found = find(settings, entry, variant)
    if found.missing is not None or found.path is None:
        return None
    folder = cache_dir_for(settings, entry, variant)
    record = read_record(folder)
    reference = variant.sha256 or (record.sha256 if record else None)
    if found.parts and not found.in_cache:  # chunks not assembled yet
        size = sum(p.stat().st_size for p in found.parts)
        return CacheEntry(
            entry.alias, variant.name, "bundled (chunks)", found.parts[0].parent, size, False,
            last_used(folder), False, reference,
        )  # fmt: skip
    return _make(entry, variant, found.how, found.path, folder, found.in_cache, reference)


def _make(
    entry: ModelEntry,
    variant: Variant,
    source: str,
    path: Path,
    folder: Path,
    inside: bool,
    reference: str | None,
) -> CacheEntry:
    # Files outside the cache keep their verification record in the variant's cache folder.
    record = None if inside else folder / f"{path.name}.verified.json"
    return CacheEntry(
        alias=entry.alias,
        variant=variant.name,
        source=source,
        path=path,
        size=path.stat().st_size if path.is_file() else du(path),
        in_cache=inside,
        last_used=last_used(folder),
        verified=reference is not None and is_verified(path, reference, record),
        reference_sha256=reference,
        record=record,
    )


def _stray(models_dir: Path, catalog: Catalog) -> list[str]:
    """Folders no catalog variant claims, partial downloads, and symlinks in the cache."""
    warnings: list[str] = []
    if not models_dir.is_dir():
        return warnings
    for alias_dir in sorted(models_dir.iterdir()):
        if not alias_dir.is_dir() or alias_dir.is_symlink():
            if alias_dir.is_symlink():
                warnings.append(f"{alias_dir} is a symlink; assay ignores it")
            continue
        entry = catalog.get(alias_dir.name)
        for folder in sorted(alias_dir.iterdir()):
            name = f"{alias_dir.name}:{folder.name}"
            if folder.is_symlink() or not folder.is_dir():
                warnings.append(f"{folder} is not a variant folder; assay ignores it")
            elif entry is None or entry.variant(folder.name) is None:
                if du(folder) > 0:
                    warnings.append(
                        f"{name} is not in the catalog ({format_bytes(du(folder))} in {folder}); "
                        f"'assay cache rm {name}' removes it"
                    )
            else:
                warnings.extend(_partials(folder, name))
    return warnings


def _partials(folder: Path, name: str) -> list[str]:
    found = []
    for partial in sorted(folder.glob("*.incomplete")):
        size = format_bytes(partial.stat().st_size)
        if partial.name.startswith("."):
            found.append(f"{name}: {size} left by an interrupted quantize or import ({partial})")
        else:
            found.append(f"{name}: partial download, {size}; 'assay pull {name}' resumes it")
    return found


def du(path: Path) -> int:
    """Bytes of the files under path, symlinks not followed."""
    if path.is_symlink() or not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _, files in os.walk(path, followlinks=False):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total
