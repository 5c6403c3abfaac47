"""The OpenAI-compatible HTTP server: `create_app(settings, registry)` builds it."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Iterator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, StreamingResponse

from assay.engines import (
    CancelToken,
    Chunk,
    Embeddings,
    LoadedModel,
    Logprob,
    ToolCall,
    ToolSpec,
    Usage,
)
from assay.engines.json_schema import SchemaError, grammar_for_schema_json
from assay.engines.tools import call_grammar, parse_calls, unsupported_in
from assay.errors import AssayError, ContextOverflowError
from assay.registry import ModelRegistry
from assay.server.errors import APIError, from_assay_error, install_error_handlers
from assay.server.metrics import ServerMetrics
from assay.server.models import ModelManager
from assay.server.schemas import (
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
    ResponseFormat,
    Timings,
    UsageBody,
    model_object,
)
from assay.server.security import GuardMiddleware, RequestCounter
from assay.server.settings import ServerSettings
from assay.server.tokens import add_token_routes
from assay.server.worker import Job, ModelWorker, QueueFullError
from assay.version import version


def create_app(
    settings: ServerSettings,
    registry: ModelRegistry,
    on_shutdown: Callable[[], None] | None = None,
) -> FastAPI:
    metrics = ServerMetrics()
    manager = ModelManager(registry, settings, metrics)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.preload:
            for name in settings.models:
                await manager.worker(name)
        await manager.warm_spares()
        reaper = asyncio.create_task(_unload_idle_forever(manager, settings.ttl))
        yield
        reaper.cancel()
        await manager.close()
        if on_shutdown is not None:
            on_shutdown()

    app = FastAPI(title="assay", version=version(), lifespan=lifespan, docs_url=None)
    app.state.manager = manager
    app.state.metrics = metrics
    install_error_handlers(app)
    _add_middleware(app, settings, metrics)
    _add_routes(app, manager, metrics)
    add_token_routes(app, manager)
    return app


async def _unload_idle_forever(manager: ModelManager, ttl: float) -> None:
    interval = max(0.05, min(ttl / 4, 5.0))
    while True:
        await asyncio.sleep(interval)
        await manager.unload_idle()


def _add_middleware(app: FastAPI, settings: ServerSettings, metrics: ServerMetrics) -> None:
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["*"],
        )
    app.add_middleware(GuardMiddleware, settings=settings)
    app.add_middleware(RequestCounter, metrics=metrics)


def _add_routes(app: FastAPI, manager: ModelManager, metrics: ServerMetrics) -> None:
    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "loaded": [s.name for s in manager.loaded()]}

    @app.get("/metrics")
    async def prometheus() -> Response:
        manager.refresh_usage()
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return {"object": "list", "data": _model_objects(manager)}

    @app.get("/v1/models/loaded")
    @app.get("/openai/loadedmodels")
    async def loaded_models() -> dict[str, Any]:
        return {"object": "list", "data": [s.__dict__ for s in manager.loaded()]}

    @app.get("/v1/models/{name}")
    async def get_model(name: str) -> dict[str, Any]:
        resolved = manager.resolve(name)
        objects = {o["id"]: o for o in _model_objects(manager, include_uncached=True)}
        return objects[resolved.entry.alias]

    @app.post("/v1/models/{name}/load")
    @app.get("/openai/load/{name}")
    async def load_model(name: str) -> dict[str, Any]:
        worker = await manager.worker(name)
        return {"loaded": worker.name, "load_seconds": worker.model.info.load_seconds}

    @app.post("/v1/models/{name}/unload")
    @app.get("/openai/unload/{name}")
    async def unload_model(name: str) -> dict[str, Any]:
        return {"unloaded": await manager.unload(name), "model": name}

    @app.get("/openai/status")
    async def status() -> dict[str, Any]:
        return {
            "version": version(),
            "modelDirPath": str(manager.registry.settings.models_dir),
            "loadedModels": [s.name for s in manager.loaded()],
        }

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
        _refuse_unhonoured(body)
        try:
            messages = body.chat_messages()
        except ValueError as exc:
            raise APIError(400, str(exc), param="messages") from None
        params = body.sampling()
        if body.response_format is not None and body.constrained:
            schema, grammar = _structured(body.response_format)
            params = replace(params, json_schema=schema, grammar=grammar)
        if body.tool_specs:
            params = replace(params, tools=body.tool_specs)
        if body.forced_tools:
            params = replace(params, grammar=_tool_grammar(body))

        def start(model: LoadedModel, cancel: CancelToken) -> Any:
            return model.chat(messages, params, cancel)

        work = _generate(manager, metrics, body.model, start, body, chat=True)
        return await _unless_disconnected(request, work)

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest, request: Request) -> Response:
        _refuse_unhonoured(body)
        params = body.sampling()
        prompt = body.text

        def start(model: LoadedModel, cancel: CancelToken) -> Any:
            return model.complete(prompt, params, cancel)

        work = _generate(manager, metrics, body.model, start, body, chat=False)
        return await _unless_disconnected(request, work)

    @app.post("/v1/embeddings")
    async def embeddings(body: EmbeddingRequest) -> Response:
        refusal = body.refusal()
        if refusal is not None:
            raise APIError(400, refusal.message, code="unsupported_parameter", param=refusal.field)
        worker = await manager.worker(body.model)
        if not worker.model.embeddings:
            raise APIError(
                400,
                f"{body.model} gives no embeddings on the {worker.model.info.engine} engine: "
                "use a llama.cpp model, or a Foundry Local folder built with hidden_states "
                "(the model builder's --extra_options include_hidden_states=true)",
                code="unsupported_parameter",
                param="model",
            )
        inputs = body.inputs()
        done: list[Embeddings] = []

        def start(model: LoadedModel, cancel: CancelToken) -> Iterator[Chunk]:
            # A job like a generation's (queued, counted, named if the engine crashes) whose
            # one chunk says it is done; the vectors come back through `done`.
            done.append(model.embed(inputs))
            usage = Usage(prompt_tokens=done[0].prompt_tokens, completion_tokens=0)
            yield Chunk("", 0, finish_reason="stop", usage=usage)

        job = Job(start=start, loop=asyncio.get_running_loop())
        _submit(worker, job)
        try:
            async for _ in job.chunks():
                pass
        except ContextOverflowError as exc:
            raise APIError(
                400, exc.message, code="context_length_exceeded", param="input"
            ) from None
        vectors = done[0].vectors
        if body.dimensions is not None and body.dimensions != len(vectors[0]):
            raise APIError(
                400,
                f"{body.model}'s embeddings have {len(vectors[0])} dimensions and cannot be "
                "shortened; leave dimensions out",
                code="unsupported_parameter",
                param="dimensions",
            )
        data = [
            {"object": "embedding", "index": i, "embedding": _encoded(v, body.encoding_format)}
            for i, v in enumerate(vectors)
        ]
        tokens = done[0].prompt_tokens
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return JSONResponse({"object": "list", "data": data, "model": body.model, "usage": usage})


def _model_objects(manager: ModelManager, include_uncached: bool = False) -> list[dict[str, Any]]:
    registry = manager.registry
    allowed = {m.partition(":")[0] for m in manager.settings.models}
    loaded = {s.name for s in manager.loaded()}
    objects = []
    for entry in registry.catalog.values():
        if allowed and entry.alias not in allowed:
            continue
        cached = [v for v in entry.variants if registry.is_cached(entry, v)]
        if not cached and not include_uncached:
            continue
        extra = {
            "variants": [
                {
                    "name": v.name,
                    "device": v.device,
                    "quantization": v.quantization,
                    "size_bytes": v.size_bytes,
                    "cached": v in cached,
                    "loaded": f"{entry.alias}:{v.name}" in loaded,
                }
                for v in entry.variants
            ],
            "license": entry.license,
            "capabilities": list(entry.capabilities),
            "parameters": entry.parameters,
            "loaded": any(name.partition(":")[0] == entry.alias for name in loaded),
        }
        objects.append(model_object(entry.alias, entry.publisher or "assay", extra))
    return objects


def _structured(response_format: ResponseFormat) -> tuple[str, str]:
    """The schema (JSON text) that holds the answer, and its grammar; a 400 naming what in
    the schema cannot be enforced (the same check whichever engine serves it)."""
    schema = (
        '{"type": "object"}'
        if response_format.json_schema is None
        # Not sorted: the properties' order is the order the model writes them in.
        else json.dumps(response_format.json_schema.schema_)
    )
    try:
        return schema, grammar_for_schema_json(schema)
    except SchemaError as exc:
        raise APIError(
            400, exc.message, param="response_format", code="invalid_json_schema"
        ) from None


_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _refuse_unhonoured(body: ChatCompletionRequest | CompletionRequest) -> None:
    """A field assay would otherwise answer as if it were absent is a 400 naming it."""
    refusal = body.refusal()
    if refusal is not None:
        raise APIError(400, refusal.message, code="unsupported_parameter", param=refusal.field)


async def _unless_disconnected(request: Request, work: Coroutine[Any, Any, Response]) -> Response:
    """Run a request's work, cancelling it if the client goes away first: a generation whose
    reply nobody will read (streamed or not) stops, and gives back its slot and cores.

    A streamed reply's own sending notices a client gone later; this covers the wait for
    the first token and the whole of a reply sent in one piece."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()  # the client left (or this handler was cancelled): Job.chunks cancels
    with contextlib.suppress(asyncio.CancelledError):
        return await task
    return Response(status_code=499)  # nobody reads it: nginx's "client closed request"


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _generate(
    manager: ModelManager,
    metrics: ServerMetrics,
    model_name: str,
    start: Callable[[LoadedModel, CancelToken], Any],
    body: ChatCompletionRequest | CompletionRequest,
    *,
    chat: bool,
) -> Response:
    worker = await manager.worker(model_name)
    _check_capabilities(body, worker.model, model_name)
    job = Job(start=start, loop=asyncio.get_running_loop())
    _submit(worker, job)
    chunks = job.chunks()
    first = await _first_chunk(chunks)  # errors before any output become a plain HTTP error
    echo = body.text if isinstance(body, CompletionRequest) and body.echo else ""
    reply = _Reply(body.model, chat, body.top_logprobs_wanted() is not None, echo)
    if isinstance(body, ChatCompletionRequest) and body.tool_specs:
        return await _tool_answer(reply, first, chunks, job, worker, metrics, body)
    if body.stream:
        return StreamingResponse(
            _sse(reply, first, chunks, job, worker, metrics, body.include_usage),
            media_type="text/event-stream",
            headers=_SSE_HEADERS,
        )
    texts = [echo, first.text]
    entries = list(first.logprobs or ())
    final = first
    async for chunk in chunks:
        texts.append(chunk.text)
        entries += chunk.logprobs or ()
        final = chunk
    _observe(metrics, worker, job, final)
    return JSONResponse(reply.whole("".join(texts), final, _timings(job, final), entries))


