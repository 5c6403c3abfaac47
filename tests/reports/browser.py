"""A real headless Chromium driven over the DevTools protocol (Debian's chromium package)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import aiohttp

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,2000",
)


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageResult:
    errors: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    screenshot: bytes = b""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load_page(
    url: str, expressions: dict[str, str], width: int = 1280, timeout: float = 60
) -> PageResult:
    """Open url in headless Chromium with a viewport `width` CSS pixels wide; collect console
    errors and uncaught exceptions, the values of some JavaScript expressions (objects and
    arrays come back as JSON values), and a full-page screenshot."""
    binary = chromium_path()
    assert binary is not None, "chromium is not installed"
    port = _free_port()
    # Chromium's helper processes can still be writing to the profile as it is removed.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        process = subprocess.Popen(
            [
                binary,
                *CHROMIUM_FLAGS,
                f"--remote-debugging-port={port}",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its zygote and renderers: one group to end together
        )
        try:
            return asyncio.run(asyncio.wait_for(_drive(port, url, expressions, width), timeout))
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            process.wait(10)


async def _page_socket(session: aiohttp.ClientSession, port: int) -> str:
    deadline = time.monotonic() + 30
    while True:
        try:
            async with session.get(f"http://127.0.0.1:{port}/json/list") as resp:
                pages = [t for t in await resp.json() if t.get("type") == "page"]
                if pages:
                    return str(pages[0]["webSocketDebuggerUrl"])
        except aiohttp.ClientError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("chromium's DevTools endpoint did not come up")
        await asyncio.sleep(0.1)


async def _drive(port: int, url: str, expressions: dict[str, str], width: int) -> PageResult:
    result = PageResult()
    ids = itertools.count(1)
    async with aiohttp.ClientSession() as session:
        ws_url = await _page_socket(session, port)
        async with session.ws_connect(ws_url, max_msg_size=0) as ws:
            pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
            loaded = asyncio.Event()

            async def reader() -> None:
                async for message in ws:
                    data = message.json()
                    if "id" in data and data["id"] in pending:
                        pending.pop(data["id"]).set_result(data)
                    method = data.get("method")
                    params = data.get("params", {})
                    if method == "Page.loadEventFired":
                        loaded.set()
                    elif method == "Runtime.exceptionThrown":
                        result.errors.append(str(params["exceptionDetails"].get("text")))
                    elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                        result.errors.append(str(params.get("args")))
                    elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                        result.errors.append(str(params["entry"].get("text")))

            async def call(method: str, **params: Any) -> dict[str, Any]:
                key = next(ids)
                future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
                pending[key] = future
                await ws.send_json({"id": key, "method": method, "params": params})
                return cast("dict[str, Any]", (await future).get("result", {}))

            task = asyncio.create_task(reader())
            for domain in ("Page", "Runtime", "Log"):
                await call(f"{domain}.enable")
            await call(
                "Emulation.setDeviceMetricsOverride",
                width=width,
                height=2000,
                deviceScaleFactor=1,
                mobile=False,
            )
            await call("Page.navigate", url=url)
            await loaded.wait()
            for name, expression in expressions.items():
                evaluated = await call(
                    "Runtime.evaluate", expression=expression, returnByValue=True
                )
                if "exceptionDetails" in evaluated:
                    raise RuntimeError(f"{name}: {evaluated['exceptionDetails']}")
                result.values[name] = evaluated.get("result", {}).get("value")
            shot = await call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
            result.screenshot = base64.b64decode(shot["data"])
            task.cancel()
    return result


def save_artifact(data: bytes, name: str) -> Path:
    """Test artifacts go to ./test-artifacts (ignored by git) for a person to look at."""
    folder = Path(__file__).resolve().parents[2] / "test-artifacts"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path
