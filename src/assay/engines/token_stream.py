"""Tokens to Chunks: the loop every token-level engine shares.

It stops at an end-of-generation token, a stop string, the token limit or a cancellation,
holds back text that could start a stop string, and ends with the chunk that carries the
finish reason and the usage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from assay.engines.base import CancelToken, Chunk, FinishReason, Logprob, Usage
from assay.engines.stops import StopBuffer

Token = TypeVar("Token")


def chunks_from_tokens(
    tokens: Iterable[Token],
    *,
    decode: Callable[[Token], str],
    is_end: Callable[[Token], bool],
    stops: tuple[str, ...],
    cancel: CancelToken | None,
    limit: int,
    prompt_tokens: int,
    flush: Callable[[], str] = lambda: "",
    logprob: Callable[[Token], Logprob] | None = None,
) -> Iterator[Chunk]:
    """Stream `tokens` as text chunks; `decode` turns one token into the text it completes
    (incremental decoders hold partial UTF-8), `flush` returns what a decoder still holds.
    A token is whatever the engine yields one of per generated token (an id, or its text).
    With `logprob`, each chunk carries the entries of the tokens it came from."""
    stopper = StopBuffer(stops)
    generated = pending = 0
    finish: FinishReason = "length"
    entries: list[Logprob] | None = [] if logprob is not None else None
    for token in tokens:
        if cancel is not None and cancel.cancelled:
            finish = "cancelled"
            break
        if is_end(token):
            finish = "stop"
            break
        generated += 1
        pending += 1
        if entries is not None and logprob is not None:
            entries.append(logprob(token))
        text, stopped = stopper.push(decode(token))
        if text:
            if entries is None:
                yield Chunk(text, pending)
            else:
                yield Chunk(text, pending, logprobs=tuple(entries))
                entries.clear()
            pending = 0
        if stopped:
            finish = "stop"
            break
        if generated >= limit:
            break
    if finish == "length" and cancel is not None and cancel.cancelled:
        finish = "cancelled"  # the token source ended early because of the cancel
    yield Chunk(
        stopper.flush() + flush(),
        pending,
        finish_reason=finish,
        usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=generated),
        logprobs=tuple(entries) if entries is not None else None,
    )
