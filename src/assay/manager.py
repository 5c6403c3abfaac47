"""`assay.Manager`: find or start a local `assay serve`, load models, and hand the endpoint to
any OpenAI client — the way Foundry Local's `FoundryLocalManager` is used.

    with Manager("smollm2-135m") as manager:
        client = openai.OpenAI(base_url=manager.endpoint, api_key=manager.api_key)
        client.chat.completions.create(model=manager.model_info("smollm2-135m").id, ...)
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from assay import openai_wire as wire
from assay.catalog import ModelEntry, Variant
from assay.config import Settings
from assay.errors import AssayError
from assay.registry import ModelRegistry
from assay.server.state import read_state

__all__ = ["Manager", "ModelInfo"]


@dataclass(frozen=True)
class ModelInfo:
    """What a model is, as the catalog and the cache know it on this machine."""

    id: str
    variant: str
    display_name: str | None
    size_bytes: int | None
    license: str
    capabilities: tuple[str, ...]
    cached: bool


@dataclass
class _Server:
    base_url: str
    api_key: str | None
    process: subprocess.Popen[bytes] | None
    users: int = 0


@dataclass
class _ServerPool:
    """One local server per interpreter and cache, shared by every Manager (Foundry Local's
    manager shares one service the same way). A server this process started stops when its
    last Manager closes, or when the interpreter exits."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    servers: dict[Path, _Server] = field(default_factory=dict)
    exit_hook: bool = False

    def acquire(self, settings: Settings, api_key: str | None, timeout: float) -> _Server:
        with self.lock:
            home = settings.home.resolve()
            server = self.servers.get(home)
            if server is None or (server.process and server.process.poll() is not None):
                server = _find(settings, api_key) or _start(settings, api_key, timeout)
                self.servers[home] = server
            if not self.exit_hook:
                atexit.register(self.stop_all)
                self.exit_hook = True
            server.users += 1
            return server

    def release(self, settings: Settings) -> None:
        with self.lock:
            home = settings.home.resolve()
            server = self.servers.get(home)
            if server is None:
                return
            server.users -= 1
            if server.users <= 0:
                del self.servers[home]
                _stop(server)

    def stop_all(self) -> None:
        with self.lock:
            for server in self.servers.values():
                _stop(server)
            self.servers.clear()


_POOL = _ServerPool()


def _healthy(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _find(settings: Settings, api_key: str | None) -> _Server | None:
    """A server recorded in ASSAY_HOME whose process runs and answers; a stale record of a
    crashed server is ignored."""
    state = read_state(settings.home)
    if state is None or not _healthy(state.base_url):
        return None
    if state.api_key_required and not api_key:
        raise AssayError(
            f"the assay server at {state.base_url} needs an API key; pass api_key= or set "
            "ASSAY_API_KEY"
        )
    return _Server(state.base_url, api_key, process=None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(settings: Settings, api_key: str | None, timeout: float) -> _Server:
    port = _free_port()
    settings.home.mkdir(parents=True, exist_ok=True)
    log_path = settings.home / "serve.log"
    command = [sys.executable, "-m", "assay", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if api_key:
        command += ["--api-key", api_key]
    env = {**os.environ, "ASSAY_HOME": str(settings.home)}
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            env=env,
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in a notebook must not kill the server mid-cell
        )
    server = _Server(f"http://127.0.0.1:{port}", api_key, process)
    deadline = time.monotonic() + timeout
    while not _healthy(server.base_url):
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(server)
            tail = log_path.read_text("utf-8", errors="replace")[-500:].strip().splitlines()
            reason = tail[-1] if tail else "no output"
            raise AssayError(f"could not start assay serve ({reason}); see {log_path}")
        time.sleep(0.05)
    return server


def _stop(server: _Server) -> None:
    if server.process is None or server.process.poll() is not None:
        return
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(10)


class Manager:
    """Finds (or starts) a local `assay serve` and manages models on it.

    `Manager(alias)` also loads that model. Errors are assay's own `AssayError`s, with the
    same one-line messages as the CLI.
    """

    def __init__(
        self,
        alias: str | None = None,
        *,
        bootstrap: bool = True,
        api_key: str | None = None,
        timeout: float = 60.0,
        settings: Settings | None = None,
    ) -> None:
        self._settings = settings or Settings()
        self._registry = ModelRegistry(self._settings)
        self._api_key = api_key or self._settings.api_key
        self._timeout = timeout
        self._server: _Server | None = None
        if bootstrap:
            self.start()
        if alias is not None:
            self.load(alias)

    def start(self) -> None:
        """Find the local server, or start one on a free loopback port."""
        if self._server is None:
            self._server = _POOL.acquire(self._settings, self._api_key, self._timeout)

    def close(self) -> None:
        """Let go of the server; one this process started stops with its last Manager."""
        if self._server is not None:
            self._server = None
            _POOL.release(self._settings)

    def __enter__(self) -> Manager:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def endpoint(self) -> str:
        """The OpenAI base URL, e.g. http://127.0.0.1:PORT/v1."""
        return f"{self._require_server().base_url}/v1"

    @property
    def api_key(self) -> str:
        """The key to give the OpenAI client (any string when the server needs none)."""
        return self._api_key or "assay"

    def list_catalog(self) -> list[ModelInfo]:
        return [self._info(entry) for entry in self._registry.catalog.values()]

    def list_cached(self) -> list[ModelInfo]:
        return [info for info in self.list_catalog() if info.cached]

    def model_info(self, alias: str) -> ModelInfo:
        resolved = self._registry.resolve(alias)
        return self._info(resolved.entry, resolved.variant)

    def download(self, alias: str) -> Path:
        """Pull a model into the cache (a no-op for a cached or bundled one); its path."""
        from assay.store.download import pull

        return pull(self._settings, self._registry.resolve(alias)).path

    def load(self, alias: str) -> ModelInfo:
        info = self.model_info(alias)
        self._post(f"/v1/models/{alias}/load")
        return info

    def unload(self, alias: str) -> None:
        self._post(f"/v1/models/{alias}/unload")

    def loaded(self) -> list[str]:
        body = self._request("GET", "/v1/models/loaded")
        return [item["name"] for item in body["data"]]

    def _info(self, entry: ModelEntry, variant: Variant | None = None) -> ModelInfo:
        if variant is None:
            variant = self._registry.resolve(entry.alias).variant
        return ModelInfo(
            id=entry.alias,
            variant=f"{entry.alias}:{variant.name}",
            display_name=entry.display_name,
            size_bytes=variant.size_bytes,
            license=entry.license,
            capabilities=entry.capabilities,
            cached=self._registry.is_cached(entry, variant),
        )

    def _require_server(self) -> _Server:
        if self._server is None:
            raise AssayError("this Manager has no server: call start() (or bootstrap=True)")
        return self._server

    def _post(self, path: str) -> dict[str, Any]:
        return self._request("POST", path)

    def _request(self, method: str, path: str) -> dict[str, Any]:
        server = self._require_server()
        headers = {"Authorization": f"Bearer {self.api_key}"}
        try:
            response = httpx.request(
                method, server.base_url + path, headers=headers, timeout=self._timeout * 5
            )
        except httpx.HTTPError as exc:
            raise AssayError(
                f"the assay server at {server.base_url} did not answer: {exc}"
            ) from None
        if response.status_code >= 400:
            raise AssayError(wire.parse_error(response.content).message)
        body: dict[str, Any] = response.json()
        return body
