"""Structured outputs: response_format json_object and json_schema, enforced while decoding
(llama.cpp grammars), on the batched and the unbatched path, streamed and not. The official
openai client against a real server on the bundled model; outputs checked with jsonschema."""

from __future__ import annotations

import json
from typing import Annotated, Any

import jsonschema
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam
from pydantic import BaseModel, Field

from tests.server.conftest import RunningServer, ServerFactory

pytestmark = pytest.mark.slow

ASK: list[ChatCompletionMessageParam] = [
    {
        "role": "user",
        "content": "Meeting: Ana will ship the beta on Friday; Bo fixes the login bug. "
        "Give the meeting's title and its action items as JSON.",
    }
]


class Notes(BaseModel):
    title: str = Field(max_length=40)
    actions: list[Annotated[str, Field(max_length=60)]] = Field(max_length=3)


NOTES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "maxLength": 40},
        "owner": {"enum": ["Ana", "Bo"]},
        "due": {"type": "string", "format": "date"},
    },
    "required": ["title", "owner", "due"],
    "additionalProperties": False,
}


def client(server: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)


def _schema_format(schema: dict[str, Any]) -> Any:
    return {"type": "json_schema", "json_schema": {"name": "notes", "schema": schema}}


def test_json_object_is_a_json_object(server: RunningServer) -> None:
    cat: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": "Describe a cat as a JSON object with name and age."}
    ]
    reply = client(server).chat.completions.create(
        model="smollm2-135m",
        messages=cat,
        temperature=0,
        max_tokens=300,
        response_format={"type": "json_object"},
    )
    assert reply.choices[0].finish_reason == "stop"
    assert isinstance(json.loads(reply.choices[0].message.content or ""), dict)


def test_parse_with_a_pydantic_model_gets_the_object(server: RunningServer) -> None:
    reply = client(server).chat.completions.parse(
        model="smollm2-135m", messages=ASK, temperature=0, max_tokens=300, response_format=Notes
    )
    notes = reply.choices[0].message.parsed
    assert isinstance(notes, Notes) and len(notes.actions) <= 3 and len(notes.title) <= 40


@pytest.mark.parametrize("parallel", [1, 4], ids=["unbatched", "batched"])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_schema_holds_on_both_paths(
    make_server: ServerFactory, parallel: int, stream: bool
) -> None:
    with make_server(parallel=parallel) as running:
        api = client(running)
        common: Any = {
            "model": "smollm2-135m",
            "messages": ASK,
            "temperature": 0.7,
            "seed": 5,
            "max_tokens": 300,
            "response_format": _schema_format(NOTES_SCHEMA),
        }
        if stream:
            chunks = list(api.chat.completions.create(stream=True, **common))
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            finish = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
        else:
            reply = api.chat.completions.create(**common)
            text, finish = reply.choices[0].message.content or "", reply.choices[0].finish_reason
    assert finish == "stop", text
    jsonschema.validate(json.loads(text), NOTES_SCHEMA)


@pytest.mark.parametrize(
    ("schema", "needle"),
    [
        ({"type": "integer", "minimum": 0}, "'minimum' at #"),
        (
            {"type": "object", "properties": {"mail": {"type": "string", "format": "email"}}},
            "'format: email' at #/properties/mail",
        ),
        ({"type": "nonsense"}, "the JSON schema is not valid"),
    ],
)
def test_a_schema_that_cannot_be_enforced_is_a_400_naming_why(
    server: RunningServer, schema: dict[str, Any], needle: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(server).chat.completions.create(
            model="smollm2-135m", messages=ASK, response_format=_schema_format(schema)
        )
    assert caught.value.param == "response_format" and needle in caught.value.message


def test_the_properties_come_in_the_schemas_order(server: RunningServer) -> None:
    reply = client(server).chat.completions.create(
        model="smollm2-135m",
        messages=ASK,
        temperature=0,
        max_tokens=300,
        response_format=_schema_format(NOTES_SCHEMA),
    )
    assert list(json.loads(reply.choices[0].message.content or "")) == ["title", "owner", "due"]
