"""The OpenAI wire protocol as assay's clients speak it: request bodies, SSE `data:` lines,
whole responses, `usage`, error bodies, model lists, and how a stream's tokens are counted.

Pure functions and frozen records, no I/O. The clients keep their transports (httpx in the
remote engine and `Manager`, urllib in the endpoint judge, aiohttp in the bench's endpoint
target, for its ceiling); what they send and read is built and parsed here, once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

__all__ = [
    "DATA",
    "Completion",
    "ErrorBody",
    "Message",
    "StreamEvent",
    "StreamReply",
    "TokenCount",
    "TokenSource",
    "Usage",
    "count_completion",
    "model_ids",
    "parse_completion",
    "parse_error",
    "parse_line",
    "parse_stream",
    "remaining_tokens",
    "request_body",
    "spread_tokens",
]

DATA = b"data:"
"""The prefix of an SSE line that carries an event; any other line (a `:` comment or
keep-alive, `event:`, `id:`, a blank line) carries none."""

_DONE = b"[DONE]"
_MAX_TEXT = 200  # of a body that is not a known error shape (an HTML page, a traceback)


class Message(Protocol):
    """A chat message: anything with a role and a content (engines.Message is one)."""

    @property
    def role(self) -> str: ...

    @property
    def content(self) -> str: ...


def request_body(
    model: str,
    *,
    messages: Sequence[Message] | None = None,
    prompt: str | None = None,
    stream: bool,
    max_tokens: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    stop: Sequence[str] = (),
    prefix_cache: bool = True,
    json_mode: bool = False,
    json_schema: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON body of /chat/completions (`messages`) or /completions (`prompt`).

    Values left as None are left out (the server's default). A streamed request asks for the
    usage in a last event; `prefix_cache=False` sends `cache_prompt: false`, which llama.cpp's
    server and assay honour; `json_mode` asks for a JSON object reply, `json_schema` for one
    that matches the schema.
    """
    body: dict[str, Any] = {"model": model}
    if messages is not None:
        body["messages"] = [{"role": m.role, "content": m.content} for m in messages]
    if prompt is not None:
        body["prompt"] = prompt
    optional = {"max_tokens": max_tokens, "temperature": temperature, "top_p": top_p, "seed": seed}
    body.update((key, value) for key, value in optional.items() if value is not None)
    if stop:
        body["stop"] = list(stop)
    body["stream"] = stream
    if stream:
        body["stream_options"] = {"include_usage": True}
    if not prefix_cache:
        body["cache_prompt"] = False
    if json_mode:
        body["response_format"] = {"type": "json_object"}
    if json_schema is not None:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": json_schema, "strict": True},
        }
    return body


