"""The remote engine: an OpenAI-compatible upstream (vLLM, Ollama, a Foundry Local service,
another assay) as a model of assay. `assay serve` proxies it with streaming and `assay bench`
measures it beside local models; requests to it may run side by side."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from assay.engines.base import (
    CancelToken,
    Chunk,
    FinishReason,
    LoadOptions,
    Message,
    ModelInfo,
    SamplingParams,
    Usage,
)
from assay.errors import EngineError, ModelFileError

Counter = Callable[[str], int]


class RemoteEngine:
    name = "remote"

    def __init__(
        self, endpoint: str, model: str | None, api_key_env: str | None, count_tokens: Counter
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self._count = count_tokens

    def estimate_load_bytes(self, path: Path, options: LoadOptions) -> int:
        return 0  # the upstream holds the weights

    def load(self, path: Path, options: LoadOptions) -> RemoteModel:
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if self.api_key_env and not key:
            raise ModelFileError(
                f"upstream {self.endpoint} needs the key in ${self.api_key_env}, which is not set"
            )
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        started = time.perf_counter()
        try:
            answer = httpx.get(f"{self.endpoint}/models", headers=headers, timeout=10)
        except httpx.HTTPError as exc:
            raise ModelFileError(f"upstream {self.endpoint} cannot be reached: {exc}") from None
        if answer.status_code != 200:
            raise ModelFileError(
                f"upstream {self.endpoint} answered {answer.status_code} to GET /models"
            )
        model = self.model or _first_model(answer)
        info = ModelInfo(
            path=path,
            engine="remote",
            engine_version=self.endpoint,
            architecture=model,
            threads=0,
            context_size=0,
            gpu_layers=0,
            load_seconds=time.perf_counter() - started,
            rss_delta_bytes=0,
            file_bytes=0,
            chat_template_source="the upstream's",
        )
        return RemoteModel(self.endpoint, model, headers, info, self._count)


def _first_model(answer: httpx.Response) -> str:
    try:
        return str(answer.json()["data"][0]["id"])
    except (ValueError, KeyError, IndexError, TypeError):
        raise ModelFileError("the upstream lists no model; set 'model' in models.json") from None


class RemoteModel:
    parallel = 16  # the upstream batches; assay's worker lets this many requests through

    def __init__(
        self, endpoint: str, model: str, headers: dict[str, str], info: ModelInfo, count: Counter
    ) -> None:
        self._endpoint = endpoint
        self._model = model
        self._client = httpx.Client(headers=headers, timeout=httpx.Timeout(300, connect=10))
        self._count = count
        self.info = info

    def chat(
        self, messages: Sequence[Message], params: SamplingParams, cancel: CancelToken | None = None
    ) -> Iterator[Chunk]:
        body = {"messages": [{"role": m.role, "content": m.content} for m in messages]}
        prompt = "\n".join(m.content for m in messages)
        return self._stream("/chat/completions", body, params, cancel, prompt)

    def complete(
        self, prompt: str, params: SamplingParams, cancel: CancelToken | None = None
    ) -> Iterator[Chunk]:
        return self._stream("/completions", {"prompt": prompt}, params, cancel, prompt)

    def count_tokens(self, text: str) -> int:
        return self._count(text)

    def close(self) -> None:
        self._client.close()

    def _stream(
        self,
        path: str,
        body: dict[str, Any],
        params: SamplingParams,
        cancel: CancelToken | None,
        prompt: str,
    ) -> Iterator[Chunk]:
        request = {
            **body,
            "model": self._model,
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_tokens,
            "stop": list(params.stop) or None,
            "seed": params.seed,
        }
        if not params.prefix_cache:
            request["cache_prompt"] = False
        return self._events(self._endpoint + path, request, cancel, prompt)

    def _events(
        self, url: str, request: dict[str, Any], cancel: CancelToken | None, prompt: str
    ) -> Iterator[Chunk]:
        texts: list[str] = []
        usage: dict[str, Any] | None = None
        finish: FinishReason = "stop"
        try:
            with self._client.stream("POST", url, json=request) as response:
                if response.status_code != 200:
                    raise EngineError(_upstream_error(url, response))
                for line in response.iter_lines():
                    if cancel is not None and cancel.cancelled:
                        finish = "cancelled"
                        break
                    if not line.startswith("data:") or line.strip() == "data: [DONE]":
                        continue
                    event = json.loads(line[5:])
                    usage = event.get("usage") or usage
                    for choice in event.get("choices") or ():
                        text = streamed_text(choice)
                        if text:
                            texts.append(text)
                            yield Chunk(text, 1)
                        if choice.get("finish_reason") == "length":
                            finish = "length"
        except httpx.HTTPError as exc:
            raise EngineError(f"upstream {url} failed: {exc}") from None
        yield Chunk("", 0, finish, self._usage(usage, prompt, "".join(texts)))

    def _usage(self, usage: dict[str, Any] | None, prompt: str, text: str) -> Usage:
        if usage and "completion_tokens" in usage:
            return Usage(int(usage.get("prompt_tokens") or 0), int(usage["completion_tokens"]))
        return Usage(self._count(prompt), self._count(text), source="counted")


def streamed_text(choice: dict[str, Any]) -> str | None:
    """The text of one streamed choice: a chat delta's content, or a completion's text."""
    delta = choice.get("delta")
    return (delta or {}).get("content") if delta is not None else choice.get("text")


def _upstream_error(url: str, response: httpx.Response) -> str:
    response.read()
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:200]
    return f"upstream {url} answered {response.status_code}: {message}"