def _submit(worker: ModelWorker, job: Job) -> None:
    try:
        worker.submit(job)
    except QueueFullError as exc:
        raise APIError(
            429,
            f"{exc}; retry later",
            type_="rate_limit_error",
            code="queue_full",
            headers={"Retry-After": "1"},
        ) from None


def _encoded(vector: list[float], encoding: str) -> list[float] | str:
    """float: the numbers; base64: little-endian float32 bytes, as OpenAI sends them."""
    if encoding == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
    return vector


async def _tool_answer(
    reply: _Reply,
    first: Chunk,
    chunks: AsyncGenerator[Chunk, None],
    job: Job,
    worker: ModelWorker,
    metrics: ServerMetrics,
    body: ChatCompletionRequest,
) -> Response:
    """A reply that may hold tool calls: read whole (whether it is a call is known only at
    its end), then sent as one object or, streamed, as OpenAI's tool_calls deltas."""
    texts, final = [first.text], first
    if first.finish_reason is None:
        async for chunk in chunks:
            texts.append(chunk.text)
            final = chunk
    text = "".join(texts)
    content, calls = parse_calls(text, body.tool_specs)
    if not body.parallel_tool_calls:
        calls = calls[:1]
    _observe(metrics, worker, job, final)
    timings = _timings(job, final)
    if not body.stream:
        return JSONResponse(reply.with_calls(content, calls, final, timings))
    events = reply.call_events(content, calls, final, timings, body.include_usage)
    return StreamingResponse(
        iter([*events, "data: [DONE]\n\n"]),
        media_type="text/event-stream",
        headers=_SSE_HEADERS,
    )


