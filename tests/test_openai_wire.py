"""The OpenAI wire module on hand-written bodies and SSE lines, in the shapes servers send."""

from __future__ import annotations

import json
from typing import Any

import pytest

from assay import openai_wire as wire
from assay.engines import Message


def chunk(content: str | None = None, finish: str | None = None, **extra: Any) -> bytes:
    delta = {} if content is None else {"content": content}
    event = {
        "id": "x",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return b"data: " + json.dumps(event).encode()


USAGE = b'data: {"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":9,"total_tokens":19}}'


def test_a_chat_body_streamed_without_the_prefix_cache() -> None:
    body = wire.request_body(
        "m",
        messages=[Message("system", "be brief"), Message("user", "hi")],
        stream=True,
        max_tokens=8,
        temperature=0.0,
        seed=None,
        stop=("\n\n",),
        prefix_cache=False,
    )
    assert body == {
        "model": "m",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi"},
        ],
        "max_tokens": 8,
        "temperature": 0.0,
        "stop": ["\n\n"],
        "stream": True,
        "stream_options": {"include_usage": True},
        "cache_prompt": False,
    }


def test_a_completion_body_whole_in_json_mode() -> None:
    body = wire.request_body("m", prompt="Once", stream=False, seed=0, top_p=0.9, json_mode=True)
    assert body == {
        "model": "m",
        "prompt": "Once",
        "top_p": 0.9,
        "seed": 0,
        "stream": False,
        "response_format": {"type": "json_object"},
    }


@pytest.mark.parametrize(
    "line",
    [
        "",
        ": keep-alive",
        ":",
        "event: message",
        "id: 7",
        "retry: 1000",
        "data: [DONE]",
        "data:[DONE]",
    ],
)
def test_lines_that_carry_no_event(line: str) -> None:
    assert wire.parse_line(line) is None
    assert wire.parse_line(line.encode()) is None


def test_one_line_at_a_time() -> None:
    role = b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}'
    assert wire.parse_line(role) == wire.StreamEvent()
    assert wire.parse_line(chunk(" w1 w2 w3").decode()) == wire.StreamEvent(" w1 w2 w3")
    assert wire.parse_line(b'data:{"choices":[{"text":" a"}]}\r') == wire.StreamEvent(" a")
    assert wire.parse_line(chunk(finish="length")) == wire.StreamEvent(finish_reason="length")
    assert wire.parse_line(USAGE) == wire.StreamEvent(usage=wire.Usage(10, 9))


def test_errors_inside_a_stream() -> None:
    said = b'data: {"error": {"message": "the model\\ncrashed", "type": "server_error"}}'
    assert wire.parse_line(said) == wire.StreamEvent(error="the model crashed")
    assert wire.parse_line(b'data: {"error": "overloaded"}') == wire.StreamEvent(error="overloaded")
    broken = wire.parse_line(b"data: {not json")
    assert broken is not None and broken.error is not None
    assert broken.error.startswith("the server sent an event that is not JSON: {not json")
    odd = wire.parse_line(b"data: [1, 2]")
    assert odd is not None and odd.error is not None and "no known shape" in odd.error


def test_a_stream_read_whole_keeps_each_chunk_with_its_time() -> None:
    lines = [
        (1, b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}'),
        (2, b": keep-alive"),
        (2, b""),
        (3, chunk(" w1 w2 w3")),  # one chunk, three tokens' worth of text
        (3, chunk(" w4")),  # two events in one read share its time
        (5, chunk(finish="length")),
        (6, USAGE),
        (6, b"data: [DONE]"),
        (7, chunk(" after the end")),
    ]
    reply = wire.parse_stream(lines)
    assert reply == wire.StreamReply(
        times=(3, 3),
        chunks=(" w1 w2 w3", " w4"),
        finish_reason="length",
        usage=wire.Usage(10, 9),
        error=None,
    )
    assert reply.text == " w1 w2 w3 w4"


def test_an_error_field_that_is_null_is_no_error() -> None:
    reply = wire.parse_stream([(1, chunk(" a", error=None))])
    assert reply.chunks == (" a",) and reply.error is None


