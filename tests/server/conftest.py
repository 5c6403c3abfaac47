"""A real assay server on a free loopback port, run by uvicorn in a thread: over the bundled
models (`server`, `make_server`), or over fake models that load nothing (`fake_server`,
`make_fake_server`) for what the server does around a model; `adapter_registry` has an
adapter that can do nothing beyond generating text."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from assay.config import Settings
from assay.registry import ModelRegistry
from assay.server.app import create_app
from assay.server.settings import ServerSettings


class RunningServer:
    def __init__(self, server: uvicorn.Server, settings: ServerSettings) -> None:
        self.server = server
        self.settings = settings
        port = server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.base_url = f"{self.url}/v1"


@contextmanager
def running_server(registry: ModelRegistry, **overrides: Any) -> Iterator[RunningServer]:
    settings = ServerSettings(port=0, **overrides)
    app = create_app(settings, registry)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield RunningServer(server, settings)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


ServerFactory = Callable[..., Any]


@pytest.fixture(scope="session")
def server(registry: ModelRegistry) -> Iterator[RunningServer]:
    """The default server, shared by the tests that do not change its settings."""
    with running_server(registry) as running:
        yield running


@pytest.fixture
def make_server(registry: ModelRegistry) -> ServerFactory:
    return lambda **overrides: running_server(registry, **overrides)


@pytest.fixture(scope="session")
def fake_server(fake_registry: ModelRegistry) -> Iterator[RunningServer]:
    """A default server over the fake models, shared by the tests that keep its settings."""
    with running_server(fake_registry) as running:
        yield running


@pytest.fixture
def make_fake_server(fake_registry: ModelRegistry) -> ServerFactory:
    return lambda **overrides: running_server(fake_registry, **overrides)


@pytest.fixture
def adapter_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModelRegistry:
    """The model "plain", an example adapter (no min_tokens, no tokenizer), in a runner."""
    examples = Path(__file__).resolve().parents[2] / "examples" / "custom_adapter"
    models = tmp_path / "models.json"
    models.write_text(json.dumps({"plain": {"adapter": "broken_adapters:PlainText"}}))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(examples), os.environ.get("PYTHONPATH", "")])
    )
    monkeypatch.syspath_prepend(str(examples))
    return ModelRegistry(Settings(models_file=models))