@functools.lru_cache(maxsize=64)
def _call_grammar(tools: tuple[ToolSpec, ...], parallel: bool) -> str:
    return call_grammar(tools, parallel)


def _tool_grammar(body: ChatCompletionRequest) -> str:
    """The grammar of a forced call; a 400 naming what in a tool's schema cannot be held."""
    forced = body.forced_tools
    found = unsupported_in(forced)
    if found:
        raise APIError(
            400,
            f"a forced tool call cannot enforce {found}; remove it from the parameters' schema",
            param="tools",
            code="invalid_json_schema",
        )
    try:
        return _call_grammar(forced, body.parallel_tool_calls)
    except SchemaError as exc:
        raise APIError(400, exc.message, param="tools", code="invalid_json_schema") from None


def _check_capabilities(
    body: ChatCompletionRequest | CompletionRequest, model: LoadedModel, name: str
) -> None:
    """A 400 naming the field when the model cannot do what the request asks for."""
    wants = []
    if isinstance(body, ChatCompletionRequest) and body.constrained and not model.json_schema:
        wants.append(("response_format", "a model that constrains its output"))
    if isinstance(body, ChatCompletionRequest) and body.tool_specs and not model.tools:
        wants.append(("tools", "a model whose prompts carry tools"))
    if isinstance(body, ChatCompletionRequest) and body.forced_tools and not model.grammar:
        wants.append(("tool_choice", "a model that constrains its output"))
    if body.top_logprobs_wanted() is not None and not model.logprobs:
        wants.append(("logprobs", "a model that gives log probabilities"))
    if body.held is not None and not model.min_tokens:
        wants.append((body.held, "a model that can hold off its end of generation"))
    if wants:
        field, what = wants[0]
        raise APIError(
            400,
            f"{field} needs {what}; {name} runs on the {model.info.engine} engine, which "
            "cannot: use a llama.cpp model",
            code="unsupported_parameter",
            param=field,
        )


