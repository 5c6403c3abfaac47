"""A model in a runner behaves as it does in this process, its memory is its own and goes
back on unload, and a client that goes away stops its generation."""

from __future__ import annotations

import gc
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from assay.config import Settings
from assay.engines import CancelToken, LoadedModel, LoadOptions, Message, SamplingParams, collect
from assay.errors import ContextOverflowError
from assay.registry import ModelRegistry
from assay.runner import PROTOCOL_VERSION, RunnerModel, RunnerStats
from tests.server.conftest import RunningServer, running_server

HI = [Message("user", "What is the capital of France? Answer in one sentence.")]
GREEDY = SamplingParams(temperature=0.0, max_tokens=24)


@pytest.fixture(scope="module")
def in_runner(registry: ModelRegistry) -> Iterator[LoadedModel]:
    model = registry.load("smollm2-135m", LoadOptions(context_size=2048)).model
    yield model
    model.close()


def test_the_same_greedy_text_tokens_and_usage_as_in_this_process(
    in_runner: LoadedModel, smollm: LoadedModel
) -> None:
    assert isinstance(in_runner, RunnerModel) and not isinstance(smollm, RunnerModel)
    assert in_runner.pid not in (None, os.getpid())
    ours, theirs = list(smollm.chat(HI, GREEDY)), list(in_runner.chat(HI, GREEDY))
    assert [(c.text, c.tokens) for c in theirs] == [(c.text, c.tokens) for c in ours]
    assert theirs[-1].usage == ours[-1].usage
    assert in_runner.count_tokens("hello world") == smollm.count_tokens("hello world")
    assert in_runner.info.engine == "llamacpp" and in_runner.info.load_seconds > 0
    for capability in ("parallel", "grammar", "json_schema", "logprobs", "tools", "embeddings"):
        assert getattr(in_runner, capability) == getattr(smollm, capability), capability


def test_logprobs_grammar_and_embeddings_cross_the_channel(
    in_runner: LoadedModel, smollm: LoadedModel
) -> None:
    params = SamplingParams(temperature=0.0, max_tokens=6, logprobs=2, grammar='root ::= "yes"')
    text, _ = collect(in_runner.chat(HI, params))
    assert text == "yes"
    chunks = list(in_runner.chat(HI, SamplingParams(temperature=0.0, max_tokens=4, logprobs=2)))
    entries = [e for c in chunks for e in (c.logprobs or ())]
    assert len(entries) == 4 and all(len(e.top) == 2 for e in entries)
    local = [
        e
        for c in smollm.chat(HI, SamplingParams(temperature=0.0, max_tokens=4, logprobs=2))
        for e in (c.logprobs or ())
    ]
    assert [e.token for e in entries] == [e.token for e in local]
    assert all(abs(a.logprob - b.logprob) < 1e-4 for a, b in zip(entries, local, strict=True))
    vectors = in_runner.embed(["a sentence", "another one"]).vectors
    assert len(vectors) == 2 and vectors[0] == smollm.embed(["a sentence"]).vectors[0]


def test_a_refusal_comes_when_the_request_is_made_and_a_cancel_stops_it(
    in_runner: LoadedModel,
) -> None:
    with pytest.raises(ContextOverflowError, match="larger --ctx"):
        in_runner.chat([Message("user", "word " * 3000)], GREEDY)  # before any chunk is read
    cancel = CancelToken()
    stream = in_runner.chat(HI, SamplingParams(temperature=0.0, max_tokens=500), cancel)
    next(stream)
    cancel.cancel()
    rest = list(stream)
    assert rest[-1].finish_reason == "cancelled" and sum(c.tokens for c in rest) < 20


def test_stats_are_the_runners_own(in_runner: LoadedModel) -> None:
    assert isinstance(in_runner, RunnerModel)
    stats = in_runner.stats()
    assert isinstance(stats, RunnerStats) and stats.pid == in_runner.pid != os.getpid()
    # SmolLM2's 98 MB of weights are mapped and read in the runner, not here.
    assert stats.rss_bytes > 100_000_000 and stats.peak_rss_bytes >= stats.rss_bytes
    assert stats.cpu_seconds > 0 and stats.active == 0 and stats.slots == 1
    assert PROTOCOL_VERSION == 1


def _rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


def test_after_unload_this_processs_memory_is_back_within_20_mb() -> None:
    registry = ModelRegistry(Settings())
    with running_server(registry) as server:
        for name in ("smollm2-135m", "gemma3-270m"):  # the first load warms imports
            httpx.post(f"{server.base_url}/models/{name}/load", timeout=120).raise_for_status()
            httpx.post(f"{server.base_url}/models/{name}/unload", timeout=60).raise_for_status()
        before = _rss()
        for name in ("smollm2-135m", "gemma3-270m"):
            httpx.post(f"{server.base_url}/models/{name}/load", timeout=120).raise_for_status()
        loaded = httpx.get(f"{server.base_url}/models/loaded", timeout=10).json()["data"]
        assert all(m["rss_bytes"] > 100_000_000 and m["pid"] != os.getpid() for m in loaded)
        for name in ("smollm2-135m", "gemma3-270m"):
            httpx.post(f"{server.base_url}/models/{name}/unload", timeout=60).raise_for_status()
        after = _rss()
    assert after - before < 20_000_000, f"{(after - before) / 1e6:.1f} MB kept after unload"


def test_the_memory_check_counts_a_models_measured_footprint(tmp_path: Path) -> None:
    models = tmp_path / "models.json"
    models.write_text(json.dumps({"light": {"fake": {"memory_bytes": 1_000_000}}}))
    registry = ModelRegistry(Settings(models_file=models))
    # 10 MB: the engine's estimate (1 MB) fits, a Python runner's footprint (~20 MB) does not.
    with running_server(registry, memory_budget_bytes=10_000_000, parallel=1) as server:
        first = httpx.post(f"{server.base_url}/models/light/load", timeout=60)
        assert first.status_code == 200, first.text
        httpx.post(f"{server.base_url}/models/light/unload", timeout=60).raise_for_status()
        again = httpx.post(f"{server.base_url}/models/light/load", timeout=60)
    assert again.status_code == 500
    assert again.json()["error"]["code"] == "insufficient_memory"
    assert "not loading 'light:user': it needs about" in again.json()["error"]["message"]


def _metric(server: RunningServer, name: str) -> float:
    for line in httpx.get(f"{server.url}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.parametrize("stream", [False, True])
def test_a_client_that_goes_away_stops_its_generation(
    fake_registry: ModelRegistry, stream: bool
) -> None:
    """curl gave up at 2 s on a long request: its generation must stop, streamed or not."""
    active = 'assay_active_generations{model="streamer:user"}'
    cancelled = 'assay_cancelled_generations_total{model="streamer:user"}'
    body = {
        "model": "streamer",
        "messages": [{"role": "user", "content": "go on"}],
        "max_tokens": 1500,  # 15 s at a token every 10 ms
        "stream": stream,
    }
    with running_server(fake_registry) as server:
        request = (
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(json.dumps(body))}\r\n\r\n"
            f"{json.dumps(body)}"
        )
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as client:
            client.sendall(request.encode())
            deadline = time.monotonic() + 10
            while _metric(server, active) != 1:
                assert time.monotonic() < deadline, "the generation never started"
                time.sleep(0.02)
            time.sleep(0.3)
        gone = time.monotonic()  # the client closed its connection
        while _metric(server, active) != 0:
            assert time.monotonic() - gone < 2, "the generation went on without its client"
            time.sleep(0.02)
        assert _metric(server, cancelled) == 1
