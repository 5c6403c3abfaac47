"""Progress display for long store operations: a byte bar for downloads, a spinner otherwise."""

from __future__ import annotations

from typing import Any

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
