"""Progress display for long store operations: a byte bar for downloads, a spinner otherwise."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from assay.cli.output import make_console
from assay.errors import AssayError

T = TypeVar("T")


def byte_progress(console: Console) -> Progress:
    """Bytes done of total, speed and ETA; silent when stderr is not a terminal."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=False,
    )


def spinner(console: Console) -> Progress:
    """A spinner with the elapsed time, for work that reports no progress of its own."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=True,
    )


def run_with_spinner(label: str, work: Callable[[], T]) -> T:
    """Run work on a thread under a spinner on stderr; its exception is re-raised here,
    an unexpected one as a one-line AssayError."""
    outcome: list[T | BaseException] = []

    def target() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=target, daemon=True, name="assay-work")
    with spinner(make_console(stderr=True)) as progress:
        progress.add_task(label, total=None)
        worker.start()
        while worker.is_alive():
            worker.join(0.1)
    result = outcome[0]
    if isinstance(result, AssayError):
        raise result
    if isinstance(result, BaseException):
        raise AssayError(f"{label} failed: {result}") from None
    return result


def tqdm_class(progress: Progress, description: str) -> type[Any]:
    """A tqdm look-alike that huggingface_hub can report bytes to, drawn as one rich task.

    huggingface_hub makes a new bar for each attempt (a resume after a dropped connection
    is a new GET); every bar here moves the same task, so the display carries on.
    """
    task: list[Any] = []

    class RichBar:
        def __init__(self, *args: Any, total: int | None = None, initial: int = 0, **_: Any):
            if task:
                progress.update(task[0], total=total, completed=initial)
            else:
                task.append(progress.add_task(description, total=total, completed=initial))

        def __enter__(self) -> RichBar:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def update(self, n: int = 1) -> None:
            progress.advance(task[0], n)

        def close(self) -> None:
            return None

    return RichBar
