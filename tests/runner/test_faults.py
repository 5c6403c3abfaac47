"""Runners with real faults: a segfault, os._exit(1) mid-stream, a hang, and `kill -9` of a
runner mid-stream. In each case the server stays up and answers another model, the client
gets a clear error, the next request to that model works in a fresh runner, and /metrics
counts the crash by model and signal."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import psutil
import pytest

from assay.config import Settings
from assay.engines import Message, SamplingParams, collect
from assay.errors import ModelCrashedError
from assay.registry import ModelRegistry
from assay.runner import RunnerModel
from tests.server.conftest import RunningServer, running_server

FAULTY = "faulty:user"


@pytest.fixture(scope="module")
def faulty_settings(tmp_path_factory: pytest.TempPathFactory, shared_home: Path) -> Settings:
    models = tmp_path_factory.mktemp("faulty") / "models.json"
    models.write_text(
        json.dumps(
            {
                "faulty": {"adapter": "tests.runner.faulty:Faulty"},
                "segfaults": {"adapter": "tests.runner.faulty:Segfaults"},
                "other": {"fake": {"words": 8}},
            }
        )
    )
    return Settings(home=shared_home, models_file=models, runner_stall_s=1.5)


@pytest.fixture(scope="module")
def faulty_server(faulty_settings: Settings) -> Iterator[RunningServer]:
    with running_server(ModelRegistry(faulty_settings)) as running:
        yield running


def chat(server: RunningServer, model: str, text: str, **extra: Any) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": text}], **extra}
    return httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=60)


def metrics(server: RunningServer) -> str:
    return httpx.get(f"{server.url}/metrics", timeout=10).text


def crashes(server: RunningServer, label: str) -> float:
    line = f'assay_runner_crashes_total{{model="{FAULTY}",signal="{label}"}} '
    found = [row for row in metrics(server).splitlines() if row.startswith(line)]
    return float(found[0].split()[-1]) if found else 0.0


def runner_pid(server: RunningServer, name: str = FAULTY) -> int:
    loaded = httpx.get(f"{server.base_url}/models/loaded", timeout=10).json()["data"]
    (entry,) = [m for m in loaded if m["name"] == name]
    return int(entry["pid"])


def still_works(server: RunningServer) -> None:
    """Another model answers, and so does the faulty one, in a fresh runner."""
    other = chat(server, "other", "hello", max_tokens=8)
    assert other.status_code == 200, other.text
    again = chat(server, "faulty", "all is well", max_tokens=6)
    assert again.status_code == 200, again.text
    assert again.json()["choices"][0]["message"]["content"].startswith("user: all")


@pytest.mark.parametrize(
    ("fault", "label", "said"),
    [
        ("segfault", "SIGSEGV", "died: SIGSEGV (segmentation fault)"),
        ("exit", "exit", "died: exit code 1"),
        ("hang", "hang", "hung: no output for 1.5 s"),
    ],
)
def test_a_fault_fails_its_request_with_a_503_and_nothing_else(
    faulty_server: RunningServer, fault: str, label: str, said: str
) -> None:
    before = crashes(faulty_server, label)
    httpx.post(f"{faulty_server.base_url}/models/faulty/load", timeout=60).raise_for_status()
    started = time.monotonic()
    reply = chat(faulty_server, "faulty", f"please {fault} now", max_tokens=50)
    took = time.monotonic() - started
    assert reply.status_code == 503, reply.text
    error = reply.json()["error"]
    assert error["code"] == "model_crashed" and error["type"] == "server_error"
    assert error["message"].startswith(f"the runner for {FAULTY} {said}")
    assert "\n" not in error["message"] and "Traceback" not in error["message"]
    assert reply.headers["retry-after"] == "1"
    # Noticed within a second of the death; a hang, within a second of its deadline.
    assert took < (1.5 if fault != "hang" else 3.0)
    if fault == "segfault":
        assert "native stack: " in error["message"] and "string_at" in error["message"]
    assert crashes(faulty_server, label) == before + 1
    still_works(faulty_server)


def test_kill_9_of_a_runner_mid_stream_ends_the_stream_with_an_error_event(
    faulty_server: RunningServer,
) -> None:
    client = openai.OpenAI(base_url=faulty_server.base_url, api_key="none", max_retries=0)
    stream = client.chat.completions.create(
        model="faulty",
        messages=[{"role": "user", "content": "one two three four five"}],
        max_tokens=400,
        stream=True,
    )
    texts = []
    with pytest.raises(openai.APIError) as raised:
        for event in stream:
            texts.append(event.choices[0].delta.content or "" if event.choices else "")
            if len(texts) == 3:
                os.kill(runner_pid(faulty_server), signal.SIGKILL)
    assert texts[1:3] == ["user: ", "one "], "it streamed before the kill"
    assert f"the runner for {FAULTY} died: SIGKILL (killed)" in raised.value.message
    assert "out of memory?" in raised.value.message
    assert crashes(faulty_server, "SIGKILL") >= 1
    still_works(faulty_server)


def test_the_openai_client_sees_a_crash_as_a_503_it_may_retry(
    faulty_server: RunningServer,
) -> None:
    client = openai.OpenAI(base_url=faulty_server.base_url, api_key="none", max_retries=0)
    with pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(
            model="faulty", messages=[{"role": "user", "content": "now exit"}], max_tokens=20
        )
    assert raised.value.status_code == 503
    still_works(faulty_server)


def test_in_process_the_model_names_the_signal_and_refuses_further_work(
    faulty_settings: Settings,
) -> None:
    model = ModelRegistry(faulty_settings).load("faulty").model
    assert isinstance(model, RunnerModel) and model.pid != os.getpid()
    heard: list[ModelCrashedError] = []
    assert model.on_crash(heard.append)
    params = SamplingParams(max_tokens=40)
    with pytest.raises(ModelCrashedError) as raised:
        collect(model.chat([Message("user", "segfault please")], params))
    assert raised.value.cause == "SIGSEGV (segmentation fault)"
    assert raised.value.signal == signal.SIGSEGV and raised.value.exit_code == 128 + 11
    assert raised.value.stack and "Segmentation fault" in Path(raised.value.stack).read_text()
    Path(raised.value.stack).unlink()
    assert heard == [raised.value]
    with pytest.raises(ModelCrashedError):  # at once: the runner is gone
        model.count_tokens("hello")
    model.close()
    assert model.pid is not None and not psutil.pid_exists(model.pid)


def test_a_load_that_dies_is_an_error_and_leaves_no_process(tmp_path: Path) -> None:
    models = tmp_path / "models.json"
    models.write_text(json.dumps({"dies": {"adapter": "tests.runner.faulty:DiesLoading"}}))
    registry = ModelRegistry(Settings(home=tmp_path, models_file=models))
    children = set(psutil.Process().children())
    with pytest.raises(ModelCrashedError) as raised:
        registry.load("dies")
    assert "the runner for dies:user died while loading: SIGSEGV" in raised.value.message
    assert set(psutil.Process().children()) <= children
