"""Start and stop server processes for the benchmarks, and time streamed completions."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server_process(
    args: list[str],
    port: int,
    ready_path: str = "/v1/models",
    env: dict[str, str] | None = None,
) -> Iterator[str]:
    """Run a server command until it answers on ready_path; yields its base URL. `env`
    adds to this process's environment."""
    # stderr goes to a file: a pipe nobody reads fills up and blocks a chatty server.
    with tempfile.TemporaryFile() as log:
        environment = {**os.environ, **env} if env else None
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log, env=environment)
        try:
            yield _wait_ready(process, log, args, f"http://127.0.0.1:{port}", ready_path)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_ready(
    process: subprocess.Popen[bytes], log: IO[bytes], args: list[str], url: str, path: str
) -> str:
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"{args[:4]} exited: {log.read().decode()[-2000:]}")
        try:
            if httpx.get(url + path, timeout=1).status_code == 200:
                return url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{args[:4]} did not start")
        time.sleep(0.2)


@dataclass(frozen=True)
class StreamResult:
    tokens: int
    ttft_s: float
    decode_tok_s: float


def stream_completion(
    client: httpx.Client, url: str, model: str, prompt: str, max_tokens: int
) -> StreamResult:
    """POST /v1/completions with stream=true. Each network read is timestamped and kept raw;
    the JSON is parsed after the stream ends, so the client takes as little CPU as it can
    from the server it measures (on 2 cores, every client cycle is a server cycle lost)."""
    body = {
        "model": model,
        "prompt": prompt,
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
    }
    started = time.perf_counter_ns()
    reads: list[tuple[int, bytes]] = []
    with client.stream("POST", url + "/v1/completions", json=body) as response:
        response.raise_for_status()
        for data in response.iter_raw():
            reads.append((time.perf_counter_ns(), data))
    times = []
    tail = b""
    for now, data in reads:
        *lines, tail = (tail + data).split(b"\n")
        for line in lines:
            if line.startswith(b"data: {"):
                choices = json.loads(line[6:]).get("choices") or []
                if choices and choices[0].get("text"):
                    times.append(now)
    first, last = times[0], times[-1]
    span = (last - first) / 1e9
    return StreamResult(
        len(times), (first - started) / 1e9, (len(times) - 1) / span if span else 0.0
    )


def python() -> str:
    return sys.executable
