"""min_tokens and ignore_eos on a real server, with the official openai client: SmolLM2 in
its runner, unbatched and batched, holds a reply that would end after 12 tokens; a model
that cannot hold it refuses it by name; bad values are 400s naming the fields."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from assay.registry import ModelRegistry
from tests.server.conftest import RunningServer, ServerFactory, running_server
from tests.server.test_lifecycle_and_errors import assert_openai_error

SAY_OK: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say OK."}]


def client(server: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)


def chat_tokens(server: RunningServer, **fields: Any) -> tuple[int, str]:
    reply = client(server).chat.completions.create(
        model="smollm2-135m", messages=SAY_OK, temperature=0, **fields
    )
    assert reply.usage is not None and reply.choices[0].finish_reason is not None
    return reply.usage.completion_tokens, reply.choices[0].finish_reason


@pytest.mark.slow
@pytest.mark.parametrize("parallel", [1, 4], ids=["unbatched", "batched"])
def test_min_tokens_and_ignore_eos_hold_the_reply(
    make_server: ServerFactory, parallel: int
) -> None:
    with make_server(parallel=parallel) as server:
        assert chat_tokens(server, max_tokens=40) == (12, "stop")
        assert chat_tokens(server, extra_body={"min_tokens": 40}, max_tokens=40) == (40, "length")
        assert chat_tokens(server, extra_body={"ignore_eos": True}, max_tokens=40) == (
            40,
            "length",
        )
        held, _ = chat_tokens(server, extra_body={"min_tokens": 20}, max_tokens=40)
        assert held >= 20
        stream = client(server).completions.create(
            model="smollm2-135m",
            prompt="OK.",
            max_tokens=40,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
            extra_body={"ignore_eos": True},
        )
        chunks = list(stream)
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 40


@pytest.mark.slow
def test_ignore_eos_without_max_tokens_runs_to_the_context(make_server: ServerFactory) -> None:
    with make_server(context_size=256, parallel=1) as server:
        reply = client(server).chat.completions.create(
            model="smollm2-135m", messages=SAY_OK, temperature=0, extra_body={"ignore_eos": True}
        )
        body = {"model": "smollm2-135m", "content": "OK"}
        context = httpx.post(f"{server.url}/tokenize", json=body).json()["max_model_len"]
    assert reply.usage is not None and reply.choices[0].finish_reason == "length"
    assert reply.usage.prompt_tokens + reply.usage.completion_tokens == context == 256


def test_the_fake_holds_min_tokens(fake_server: RunningServer) -> None:
    reply = client(fake_server).chat.completions.create(
        model="fake", messages=SAY_OK, max_tokens=40, extra_body={"min_tokens": 30}
    )
    assert reply.usage is not None and reply.usage.completion_tokens == 30
    assert reply.choices[0].finish_reason == "stop"
    held = client(fake_server).completions.create(
        model="fake", prompt="hi", max_tokens=40, extra_body={"ignore_eos": True}
    )
    assert held.usage is not None and held.usage.completion_tokens == 40


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"max_tokens": 8, "min_tokens": 9}, "min_tokens (9) is above max_tokens (8)"),
        (
            {"max_completion_tokens": 8, "min_tokens": 9},
            "min_tokens (9) is above max_completion_tokens (8)",
        ),
        (
            {"min_tokens": 4, "response_format": {"type": "json_object"}},
            "min_tokens cannot hold with a response_format or a forced tool call",
        ),
        (
            {"ignore_eos": True, "response_format": {"type": "json_object"}},
            "ignore_eos cannot hold with a response_format or a forced tool call",
        ),
        ({"min_tokens": -1}, "min_tokens: Input should be greater than or equal to 0"),
        ({"ignore_eos": "maybe"}, "ignore_eos: Input should be a valid boolean"),
    ],
)
def test_bad_values_are_400s_naming_the_fields(
    fake_server: RunningServer, fields: dict[str, Any], message: str
) -> None:
    body = {"model": "fake", "messages": SAY_OK, **fields}
    response = httpx.post(f"{fake_server.base_url}/chat/completions", json=body, timeout=30)
    error = assert_openai_error(response, 400)
    assert message in error["message"]


def test_a_completions_min_tokens_is_held_to_its_default_max_tokens(
    fake_server: RunningServer,
) -> None:
    with pytest.raises(
        openai.BadRequestError, match=r"min_tokens \(40\) is above max_tokens \(16\)"
    ):
        client(fake_server).completions.create(
            model="fake", prompt="hi", extra_body={"min_tokens": 40}
        )


def test_a_model_that_cannot_hold_them_refuses_them_by_name(
    adapter_registry: ModelRegistry,
) -> None:
    with running_server(adapter_registry) as server:
        api = client(server)
        plain = api.chat.completions.create(model="plain", messages=SAY_OK, max_tokens=8)
        assert plain.choices[0].message.content
        for field, value in (("min_tokens", 4), ("ignore_eos", True)):
            with pytest.raises(openai.BadRequestError) as caught:
                api.chat.completions.create(
                    model="plain", messages=SAY_OK, max_tokens=8, extra_body={field: value}
                )
            error = caught.value
            assert error.code == "unsupported_parameter" and error.param == field
            assert (
                f"{field} needs a model that can hold off its end of generation; plain runs on "
                "the adapter engine, which cannot"
            ) in error.message
        # Their defaults ask for nothing: served.
        served = api.completions.create(
            model="plain",
            prompt="hi",
            max_tokens=8,
            extra_body={"min_tokens": 0, "ignore_eos": False},
        )
        assert served.choices[0].text