async def _first_chunk(chunks: AsyncGenerator[Chunk, None]) -> Chunk:
    try:
        return await chunks.__anext__()
    except BaseException:
        await chunks.aclose()
        raise


class _Reply:
    """Builds OpenAI response objects for one request."""

    def __init__(self, model: str, chat: bool, logprobs: bool = False, echo: str = "") -> None:
        self.model = model
        self.chat = chat
        self.logprobs = logprobs
        self.echo = echo  # completions' echo: the prompt, sent before the first text
        self._offset = len(echo)  # completions' text_offset of the next token
        self.id = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex
        self.created = int(time.time())
        # A text delta is the same event bar its text: render it once, fill in the text per
        # token (this runs once per token on the event loop).
        marker = "\u0000assay-text\u0000"
        rendered = _event(self.delta(marker, None))
        self._delta_prefix, self._delta_suffix = rendered.split(json.dumps(marker), 1)

    def text_event(self, text: str, logprobs: tuple[Logprob, ...] | None = None) -> str:
        if self.logprobs:
            return _event(self.delta(text, None, logprobs or ()))
        return f"{self._delta_prefix}{json.dumps(text)}{self._delta_suffix}"

    def _envelope(self, choices: list[dict[str, Any]], chunk: bool) -> dict[str, Any]:
        if self.chat:
            kind = "chat.completion.chunk" if chunk else "chat.completion"
        else:
            kind = "text_completion"
        return {
            "id": self.id,
            "object": kind,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": f"assay-{version()}",
            "choices": choices,
        }

    def _choice(
        self,
        text: str,
        finish: str | None,
        chunk: bool,
        role: bool = False,
        logprobs: Sequence[Logprob] | None = None,
    ) -> dict[str, Any]:
        scores = self._logprobs_body(logprobs) if self.logprobs and logprobs is not None else None
        if not self.chat:
            return {"index": 0, "text": text, "logprobs": scores, "finish_reason": finish}
        if chunk:
            delta: dict[str, Any] = (
                {"role": "assistant", "content": text}
                if role
                else ({"content": text} if text or finish is None else {})
            )
            return {"index": 0, "delta": delta, "logprobs": scores, "finish_reason": finish}
        message = {"role": "assistant", "content": text}
        return {"index": 0, "message": message, "logprobs": scores, "finish_reason": finish}

    def _logprobs_body(self, entries: Sequence[Logprob]) -> dict[str, Any]:
        """Chat's {"content": [...]} or completions' tokens/token_logprobs/top_logprobs."""
        if self.chat:
            return {"content": [_logprob_entry(e, with_top=True) for e in entries], "refusal": None}
        offsets = []
        for entry in entries:
            offsets.append(self._offset)
            self._offset += len(entry.token)
        return {
            "tokens": [e.token for e in entries],
            "token_logprobs": [e.logprob for e in entries],
            "top_logprobs": [{t.token: t.logprob for t in e.top} for e in entries],
            "text_offset": offsets,
        }

    def whole(
        self, text: str, final: Chunk, timings: Timings, logprobs: Sequence[Logprob] = ()
    ) -> dict[str, Any]:
        choice = self._choice(text, _finish(final), chunk=False, logprobs=logprobs)
        body = self._envelope([choice], chunk=False)
        body["usage"] = _usage(final).model_dump()
        body["timings"] = timings.model_dump()
        return body

    def role_chunk(self) -> dict[str, Any]:
        return self._envelope([self._choice("", None, chunk=True, role=True)], chunk=True)

    def delta(
        self, text: str, finish: str | None, logprobs: Sequence[Logprob] | None = None
    ) -> dict[str, Any]:
        return self._envelope([self._choice(text, finish, True, logprobs=logprobs)], chunk=True)

    def usage_chunk(self, final: Chunk) -> dict[str, Any]:
        body = self._envelope([], chunk=True)
        body["usage"] = _usage(final).model_dump()
        return body

    def with_calls(
        self, content: str | None, calls: list[ToolCall], final: Chunk, timings: Timings
    ) -> dict[str, Any]:
        """The whole reply of a request with tools: its calls, or its text."""
        message: dict[str, Any] = {
            "role": "assistant",
            "content": content if calls else content or "",
        }
        if calls:
            message["tool_calls"] = [_call_body(call) for call in calls]
        finish = "tool_calls" if calls else _finish(final)
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
        body = self._envelope([choice], chunk=False)
        body["usage"] = _usage(final).model_dump()
        body["timings"] = timings.model_dump()
        return body

    def call_events(
        self,
        content: str | None,
        calls: list[ToolCall],
        final: Chunk,
        timings: Timings,
        include_usage: bool,
    ) -> list[str]:
        """The same reply as stream events: the role, any text, one delta per call (index,
        id, name, arguments), then the finish reason."""
        events = [_event(self.role_chunk())]
        if content:
            events.append(self.text_event(content))
        for index, call in enumerate(calls):
            delta = {"tool_calls": [{"index": index, **_call_body(call)}]}
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
            events.append(_event(self._envelope([choice], chunk=True)))
        finish = "tool_calls" if calls else _finish(final)
        return events + self.closing_events(finish, final, timings, include_usage)

    def closing_events(
        self, finish: str, final: Chunk, timings: Timings, include_usage: bool
    ) -> list[str]:
        """The finish reason with the server's timings, and the usage: in that event, or in
        one of its own when the client asked for stream_options.include_usage."""
        last = self.delta("", finish)
        last["timings"] = timings.model_dump()
        if include_usage:
            return [_event(last), _event(self.usage_chunk(final))]
        last["usage"] = _usage(final).model_dump()
        return [_event(last)]


