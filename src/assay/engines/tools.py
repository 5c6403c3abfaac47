"""Tool calling: the tool list in the prompt, a grammar that makes a call certain, and the
calls read back out of a model's answer.

The prompt: a chat template that knows tools (it reads the Jinja `tools` variable, as
Qwen 2.5's and Llama 3.1's do) gets them there. A template that does not (SmolLM2's, Gemma's)
gets assay's fallback instead: a system message that lists the functions as JSON and asks for
each call as `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` (the Hermes format
Qwen uses), and earlier calls and results written back in the same tags.

The answer: `required` or a named function is enforced by a grammar (each call a
`<tool_call>` block whose JSON names a given function and whose arguments match its
schema), so it always parses. `auto` leaves the model free; calls are then read in the
formats of the tool-capable families in the catalog: Hermes/Qwen `<tool_call>` blocks,
Mistral's `[TOOL_CALLS] [...]`, and Llama 3.x's bare `{"name": ..., "parameters": ...}`.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from typing import Any

from assay.engines.base import ToolCall, ToolSpec
from assay.engines.json_schema import SchemaError, grammar_for_schema, unsupported


def new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"


def fallback_instructions(tools: Sequence[ToolSpec]) -> str:
    """The system text that teaches a template without tools how to call them."""
    listed = json.dumps([tool.openai()["function"] for tool in tools], indent=1)
    return (
        "You can call functions. They are, as JSON:\n"
        f"{listed}\n"
        "To call one, answer with only this, one block per call:\n"
        f'{CALL_OPEN}\n{{"name": "<function name>", "arguments": {{<arguments as JSON>}}}}\n'
        f"{CALL_CLOSE}\n"
        "A function's result comes back inside <tool_response></tool_response>. If no function "
        "is needed, answer normally."
    )


def call_block(call: ToolCall) -> str:
    """A call as the fallback format writes it back into the history."""
    try:
        arguments: Any = json.loads(call.arguments)
    except ValueError:
        arguments = call.arguments
    body = json.dumps({"name": call.name, "arguments": arguments})
    return f"{CALL_OPEN}\n{body}\n{CALL_CLOSE}"


def response_block(content: str) -> str:
    return f"<tool_response>\n{content}\n</tool_response>"


def unsupported_in(tools: Sequence[ToolSpec]) -> str | None:
    """What in the tools' schemas a grammar could not enforce, with the tool's place."""
    for index, tool in enumerate(tools):
        found = unsupported(tool.schema)
        if found:
            return f"tools[{index}] ({tool.name}): {found}"
    return None


def call_grammar(tools: Sequence[ToolSpec], parallel: bool) -> str:
    """GBNF for one `<tool_call>` block (several if PARALLEL) naming one of TOOLS, with
    arguments that match its schema."""
    options = [
        {
            "type": "object",
            "properties": {"name": {"const": tool.name}, "arguments": tool.schema or {}},
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for tool in tools
    ]
    schema = options[0] if len(options) == 1 else {"anyOf": options}
    try:
        rules = grammar_for_schema(schema)
    except SchemaError as exc:
        raise SchemaError(f"a tool's parameters: {exc.message}") from None
    rules = re.sub(r"^root ::=", "tool-call-json ::=", rules, count=1, flags=re.MULTILINE)
    block = f'"{CALL_OPEN}\\n" tool-call-json "\\n{CALL_CLOSE}"'
    root = f'root ::= {block} ("\\n" {block})*' if parallel else f"root ::= {block}"
    return f"{root}\n{rules}"


_HERMES = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
_MISTRAL = "[TOOL_CALLS]"
_PYTHON_TAG = "<|python_tag|>"


def parse_calls(text: str, tools: Sequence[ToolSpec]) -> tuple[str | None, list[ToolCall]]:
    """The calls in TEXT (in any of the families' formats) to functions in TOOLS, and the text
    around them (None when there is none). No calls: the text as it is."""
    names = {tool.name for tool in tools}
    found: list[Any] = []
    rest = text
    if CALL_OPEN in text:
        found = [_json(match) for match in _HERMES.findall(text)]
        rest = _HERMES.sub("", text)
    elif _MISTRAL in text:
        before, _, after = text.partition(_MISTRAL)
        value = _json(after.strip())
        found = value if isinstance(value, list) else [value]
        rest = before
    else:
        stripped = text.strip().removeprefix(_PYTHON_TAG).strip()
        if stripped.startswith("{"):
            found = [_json(part) for part in stripped.split(";")]  # Llama 3.x joins with ;
            rest = ""
    calls: list[ToolCall] = []
    for item in found:
        call = _call(item, names)
        # A small model repeats a call; the same function with the same arguments twice is
        # one call.
        if call is not None and all(
            (c.name, c.arguments) != (call.name, call.arguments) for c in calls
        ):
            calls.append(call)
    if not calls:
        return text, []
    leftover = rest.strip()
    return (leftover or None), calls


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _call(item: Any, names: set[str]) -> ToolCall | None:
    if not isinstance(item, dict) or item.get("name") not in names:
        return None
    arguments = item.get("arguments", item.get("parameters", {}))
    if isinstance(arguments, str):  # some models write the arguments as a JSON string
        arguments = _json(arguments)
    if not isinstance(arguments, dict):
        return None
    return ToolCall(id=new_call_id(), name=str(item["name"]), arguments=json.dumps(arguments))
