"""Custom adapters: a user's own model class, wrapped into a full engine.

The contract is the workshop's two methods (anything else is optional):

    class MyModel:
        def load(self, weights_path: str, **options) -> None: ...
        def generate(self, prompt: str, **params) -> str | Iterator[str]: ...
        # optional: chat(messages: list[dict], **params) -> str | Iterator[str]
        # optional: count_tokens(text: str) -> int
        # optional: last_usage: {"prompt_tokens": int, "completion_tokens": int}

`params` are temperature, top_p, top_k, seed, max_tokens and stop. assay adds streaming,
timing, stop strings, max_tokens, cancellation and usage (counted with a tokenizer when the
adapter reports none, and marked so). Register one in models.json
(`{"mine": {"adapter": "package.module:Class", "weights": "path"}}`) or under the entry-point
group `assay.adapters`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from assay.engines.base import (
    CancelToken,
    Chunk,
    FinishReason,
    LoadedModelBase,
    LoadOptions,
    Message,
    ModelInfo,
    SamplingParams,
    Usage,
)
from assay.engines.loading import LoadMeter, check_min_tokens, model_info, path_bytes
from assay.engines.stops import StopBuffer
from assay.errors import EngineError, ModelFileError

Counter = Callable[[str], int]
REQUIRED = ("load", "generate")


def import_adapter(spec: str) -> type:
    """The class named by "package.module:Class", or a one-line error naming it."""
    module_name, _, class_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # an adapter's import can fail in any way
        raise EngineError(f"adapter {spec}: cannot import {module_name}: {exc}") from None
    target: Any = module
    for part in class_name.split("."):
        target = getattr(target, part, None)
    if not isinstance(target, type):
        raise EngineError(f"adapter {spec}: {module_name} has no class {class_name}")
    missing = [m for m in REQUIRED if not callable(getattr(target, m, None))]
    if missing:
        raise EngineError(f"adapter {spec}: the class has no {' or '.join(missing)}() method")
    return target


class AdapterEngine:
    name = "adapter"

    def __init__(self, spec: str, count_tokens: Counter) -> None:
        self.spec = spec
        self._count = count_tokens

    def estimate_load_bytes(self, path: Path, options: LoadOptions) -> int:
        return path_bytes(path)

    def load(self, path: Path, options: LoadOptions) -> AdapterModel:
        cls = import_adapter(self.spec)
        meter = LoadMeter()
        try:
            instance = cls()
            instance.load(str(path) if str(path) not in ("", ".") else "")
        except Exception as exc:
            raise ModelFileError(f"adapter {self.spec}: load failed: {exc}") from None
        info = model_info(
            path,
            meter.stop(),
            engine="adapter",
            engine_version=self.spec,
            architecture=cls.__name__,
            threads=options.threads or 0,
            context_size=options.context_size or 0,
            chat_template_source="the adapter's chat()"
            if hasattr(instance, "chat")
            else "assay's plain role: content format",
        )
        return AdapterModel(instance, self.spec, info, self._count)


class AdapterModel(LoadedModelBase):
    """A loaded adapter behind the LoadedModel protocol."""

    def __init__(self, instance: Any, spec: str, info: ModelInfo, count: Counter) -> None:
        self._adapter = instance
        self._spec = spec
        self._count_fallback = count
        self.info = info

    def count_tokens(self, text: str) -> int:
        counter = getattr(self._adapter, "count_tokens", None)
        return int(counter(text)) if callable(counter) else self._count_fallback(text)

    def chat(
        self,
        messages: Sequence[Message],
        params: SamplingParams,
        cancel: CancelToken | None = None,
    ) -> Iterator[Chunk]:
        prompt = render_plain(messages)
        if callable(getattr(self._adapter, "chat", None)):
            items = [{"role": m.role, "content": m.content} for m in messages]
            return self._stream(lambda p: self._adapter.chat(items, **p), prompt, params, cancel)
        return self._stream(lambda p: self._adapter.generate(prompt, **p), prompt, params, cancel)

    def complete(
        self, prompt: str, params: SamplingParams, cancel: CancelToken | None = None
    ) -> Iterator[Chunk]:
        return self._stream(lambda p: self._adapter.generate(prompt, **p), prompt, params, cancel)

    def close(self) -> None:
        closer = getattr(self._adapter, "close", None)
        if callable(closer):
            closer()

    def _stream(
        self,
        call: Callable[[dict[str, Any]], Any],
        prompt: str,
        params: SamplingParams,
        cancel: CancelToken | None,
    ) -> Iterator[Chunk]:
        check_min_tokens(self, params)  # the contract has no such parameter
        arguments = {
            "temperature": params.temperature,
            "top_p": params.top_p,
            "top_k": params.top_k,
            "seed": params.seed,
            "max_tokens": params.max_tokens,
            "stop": list(params.stop),
        }
        try:
            output = call(arguments)
        except Exception as exc:
            raise EngineError(f"adapter {self._spec} failed while generating: {exc}") from None
        return self._chunks(output, prompt, params, cancel)

    def _chunks(
        self, output: Any, prompt: str, params: SamplingParams, cancel: CancelToken | None
    ) -> Iterator[Chunk]:
        pieces: Iterator[str] = iter([output]) if isinstance(output, str) else iter(output)
        stopper = StopBuffer(params.stop)
        text_parts: list[str] = []
        finish: FinishReason = "stop"
        produced = 0
        try:
            for piece in pieces:
                if cancel is not None and cancel.cancelled:
                    finish = "cancelled"
                    break
                text, stopped = stopper.push(str(piece))
                if text:
                    tokens = max(1, self.count_tokens(text))
                    produced += tokens
                    text_parts.append(text)
                    yield Chunk(text, tokens)
                if stopped:
                    break
                if params.max_tokens and produced >= params.max_tokens:
                    finish = "length"
                    break
        except Exception as exc:
            raise EngineError(f"adapter {self._spec} failed while generating: {exc}") from None
        finally:
            closer = getattr(pieces, "close", None)
            if callable(closer):
                closer()
        tail = stopper.flush() if finish != "cancelled" else ""
        if tail:
            text_parts.append(tail)
        yield Chunk(
            tail,
            self.count_tokens(tail) if tail else 0,
            finish,
            self._usage(prompt, "".join(text_parts)),
        )

    def _usage(self, prompt: str, text: str) -> Usage:
        reported = getattr(self._adapter, "last_usage", None)
        if isinstance(reported, dict) and {"prompt_tokens", "completion_tokens"} <= set(reported):
            return Usage(
                int(reported["prompt_tokens"]), int(reported["completion_tokens"]), source="adapter"
            )
        return Usage(self.count_tokens(prompt), self.count_tokens(text), source="counted")


def render_plain(messages: Sequence[Message]) -> str:
    """A plain chat transcript for adapters that only complete text."""
    lines = [f"{m.role}: {m.content}" for m in messages]
    return "\n".join([*lines, "assistant:"])