def _call_body(call: ToolCall) -> dict[str, Any]:
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }


def _logprob_entry(entry: Logprob, with_top: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "token": entry.token,
        "logprob": entry.logprob,
        "bytes": list(entry.bytes),
    }
    if with_top:
        body["top_logprobs"] = [_logprob_entry(t) for t in entry.top]
    return body


def _finish(final: Chunk) -> str:
    # A cancelled generation only reaches a client that is still there if the server stopped it.
    return "stop" if final.finish_reason == "cancelled" else str(final.finish_reason)


def _usage(final: Chunk) -> UsageBody:
    usage = final.usage
    assert usage is not None
    return UsageBody(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
    )


async def _sse(
    reply: _Reply,
    first: Chunk,
    chunks: AsyncGenerator[Chunk, None],
    job: Job,
    worker: ModelWorker,
    metrics: ServerMetrics,
    include_usage: bool,
) -> AsyncIterator[str]:
    try:
        if reply.chat:
            yield _event(reply.role_chunk())
        elif reply.echo:
            yield reply.text_event(reply.echo, ())
        chunk = first
        while True:
            if chunk.text or chunk.logprobs:
                yield reply.text_event(chunk.text, chunk.logprobs)
            if chunk.finish_reason is not None:
                break
            chunk = await chunks.__anext__()
        for event in reply.closing_events(
            _finish(chunk), chunk, _timings(job, chunk), include_usage
        ):
            yield event
        yield "data: [DONE]\n\n"
        _observe(metrics, worker, job, chunk)
    except AssayError as exc:  # the engine failed after the first chunk: say so in-band
        yield _event(from_assay_error(exc).body())
        yield "data: [DONE]\n\n"
    finally:
        await chunks.aclose()


