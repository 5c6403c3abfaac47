"""The remote engine: an OpenAI-compatible upstream (vLLM, Ollama, a Foundry Local service,
another assay) as a model of assay. `assay serve` proxies it with streaming and `assay bench`
measures it beside local models; requests to it may run side by side."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from assay import openai_wire as wire
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
        listed = wire.model_ids(answer.json())
    except ValueError:
        listed = []
    if not listed:
        raise ModelFileError("the upstream lists no model; set 'model' in models.json")
    return listed[0]


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
        prompt = "\n".join(m.content for m in messages)
        return self._stream(
            "/chat/completions", self._body(params, messages=messages), cancel, prompt
        )

    def complete(
        self, prompt: str, params: SamplingParams, cancel: CancelToken | None = None
    ) -> Iterator[Chunk]:
        return self._stream("/completions", self._body(params, prompt=prompt), cancel, prompt)

    def count_tokens(self, text: str) -> int:
        return self._count(text)

    def close(self) -> None:
        self._client.close()

    def _body(
        self,
        params: SamplingParams,
        messages: Sequence[Message] | None = None,
        prompt: str | None = None,
    ) -> dict[str, Any]:
        return wire.request_body(
            self._model,
            messages=messages,
            prompt=prompt,
            stream=True,
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            seed=params.seed,
            stop=params.stop,
            prefix_cache=params.prefix_cache,
        )

    def _stream(
        self, path: str, body: dict[str, Any], cancel: CancelToken | None, prompt: str
    ) -> Iterator[Chunk]:
        """Each content chunk is passed on as it arrives, counted as one token; the total
        comes with the usage at the end, and what it adds goes on the final chunk
        (wire.remaining_tokens), so the chunks add up to the count the bench records."""
        url = self._endpoint + path
        texts: list[str] = []
        usage: wire.Usage | None = None
        finish: FinishReason = "stop"
        try:
            with self._client.stream("POST", url, json=body) as response:
                if response.status_code != 200:
                    response.read()
                    message = wire.parse_error(response.content).message
                    raise EngineError(f"upstream {url} answered {response.status_code}: {message}")
                for line in response.iter_lines():
                    if cancel is not None and cancel.cancelled:
                        finish = "cancelled"
                        break
                    event = wire.parse_line(line)
                    if event is None:
                        continue
                    if event.error is not None:
                        raise EngineError(f"upstream {url} failed: {event.error}")
                    usage = event.usage or usage
                    if event.text:
                        texts.append(event.text)
                        yield Chunk(event.text, 1)
                    if event.finish_reason == "length":
                        finish = "length"
        except httpx.HTTPError as exc:
            raise EngineError(f"upstream {url} failed: {exc}") from None
        final = self._usage(usage, prompt, texts)
        yield Chunk("", wire.remaining_tokens(len(texts), final.completion_tokens), finish, final)

    def _usage(self, usage: wire.Usage | None, prompt: str, texts: list[str]) -> Usage:
        """The server's count; else the prompt and the text counted here."""
        counted = wire.count_completion(usage, "".join(texts), len(texts), self._count)
        if usage is not None and counted is not None and counted.source == "server":
            return Usage(usage.prompt_tokens or 0, counted.tokens)
        return Usage(self._count(prompt), counted.tokens if counted else 0, source="counted")
