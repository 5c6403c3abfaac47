"""Tools through `assay serve` with the official openai client, on SmolLM2 (whose template
knows no tools: assay's fallback prompt), forced calls held by a grammar."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from tests.server.conftest import RunningServer

pytestmark = pytest.mark.slow

WEATHER_ARGS = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 40}},
    "required": ["city"],
    "additionalProperties": False,
}
TOOLS: list[ChatCompletionToolParam] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city now",
            "parameters": WEATHER_ARGS,
        },
    },
    {
        "type": "function",
        "function": {"name": "get_time", "description": "The time now", "parameters": {}},
    },
]
ASK: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "What is the weather in Paris?"}
]


def client(server: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)


def get_weather(city: str) -> dict[str, Any]:
    return {"city": city, "celsius": 18, "sky": "cloudy"}


@pytest.mark.parametrize(
    "choice",
    ["required", {"type": "function", "function": {"name": "get_weather"}}],
    ids=["required", "named"],
)
def test_a_forced_call_always_parses_and_matches_its_schema(
    server: RunningServer, choice: Any
) -> None:
    for seed in (1, 2, 3):
        reply = client(server).chat.completions.create(
            model="smollm2-135m", messages=ASK, tools=TOOLS, tool_choice=choice,
            temperature=0.8, seed=seed, max_tokens=120,
        )  # fmt: skip
        first = reply.choices[0]
        assert first.finish_reason == "tool_calls" and first.message.tool_calls
        for call in first.message.tool_calls:
            assert call.type == "function" and call.id.startswith("call_")
            if isinstance(choice, dict):
                assert call.function.name == "get_weather"
            if call.function.name == "get_weather":
                jsonschema.validate(json.loads(call.function.arguments), WEATHER_ARGS)


def test_the_clients_tool_loop_completes(server: RunningServer) -> None:
    api = client(server)
    messages: list[Any] = list(ASK)
    reply = api.chat.completions.create(
        model="smollm2-135m", messages=messages, tools=TOOLS[:1], tool_choice="required",
        parallel_tool_calls=False, temperature=0, max_tokens=80,
    )  # fmt: skip
    message = reply.choices[0].message
    assert message.tool_calls is not None and len(message.tool_calls) == 1
    messages.append(message.model_dump(exclude_none=True))
    for call in message.tool_calls:
        assert call.type == "function"
        result = get_weather(**json.loads(call.function.arguments))
        messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})
    answer = api.chat.completions.create(
        model="smollm2-135m", messages=messages, tools=TOOLS[:1], tool_choice="none",
        temperature=0, max_tokens=60,
    )  # fmt: skip
    assert answer.choices[0].finish_reason in ("stop", "length")
    assert answer.choices[0].message.content and not answer.choices[0].message.tool_calls


def test_streamed_calls_come_as_tool_call_deltas(server: RunningServer) -> None:
    common: Any = {
        "model": "smollm2-135m", "messages": ASK, "tools": TOOLS[:1],
        "tool_choice": "required", "temperature": 0, "max_tokens": 80,
    }  # fmt: skip
    whole = client(server).chat.completions.create(**common)
    chunks = list(client(server).chat.completions.create(stream=True, **common))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    streamed = [call for d in deltas for call in d.tool_calls or []]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert whole.choices[0].message.tool_calls is not None
    expected = [
        (c.function.name, c.function.arguments) for c in whole.choices[0].message.tool_calls
    ]
    assert [(c.function.name, c.function.arguments) for c in streamed if c.function] == expected
    assert [c.index for c in streamed] == list(range(len(streamed)))


def test_auto_lets_the_model_answer_in_text(server: RunningServer) -> None:
    reply = client(server).chat.completions.create(
        model="smollm2-135m", temperature=0, max_tokens=30, tools=TOOLS,
        messages=[{"role": "user", "content": "Say hello to Ana."}],
    )  # fmt: skip
    first = reply.choices[0]
    assert first.finish_reason in ("stop", "length", "tool_calls")
    assert first.message.content or first.message.tool_calls


@pytest.mark.parametrize(
    ("fields", "param", "needle"),
    [
        (
            {"tool_choice": {"type": "function", "function": {"name": "nope"}}},
            None,
            "tool_choice names 'nope', which is not in tools",
        ),
        ({"logprobs": True}, None, "logprobs with tools is not served"),
        (
            {
                "tool_choice": "required",
                "tools": [
                    {
                        "type": "function",
                        "function": {
                            "name": "count",
                            "parameters": {"type": "integer", "minimum": 1},
                        },
                    }
                ],
            },
            "tools",
            "tools[0] (count): 'minimum' at #",
        ),
    ],
)
def test_what_cannot_be_served_is_a_400(
    server: RunningServer, fields: dict[str, Any], param: str | None, needle: str
) -> None:
    body: Any = {"model": "smollm2-135m", "messages": ASK, "tools": TOOLS, **fields}
    with pytest.raises(openai.BadRequestError) as caught:
        client(server).chat.completions.create(**body)
    assert needle in caught.value.message and caught.value.param == param
