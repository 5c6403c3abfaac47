"""Every request field is honoured, harmless, or refused by name: none is silently dropped.
The official openai client against a real server on a fake model: the fields are checked
before a model runs, and those served are served on any model."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.server.conftest import RunningServer

HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hi."}]


def client(server: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)


@pytest.mark.parametrize(
    ("fields", "param", "why"),
    [
        ({"logit_bias": {"1": 5}}, "logit_bias", "token biases are not applied"),
        ({"frequency_penalty": 0.5}, "frequency_penalty", "repeat_penalty"),
        ({"modalities": ["text", "audio"]}, "modalities", "only ['text']"),
        ({"reasoning_effort": "high"}, "reasoning_effort", "no reasoning setting"),
        (
            {"extra_body": {"mirostat": 2}},
            "mirostat",
            "assay does not know this field",
        ),
    ],
)
def test_an_unhonoured_field_is_a_400_naming_it(
    fake_server: RunningServer, fields: dict[str, Any], param: str, why: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(fake_server).chat.completions.create(
            model="fake", messages=HI, max_tokens=4, **fields
        )
    error = caught.value
    assert error.status_code == 400 and error.code == "unsupported_parameter"
    assert error.param == param
    assert f"'{param}' is not supported here" in error.message and why in error.message


def test_tools_to_a_model_without_them_and_the_deprecated_fields_are_refused(
    fake_server: RunningServer,
) -> None:
    tool: Any = {"type": "function", "function": {"name": "now", "parameters": {"type": "object"}}}
    with pytest.raises(openai.BadRequestError) as caught:
        client(fake_server).chat.completions.create(
            model="fake", messages=HI, max_tokens=4, tools=[tool], tool_choice="required"
        )
    assert caught.value.param == "tools"
    assert "tools needs a model whose prompts carry tools" in caught.value.message
    legacy: Any = {"functions": [tool["function"]]}
    with pytest.raises(openai.BadRequestError, match="'functions' is not supported here"):
        client(fake_server).chat.completions.create(
            model="fake", messages=HI, max_tokens=4, **legacy
        )
    with pytest.raises(openai.BadRequestError, match="only an assistant message has tool_calls"):
        bad: Any = [
            {
                "role": "user",
                "content": "hi",
                "tool_calls": [{"id": "1", "function": {"name": "now"}}],
            }
        ]
        client(fake_server).chat.completions.create(model="fake", messages=bad)


def test_harmless_fields_and_defaults_are_served(fake_server: RunningServer) -> None:
    plain = client(fake_server).chat.completions.create(
        model="fake", messages=HI, max_tokens=4, temperature=0
    )
    reply = client(fake_server).chat.completions.create(
        model="fake",
        messages=HI,
        max_tokens=4,
        temperature=0,
        user="someone",
        metadata={"team": "edge"},
        store=False,
        logprobs=False,
        response_format={"type": "text"},
        frequency_penalty=0,
        presence_penalty=0,
        tool_choice="none",
        modalities=["text"],
    )
    assert reply.choices[0].message.content
    # The fake's reply depends on the prompt and the seed alone: these fields changed nothing.
    assert reply.choices[0].message.content == plain.choices[0].message.content


def test_a_completion_refuses_suffix_and_best_of(fake_server: RunningServer) -> None:
    api = client(fake_server)
    with pytest.raises(openai.BadRequestError, match="'suffix' is not supported here"):
        api.completions.create(model="fake", prompt="def f(", suffix=")", max_tokens=4)
    with pytest.raises(openai.BadRequestError, match="'best_of' is not supported here"):
        api.completions.create(model="fake", prompt="Hi", best_of=2, max_tokens=4)
    assert api.completions.create(model="fake", prompt="Hi", best_of=1, max_tokens=2)
