"""assay's exceptions. Each carries a one-line message meant for the user, and an exit code."""

from __future__ import annotations


class AssayError(Exception):
    """An error the user can act on; the CLI prints its message and exits with exit_code."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownModelError(AssayError):
    """A model name that is neither an alias nor alias:variant in the catalog."""


class CatalogError(AssayError):
    """A catalog file (built-in or the user's models.json) that does not validate."""


class ModelFileError(AssayError):
    """A model file that is missing, unreadable or not a valid model."""


class ContextOverflowError(AssayError):
    """A prompt that does not fit in the model's context window."""


class EngineError(AssayError):
    """An engine failure while loading or generating."""

    exit_code = 1


class UnsafePathError(AssayError):
    """A name or catalog field that would place a file outside assay's cache."""


class DownloadError(AssayError):
    """A pull that failed: network, access, disk space, or a file that did not verify."""

    exit_code = 1


class CorruptCacheError(AssayError):
    """Cached files whose bytes no longer match their recorded sha256."""

    exit_code = 1
