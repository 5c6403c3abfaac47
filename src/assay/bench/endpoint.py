"""An OpenAI-compatible server as a benchmark target, over HTTP with aiohttp (streamed SSE
or whole): its /tokenize for synthetic lengths, held output lengths and structured output
where it takes them, and every time from the run's clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp

from assay import openai_wire as wire
from assay.bench.reasoning import count_reasoning, first_output_ns, split_reasoning
from assay.bench.records import RequestRecord
from assay.bench.targets import (
    BenchRequest,
    Clock,
    Generation,
    TargetInfo,
    make_record,
    tagged,
)
from assay.errors import AssayError

# A request that failed this way before any response byte never reached the server (not a
# refused connect, ClientConnectorError, a ClientOSError too: nothing listens there).
_STALE_ERRORS = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)
_STALE_CONNECTION = "connection closed before the request was sent: "


class EndpointTarget:
    """Any OpenAI-compatible server, over HTTP with aiohttp (streamed SSE or whole)."""

    def __init__(
        self,
        model: str,
        base_url: str,
        api_key: str | None,
        generation: Generation,
        clock: Clock,
        count_tokens: Callable[[str], int] | None = None,
        pid: int | None = None,
    ) -> None:
        self.model = model
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._generation = generation
        self._clock = clock
        self._count_tokens = count_tokens
        self._pid = pid
        self._session: aiohttp.ClientSession | None = None
        # At the server's root (llama.cpp's server, vLLM, assay serve), not under /v1.
        root = base_url.rstrip("/").removesuffix("/v1")
        self._tokenize_url: str | None = root + "/tokenize"
        # Sends min_tokens/ignore_eos to hold an output length, until the server refuses them.
        self._hold = True
        # Sends a prompt's JSON schema as response_format, until the server refuses it.
        self._response_format = True

    async def open(self) -> TargetInfo:
        # Idle connections are dropped before the common servers' 5 s keep-alive (uvicorn,
        # llama.cpp's server) would close them under a request.
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=3)
        timeout = aiohttp.ClientTimeout(total=self._generation.timeout_s)
        trace = aiohttp.TraceConfig()
        trace.on_request_chunk_sent.append(self._body_written)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=timeout, trace_configs=[trace]
        )
        return TargetInfo(
            engine="openai-endpoint",
            engine_version=None,
            threads=None,
            context_size=None,
            load_seconds=None,
            disk_bytes=None,
            pid=self._pid,
            memory_of="server process" if self._pid else None,
        )

    async def prepare(self, concurrency: int) -> None:
        """Open `concurrency` keep-alive connections, so no timed request pays a TCP connect."""
        assert self._session is not None
        models_url = self._url.rsplit("/chat/completions", 1)[0] + "/models"

        async def touch() -> None:
            try:
                async with self._session.get(models_url, headers=self._headers) as resp:  # type: ignore[union-attr]
                    await resp.read()
            except aiohttp.ClientError:
                pass  # the timed requests will say what is wrong

        await asyncio.gather(*(touch() for _ in range(concurrency)))

    def _body(self, request: BenchRequest) -> dict[str, Any]:
        g = self._generation
        body = wire.request_body(
            self.model,
            messages=tagged(request.messages, request.tag),
            stream=g.stream,
            max_tokens=request.max_tokens or g.max_tokens,
            temperature=g.temperature,
            seed=g.seed,
            prefix_cache=g.prefix_cache or request.prefix_cache,
            json_schema=self._schema_of(request),
        )
        if request.min_tokens and self._hold:
            # vLLM's and assay's names; llama.cpp's server honours ignore_eos.
            body.update(min_tokens=request.min_tokens, ignore_eos=True)
        return body

    def _schema_of(self, request: BenchRequest) -> dict[str, Any] | None:
        """The run's schema, or the prompt's while the server takes response_format."""
        if request.prompt.json_schema is not None:
            return request.prompt.json_schema if self._response_format else None
        return self._generation.json_schema

    def _structured(self, request: BenchRequest) -> str | None:
        if request.prompt.json_schema is None and self._generation.json_schema is None:
            return None
        return "response_format" if self._schema_of(request) is not None else "instruction"

    async def count_tokens(self, text: str) -> int:
        """The server's own count (`/tokenize`: llama.cpp's server, vLLM, assay serve), else
        the fallback tokenizer's, recorded as approximate."""
        if self._tokenize_url is not None:
            count = await self._server_count(text)
            if count is not None:
                return count
            self._tokenize_url = None  # no such route: the fallback from now on
        if self._count_tokens is None:
            raise AssayError(
                f"{self.model}: the server has no /tokenize and no tokenizer was given to count "
                "synthetic prompts with"
            )
        return await asyncio.to_thread(self._count_tokens, text)

    @property
    def token_counter(self) -> str:
        if self._tokenize_url is not None:
            return "server"
        return "approximate (the bundled SmolLM2 tokenizer)"

    async def _server_count(self, text: str) -> int | None:
        assert self._session is not None and self._tokenize_url is not None
        body: dict[str, Any] = {"model": self.model, "prompt": text, "content": text}
        body.update(add_special=False, add_special_tokens=False)
        try:
            async with self._session.post(
                self._tokenize_url, json=body, headers=self._headers
            ) as resp:
                if resp.status != 200:
                    return None
                reply = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None
        if isinstance(reply, dict) and isinstance(reply.get("count"), int):
            return int(reply["count"])
        tokens = reply.get("tokens") if isinstance(reply, dict) else None
        return len(tokens) if isinstance(tokens, list) else None

    async def _body_written(self, session: Any, context: Any, params: Any) -> None:
        sent = context.trace_request_ctx
        if isinstance(sent, _SentAt) and sent.ns is None:
            sent.ns = self._clock()

    async def send(self, request: BenchRequest) -> RequestRecord:
        """Times run from when the request was written to the socket: on Python < 3.12
        aiohttp writes a body from a task of its own, which under a burst of requests runs
        after the others' set-up; that wait is the client's, not the server's, and is kept
        apart as `send_delay_ns`."""
        assert self._session is not None, "open() first"
        record = await self._post(request)
        if self._refused_hold(request, record):
            # The server refuses to hold a length: sent without, the records say not held.
            self._hold = False
            record = await self._post(request)
        if self._refused(record, "response_format") and request.prompt.json_schema is not None:
            # No structured output there: the prompt's own words ask for the JSON.
            self._response_format = False
            record = await self._post(request)
        if self._refused(record, "context"):  # the server says the prompt does not fit
            record = record.model_copy(
                update={"skipped": f"does not fit: {record.error}", "error": None}
            )
        return record.model_copy(update={"structured": self._structured(request)})

    @staticmethod
    def _refused(record: RequestRecord, word: str) -> bool:
        error = record.error or ""
        return error.startswith(("HTTP 400", "HTTP 422")) and word in error.lower()

    async def _post(self, request: BenchRequest) -> RequestRecord:
        body = json.dumps(self._body(request)).encode()
        headers = {**self._headers, "Content-Type": "application/json"}
        record = await self._attempt(request, body, headers)
        for _ in range(2):
            if record.error is None or not record.error.startswith(_STALE_CONNECTION):
                break
            # The server closed a kept-alive connection just as we wrote on it (llama.cpp's
            # server does): nothing reached it, so it is sent again.
            record = await self._attempt(request, body, headers)
        return record

    def _refused_hold(self, request: BenchRequest, record: RequestRecord) -> bool:
        error = record.error or ""
        return (
            self._hold
            and request.min_tokens > 0
            and error.startswith(("HTTP 400", "HTTP 422"))
            and ("min_tokens" in error or "ignore_eos" in error)
        )

    async def _attempt(
        self, request: BenchRequest, body: bytes, headers: dict[str, str]
    ) -> RequestRecord:
        assert self._session is not None
        intended = self._clock()
        written = _SentAt()
        first_byte: int | None = None
        try:
            async with self._session.post(
                self._url, data=body, headers=headers, trace_request_ctx=written
            ) as resp:
                first_byte = self._clock()
                sent = written.ns or intended
                if resp.status != 200:
                    said = wire.parse_error(await resp.read()).message
                    message = f"HTTP {resp.status}: {said}"
                    return make_record(
                        request,
                        sent_ns=sent,
                        first_byte_ns=first_byte,
                        end_ns=self._clock(),
                        error=message,
                    )
                result: wire.StreamReply | wire.Completion
                if self._generation.stream:
                    result = await self._read_stream(resp)
                else:
                    result = await self._read_whole(resp)
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason = (
                "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
            )
            refused = isinstance(exc, aiohttp.ClientConnectorError)
            if first_byte is None and isinstance(exc, _STALE_ERRORS) and not refused:
                reason = f"{_STALE_CONNECTION}{reason}"
            sent = written.ns or intended
            return make_record(request, sent_ns=sent, end_ns=self._clock(), error=reason)
        end = self._clock()
        record = self._finish(request, sent, first_byte, end, result)
        return record.model_copy(update={"send_delay_ns": sent - intended})

    async def _read_stream(self, resp: aiohttp.ClientResponse) -> wire.StreamReply:
        """Timestamp each network read and keep its raw lines; parse after the stream ends.

        Lines that arrive in one read arrived together and share its time. Deferring the
        JSON work keeps the client's per-chunk cost, and so its own lag, minimal.
        """
        clock = self._clock
        data_line = wire.DATA
        lines: list[tuple[int, bytes]] = []
        tail = b""
        async for data in resp.content.iter_any():
            now = clock()
            *complete, tail = (tail + data).split(b"\n")
            lines.extend((now, line) for line in complete if line.startswith(data_line))
        return wire.parse_stream(lines)

    async def _read_whole(self, resp: aiohttp.ClientResponse) -> wire.Completion:
        return wire.parse_completion(await resp.json(content_type=None))

    def _finish(
        self,
        request: BenchRequest,
        sent: int,
        first_byte: int,
        end: int,
        reply: wire.StreamReply | wire.Completion,
    ) -> RequestRecord:
        times: tuple[int, ...] = ()
        chunks: tuple[str, ...] = ()
        error = None
        text = reply.text or ""
        if isinstance(reply, wire.StreamReply):
            times, chunks, error, fields = reply.times, reply.chunks, reply.error, reply.reasoning
        else:
            fields = (reply.reasoning,) if reply.reasoning else ()
        usage = reply.usage
        # A reasoning field's text is the completion's too (content and reasoning per chunk).
        said = "".join(fields)
        counted = wire.count_completion(usage, said + text, len(times), self._count_tokens)
        completion = counted.tokens if counted else None
        whole = tuple(map(str.__add__, chunks, fields)) if fields and times else chunks
        chunk_tokens = wire.spread_tokens(whole, completion)
        split = split_reasoning(chunks if times else (text,), fields)
        # A whole reply is one chunk of all the completion's tokens.
        tokens = chunk_tokens if times else (completion,) if completion else ()
        thinking = count_reasoning(usage, split, tokens, self._count_tokens)
        return make_record(
            request,
            sent_ns=sent,
            first_byte_ns=first_byte,
            first_token_ns=times[0] if times else None,
            chunk_ns=times,
            chunk_tokens=chunk_tokens,
            end_ns=end,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=completion,
            cached_tokens=usage.cached_tokens if usage else None,
            token_source=counted.source if counted else None,
            finish_reason=reply.finish_reason,
            error=error,
            text=text,
            first_output_ns=first_output_ns(times, split) if thinking else None,
            reasoning_tokens=thinking.tokens if thinking else None,
            reasoning_source=thinking.source if thinking else None,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _SentAt:
    """Filled in by aiohttp's trace hook when the request body is written."""

    def __init__(self) -> None:
        self.ns: int | None = None
