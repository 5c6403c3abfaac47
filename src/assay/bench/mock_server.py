"""A mock OpenAI-compatible server with exact, configurable timing, to check the client.

Chat and text completions, streamed or whole: time to first token, inter-token delay,
tokens per chunk, an optional role-only first chunk, output length and a failure rate, and
for a reasoning model, reasoning tokens before the answer: in a `reasoning_content` field
(chat only) or inside `<think>` ... `</think>` in the content, counted in the usage's
completion_tokens_details.reasoning_tokens unless told not to.
It is a bare asyncio protocol with httptools' parser, so that its own work stays far below
a millisecond per request: a request's clock starts when its first bytes arrive, and chunks
leave on absolute deadlines, so delays do not accumulate drift.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import httptools


@dataclass(frozen=True)
class MockConfig:
    ttft_ms: float = 50.0
    itl_ms: float = 10.0
    tokens_per_chunk: int = 1
    output_tokens: int = 64
    role_chunk: bool = True
    failure_rate: float = 0.0
    seed: int = 0
    prompt_tokens: int = 10
    # Tokens of reasoning before the output tokens (max_tokens caps the two together).
    reasoning_tokens: int = 0
    reasoning_format: Literal["field", "think"] = "field"
    reasoning_usage: bool = True

    def thinking(self, chat: bool) -> int:
        """The reasoning tokens of a reply (a text completion has no reasoning field)."""
        return self.reasoning_tokens if chat or self.reasoning_format == "think" else 0


_TOKENS = tuple(f" w{i}" for i in range(100))


async def _sleep_until(due: float) -> None:
    """Sleep to a perf_counter deadline, to well under a millisecond: event-loop timers round
    to whole milliseconds, so the last stretch is spent yielding to the loop."""
    coarse = due - time.perf_counter() - 0.0015
    if coarse > 0:
        await asyncio.sleep(coarse)
    while time.perf_counter() < due:
        await asyncio.sleep(0)


def _head(status: int, content_type: str, length: int | None) -> bytes:
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}
    lines = [f"HTTP/1.1 {status} {reason.get(status, 'OK')}", f"Content-Type: {content_type}"]
    lines.append(
        f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    )
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class _Request:
    def __init__(self) -> None:
        self.arrived = time.perf_counter()
        self.url = b""
        self.body: list[bytes] = []
        self.method = b""


class MockProtocol(asyncio.Protocol):
    def __init__(self, config: MockConfig, rng: random.Random) -> None:
        self.config = config
        self.rng = rng
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.current = _Request()
        self.tail: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._write(_head(400, "text/plain", 0))
            if self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.current = _Request()

    def on_url(self, url: bytes) -> None:
        self.current.url += url

    def on_body(self, body: bytes) -> None:
        self.current.body.append(body)

    def on_message_complete(self) -> None:
        request = self.current
        request.method = self.parser.get_method()
        previous = self.tail
        self.tail = asyncio.get_running_loop().create_task(self._answer(request, previous))

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    async def _answer(self, request: _Request, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            await previous  # HTTP/1.1: answers go out in request order
        path = request.url.split(b"?", 1)[0]
        if request.method == b"GET" and path == b"/v1/models":
            self._json(200, {"object": "list", "data": [{"id": "mock", "object": "model"}]})
        elif request.method == b"POST" and path in (b"/v1/chat/completions", b"/v1/completions"):
            await self._completion(request, chat=path.endswith(b"/chat/completions"))
        else:
            self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self._write(_head(status, "application/json", len(data)) + data)

    async def _completion(self, request: _Request, chat: bool) -> None:
        config = self.config
        try:
            body = json.loads(b"".join(request.body) or b"{}")
        except ValueError:
            self._json(400, {"error": {"message": "bad JSON", "type": "invalid_request_error"}})
            return
        if self.rng.random() < config.failure_rate:
            self._json(500, {"error": {"message": "mock failure", "type": "server_error"}})
            return
        most = config.output_tokens + config.thinking(chat)
        n = min(int(body.get("max_tokens") or most), most)
        if body.get("stream"):
            await self._stream(request, body, chat, n)
        else:
            await _sleep_until(request.arrived + (config.ttft_ms + config.itl_ms * (n - 1)) / 1000)
            self._json(200, _whole(body, chat, n, config))

    async def _stream(self, request: _Request, body: dict[str, Any], chat: bool, n: int) -> None:
        config = self.config
        kind = "chat.completion.chunk" if chat else "text_completion"
        head = json.dumps(
            {"id": "mock-" + uuid.uuid4().hex, "object": kind, "model": body.get("model", "mock")}
        )[:-1]

        def event(choices: str, extra: str = "") -> bytes:
            return _chunked(f'data: {head},"choices":[{choices}]{extra}}}\n\n'.encode())

        self._write(_head(200, "text/event-stream", None))
        if chat and config.role_chunk:
            self._write(
                event('{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}')
            )
        thinking = min(config.thinking(chat), n)
        think = config.reasoning_format == "think"
        sent = 0
        while sent < n:
            # A chunk is all reasoning or all answer.
            k = min(config.tokens_per_chunk, (thinking if sent < thinking else n) - sent)
            # Chunk j leaves at TTFT + j*k*ITL: the first token at TTFT, then ITL per token.
            await _sleep_until(request.arrived + (config.ttft_ms + config.itl_ms * sent) / 1000)
            words = "".join(_TOKENS[(sent + j) % 100] for j in range(k))
            key = "content"
            if sent < thinking and think:
                words = ("<think>" if sent == 0 else "") + words
                words += "</think>" if sent + k == thinking else ""
            elif sent < thinking:
                key = "reasoning_content"
            text = json.dumps(words)
            field = f'"delta":{{"{key}":{text}}}' if chat else f'"text":{text}'
            self._write(event(f'{{"index":0,{field},"finish_reason":null}}'))
            sent += k
        last = '"delta":{}' if chat else '"text":""'
        self._write(event(f'{{"index":0,{last},"finish_reason":"length"}}'))
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = _usage(n, config, thinking)
            self._write(event("", f',"usage":{json.dumps(usage)}'))
        self._write(_chunked(b"data: [DONE]\n\n") + b"0\r\n\r\n")


def _usage(n: int, config: MockConfig, thinking: int) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": config.prompt_tokens,
        "completion_tokens": n,
        "total_tokens": config.prompt_tokens + n,
    }
    if thinking and config.reasoning_usage:
        usage["completion_tokens_details"] = {"reasoning_tokens": thinking}
    return usage


def _whole(body: dict[str, Any], chat: bool, n: int, config: MockConfig) -> dict[str, Any]:
    thinking = min(config.thinking(chat), n)
    reasoning = "".join(_TOKENS[i % 100] for i in range(thinking))
    text = "".join(_TOKENS[i % 100] for i in range(thinking, n))
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if thinking and config.reasoning_format == "think":
        text = message["content"] = f"<think>{reasoning}</think>{text}"
    elif thinking:
        message["reasoning_content"] = reasoning
    choice: dict[str, Any] = {"index": 0, "finish_reason": "length"}
    if chat:
        choice["message"] = message
    else:
        choice["text"] = text
    return {
        "id": "mock-" + uuid.uuid4().hex,
        "object": "chat.completion" if chat else "text_completion",
        "model": body.get("model", "mock"),
        "choices": [choice],
        "usage": _usage(n, config, thinking),
    }


async def start_mock_server(config: MockConfig, host: str, port: int) -> asyncio.Server:
    """Start serving on the running loop; port 0 picks a free port (see server.sockets)."""
    rng = random.Random(config.seed)
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: MockProtocol(config, rng), host, port)


def run_mock_server(config: MockConfig, host: str, port: int) -> None:
    async def serve() -> None:
        server = await start_mock_server(config, host, port)
        async with server:
            await server.serve_forever()

    try:
        import uvloop

        uvloop.run(serve())
    except ImportError:
        asyncio.run(serve())
