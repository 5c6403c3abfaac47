"""Log probabilities from a row of logits: the sampled token's and the most likely ones'.

They are the model's own distribution (log-softmax of the raw logits), as OpenAI reports
them, not the distribution after temperature, top-k/p or a grammar reshaped it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from assay.engines.base import Logprob

MAX_TOP_LOGPROBS = 20


@dataclass(frozen=True, slots=True)
class TokenLogprobs:
    """What the decoding loop keeps per token: ids and numbers, no text yet."""

    token: int
    logprob: float
    top: tuple[tuple[int, float], ...]


def from_logits(row: np.ndarray, token: int, top: int) -> TokenLogprobs:
    """TOKEN's log probability in ROW and the TOP most likely tokens', best first."""
    values = row.astype(np.float64, copy=False)
    peak = float(values.max())
    log_total = peak + float(np.log(np.exp(values - peak).sum()))
    best: tuple[tuple[int, float], ...] = ()
    if top > 0:
        ids = np.argpartition(values, -top)[-top:]
        ids = ids[np.argsort(-values[ids], kind="stable")]
        best = tuple((int(i), float(values[i]) - log_total) for i in ids)
    return TokenLogprobs(token, float(values[token]) - log_total, best)


def with_text(entry: TokenLogprobs, piece: Callable[[int], bytes]) -> Logprob:
    """The entry with each token's bytes and text (a partial UTF-8 character replaced)."""

    def one(token: int, logprob: float) -> Logprob:
        data = piece(token)
        return Logprob(token=data.decode("utf-8", errors="replace"), bytes=data, logprob=logprob)

    first = one(entry.token, entry.logprob)
    return Logprob(
        token=first.token,
        bytes=first.bytes,
        logprob=first.logprob,
        top=tuple(one(token, logprob) for token, logprob in entry.top),
    )
