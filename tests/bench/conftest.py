"""The mock OpenAI server in a process of its own, so its timing is not the client's."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/models", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "mock server did not start"
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def mock() -> Callable[..., object]:
    return mock_server


from tests.server.conftest import server  # noqa: E402,F401 - the real assay server fixture
