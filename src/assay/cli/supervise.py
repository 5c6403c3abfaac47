"""A native crash of the engine leaves its cause: `bench`, `run` and `serve` run in a child
process that this one watches.

A SIGILL or SIGSEGV inside llama.cpp cannot be caught in the process it kills: the shell
would print a bare "Illegal instruction". So the command runs in a child, and when the child
dies of a signal the parent prints one line: the signal, the model that was running (the
child notes it before each model starts), where the native stack went (faulthandler) and
what to do. A benchmark then goes on: the crash is recorded as that model's failure in the
run directory, and the run resumes with the models after it.

Signals: SIGINT, SIGTERM, SIGHUP and SIGQUIT are passed on to the child when another process
sent them (kill), not when the terminal did: a terminal's Ctrl-C reaches the whole
foreground process group, the child included, so passing it on would send it twice. The
child dies with its parent (PR_SET_PDEATHSIG), so `kill -9` of the parent leaves no orphan.

Only the standard library and assay.crash_context (itself stdlib only) here: this runs
before the CLI is imported.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO

from assay.crash_context import (
    CRASH_CONTEXT_ENV,
    ENGINE_FIX,
    OOM_FIX,
    SUPERVISED_ENV,
    crash_context_path,
    die_with_parent,
    signal_name,
)

SUPERVISED_COMMANDS = {"bench", "run", "serve"}
_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
_WATCHED = (*_FORWARDED, signal.SIGCHLD)
_SI_KERNEL = 0x80  # si_code of a signal the kernel sent: a terminal's Ctrl-C


def wanted(argv: list[str]) -> bool:
    """Supervise this command line? Not inside a child already, nor for --help."""
    if os.environ.get(SUPERVISED_ENV) or sys.platform != "linux":
        return False
    command = next((a for a in argv if not a.startswith("-")), None)
    return command in SUPERVISED_COMMANDS and "--help" not in argv


def as_child() -> IO[str] | None:
    """In a supervised child: take signals again, die with the parent, and dump the Python
    stacks of every thread to the crash log on a fatal signal."""
    if not os.environ.get(SUPERVISED_ENV):
        return None
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _WATCHED)
    die_with_parent()
    context = crash_context_path()
    if context is None:
        return None
    log = context.with_suffix(".stack").open("w")
    faulthandler.enable(file=log, all_threads=True)
    return log


def supervise(argv: list[str]) -> int:
    """Run `assay ARGV` in a child; return its exit code, or name the signal that killed it."""
    attempts = 0
    while True:
        with tempfile.TemporaryDirectory(prefix="assay-crash-") as tmp:
            context = Path(tmp) / "context.json"
            code, forwarded = _run_child(argv, context)
            if code >= 0:
                return code
            if -code in forwarded:  # it was asked to stop: no crash to report
                return 128 - code
            note = _read_context(context)
            stack = _stack_summary(context.with_suffix(".stack"))
            log = _keep_stack(context.with_suffix(".stack"), note)
        _report_crash(-code, note, stack, log)
        run_dir = note.get("run_dir")
        attempts += 1
        if note.get("command") != "bench" or not run_dir or attempts > 20:
            return 128 - code
        _record_bench_crash(Path(run_dir), note.get("model", "?"), signal_name(code))
        print(f"assay: resuming {run_dir} with the next model", file=sys.stderr, flush=True)
        argv = [*argv, "--resume", run_dir]


def _run_child(argv: list[str], context: Path) -> tuple[int, set[int]]:
    """The child's return code, and the signals passed on to it (or sent by the terminal)."""
    forwarded: set[int] = set()
    env = dict(os.environ)
    env[SUPERVISED_ENV] = "1"
    env[CRASH_CONTEXT_ENV] = str(context)
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
    try:
        child = subprocess.Popen([sys.executable, "-m", "assay", *argv], env=env)
        while True:
            info = signal.sigtimedwait(_WATCHED, 0.5)
            if info is not None and info.si_signo != signal.SIGCHLD:
                forwarded.add(info.si_signo)
                # A terminal's Ctrl-C, Ctrl-\ or hang-up reached the child's group already.
                if info.si_code != _SI_KERNEL:
                    with contextlib.suppress(ProcessLookupError):
                        child.send_signal(info.si_signo)
            code = child.poll()
            if code is not None:
                return code, forwarded
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


def _read_context(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _stack_summary(path: Path) -> str:
    """The innermost frame of the crashed thread (faulthandler prints it first)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return ""
    frames = [line.strip() for line in lines if line.strip().startswith("File ")]
    return frames[0] if frames else ""


def _keep_stack(stack: Path, note: dict[str, str]) -> Path | None:
    """Move the stack dump next to the run's files (or the cache) before tmp goes away."""
    if not stack.exists() or stack.stat().st_size == 0:
        return None
    run_dir = note.get("run_dir")
    target_dir = (
        Path(run_dir) if run_dir and Path(run_dir).is_dir() else Path(tempfile.gettempdir())
    )
    target = target_dir / f"crash-{os.getpid()}-{len(list(target_dir.glob('crash-*')))}.log"
    with contextlib.suppress(OSError):
        target.write_text(stack.read_text())
        return target
    return None


def _report_crash(number: int, note: dict[str, str], frame: str, log: Path | None) -> None:
    what = f" while running {note['model']}" if note.get("model") else ""
    where = f"; native stack: {log}" if log else ""
    if frame:
        where += f" ({frame})"
    fix = OOM_FIX if number == signal.SIGKILL else ENGINE_FIX
    print(
        f"error: the engine crashed: {signal_name(-number)}{what}{where}; {fix}",
        file=sys.stderr,
        flush=True,
    )


def _record_bench_crash(run_dir: Path, model: str, signal_text: str) -> None:
    """A 'model' progress event marking the model failed: resume skips it and goes on."""
    from assay.bench.events import ModelEvent
    from assay.bench.rundir import RunDir, utc_now

    run = RunDir(run_dir)
    run.open_for_append()  # drops a line the crash tore in half
    error = f"engine crashed: {signal_text}"
    run.append_progress(
        ModelEvent(model=model, status="failed", error=error, crashed=True, at=utc_now())
    )
    run.close()
