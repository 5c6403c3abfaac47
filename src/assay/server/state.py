"""The running `assay serve`'s address, in a small file under ASSAY_HOME, so that clients on
this machine (the Python Manager) can find it instead of starting another."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import psutil
from pydantic import BaseModel, ValidationError

from assay.store.integrity import atomic_write_text

STATE_FILE = "serve.json"


class ServerState(BaseModel):
    pid: int
    host: str
    port: int
    api_key_required: bool

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "localhost") else self.host
        return f"http://{host}:{self.port}"


def state_path(home: Path) -> Path:
    return home / STATE_FILE


def write_state(home: Path, state: ServerState) -> None:
    atomic_write_text(state_path(home), state.model_dump_json())


def read_state(home: Path) -> ServerState | None:
    """The recorded server, if the file is there and its process still runs."""
    try:
        state = ServerState.model_validate_json(state_path(home).read_text("utf-8"))
    except (OSError, ValidationError):
        return None
    return state if psutil.pid_exists(state.pid) else None


def remove_state(home: Path, pid: int | None = None) -> None:
    """Remove the file, if it is this process's (a newer server may have replaced it)."""
    with contextlib.suppress(OSError, ValidationError):
        state = ServerState.model_validate_json(state_path(home).read_text("utf-8"))
        if state.pid == (pid or os.getpid()):
            state_path(home).unlink()
