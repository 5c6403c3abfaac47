"""What a benchmark sends requests to: a model in this process, or an OpenAI-compatible URL.

Both turn one BenchRequest into one RequestRecord, with every time taken from the run's
clock (perf_counter_ns relative to the run's zero).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from assay import openai_wire as wire
from assay.bench.prompts import Prompt
from assay.bench.reasoning import count_reasoning, first_output_ns, split_reasoning
from assay.bench.records import RequestRecord, TokenSource
from assay.engines import CancelToken, LoadedModel, Message, SamplingParams
from assay.engines.json_schema import grammar_for_schema_json
from assay.engines.threads import threads_of
from assay.errors import AssayError, ModelCrashedError

Clock = Callable[[], int]


@dataclass(frozen=True)
class BenchRequest:
    """One request as the runner built it: the messages to send (the prompt, or a synthetic
    text, after the conversation's history), and per-request limits."""

    key: str
    model: str
    level: str
    index: int
    round: int
    prompt: Prompt
    messages: tuple[Message, ...]
    warmup: bool = False
    attempt: int = 1
    scheduled_ns: int | None = None
    turn: int = 0
    # None: the run's max_tokens. min_tokens > 0 asks the target to hold the length.
    max_tokens: int | None = None
    min_tokens: int = 0
    # A synthetic prompt's length in tokens as the target's tokenizer counted it.
    input_tokens: int | None = None
    # Sent before the first user message at an endpoint, so that no server cache serves a
    # repeated prompt; the same for every turn of one conversation. None: nothing added.
    tag: str | None = None
    # Whether a cached prefix may serve it (later turns reuse their own conversation's).
    prefix_cache: bool = False


@dataclass(frozen=True)
class Generation:
    """Sampling settings shared by every request of a run."""

    max_tokens: int
    temperature: float
    seed: int | None
    stream: bool
    prefix_cache: bool
    timeout_s: float
    json_schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class TargetInfo:
    engine: str
    engine_version: str | None
    threads: int | None
    context_size: int | None
    load_seconds: float | None
    disk_bytes: int | None
    pid: int | None
    gpu_layers: int | None = None
    # "adaptive" (fewer threads while other programs use the cores) or "fixed"; None: remote.
    thread_policy: str | None = None
    # Whose memory `pid` is: "runner process" (the model's own), "this process", "server".
    memory_of: str | None = None
    # Against several endpoints: how many replicas serve the model.
    replicas: int | None = None


class Target(Protocol):
    model: str

    async def open(self) -> TargetInfo: ...

    async def prepare(self, concurrency: int) -> None:
        """Get ready for this many requests at once (e.g. open the connections)."""
        ...

    async def send(self, request: BenchRequest) -> RequestRecord: ...

    async def count_tokens(self, text: str) -> int:
        """Tokens in TEXT under the target's tokenizer (what `token_counter` says)."""
        ...

    @property
    def token_counter(self) -> str:
        """Whose tokenizer count_tokens uses: "engine", "server", or "approximate (...)"."""
        ...

    async def close(self) -> None: ...


def _record(request: BenchRequest, **fields: Any) -> RequestRecord:
    return RequestRecord(
        key=request.key,
        model=request.model,
        level=request.level,
        index=request.index,
        round=request.round,
        prompt_id=request.prompt.id,
        warmup=request.warmup,
        attempt=request.attempt,
        scheduled_ns=request.scheduled_ns,
        turn=request.turn,
        input_tokens=request.input_tokens,
        output_tokens_asked=request.min_tokens or None,
        **fields,
    )


def tagged(messages: tuple[Message, ...], tag: str | None) -> list[Message]:
    """The messages with `[tag] ` before the first user message's text."""
    out = list(messages)
    if tag is None:
        return out
    for i, message in enumerate(out):
        if message.role == "user":
            out[i] = Message("user", f"[{tag}] {message.content}")
            break
    return out


class InProcessTarget:
    """A model loaded by assay's engine in this process; generations run in threads."""

    def __init__(
        self, model: str, load: Callable[[], LoadedModel], generation: Generation, clock: Clock
    ) -> None:
        self.model = model
        self._load = load
        self._generation = generation
        self._clock = clock
        self._loaded: LoadedModel | None = None
        self._grammar: str | None = None
        self._schema: str | None = None
        self._grammars: dict[str, str] = {}  # per-prompt schemas' grammars, made once
        self._holds_length = False

    async def open(self) -> TargetInfo:
        self._loaded = await asyncio.to_thread(self._load)
        info = self._loaded.info
        # An engine that cannot hold an output length is sent none: its records say so.
        self._holds_length = bool(getattr(self._loaded, "min_tokens", False))
        if self._generation.json_schema is not None:
            if not self._loaded.json_schema:
                raise AssayError(
                    f"--response-format needs a model that constrains its output; {self.model} "
                    f"runs on the {info.engine} engine, which cannot"
                )
            self._schema = json.dumps(self._generation.json_schema)
            self._grammar = grammar_for_schema_json(self._schema)  # now, not per request
        return TargetInfo(
            engine=info.engine,
            engine_version=info.engine_version,
            threads=info.threads,
            context_size=info.context_size,
            load_seconds=info.load_seconds,
            disk_bytes=info.file_bytes,
            # The model's runner (its memory and CPU time alone), or this process.
            pid=self._loaded.pid or os.getpid(),
            memory_of="runner process" if self._loaded.pid else "this process",
            gpu_layers=info.gpu_layers,
            thread_policy=info.thread_policy,
        )

    async def prepare(self, concurrency: int) -> None:
        return None

    async def count_tokens(self, text: str) -> int:
        assert self._loaded is not None, "open() first"
        return await asyncio.to_thread(self._loaded.count_tokens, text)

    @property
    def token_counter(self) -> str:
        return "engine"

    async def send(self, request: BenchRequest) -> RequestRecord:
        reason = await asyncio.to_thread(self._does_not_fit, request)
        if reason is not None:
            now = self._clock()
            return _record(request, sent_ns=now, end_ns=now, skipped=reason)
        sent = self._clock()
        return await asyncio.to_thread(self._run, request, sent)

    def _does_not_fit(self, request: BenchRequest) -> str | None:
        """Why a request cannot run whole in the model's context (its prompt and the tokens
        it may generate), counted before its clock starts; None when it fits. A prompt far
        shorter than the context is not counted: a token is at least one character."""
        assert self._loaded is not None
        context = self._loaded.info.context_size
        wanted = request.max_tokens or self._generation.max_tokens
        text = "\n".join(m.content for m in request.messages)
        slack = 16 * len(request.messages)  # the chat template's own tokens, generously
        if not context or len(text) + wanted + slack < context:
            return None
        tokens = self._loaded.count_tokens(text) + slack
        if tokens + wanted <= context:
            return None
        return (
            f"does not fit: about {tokens} prompt tokens + {wanted} to generate > the "
            f"{context}-token context"
        )

    def _structure(self, request: BenchRequest) -> tuple[str | None, str | None, str | None]:
        """(grammar, schema JSON, how it is held) for a request's JSON schema: the run's, or
        its prompt's; a model that cannot constrain its output gets only the prompt's ask."""
        assert self._loaded is not None
        if request.prompt.json_schema is None:
            return self._grammar, self._schema, "grammar" if self._schema else None
        if not self._loaded.json_schema:
            return None, None, "instruction"
        schema = json.dumps(request.prompt.json_schema)
        if schema not in self._grammars:
            self._grammars[schema] = grammar_for_schema_json(schema)
        return self._grammars[schema], schema, "grammar"

    def _run(self, request: BenchRequest, sent: int) -> RequestRecord:
        assert self._loaded is not None
        g = self._generation
        grammar, schema, structured = self._structure(request)
        params = SamplingParams(
            temperature=g.temperature,
            seed=g.seed,
            max_tokens=request.max_tokens or g.max_tokens,
            prefix_cache=g.prefix_cache or request.prefix_cache,
            grammar=grammar,
            json_schema=schema,
            min_tokens=request.min_tokens if self._holds_length else 0,
        )
        cancel = CancelToken()
        timer = threading.Timer(g.timeout_s, cancel.cancel)
        timer.start()
        times: list[int] = []
        tokens: list[int] = []
        texts: list[str] = []
        timed: list[str] = []  # the text of each timed chunk (a chunk of no token adds to one)
        final = None
        try:
            for chunk in self._loaded.chat(list(request.messages), params, cancel):
                now = self._clock()
                if chunk.tokens:
                    times.append(now)
                    tokens.append(chunk.tokens)
                    timed.append(chunk.text)
                elif timed:
                    timed[-1] += chunk.text
                texts.append(chunk.text)
                final = chunk
        except ModelCrashedError:
            raise  # the model is gone: the bench marks it failed and goes on
        except AssayError as exc:
            if "but the context holds" in exc.message:  # the engine's own count said so
                return _record(request, sent_ns=sent, end_ns=self._clock(), skipped=exc.message)
            return _record(request, sent_ns=sent, end_ns=self._clock(), error=exc.message)
        finally:
            timer.cancel()
        end = self._clock()
        usage = final.usage if final else None
        timed_out = final is not None and final.finish_reason == "cancelled"
        source: TokenSource = "tokenizer" if usage and usage.source == "counted" else "engine"
        split = split_reasoning(timed)  # the engine's chunks carry think blocks as text
        thinking = count_reasoning(None, split, tokens, None, chunks_source=source)
        return _record(
            request,
            sent_ns=sent,
            first_byte_ns=times[0] if times else None,
            first_token_ns=times[0] if times else None,
            chunk_ns=tuple(times),
            chunk_tokens=tuple(tokens),
            end_ns=end,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            token_source=source,
            finish_reason=final.finish_reason if final else None,
            error=f"timed out after {g.timeout_s:g} s" if timed_out else None,
            text="".join(texts),
            threads=threads_of(self._loaded),
            structured=structured,
            first_output_ns=first_output_ns(times, split) if thinking else None,
            reasoning_tokens=thinking.tokens if thinking else None,
            reasoning_source=thinking.source if thinking else None,
        )

    async def close(self) -> None:
        if self._loaded is not None:
            await asyncio.to_thread(self._loaded.close)
            self._loaded = None


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
                    return _record(
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
            return _record(request, sent_ns=sent, end_ns=self._clock(), error=reason)
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
        return _record(
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
