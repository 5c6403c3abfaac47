"""What a benchmark sends requests to: a model in this process (here), or an
OpenAI-compatible URL (bench/endpoint.py).

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


def make_record(request: BenchRequest, **fields: Any) -> RequestRecord:
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
            return make_record(request, sent_ns=now, end_ns=now, skipped=reason)
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
                return make_record(request, sent_ns=sent, end_ns=self._clock(), skipped=exc.message)
            return make_record(request, sent_ns=sent, end_ns=self._clock(), error=exc.message)
        finally:
            timer.cancel()
        end = self._clock()
        usage = final.usage if final else None
        timed_out = final is not None and final.finish_reason == "cancelled"
        source: TokenSource = "tokenizer" if usage and usage.source == "counted" else "engine"
        split = split_reasoning(timed)  # the engine's chunks carry think blocks as text
        thinking = count_reasoning(None, split, tokens, None, chunks_source=source)
        return make_record(
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
