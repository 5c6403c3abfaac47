"""Queueing, cancellation, model lifecycle, security and error shapes of a real server, over
fake models (the fake engine: tests/server/conftest.py's FAKES). The two tests that need
llama.cpp itself, a corrupt GGUF and batched decoding, run the bundled models and are slow."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.server.conftest import RunningServer, ServerFactory

LONG = {
    "model": "streamer",
    "messages": [{"role": "user", "content": "Write a very long story about the sea."}],
    "temperature": 0,
    "max_tokens": 3000,
    "stream": True,
}


def metric(server: RunningServer, name: str) -> float:
    text = httpx.get(f"{server.url}/metrics").text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name):
            total += float(line.rsplit(" ", 1)[1])
    return total


def assert_openai_error(
    response: httpx.Response, status: int, code: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"] and "Traceback" not in error["message"]
    if code is not None:
        assert error["code"] == code
    return error


def test_bad_bodies_get_openai_shaped_400s(fake_server: RunningServer) -> None:
    url = f"{fake_server.base_url}/chat/completions"
    ok = {"model": "fake", "messages": [{"role": "user", "content": "hi"}]}
    assert (
        "not valid JSON"
        in assert_openai_error(
            httpx.post(url, content=b"{bad", headers={"content-type": "application/json"}), 400
        )["message"]
    )
    assert assert_openai_error(httpx.post(url, json={"model": "fake"}), 400)["param"] == "messages"
    assert (
        assert_openai_error(httpx.post(url, json={**ok, "temperature": 5}), 400)["param"]
        == "temperature"
    )
    assert_openai_error(httpx.post(url, json={**ok, "n": 2}), 400)
    assert_openai_error(httpx.post(url, json=[1, 2]), 400)
    assert_openai_error(httpx.post(url, json={**ok, "model": "nope"}), 404, "model_not_found")
    big = {**ok, "messages": [{"role": "user", "content": "x" * 5_000_000}]}
    assert_openai_error(httpx.post(url, json=big), 413, "request_too_large")


def test_unknown_model_with_the_openai_client(fake_server: RunningServer) -> None:
    api = openai.OpenAI(base_url=fake_server.base_url, api_key="x", max_retries=0)
    with pytest.raises(openai.NotFoundError, match="did you mean 'smollm2-135m'"):
        api.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": "hi"}])


def test_foreign_host_header_is_refused(fake_server: RunningServer) -> None:
    server = fake_server
    response = httpx.get(f"{server.url}/v1/models", headers={"Host": "attacker.example:5273"})
    assert_openai_error(response, 403, "host_not_allowed")
    assert httpx.get(f"{server.url}/v1/models", headers={"Host": "localhost:5273"}).is_success


def test_api_key_guards_every_route_but_health(make_fake_server: ServerFactory) -> None:
    with make_fake_server(api_key="s3cret") as server:
        assert httpx.get(f"{server.url}/health").status_code == 200
        assert_openai_error(httpx.get(f"{server.base_url}/models"), 401, "invalid_api_key")
        assert_openai_error(httpx.get(f"{server.url}/metrics"), 401)
        wrong = openai.OpenAI(base_url=server.base_url, api_key="nope", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            wrong.models.list()
        right = openai.OpenAI(base_url=server.base_url, api_key="s3cret", max_retries=0)
        assert right.models.list().data


def test_cors_is_off_unless_an_origin_is_given(
    fake_server: RunningServer, make_fake_server: ServerFactory
) -> None:
    headers = {"Origin": "http://app.example", "Access-Control-Request-Method": "POST"}
    preflight = httpx.options(f"{fake_server.base_url}/chat/completions", headers=headers)
    assert "access-control-allow-origin" not in preflight.headers
    with make_fake_server(cors_origins=("http://app.example",)) as cors:
        allowed = httpx.options(f"{cors.base_url}/chat/completions", headers=headers)
        assert allowed.headers["access-control-allow-origin"] == "http://app.example"


def _start_long_stream(url: str, started: threading.Event, stop: threading.Event) -> None:
    with httpx.Client(timeout=120) as http, http.stream("POST", url, json=LONG) as response:
        for line in response.iter_lines():
            if line.startswith("data: {") and '"content":"' in line:
                started.set()
            if stop.is_set():
                return  # closing the response drops the connection mid-stream


def test_a_client_disconnect_cancels_its_generation(make_fake_server: ServerFactory) -> None:
    with make_fake_server(parallel=1) as server:  # one slot: a generation left would block
        url = f"{server.base_url}/chat/completions"
        started, stop = threading.Event(), threading.Event()
        reader = threading.Thread(target=_start_long_stream, args=(url, started, stop))
        reader.start()
        assert started.wait(60)
        stop.set()
        reader.join(30)
        deadline = time.monotonic() + 10
        while metric(server, "assay_cancelled_generations_total") < 1:
            assert time.monotonic() < deadline, "the generation was not cancelled"
            time.sleep(0.05)
        # The next request starts at once: nothing is left running ahead of it.
        reply = httpx.post(url, json={**LONG, "stream": False, "max_tokens": 4}, timeout=60)
        assert reply.json()["timings"]["queue_ms"] < 50


@pytest.mark.parametrize("slots", [1, 2])
def test_requests_beyond_the_slots_wait_then_429(
    make_fake_server: ServerFactory, slots: int
) -> None:
    with make_fake_server(max_queue=1, parallel=slots) as server:
        url = f"{server.base_url}/chat/completions"
        stop = threading.Event()
        runners = []
        for _ in range(slots):  # every slot busy with a long stream
            started = threading.Event()
            runners.append(threading.Thread(target=_start_long_stream, args=(url, started, stop)))
            runners[-1].start()
            assert started.wait(60)
        waiting = threading.Thread(
            target=httpx.post,
            args=(url,),
            kwargs={"json": {**LONG, "max_tokens": 2, "stream": False}, "timeout": 120},
        )
        waiting.start()
        deadline = time.monotonic() + 10
        while metric(server, 'assay_queue_depth{model="streamer:user"}') < 1:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        overflow = httpx.post(url, json={**LONG, "stream": False}, timeout=10)
        assert_openai_error(overflow, 429, "queue_full")
        assert overflow.headers["retry-after"] == "1"
        assert httpx.get(f"{server.url}/health", timeout=2).status_code == 200
        assert metric(server, 'assay_busy_slots{model="streamer:user"}') == (
            slots if slots > 1 else 0  # the unbatched path has no slots to report
        )
        stop.set()
        for runner in runners:
            runner.join(30)
        waiting.join(60)
        assert metric(server, "assay_rejected_requests_total") == 1


def test_idle_models_unload_after_the_ttl(make_fake_server: ServerFactory) -> None:
    with make_fake_server(ttl=0.3) as server:
        assert httpx.post(f"{server.base_url}/models/fake/load", timeout=60).is_success
        deadline = time.monotonic() + 10
        while httpx.get(f"{server.base_url}/models/loaded").json()["data"]:
            assert time.monotonic() < deadline, "the idle model was not unloaded"
            time.sleep(0.1)
        assert metric(server, 'assay_model_unloads_total{model="fake:user",reason="ttl"}') == 1


def test_max_loaded_evicts_the_least_recently_used(make_fake_server: ServerFactory) -> None:
    with make_fake_server(max_loaded=1) as server, httpx.Client(timeout=60) as http:
        assert http.post(f"{server.base_url}/models/fake/load").is_success
        completion = http.post(
            f"{server.base_url}/completions",
            json={"model": "fake-b", "prompt": "Hello", "max_tokens": 2},
        )
        assert completion.json()["usage"]["completion_tokens"] == 2
        loaded = [m["name"] for m in http.get(f"{server.base_url}/models/loaded").json()["data"]]
        assert loaded == ["fake-b:user"]
        assert metric(server, 'assay_model_unloads_total{model="fake:user",reason="evicted"}') == 1


def test_a_model_too_big_for_memory_is_refused_before_loading(
    make_fake_server: ServerFactory,
) -> None:
    with make_fake_server(memory_budget_bytes=50_000_000) as server:
        response = httpx.post(
            f"{server.base_url}/chat/completions",
            json={"model": "big", "messages": [{"role": "user", "content": "hi"}]},
            timeout=60,
        )
        error = assert_openai_error(response, 500, "insufficient_memory")
        assert re.search(r"needs about \d+\.\d MB .* but 50\.0 MB is available", error["message"])
        assert "'big:user'" in error["message"] and "98.0 MB" in error["message"]
        assert httpx.get(f"{server.base_url}/models/loaded").json()["data"] == []


def test_a_model_that_fails_to_load_is_a_500_with_the_reason(fake_server: RunningServer) -> None:
    response = httpx.post(
        f"{fake_server.base_url}/completions",
        json={"model": "unloadable", "prompt": "x"},
        timeout=60,
    )
    error = assert_openai_error(response, 500, "model_load_failed")
    assert error["message"] == "loading 'unloadable:user' failed: the weights are gone"
    assert httpx.get(f"{fake_server.url}/health").status_code == 200
    assert "unloadable:user" not in httpx.get(f"{fake_server.url}/health").json()["loaded"]


@pytest.mark.slow
def test_a_corrupt_model_fails_its_load_with_the_reason(
    make_server: ServerFactory,
    tmp_path: Path,
    smollm_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from assay.config import Settings
    from assay.registry import ModelRegistry
    from tests.server.conftest import running_server

    broken = tmp_path / "broken.gguf"
    broken.write_bytes(smollm_path.read_bytes()[:2_000_000])
    models = tmp_path / "models.json"
    models.write_text(json.dumps({"broken": {"path": str(broken)}}))
    registry = ModelRegistry(Settings(models_file=models))
    with running_server(registry) as server:
        response = httpx.post(
            f"{server.base_url}/completions", json={"model": "broken", "prompt": "x"}, timeout=60
        )
        error = assert_openai_error(response, 500)
        assert "truncated or corrupt" in error["message"]
        assert httpx.get(f"{server.url}/health").status_code == 200


def test_many_overlapping_load_requests_load_once(make_fake_server: ServerFactory) -> None:
    async def main(server: RunningServer) -> None:
        async with httpx.AsyncClient(timeout=60) as http:
            replies = await asyncio.gather(
                *(http.post(f"{server.base_url}/models/slow-loader/load") for _ in range(5))
            )
            assert all(r.status_code == 200 for r in replies)

    with make_fake_server() as server:  # each load of slow-loader takes 0.3 s
        asyncio.run(main(server))
        text = httpx.get(f"{server.url}/metrics").text
        assert "assay_loaded_models 1.0" in text


@pytest.mark.slow
def test_concurrent_streams_are_decoded_together(make_server: ServerFactory) -> None:
    with make_server(parallel=4) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="none")

        def ask(question: str) -> tuple[str, int]:
            stream = client.chat.completions.create(
                model="smollm2-135m",
                messages=[{"role": "user", "content": question}],
                max_tokens=32,
                temperature=0,
                stream=True,
                stream_options={"include_usage": True},
            )
            events = list(stream)
            text = "".join(e.choices[0].delta.content or "" for e in events if e.choices)
            usage = events[-1].usage
            assert usage is not None
            return text, usage.completion_tokens

        questions = [f"Write a sentence about the number {n}." for n in range(4)]
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(ask, questions))
        assert all(text and 0 < tokens <= 32 for text, tokens in answers), answers
        model = 'model="smollm2-135m:q4_1"'
        assert metric(server, f"assay_slots{{{model}}}") == 4
        steps = metric(server, f"assay_batch_tokens_count{{{model}}}")
        single = metric(server, f'assay_batch_tokens_bucket{{le="1.0",{model}}}')
        assert steps > 0 and single < steps  # some steps decoded several sequences at once
        assert metric(server, f"assay_busy_slots{{{model}}}") == 0


def test_a_generation_that_fails_is_a_500_or_an_error_in_the_stream(
    fake_server: RunningServer,
) -> None:
    url = f"{fake_server.base_url}/chat/completions"
    hi = [{"role": "user", "content": "hi"}]
    failed = "the fake model failed after {} tokens (fail_after)"
    before = httpx.post(url, json={"model": "faulty-at-once", "messages": hi}, timeout=60)
    assert assert_openai_error(before, 500, "model_error")["message"] == failed.format(0)
    whole = httpx.post(url, json={"model": "faulty", "messages": hi}, timeout=60)
    assert assert_openai_error(whole, 500, "model_error")["message"] == failed.format(3)
    # Once text has gone out, the status is sent: the error comes in the stream, then [DONE].
    body = {"model": "faulty", "messages": hi, "stream": True}
    with httpx.stream("POST", url, json=body, timeout=60) as response:
        assert response.status_code == 200
        events = [line.removeprefix("data: ") for line in response.iter_lines() if line]
    assert events[-1] == "[DONE]"
    parsed = [json.loads(event) for event in events[:-1]]
    texts = [e["choices"][0]["delta"].get("content") for e in parsed[1:-1]]
    assert len(texts) == 3 and all(texts)
    # The same error object as a failure before the first token gets (a 500's body).
    assert parsed[-1] == {
        "error": {
            "message": failed.format(3),
            "type": "server_error",
            "param": None,
            "code": "model_error",
        }
    }
    assert httpx.get(f"{fake_server.url}/health").status_code == 200


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"logprobs": True, "top_logprobs": 2}, "logprobs"),
    ],
)
def test_what_the_model_cannot_do_is_a_400_naming_the_field(
    fake_server: RunningServer, fields: dict[str, Any], param: str
) -> None:
    body = {"model": "fake", "messages": [{"role": "user", "content": "hi"}], **fields}
    response = httpx.post(f"{fake_server.base_url}/chat/completions", json=body, timeout=60)
    error = assert_openai_error(response, 400, "unsupported_parameter")
    assert error["param"] == param
    assert error["message"].startswith(f"{param} needs a model that ")
    assert error["message"].endswith(
        "fake runs on the fake engine, which cannot: use a llama.cpp model"
    )


def test_prompt_longer_than_the_context_is_a_400(fake_server: RunningServer) -> None:
    api = openai.OpenAI(base_url=fake_server.base_url, api_key="unused", max_retries=0)
    with pytest.raises(openai.BadRequestError) as info:
        api.chat.completions.create(
            model="fake",
            messages=[{"role": "user", "content": "word " * 5000}],
            max_tokens=4,
        )
    assert info.value.code == "context_length_exceeded"
    assert "the prompt is 5002 tokens but the context holds 4096" in info.value.message
