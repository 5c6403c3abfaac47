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


class ModelCrashedError(EngineError):
    """The process that held a model died: a signal, an exit, or killed for hanging.

    `cause` is what happened in a few words ("SIGSEGV (segmentation fault)", "exit code 1",
    "no output for 30 s"), `signal` its number when a signal killed it, and `stack` the file
    holding the native stack that faulthandler wrote, when there is one. The CLI exits with
    128 + the signal, as a shell reports a process a signal killed."""

    def __init__(
        self, message: str, cause: str, signal: int | None = None, stack: str | None = None
    ) -> None:
        super().__init__(message)
        self.cause = cause
        self.signal = signal
        self.stack = stack
        if signal is not None:
            self.exit_code = 128 + signal

    def __reduce__(self) -> tuple[type[ModelCrashedError], tuple[str, str, int | None, str | None]]:
        return (ModelCrashedError, (self.message, self.cause, self.signal, self.stack))


class UnsafePathError(AssayError):
    """A name or catalog field that would place a file outside assay's cache."""


class DownloadError(AssayError):
    """A pull that failed: network, access, disk space, or a file that did not verify."""

    exit_code = 1


class CorruptCacheError(AssayError):
    """Cached files whose bytes no longer match their recorded sha256."""

    exit_code = 1


class ForeignExportError(AssayError):
    """Another tool's export (AIPerf, GuideLLM) that assay cannot read: missing, not JSON,
    another tool's file, or without the figures a report needs."""