def test_a_stream_with_a_broken_event_keeps_the_rest() -> None:
    reply = wire.parse_stream([(1, chunk(" a")), (2, b"data: {oops"), (3, chunk(" b"))])
    assert reply.chunks == (" a", " b") and reply.times == (1, 3)
    assert reply.error == "the server sent an event that is not JSON: {oops"


def test_the_usage_and_its_cached_prompt_tokens() -> None:
    usage = {
        "prompt_tokens": 12,
        "completion_tokens": 3,
        "prompt_tokens_details": {"cached_tokens": 8},
    }
    reply = wire.parse_stream([(1, chunk(" a", usage=usage))])
    assert reply.usage == wire.Usage(12, 3, cached_tokens=8)
    assert wire.parse_stream([(1, chunk(" a", usage={}))]).usage is None
    partial = wire.parse_stream([(1, chunk(" a", usage={"prompt_tokens": 4}))]).usage
    assert partial == wire.Usage(4, None)


def thinking(said: str, key: str = "reasoning_content", content: str | None = None) -> bytes:
    delta = {key: said} if content is None else {key: said, "content": content}
    event = {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
    return b"data: " + json.dumps(event).encode()


def test_reasoning_in_a_field_is_a_chunk_of_its_own_apart_from_the_content() -> None:
    reply = wire.parse_stream(
        [
            (1, chunk("")),  # the role chunk, content ""
            (2, thinking("Two")),
            (3, thinking(" and two.", key="reasoning")),  # vLLM >= 0.9, OpenRouter, Ollama
            (4, thinking("", content="\n\n")),
            (5, chunk("Four.")),
            (6, b"data: [DONE]"),
        ]
    )
    assert reply.times == (2, 3, 4, 5)
    assert reply.chunks == ("", "", "\n\n", "Four.")
    assert reply.reasoning == ("Two", " and two.", "", "")
    assert reply.text == "\n\nFour.", "the text is the content alone"


def test_a_stream_without_reasoning_has_none_and_odd_fields_are_passed_over() -> None:
    plain = wire.parse_stream([(1, chunk("<think>a</think>")), (2, chunk("b"))])
    assert plain.reasoning == (), "a think block in the content is content here"
    assert plain.chunks == ("<think>a</think>", "b")
    odd = b'data: {"choices":[{"delta":{"content":"x","reasoning":{"effort":"low"}}}]}'
    reply = wire.parse_stream([(1, odd)])
    assert reply.error is None and reply.chunks == ("x",) and reply.reasoning == ()
    empty = wire.parse_stream([(1, thinking("")), (2, thinking("", content=""))])
    assert empty.times == () and empty.reasoning == ()


def test_the_usage_counts_the_reasoning_tokens() -> None:
    usage = {
        "prompt_tokens": 12,
        "completion_tokens": 30,
        "completion_tokens_details": {"reasoning_tokens": 24},
    }
    reply = wire.parse_stream([(1, chunk(" a", usage=usage))])
    assert reply.usage == wire.Usage(12, 30, reasoning_tokens=24)
    odd = {**usage, "completion_tokens_details": None}
    assert wire.parse_stream([(1, chunk(" a", usage=odd))]).usage == wire.Usage(12, 30)


def test_a_whole_response_with_its_reasoning() -> None:
    body = {
        "choices": [
            {
                "message": {"role": "assistant", "content": "Four.", "reasoning_content": "2+2"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 4},
    }
    assert wire.parse_completion(body) == wire.Completion(
        "Four.", "stop", wire.Usage(5, 4), reasoning="2+2"
    )
    body["choices"][0]["message"] = {"content": "Four.", "reasoning": "2+2"}  # type: ignore[index]
    assert wire.parse_completion(body).reasoning == "2+2"
    body["choices"][0]["message"] = {"content": "Four.", "reasoning_content": None}  # type: ignore[index]
    assert wire.parse_completion(body).reasoning is None


def test_a_whole_response() -> None:
    chat = {
        "choices": [{"message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1},
    }
    assert wire.parse_completion(chat) == wire.Completion("hi", "stop", wire.Usage(5, 1))
    text = {"choices": [{"text": " there", "finish_reason": "length"}]}
    assert wire.parse_completion(text) == wire.Completion(" there", "length", None)
    empty = {"choices": [{"message": {"role": "assistant", "content": None}}]}
    assert wire.parse_completion(empty).text == ""
    shapeless: list[object] = [{"choices": []}, {"choices": [{"message": {}}]}, "text", None]
    for body in shapeless:
        assert wire.parse_completion(body).text is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"error": {"message": "model not found", "type": "invalid_request_error", '
            b'"param": "model", "code": "model_not_found"}}',
            wire.ErrorBody("model not found", "invalid_request_error", "model_not_found"),
        ),
        (
            b'{"error": {"message": "rate limited", "code": 429}}',
            wire.ErrorBody("rate limited", code="429"),
        ),
        (
            b'{"error": "model \\"x\\" not found, try pulling it first"}',
            wire.ErrorBody('model "x" not found, try pulling it first'),
        ),
        (b'{"detail": "Not Found"}', wire.ErrorBody("Not Found")),
        (
            b'{"detail": [{"loc": ["body", "model"], "msg": "Field required", "type": "missing"}]}',
            wire.ErrorBody("Field required"),
        ),
        (b'{"message": "bad gateway"}', wire.ErrorBody("bad gateway")),
        (
            b"Traceback (most recent call last):\n  File x\nValueError: y",
            wire.ErrorBody("Traceback (most recent call last): File x ValueError: y"),
        ),
        (b"", wire.ErrorBody("(no message)")),
        ("upstream timed out", wire.ErrorBody("upstream timed out")),
        ({"error": {"message": "parsed already"}}, wire.ErrorBody("parsed already")),
        (
            b'{"error": {"type": "server_error"}}',
            wire.ErrorBody('{"error": {"type": "server_error"}}'),
        ),
    ],
)
def test_error_bodies_of_each_shape(
    body: bytes | str | dict[str, Any], expected: wire.ErrorBody
) -> None:
    assert wire.parse_error(body) == expected


def test_an_error_body_in_no_known_shape_is_cut_to_one_short_line() -> None:
    page = b"<html>\n<body>" + b"x" * 500 + b"</body>\n</html>"
    message = wire.parse_error(page).message
    assert message.startswith("<html> <body>xxx") and len(message) == 200 and "\n" not in message


def test_the_models_a_server_lists() -> None:
    assert wire.model_ids({"data": [{"id": "a"}, {"id": "b", "object": "model"}]}) == ["a", "b"]
    nothing: list[object] = [{"data": []}, {"object": "list"}, [], None, {"data": "a"}]
    for body in nothing:
        assert wire.model_ids(body) == []


def count_words(text: str) -> int:
    return len(text.split())


def test_where_the_completion_count_comes_from() -> None:
    text = " w1 w2 w3 w4"
    server = wire.count_completion(wire.Usage(10, 9), text, 2, count_words)
    assert server == wire.TokenCount(9, "server")
    assert wire.count_completion(None, text, 2, count_words) == wire.TokenCount(4, "tokenizer")
    no_count = wire.Usage(10, None)
    assert wire.count_completion(no_count, text, 2, None) == wire.TokenCount(2, "chunks")
    assert wire.count_completion(None, "", 0, None) is None


def test_tokens_are_spread_over_chunks_by_their_text() -> None:
    assert wire.spread_tokens([" a", " b"], 2) == (1, 1)
    assert wire.spread_tokens([" w1 w2 w3", " w4 w5 w6"], 6) == (3, 3)
    assert wire.spread_tokens(["x", "yyyyyyy"], 5) == (1, 4)
    assert wire.spread_tokens(["x", "y"], None) == (1, 1)
    assert wire.spread_tokens(["x", "y", "z"], 2) == (1, 1, 1)  # at least one per chunk
    assert sum(wire.spread_tokens(["ab", "c", "defg"], 11)) == 11
    assert wire.spread_tokens([], 4) == ()


@pytest.mark.parametrize(
    ("texts", "total"),
    [
        ([" w1 w2 w3", " w4 w5 w6", " w7"], 7),
        ([" a", " b"], 2),
        ([" a", " b", " c"], 1),
        ([" a"], None),
    ],
)
def test_a_stream_counted_as_it_passes_adds_up_as_the_bench_spreads_it(
    texts: list[str], total: int | None
) -> None:
    passed = len(texts)  # one each, as the chunks went by
    spread = wire.spread_tokens(texts, total)
    assert passed + wire.remaining_tokens(len(texts), total) == sum(spread)
