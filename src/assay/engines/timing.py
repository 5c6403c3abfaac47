"""Wall-clock facts about one stream of chunks, from time.perf_counter_ns."""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field

from assay.engines.base import Chunk


@dataclass
class StreamTimer:
    """Wrap a stream to record when it started, its first token, and its last token."""

    started_ns: int = field(default_factory=time.perf_counter_ns)
    first_token_ns: int | None = None
    last_token_ns: int | None = None
    tokens: int = 0
    final: Chunk | None = None

    def watch(self, chunks: Iterator[Chunk]) -> Generator[Chunk, None, None]:
        for chunk in chunks:
            now = time.perf_counter_ns()
            if chunk.tokens:
                if self.first_token_ns is None:
                    self.first_token_ns = now
                self.last_token_ns = now
                self.tokens += chunk.tokens
            if chunk.finish_reason is not None:
                self.final = chunk
            yield chunk

    @property
    def ttft_seconds(self) -> float | None:
        if self.first_token_ns is None:
            return None
        return (self.first_token_ns - self.started_ns) / 1e9

    @property
    def decode_tokens_per_second(self) -> float | None:
        """Tokens after the first over the time after the first (prompt time excluded)."""
        if self.first_token_ns is None or self.last_token_ns is None or self.tokens < 2:
            return None
        span = (self.last_token_ns - self.first_token_ns) / 1e9
        return (self.tokens - 1) / span if span > 0 else None
