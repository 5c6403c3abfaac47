"""The server reads what a model declares it can do (LoadedModel.parallel, observe), with an
engine from outside assay: one slot, or several, and then a clear 429 once the queue is full."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import httpx
import pytest

from assay.config import Settings
from assay.engines import Engine, EngineContext
from assay.engines.factories import ENTRY_POINT_GROUP
from assay.registry import ModelRegistry
from tests.engines.echo_engine import EchoEngine
from tests.server.conftest import RunningServer, running_server
from tests.server.test_lifecycle_and_errors import assert_openai_error, metric

MODEL = 'model="echo:user"'
BODY = {"model": "echo", "messages": [{"role": "user", "content": "hello there"}]}


@dataclass(frozen=True)
class Point:
    """An installed package's entry point, its factory given directly."""

    name: str
    factory: Callable[[EngineContext], Engine]
    value: str = "tests:factory"

    def load(self) -> Callable[[EngineContext], Engine]:
        return self.factory


def echo_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: EchoEngine
) -> ModelRegistry:
    original = metadata.entry_points

    def entry_points(*, group: str) -> object:
        if group == ENTRY_POINT_GROUP:
            return [Point("echo", lambda context: engine)]
        return original(group=group)

    monkeypatch.setattr(metadata, "entry_points", entry_points)
    weights = tmp_path / "echo.bin"
    weights.write_bytes(b"echo")
    models = tmp_path / "models.json"
    models.write_text(json.dumps({"echo": {"path": str(weights), "engine": "echo"}}))
    return ModelRegistry(Settings(models_file=models, runners=False))  # the gate is ours


def wait_for(server: RunningServer, name: str, value: float) -> None:
    deadline = time.monotonic() + 10
    while metric(server, name) != value:
        assert time.monotonic() < deadline, f"{name} never reached {value}"
        time.sleep(0.02)


@pytest.mark.parametrize("parallel", [1, 2])
def test_a_model_serves_the_requests_it_declares_then_the_queue_then_429(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel: int
) -> None:
    gate = threading.Event()
    registry = echo_registry(tmp_path, monkeypatch, EchoEngine(parallel, gate))
    with running_server(registry, max_queue=1) as server:
        url = f"{server.base_url}/chat/completions"
        with ThreadPoolExecutor(parallel + 1) as pool:
            replies = [pool.submit(httpx.post, url, json=BODY, timeout=30)]
            wait_for(server, f"assay_active_generations{{{MODEL}}}", 1)  # loaded, running
            replies += [
                pool.submit(httpx.post, url, json=BODY, timeout=30) for _ in range(parallel)
            ]
            wait_for(server, f"assay_active_generations{{{MODEL}}}", parallel)
            wait_for(server, f"assay_queue_depth{{{MODEL}}}", 1)
            assert_openai_error(httpx.post(url, json=BODY, timeout=10), 429, "queue_full")
            gate.set()
            assert [r.result().json()["choices"][0]["message"]["content"] for r in replies] == [
                "hello there "
            ] * (parallel + 1)
        text = httpx.get(f"{server.url}/metrics").text
        assert metric(server, f"assay_slots{{{MODEL}}}") == parallel
        # The model observes no batches: no series for them.
        assert f"assay_busy_slots{{{MODEL}}}" not in text
        assert f"assay_batch_tokens_count{{{MODEL}}}" not in text
