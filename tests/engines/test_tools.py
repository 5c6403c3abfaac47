"""Tool calls read out of answers in each family's format, the grammar of a forced call, and
tools in the prompt: through a template that knows them, or assay's fallback."""

from __future__ import annotations

import json

from assay.engines import Message, ToolCall, ToolSpec
from assay.engines.chat_format import chat_format_from_template
from assay.engines.tools import call_grammar, parse_calls, unsupported_in

WEATHER = ToolSpec(
    name="get_weather",
    description="The weather in a city now",
    parameters=json.dumps(
        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    ),
)
TIME = ToolSpec(name="get_time", description="The time now", parameters="{}")


def test_calls_in_each_familys_format() -> None:
    hermes = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>'
    mistral = '[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Oslo"}}]'
    llama = '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Oslo"}}'
    for text in (hermes, mistral, llama):
        content, calls = parse_calls(text, [WEATHER])
        assert content is None and [(c.name, json.loads(c.arguments)) for c in calls] == [
            ("get_weather", {"city": "Oslo"})
        ], text
        assert calls[0].id.startswith("call_")


def test_text_around_calls_unknown_functions_and_repeats() -> None:
    block = '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'
    content, calls = parse_calls(f"Let me look.\n{block}\n{block}", [WEATHER])
    assert content == "Let me look." and len(calls) == 1  # the same call twice is one
    assert parse_calls('{"name": "rm_rf", "arguments": {}}', [WEATHER]) == (
        '{"name": "rm_rf", "arguments": {}}',
        [],
    )
    assert parse_calls("Sunny in Oslo.", [WEATHER]) == ("Sunny in Oslo.", [])
    arguments_as_text = '<tool_call>{"name": "get_time", "arguments": "{}"}</tool_call>'
    assert parse_calls(arguments_as_text, [TIME])[1][0].arguments == "{}"


def test_a_forced_call_grammar_names_the_tools_and_holds_their_schema() -> None:
    grammar = call_grammar([WEATHER, TIME], parallel=False)
    root = grammar.splitlines()[0]
    assert root.startswith("root ::= ") and "<tool_call>" in root and "(" not in root
    assert '"\\"get_weather\\""' in grammar and '"\\"get_time\\""' in grammar
    assert "(" in call_grammar([WEATHER], parallel=True).splitlines()[0]
    minimum = ToolSpec("n", "", json.dumps({"type": "integer", "minimum": 1}))
    assert unsupported_in([WEATHER, minimum]) == "tools[1] (n): 'minimum' at #"


# A template in the shape of Qwen 2.5's: it lists `tools` and writes calls and results.
AWARE = (
    "{% if tools %}<|im_start|>system\nTools: "
    "{{ tools | map(attribute='function.name') | join(',') }}"
    "<|im_end|>\n{% endif %}{% for m in messages %}<|im_start|>{{ m.role }}\n"
    "{% if m.tool_calls %}{% for c in m.tool_calls %}CALL {{ c.function.name }} "
    "{{ c.function.arguments.city }}{% endfor %}{% else %}{{ m.content }}{% endif %}"
    "<|im_end|>\n{% endfor %}<|im_start|>assistant\n"
)
PLAIN = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "<|im_start|>assistant\n"
)
HISTORY = [
    Message("user", "Weather in Oslo?"),
    Message("assistant", "", tool_calls=(ToolCall("call_1", "get_weather", '{"city": "Oslo"}'),)),
    Message("tool", '{"celsius": 3}', tool_call_id="call_1"),
]


def test_a_template_that_knows_tools_gets_them_and_the_calls() -> None:
    chat = chat_format_from_template(AWARE, "test", "", "")
    assert chat.knows_tools
    prompt = chat.render(HISTORY, [WEATHER, TIME])
    assert "Tools: get_weather,get_time" in prompt and "CALL get_weather Oslo" in prompt
    assert '<|im_start|>tool\n{"celsius": 3}' in prompt


def test_a_template_without_tools_gets_the_fallback() -> None:
    chat = chat_format_from_template(PLAIN, "test", "", "")
    assert not chat.knows_tools
    prompt = chat.render(HISTORY, [WEATHER])
    assert prompt.startswith("<|im_start|>system\nYou can call functions.")
    assert '"name": "get_weather"' in prompt and "<tool_call>" in prompt
    assert (
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>'
        in prompt
    )
    assert '<|im_start|>user\n<tool_response>\n{"celsius": 3}\n</tool_response>' in prompt
    assert (
        chat.render([Message("user", "hi")])
        == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant"
    )