@dataclass(frozen=True, slots=True)
class Usage:
    """A response's `usage`, as far as the server gave it."""

    prompt_tokens: int | None
    completion_tokens: int | None
    cached_tokens: int | None = None  # usage.prompt_tokens_details.cached_tokens
    reasoning_tokens: int | None = None  # usage.completion_tokens_details.reasoning_tokens


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One SSE event: the text its choices added ("" for none: a role-only chunk, the
    usage event), a finish reason, the usage, or the error a server sent mid-stream."""

    text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class StreamReply:
    """A streamed response read whole: its chunks with the times they arrived, the last
    finish reason and usage it gave, and the last error it sent.

    A chunk is an event that added text: `chunks` holds the content each added ("" for one
    that carried only reasoning) and `reasoning` the text each carried in a
    `reasoning_content` or `reasoning` field (vLLM, llama.cpp's server, DeepSeek, OpenRouter
    and Ollama send a reasoning model's thinking there), or () when no event carried any.
    """

    times: tuple[int, ...]
    chunks: tuple[str, ...]
    finish_reason: str | None
    usage: Usage | None
    error: str | None
    reasoning: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return "".join(self.chunks)


def parse_stream(lines: Sequence[tuple[int, bytes]]) -> StreamReply:
    """One response's SSE lines, each with the time it arrived, up to `data: [DONE]`.

    The bench keeps the raw lines while they arrive and parses them here after the end: the
    payloads go through one JSON call (several times faster than one call per event), and
    each event is read inline, with no call or record per event (the bench's goal is 60,000
    chunks/s on one core, benchmarks/client_ceiling.py; a frozen dataclass alone costs 400 ns).
    """
    arrived: list[int] = []
    payloads: list[bytes] = []
    for now, line in lines:
        if not line.startswith(DATA):
            continue
        payload = line[5:].strip()
        if payload == _DONE:
            break
        arrived.append(now)
        payloads.append(payload)
    try:
        events = json.loads(b"[" + b",".join(payloads) + b"]")
    except ValueError:  # one payload is not JSON: each on its own, that one as an error
        events = [_loads(p) for p in payloads]
    times: list[int] = []
    chunks: list[str] = []
    thoughts: list[str] = []
    finish = usage = error = None
    for now, event in zip(arrived, events, strict=True):
        # The common shape is read without checks; any other fails fast into an error.
        try:
            if "error" in event and event["error"] is not None:
                error = parse_error(event).message
                continue
            text = thought = ""
            for choice in event.get("choices") or ():
                delta = choice.get("delta")  # a chat chunk's delta; a completion's "text"
                if delta is not None:
                    piece = delta.get("content")
                    said = delta.get("reasoning_content") or delta.get("reasoning")
                    if said and isinstance(said, str):
                        thought += said
                else:
                    piece = choice.get("text")
                if piece:
                    text += piece
                if choice.get("finish_reason"):
                    finish = str(choice["finish_reason"])
            if text or thought:
                times.append(now)
                chunks.append(text)
                thoughts.append(thought)
            usage = event.get("usage") or usage
        except (AttributeError, TypeError):
            error = f"the server sent an event in no known shape: {event!r:.80}"
    reasoning = tuple(thoughts) if any(thoughts) else ()
    return StreamReply(tuple(times), tuple(chunks), finish, _usage(usage), error, reasoning)


def parse_line(line: str | bytes) -> StreamEvent | None:
    """The event of one SSE line, for a client that reads a stream as it arrives; None for a
    line that carries none (a comment or keep-alive, another field, a blank line) and for
    `data: [DONE]`."""
    raw = line.encode() if isinstance(line, str) else line
    if not raw.startswith(DATA) or raw[5:].strip() == _DONE:
        return None
    read = parse_stream(((0, raw),))
    return StreamEvent(read.text, read.finish_reason, read.usage, read.error)


def _loads(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except ValueError:
        text = payload[:80].decode("utf-8", errors="replace")
        return {"error": f"the server sent an event that is not JSON: {text}"}


def _usage(usage: Any) -> Usage | None:
    if not isinstance(usage, dict) or not usage:
        return None
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    details = usage.get("completion_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
    return Usage(
        _int(usage.get("prompt_tokens")),
        _int(usage.get("completion_tokens")),
        _int(cached),
        _int(reasoning),
    )


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class Completion:
    """A whole (not streamed) response. `text` is None when the body has no
    choices[0].message.content (chat) nor choices[0].text (completion); `reasoning` is the
    message's `reasoning_content` (or `reasoning`), None when it has none."""

    text: str | None
    finish_reason: str | None
    usage: Usage | None
    reasoning: str | None = None


def parse_completion(body: Any) -> Completion:
    """The reply of a parsed JSON response body."""
    if not isinstance(body, dict):
        return Completion(None, None, None)
    choices = body.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else {}
    if not isinstance(choice, dict):
        choice = {}
    message = choice.get("message")
    text: str | None = None
    reasoning: str | None = None
    if isinstance(message, dict):
        said = message.get("reasoning_content") or message.get("reasoning")
        reasoning = said if isinstance(said, str) and said else None
    if isinstance(message, dict) and "content" in message:
        text = str(message["content"] or "")
    elif "text" in choice:
        text = str(choice["text"] or "")
    finish = choice.get("finish_reason")
    usage = _usage(body.get("usage"))
    return Completion(text, str(finish) if finish else None, usage, reasoning)


@dataclass(frozen=True, slots=True)
class ErrorBody:
    """What an error response said, its message on one line (a server's own message whole;
    a body in no known shape cut to its first 200 characters)."""

    message: str
    type: str | None = None
    code: str | None = None


def parse_error(body: bytes | str | Any) -> ErrorBody:
    """An error body, raw or parsed: OpenAI's {"error": {"message", "type", "code"}}, an
    {"error": "..."} string (Ollama), FastAPI's {"detail": "..."} or its list of validation
    errors, a {"message": "..."}; anything else (HTML from a proxy) is its text, cut short."""
    if isinstance(body, bytes | str):
        text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
        try:
            value = json.loads(text)
        except ValueError:
            return ErrorBody(_one_line(text, _MAX_TEXT))
    else:
        value, text = body, json.dumps(body, default=str)
    return _said(value) or ErrorBody(_one_line(text, _MAX_TEXT))


def _said(value: Any) -> ErrorBody | None:
    if not isinstance(value, dict):
        return None
    error = value.get("error")
    if isinstance(error, dict) and error.get("message") is not None:
        kind, code = error.get("type"), error.get("code")
        return ErrorBody(
            _one_line(str(error["message"])),
            None if kind is None else str(kind),
            None if code is None else str(code),
        )
    detail = value.get("detail")
    for said in (error, detail, value.get("message")):
        if isinstance(said, str):
            return ErrorBody(_one_line(said))
    if isinstance(detail, list) and detail:  # FastAPI's validation errors
        return ErrorBody(
            _one_line("; ".join(str(d.get("msg") if isinstance(d, dict) else d) for d in detail))
        )
    return None


def _one_line(text: str, limit: int | None = None) -> str:
    line = " ".join(text.split())[:limit]
    return line or "(no message)"


def model_ids(body: Any) -> list[str]:
    """The ids a parsed GET /models body lists ([] when it lists none)."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return []
    return [str(item["id"]) for item in data if isinstance(item, dict) and "id" in item]


TokenSource = Literal["server", "tokenizer", "chunks"]


@dataclass(frozen=True, slots=True)
class TokenCount:
    """A completion's tokens and where the number came from."""

    tokens: int
    source: TokenSource


def count_completion(
    usage: Usage | None, text: str, chunks: int, count: Callable[[str], int] | None
) -> TokenCount | None:
    """The completion's tokens: the server's count, else the text counted with a tokenizer,
    else one per content chunk; None when none of those is there."""
    if usage is not None and usage.completion_tokens is not None:
        return TokenCount(usage.completion_tokens, "server")
    if count is not None:
        return TokenCount(count(text), "tokenizer")
    return TokenCount(chunks, "chunks") if chunks else None


def spread_tokens(chunk_texts: Sequence[str], total: int | None) -> tuple[int, ...]:
    """Attribute `total` tokens to content chunks: one each when they match, else in
    proportion to each chunk's characters (largest remainder), at least one per chunk."""
    n = len(chunk_texts)
    if n == 0:
        return ()
    if total is None or total <= n:
        return (1,) * n
    chars = [max(1, len(t)) for t in chunk_texts]
    whole = sum(chars)
    extra = total - n
    shares = [extra * c / whole for c in chars]
    counts = [1 + int(s) for s in shares]
    order = sorted(range(n), key=lambda i: shares[i] - int(shares[i]), reverse=True)
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return tuple(counts)


def remaining_tokens(chunks: int, total: int | None) -> int:
    """What a stream read as it arrives adds at its end, after counting each content chunk
    as one when it passed (the total comes last, with the usage; one is spread_tokens' floor).
    The chunks' counts then add up to sum(spread_tokens(texts, total)), as the bench's do."""
    return max(0, total - chunks) if total is not None else 0
