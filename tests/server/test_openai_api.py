"""The OpenAI-compatible API, driven by the official openai client against a real server."""

from __future__ import annotations

import asyncio
import time

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.server.conftest import RunningServer

pytestmark = pytest.mark.slow

QUESTION: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "List 3 privacy benefits of local inference."}
]


def client(server: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)


def test_chat_completion_with_the_sync_client(server: RunningServer) -> None:
    reply = client(server).chat.completions.create(
        model="smollm2-135m", messages=QUESTION, temperature=0, max_tokens=24
    )
    assert reply.object == "chat.completion"
    assert reply.model == "smollm2-135m"
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == 24
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + 24
    assert reply.model_extra is not None
    timings = reply.model_extra["timings"]
    assert timings["predicted_n"] == 24 and timings["predicted_ms"] > 0


def test_streamed_text_equals_the_non_streamed_text(server: RunningServer) -> None:
    api = client(server)
    whole = api.chat.completions.create(
        model="smollm2-135m", messages=QUESTION, temperature=0, seed=3, max_tokens=40
    )
    stream = api.chat.completions.create(
        model="smollm2-135m",
        messages=QUESTION,
        temperature=0,
        seed=3,
        max_tokens=40,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "length" and set(finishes[:-1]) == {None}
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert whole.usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_async_client_and_eos_finish(server: RunningServer) -> None:
    async def ask() -> openai.types.chat.ChatCompletion:
        async with openai.AsyncOpenAI(
            base_url=server.base_url, api_key="unused", max_retries=0
        ) as api:
            return await api.chat.completions.create(
                model="smollm2-135m",
                messages=[{"role": "user", "content": "Say hello."}],
                temperature=0,
                max_tokens=300,
            )

    reply = asyncio.run(ask())
    assert reply.choices[0].finish_reason == "stop"
    assert reply.choices[0].message.content


def test_text_completion_on_the_base_model(server: RunningServer) -> None:
    reply = client(server).completions.create(
        model="gemma3-270m", prompt="The capital of France is", temperature=0, max_tokens=8
    )
    assert reply.object == "text_completion"
    assert reply.choices[0].text.strip()
    assert reply.usage is not None and reply.usage.completion_tokens <= 8


def test_stop_sequences(server: RunningServer) -> None:
    api = client(server)
    base = (
        api.chat.completions.create(
            model="smollm2-135m", messages=QUESTION, temperature=0, max_tokens=40
        )
        .choices[0]
        .message.content
        or ""
    )
    word = base.split()[2]
    cut = api.chat.completions.create(
        model="smollm2-135m", messages=QUESTION, temperature=0, max_tokens=40, stop=[word]
    )
    assert cut.choices[0].finish_reason == "stop"
    assert word not in (cut.choices[0].message.content or "")


def test_models_health_and_lifecycle_routes(server: RunningServer) -> None:
    models = client(server).models.list()
    ids = {m.id for m in models.data}
    assert {"smollm2-135m", "gemma3-270m"} <= ids
    assert "mistral-7b" not in ids  # not cached
    smol = next(m for m in models.data if m.id == "smollm2-135m")
    assert smol.model_extra is not None
    assert smol.model_extra["assay"]["license"] == "Apache-2.0"
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert http.get("/health").json()["status"] == "ok"
        assert http.post("/v1/models/gemma3-270m/load").json()["loaded"] == "gemma3-270m:q4_k_m"
        loaded = http.get("/v1/models/loaded").json()["data"]
        assert "gemma3-270m:q4_k_m" in [m["name"] for m in loaded]
        assert http.get("/openai/loadedmodels").status_code == 200
        assert http.get("/openai/status").json()["version"]
        assert http.post("/v1/models/gemma3-270m/unload").json()["unloaded"] is True
        assert http.get("/v1/models/mistral-7b").json()["assay"]["variants"][0]["cached"] is False


def test_metrics_in_prometheus_format(server: RunningServer) -> None:
    client(server).chat.completions.create(
        model="smollm2-135m", messages=QUESTION, temperature=0, max_tokens=4
    )
    text = httpx.get(f"{server.url}/metrics").text
    for name in (
        'assay_requests_total{route="/v1/chat/completions",status="200"}',
        'assay_tokens_total{direction="completion",model="smollm2-135m:q4_1"}',
        "assay_time_to_first_token_seconds_bucket",
        "assay_decode_seconds_count",
        "assay_queue_depth",
        "assay_loaded_models",
        "assay_model_load_seconds",
    ):
        assert name in text


def test_sixteen_concurrent_streams_complete_and_health_answers_meanwhile(
    server: RunningServer,
) -> None:
    async def one(api: openai.AsyncOpenAI, i: int) -> tuple[str, int]:
        stream = await api.chat.completions.create(
            model="smollm2-135m",
            messages=[{"role": "user", "content": f"Count to {i + 3}."}],
            temperature=0,
            max_tokens=12,
            stream=True,
            stream_options={"include_usage": True},
        )
        text, usage = "", 0
        async for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
            if chunk.usage:
                usage = chunk.usage.completion_tokens
        return text, usage

    async def health_latency(url: str) -> float:
        async with httpx.AsyncClient() as http:
            await asyncio.sleep(0.2)
            started = time.perf_counter()
            response = await http.get(f"{url}/health")
            assert response.status_code == 200
            return time.perf_counter() - started

    async def main() -> tuple[list[tuple[str, int]], float]:
        async with openai.AsyncOpenAI(
            base_url=server.base_url, api_key="unused", max_retries=0, timeout=120
        ) as api:
            results = asyncio.gather(*(one(api, i) for i in range(16)))
            latency = await health_latency(server.url)
            return await results, latency

    results, latency = asyncio.run(main())
    assert len(results) == 16
    assert all(text and usage > 0 for text, usage in results)
    assert latency < 0.5, "the event loop must stay free while models generate"