def _event(body: dict[str, Any]) -> str:
    return f"data: {json.dumps(body, separators=(',', ':'))}\n\n"


def _timings(job: Job, final: Chunk) -> Timings:
    usage = final.usage
    assert usage is not None
    started = job.started_ns or job.admitted_ns
    first = job.first_token_ns or started
    last = job.last_token_ns or first
    prompt_ms = (first - started) / 1e6
    predicted_ms = (last - first) / 1e6
    decoded = max(0, usage.completion_tokens - 1)
    return Timings(
        prompt_n=usage.prompt_tokens,
        prompt_ms=prompt_ms,
        prompt_per_second=usage.prompt_tokens / (prompt_ms / 1e3) if prompt_ms > 0 else None,
        predicted_n=usage.completion_tokens,
        predicted_ms=predicted_ms,
        predicted_per_second=decoded / (predicted_ms / 1e3) if predicted_ms > 0 else None,
        queue_ms=(started - job.admitted_ns) / 1e6,
    )


def _observe(metrics: ServerMetrics, worker: ModelWorker, job: Job, final: Chunk) -> None:
    usage = final.usage
    if usage is None:
        return
    name = worker.name
    metrics.tokens.labels(name, "prompt").inc(usage.prompt_tokens)
    metrics.tokens.labels(name, "completion").inc(usage.completion_tokens)
    if job.first_token_ns is not None:
        metrics.ttft.labels(name).observe((job.first_token_ns - job.admitted_ns) / 1e9)
        if job.last_token_ns is not None:
            metrics.decode.labels(name).observe((job.last_token_ns - job.first_token_ns) / 1e9)
