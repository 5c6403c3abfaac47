"""assay's version, from the installed package's metadata: one place for it."""

from __future__ import annotations

from importlib import metadata


def installed_version(distribution: str) -> str | None:
    """An installed distribution's version, None when it is not installed."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def version() -> str:
    # "0+unknown": run from a source tree that was never installed.
    return installed_version("assay") or "0+unknown"
