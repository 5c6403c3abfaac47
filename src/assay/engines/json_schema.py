"""JSON output constrained at decode time: a JSON schema (or any JSON object) as a GBNF
grammar for llama.cpp's sampler, by llama-cpp-python's converter (llama.cpp's own).

The converter skips keywords it does not implement (a `minimum` becomes any number), which
would let an answer break the schema unannounced; `grammar_for_schema` refuses such a
schema instead, naming the keyword and where it is.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from assay.errors import AssayError

# What the converter turns into grammar rules.
_CONSTRAINING = frozenset(
    {
        "type", "properties", "required", "additionalProperties", "items", "prefixItems",
        "minItems", "maxItems", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "$defs",
        "definitions", "pattern", "minLength", "maxLength", "format",
    }
)  # fmt: skip
# Annotations: they say what a value means, not which values are valid.
_ANNOTATIONS = frozenset(
    {
        "title", "description", "default", "examples", "$schema", "$id", "$comment",
        "deprecated", "readOnly", "writeOnly", "strict",
    }
)  # fmt: skip
_FORMATS = frozenset({"date", "time", "date-time", "uuid", "uuid1", "uuid2", "uuid3", "uuid4"})
# Keywords whose value is a map of names to schemas, or a list of schemas.
_SCHEMA_MAPS = ("properties", "$defs", "definitions")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")


# The converter's string character admits raw control characters (a newline inside a
# string), which JSON forbids: measured, 1 answer in 4 of a benchmark failed to parse. This
# is the rule llama.cpp's own converter has since adopted.
_LOOSE_CHAR = 'char ::= [^"\\\\] |'
_JSON_CHAR = 'char ::= [^"\\\\\\x7F\\x00-\\x1F] |'


class SchemaError(AssayError):
    """A JSON schema assay cannot enforce; the message names the keyword and its place."""


def unsupported(schema: Any, where: str = "#") -> str | None:
    """The first keyword in SCHEMA that decoding could not enforce, as 'keyword at path'."""
    if isinstance(schema, bool):
        return None
    if not isinstance(schema, dict):
        return f"a schema that is not an object at {where}"
    for key, value in schema.items():
        if key in _ANNOTATIONS:
            continue
        if key not in _CONSTRAINING:
            return f"'{key}' at {where}"
        if key == "format" and value not in _FORMATS:
            return f"'format: {value}' at {where} (enforced: {', '.join(sorted(_FORMATS))})"
        if key == "$ref" and not str(value).startswith("#"):
            return f"the remote '$ref: {value}' at {where}"
        children: list[tuple[str, Any]] = []
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            children = [(f"{where}/{key}/{name}", sub) for name, sub in value.items()]
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            children = [(f"{where}/{key}/{i}", sub) for i, sub in enumerate(value)]
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            children = [(f"{where}/{key}", value)]
        for path, sub in children:
            found = unsupported(sub, path)
            if found:
                return found
    return None


def grammar_for_schema(schema: dict[str, Any]) -> str:
    """The GBNF grammar of SCHEMA; a SchemaError naming what cannot be enforced."""
    from jsonschema import SchemaError as InvalidSchema
    from jsonschema.validators import validator_for

    try:
        validator_for(schema).check_schema(schema)
    except InvalidSchema as exc:
        raise SchemaError(f"the JSON schema is not valid: {exc.message}") from None
    found = unsupported(schema)
    if found:
        raise SchemaError(
            f"the JSON schema uses {found}, which decoding cannot enforce; "
            "remove it or express it with the keywords that can be"
        )
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        grammar = str(json_schema_to_gbnf(json.dumps(schema)))
    except (AssertionError, ValueError, KeyError, TypeError) as exc:
        raise SchemaError(f"the JSON schema cannot be turned into a grammar: {exc}") from None
    return grammar.replace(_LOOSE_CHAR, _JSON_CHAR)


@functools.lru_cache(maxsize=64)
def grammar_for_schema_json(schema_json: str) -> str:
    """grammar_for_schema of a schema given as JSON text, remembered (a converter run takes
    milliseconds: not once per request of a benchmark or a server)."""
    return grammar_for_schema(json.loads(schema_json))


def read_schema_file(path: Path) -> dict[str, Any]:
    """The JSON schema in PATH: a bare schema, or an OpenAI response_format object
    ({"type": "json_schema", "json_schema": {"schema": ...}} or {"type": "json_object"})."""
    try:
        document = json.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise SchemaError(f"cannot read the JSON schema {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise SchemaError(f"{path} is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise SchemaError(f"{path} holds no JSON schema object")
    if document.get("type") == "json_object":
        document = {"type": "object"}
    elif document.get("type") == "json_schema" and isinstance(document.get("json_schema"), dict):
        document = document["json_schema"].get("schema") or {}
    return dict(document)


def grammar_for_json_object() -> str:
    """Any JSON object (response_format json_object)."""
    return grammar_for_schema({"type": "object"})


def schema_valid(text: str, schema: dict[str, Any]) -> bool:
    """Whether TEXT parses as JSON and matches SCHEMA (a benchmark's schema-valid rate)."""
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return bool(_validator(json.dumps(schema)).is_valid(value))


@functools.lru_cache(maxsize=16)
def _validator(schema_json: str) -> Any:
    from jsonschema.validators import validator_for

    schema = json.loads(schema_json)
    return validator_for(schema)(schema)
