"""assay.Manager with the official openai client: start, reuse, close, a stale record. The
servers are real `assay serve` processes; the models they load are fakes (the fake engine)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import openai
import psutil
import pytest

from assay.config import Settings
from assay.errors import AssayError
from assay.manager import Manager
from assay.server.state import ServerState, read_state, state_path, write_state


@pytest.fixture
def home(tmp_path: Path) -> Settings:
    """A fresh home per test (no server record yet) whose models.json adds two fakes."""
    fakes = {"mock": {"engine": "fake"}, "mock-b": {"engine": "fake"}}
    (tmp_path / "models.json").write_text(json.dumps(fakes))
    return Settings(home=tmp_path)


def ask(manager: Manager, alias: str) -> str:
    client = openai.OpenAI(base_url=manager.endpoint, api_key=manager.api_key, max_retries=0)
    reply = client.chat.completions.create(
        model=manager.model_info(alias).id,
        messages=[{"role": "user", "content": "Say hello."}],
        temperature=0,
        max_tokens=8,
    )
    return reply.choices[0].message.content or ""


def test_start_load_chat_and_close(home: Settings) -> None:
    with Manager("mock", settings=home) as manager:
        assert manager.endpoint.startswith("http://127.0.0.1:")
        assert manager.loaded() == ["mock:user"]
        assert ask(manager, "mock")
        state = read_state(home.home)
        assert state is not None and manager.endpoint == f"{state.base_url}/v1"
        pid = state.pid
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not state_path(home.home).exists()


def test_two_managers_share_one_server(home: Settings) -> None:
    first = Manager(settings=home)
    second = Manager("mock-b", settings=home)
    try:
        assert first.endpoint == second.endpoint
        assert "mock-b:user" in first.loaded()
        first.close()
        assert ask(second, "mock-b")  # still up: the other manager holds it
    finally:
        second.close()


def test_catalog_cache_and_model_info(home: Settings) -> None:
    manager = Manager(bootstrap=False, settings=home)
    info = manager.model_info("smollm2-135m")
    assert (info.id, info.variant, info.license, info.cached) == (
        "smollm2-135m",
        "smollm2-135m:q4_1",
        "Apache-2.0",
        True,
    )
    assert info.size_bytes == 98362432 and "chat" in info.capabilities
    assert {m.id for m in manager.list_cached()} == {
        "smollm2-135m",
        "gemma3-270m",
        "mock",
        "mock-b",
    }
    assert "mistral-7b" in {m.id for m in manager.list_catalog()}
    assert manager.download("smollm2-135m").name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    with pytest.raises(AssayError, match="unknown model 'smollm'; did you mean"):
        manager.model_info("smollm")
    with pytest.raises(AssayError, match="has no server"):
        _ = manager.endpoint


def test_a_stale_record_of_a_crashed_server_is_replaced(home: Settings) -> None:
    write_state(
        home.home, ServerState(pid=os.getpid(), host="127.0.0.1", port=9, api_key_required=False)
    )
    with Manager(settings=home) as manager:
        assert not manager.endpoint.startswith("http://127.0.0.1:9/")
        pid = read_state(home.home).pid  # type: ignore[union-attr]
        os.kill(pid, signal.SIGKILL)  # the server crashes
        psutil.Process(pid).wait(10)
    with Manager("mock", settings=home) as again:
        assert ask(again, "mock")


def test_an_existing_server_is_found_not_duplicated(home: Settings) -> None:
    with Manager(settings=home) as owner:
        endpoint = owner.endpoint
        other_process_view = read_state(home.home)
        assert other_process_view is not None
    assert endpoint


def test_errors_are_assay_errors_with_the_cli_message(home: Settings) -> None:
    with Manager(settings=home) as manager, pytest.raises(AssayError, match="unknown model 'nope'"):
        manager.load("nope")
