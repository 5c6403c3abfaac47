"""`assay cache verify`: re-hash every cached file against the hash it should have."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from assay.store.cache import CacheEntry, CacheScan
from assay.store.integrity import record_path, sha256_file, write_verified

Status = Literal["ok", "corrupt", "recorded"]


@dataclass(frozen=True)
class Verdict:
    entry: CacheEntry
    status: Status  # recorded: no reference hash existed; this one is kept for next time
    sha256: str


def verify(scan: CacheScan, on_file: Callable[[CacheEntry], None] | None = None) -> list[Verdict]:
    """Hash each entry's file; a match (or a first hash) refreshes its verification record.

    The reference is the catalog's sha256, else the one recorded when the file entered the
    cache. A corrupt file keeps no verification record, so `cache list` shows it unverified.
    """
    verdicts = []
    for entry in scan.entries:
        if not entry.path.is_file():
            continue  # bundled chunks not assembled yet: nothing assay owns to check
        if on_file is not None:
            on_file(entry)
        digest = sha256_file(entry.path)
        record = entry.record or record_path(entry.path)
        if entry.reference_sha256 is None:
            status: Status = "recorded"
        elif digest == entry.reference_sha256:
            status = "ok"
        else:
            record.unlink(missing_ok=True)
            verdicts.append(Verdict(entry, "corrupt", digest))
            continue
        write_verified(entry.path, digest, record)
        verdicts.append(Verdict(entry, status, digest))
    return verdicts
