"""What the process is running, written down for the parent that supervises it.

`assay bench|run|serve` run their work in a child process (cli/supervise.py). The child notes
here, before each model starts, what it is about to run; if the engine then dies of a signal,
the parent names the model and the run directory in its one-line error. Outside a supervised
child, note_running does nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path

SUPERVISED_ENV = "ASSAY_SUPERVISED"
CRASH_CONTEXT_ENV = "ASSAY_CRASH_CONTEXT"


def crash_context_path() -> Path | None:
    value = os.environ.get(CRASH_CONTEXT_ENV)
    return Path(value) if value else None


def note_running(**fields: str) -> None:
    """Record what runs now (command, model, run_dir); atomic, so the parent never reads half."""
    path = crash_context_path()
    if path is None:
        return
    # A name of its own per thread: a server's workers note what they run at the same time.
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_text(json.dumps(fields))
        os.replace(tmp, path)
    except OSError:  # a note for a crash report must never fail the work it describes
        with contextlib.suppress(OSError):
            tmp.unlink()
