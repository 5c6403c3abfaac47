"""The fake engine: a model without weights, for tests and for trying client code against
`assay serve` with no model to load, the way httpx's MockTransport stands in for a network.

A fake model's tokens are words. It replies with a fixed text (`FakeOptions.reply`), or with
words it picks from the prompt and the seed (temperature plays no part: the same prompt and
seed give the same reply, in every process). Its replies go through `chunks_from_tokens`,
the loop llama.cpp and ONNX models stream through, so max_tokens, stop strings, cancellation,
the context and the usage behave as they do on a real engine; min_tokens holds a reply that
would end sooner, going on with made-up words. Its options add what a real model does slowly
or rarely: a time to the first token and between tokens, a slow or failing load, a fault
after some tokens, and the slots (`parallel`) of a batched model.

In a models.json: `{"mock": {"engine": "fake", "fake": {"reply": "Hello!", "token_s": 0.05}}}`
(the catalog's FakeSource carries the options); in Python: `FakeEngine(FakeOptions(...))`.
"""

from __future__ import annotations

import itertools
import random
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from assay.engines.base import (
    CancelToken,
    Chunk,
    LoadedModelBase,
    LoadOptions,
    Message,
    ModelInfo,
    SamplingParams,
    StepObserver,
)
from assay.engines.loading import LoadMeter, check_grammar, token_budget
from assay.engines.token_stream import chunks_from_tokens
from assay.errors import EngineError

# The words a made-up reply is drawn from.
VOCABULARY = (
    "a", "fake", "model", "answers", "with", "words", "that", "follow", "from", "its",
    "prompt", "and", "seed", "so", "every", "reply", "is", "the", "same", "each", "time",
    "it", "asked", "never", "loads", "weights", "but", "streams", "tokens", "like", "real",
    "one",
)  # fmt: skip

# How often a cancel is looked for while a delay runs (seconds).
_CANCEL_POLL_S = 0.01


@dataclass(frozen=True)
class FakeOptions:
    """How a fake model behaves; the defaults answer at once with 16 made-up words."""

    # Every reply is this text (cut by max_tokens and stop strings); None: made-up words.
    reply: str | None = None
    # Words in a made-up reply before it ends with finish_reason "stop", as a real model's
    # end-of-generation token ends it; None: it goes on until max_tokens or the context.
    words: int | None = 16
    # Seconds before the first token (a prompt's processing) and between tokens.
    first_token_s: float = 0.0
    token_s: float = 0.0
    # Seconds a load takes; a load_error fails every load with that message (EngineError).
    load_s: float = 0.0
    load_error: str | None = None
    # Every generation fails with an EngineError once it has given this many tokens (0:
    # before the first); a shorter reply ends normally. None: never.
    fail_after: int | None = None
    # Requests served at once; None: LoadOptions.parallel, as a llama.cpp model takes its
    # slots. Above 1 it reports its steps (observe) as a batched model does.
    parallel: int | None = None
    # What estimate_load_bytes says a load takes (the server's memory admission).
    memory_bytes: int = 0


class FakeEngine:
    """Loads fake models: nothing is read from `path`, which may be Path()."""

    name = "fake"

    def __init__(self, options: FakeOptions | None = None) -> None:
        self.options = options or FakeOptions()

    def estimate_load_bytes(self, path: Path, options: LoadOptions) -> int:
        return self.options.memory_bytes

    def load(self, path: Path, options: LoadOptions) -> FakeModel:
        fake = self.options
        meter = LoadMeter()
        time.sleep(fake.load_s)
        if fake.load_error is not None:
            raise EngineError(fake.load_error)
        cost = meter.stop()
        info = ModelInfo(
            path=path,
            engine=self.name,
            engine_version="fake 1",
            architecture="fake",
            threads=options.threads or 1,
            context_size=options.context_for(0),
            gpu_layers=0,
            load_seconds=cost.seconds,
            rss_delta_bytes=0,
            file_bytes=0,
            chat_template_source="fake",
        )
        parallel = fake.parallel if fake.parallel is not None else options.parallel
        return FakeModel(info, fake, max(1, parallel))


