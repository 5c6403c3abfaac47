"""assay's version, from the installed package's metadata: one place for it."""

from __future__ import annotations

from importlib import metadata


def version() -> str:
    try:
        return metadata.version("assay")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"
