"""What the process is running, written down for the parent that supervises it.

`assay bench|run|serve` run their work in a child process (cli/supervise.py). The child notes
here, before each model starts, what it is about to run; if the engine then dies of a signal,
the parent names the model and the run directory in its one-line error. Outside a supervised
child, note_running does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
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


# What to do about an engine that a signal killed: the OOM killer's SIGKILL, or a fault
# (SIGILL, SIGSEGV, ...) that a build for another CPU causes.
OOM_FIX = "it was killed: out of memory? (see dmesg); try a smaller model or --ctx"
ENGINE_FIX = "check the engine build with 'assay doctor' (fix: make engine)"
_PR_SET_PDEATHSIG = 1


def signal_name(code: int) -> str:
    """'SIGILL (illegal instruction)' for a return code of -4."""
    number = -code
    try:
        sig = signal.Signals(number)
    except ValueError:
        return f"signal {number}"
    description = signal.strsignal(sig) or ""
    return f"{sig.name} ({description.lower()})" if description else sig.name


def die_with_parent() -> None:
    """Ask the kernel for SIGKILL when the parent dies (PR_SET_PDEATHSIG), so `kill -9` of
    the parent leaves no orphan; exit now if the parent is already gone."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)