class FakeModel(LoadedModelBase):
    """A loaded fake: deterministic replies at the options' pace. No grammar, no logprobs,
    no token ids."""

    min_tokens = True

    def __init__(self, info: ModelInfo, options: FakeOptions, parallel: int = 1) -> None:
        self.info = info
        self.options = options
        self.parallel = parallel
        self._lock = threading.Lock()
        self._busy = 0
        self._observer: StepObserver | None = None
        self._closed = False

    def observe(self, observer: StepObserver) -> bool:
        """With more than one slot, observer(busy slots, 1) at every token and (0, 0) once
        idle, as a batched model reports its steps; one slot decodes no batches."""
        if self.parallel == 1:
            return False
        self._observer = observer
        return True

    def chat(
        self, messages: Sequence[Message], params: SamplingParams, cancel: CancelToken | None = None
    ) -> Iterator[Chunk]:
        return self.complete(render_chat(messages), params, cancel)

    def complete(
        self, prompt: str, params: SamplingParams, cancel: CancelToken | None = None
    ) -> Iterator[Chunk]:
        if self._closed:
            raise EngineError("the model was unloaded")
        check_grammar(self, params)
        prompt_tokens = self.count_tokens(prompt)
        limit = token_budget(prompt_tokens, self.info.context_size, params.max_tokens)
        words, ends = self._reply(prompt, params.seed)
        if ends and params.min_tokens > 0:
            words = _held(words, params.min_tokens, prompt, params.seed or 0)
        tokens = self._paced(words, ends, cancel)
        return self._stream(tokens, params.stop, cancel, limit, prompt_tokens)

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def close(self) -> None:
        self._closed = True

    def _reply(self, prompt: str, seed: int | None) -> tuple[Iterable[str], bool]:
        """The reply's tokens, and whether it ends by itself (an end-of-generation token)."""
        if self.options.reply is not None:
            return reply_tokens(self.options.reply), True
        return made_up_words(prompt, seed or 0, self.options.words), self.options.words is not None

    def _paced(
        self, words: Iterable[str], ends: bool, cancel: CancelToken | None
    ) -> Iterator[str | None]:
        """The tokens at the options' pace, then None (the end) when the reply ends; the
        configured fault in their place once fail_after tokens are out."""
        fault = self.options.fail_after
        for index, word in enumerate(words):
            _wait(self.options.first_token_s if index == 0 else self.options.token_s, cancel)
            if fault is not None and index >= fault:
                raise EngineError(f"the fake model failed after {fault} tokens (fail_after)")
            yield word
        if ends:
            yield None

    def _stream(
        self,
        tokens: Iterator[str | None],
        stops: tuple[str, ...],
        cancel: CancelToken | None,
        limit: int,
        prompt_tokens: int,
    ) -> Iterator[Chunk]:
        self._step(+1, 0)
        busy = True
        try:
            for chunk in chunks_from_tokens(
                tokens,
                decode=lambda token: token or "",
                is_end=lambda token: token is None,
                stops=stops,
                cancel=cancel,
                limit=limit,
                prompt_tokens=prompt_tokens,
            ):
                if chunk.finish_reason is not None:
                    busy = False
                    self._step(-1, 0)  # idle is said before the reader sees the end
                elif chunk.tokens:
                    self._step(0, chunk.tokens)
                yield chunk
        finally:
            if busy:
                self._step(-1, 0)

    def _step(self, change: int, tokens: int) -> None:
        with self._lock:
            self._busy += change
            busy = self._busy
        if self._observer is not None and (tokens or not busy):
            self._observer(busy, tokens)


def render_chat(messages: Sequence[Message]) -> str:
    """A fake's chat template: one `role: content` line a message, then `assistant:`."""
    return "".join(f"{m.role}: {m.content}\n" for m in messages) + "assistant:"


def reply_tokens(text: str) -> list[str]:
    """A text as word tokens, each with the whitespace before it, which join back to it."""
    tokens = re.findall(r"\s*\S+", text)
    tail = text[len("".join(tokens)) :]
    if tail:
        tokens = [*tokens[:-1], tokens[-1] + tail] if tokens else [tail]
    return tokens


def made_up_words(prompt: str, seed: int, count: int | None) -> Iterator[str]:
    """`count` words (None: without end) drawn from VOCABULARY, the same for the same prompt
    and seed in any process (a str seed is hashed with SHA-512, not Python's hash)."""
    rng = random.Random(f"{seed}\x00{prompt}")
    indices = range(count) if count is not None else itertools.count()
    for index in indices:
        word = rng.choice(VOCABULARY)
        yield word if index == 0 else " " + word


def _held(words: Iterable[str], min_tokens: int, prompt: str, seed: int) -> Iterator[str]:
    """The reply, gone on with made-up words when it would end before min_tokens words (as a
    model held past its end of generation goes on)."""
    count = 0
    for word in words:
        count += 1
        yield word
    if count < min_tokens:
        for word in made_up_words(f"held\x00{prompt}", seed, min_tokens - count):
            yield word if word.startswith(" ") else " " + word


def _wait(seconds: float, cancel: CancelToken | None) -> None:
    """Sleep, ending early once the generation is cancelled."""
    deadline = time.perf_counter() + seconds
    while (left := deadline - time.perf_counter()) > 0:
        if cancel is not None and cancel.cancelled:
            return
        time.sleep(min(left, _CANCEL_POLL_S))
