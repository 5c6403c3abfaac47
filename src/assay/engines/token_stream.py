"""Tokens to Chunks: the loop every token-level engine shares.

It stops at an end-of-generation token, a stop string, the token limit or a cancellation,
holds back text that could start a stop string, and ends with the chunk that carries the
finish reason and the usage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from assay.engines.base import CancelToken, Chunk, FinishReason, Usage
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
) -> Iterator[Chunk]:
    """Stream `tokens` as text chunks; `decode` turns one token into the text it completes
    (incremental decoders hold partial UTF-8), `flush` returns what a decoder still holds.
    A token is whatever the engine yields one of per generated token (an id, or its text)."""
    stopper = StopBuffer(stops)
    generated = pending = 0
    finish: FinishReason = "length"
    for token in tokens:
        if cancel is not None and cancel.cancelled:
            finish = "cancelled"
            break
        if is_end(token):
            finish = "stop"
            break
        generated += 1
        pending += 1
        text, stopped = stopper.push(decode(token))
        if text:
            yield Chunk(text, pending)
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
    )
