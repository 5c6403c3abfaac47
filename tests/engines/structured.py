"""A JSON schema and its check, shared by the engines that hold structured outputs through
their runtime's guidance (ONNX Runtime GenAI, Foundry Local)."""

from __future__ import annotations

import json

import jsonschema
import openai

from assay.engines import LoadedModel, Message, SamplingParams, collect

CAT_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 20},
        "colour": {"enum": ["black", "white", "ginger", "grey", "tabby"]},
    },
    "required": ["name", "colour"],
    "additionalProperties": False,
}


def assert_schema_holds(model: LoadedModel) -> None:
    """Sampled answers (two seeds) end on their own and match CAT_SCHEMA."""
    assert model.json_schema and not model.grammar
    ask = [Message("user", "Describe a cat as JSON.")]
    for seed in (1, 2):
        params = SamplingParams(
            temperature=0.8, seed=seed, max_tokens=80, json_schema=json.dumps(CAT_SCHEMA)
        )
        text, final = collect(model.chat(ask, params))
        assert final.finish_reason == "stop", text
        jsonschema.validate(json.loads(text), CAT_SCHEMA)


def assert_served_schema_holds(client: openai.OpenAI, model: str) -> None:
    """Through assay serve and the official client: a greedy answer under response_format
    json_schema matches CAT_SCHEMA."""
    reply = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Describe a cat as JSON."}],
        temperature=0,
        max_tokens=80,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "cat", "schema": CAT_SCHEMA},
        },
    )
    jsonschema.validate(json.loads(reply.choices[0].message.content or ""), CAT_SCHEMA)
