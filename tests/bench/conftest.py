"""The mock OpenAI server in a process of its own, so its timing is not the client's."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_serving(url: str, process: subprocess.Popen[Any], timeout_s: float = 30) -> None:
    """Until GET {url}/models answers; fails if the process exits or the time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            httpx.get(f"{url}/models", timeout=1)
            return
        except httpx.TransportError:
            assert process.poll() is None, "the server exited"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)


@contextmanager
def mock_server(*args: str) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "assay", "mock-server", "--port", str(port), *args],
        stderr=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_serving(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def mock() -> Callable[..., object]:
    return mock_server


from tests.server.conftest import (  # noqa: E402 - the assay server fixtures
    fake_server,  # noqa: F401 - assay serve over fake models
    server,  # noqa: F401 - the real assay server fixture
)
