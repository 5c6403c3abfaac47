"""Synthetic workloads: token-length distributions, prompts of an exact token length for the
target's own tokenizer, and the follow-up turns of a multi-turn conversation.

A synthetic prompt is random common English words, drawn per request from a seed and the
request's key, then cut or padded until the target's tokenizer counts exactly the length
asked for. Every request gets its own words from the first one on, so no prefix or prompt
cache can serve one request from another's work unless the run allows it.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Awaitable, Callable

from pydantic import BaseModel, ConfigDict, Field

from assay.bench.prompts import Prompt

CountTokens = Callable[[str], Awaitable[int]]


class TokenDist(BaseModel):
    """A length in tokens: a normal distribution's mean and standard deviation, each draw
    rounded and kept at 1 or more (stdev 0: every request the same length)."""

    model_config = ConfigDict(frozen=True)

    mean: int = Field(ge=1)
    stdev: float = Field(default=0.0, ge=0)

    def draw(self, rng: random.Random) -> int:
        if self.stdev == 0:
            return self.mean
        return max(1, round(rng.gauss(self.mean, self.stdev)))

    def describe(self) -> str:
        return f"{self.mean}" if self.stdev == 0 else f"{self.mean}±{self.stdev:g}"


def parse_token_dist(text: str, what: str) -> TokenDist:
    """`MEAN` or `MEAN,STDEV` in tokens; a ValueError naming the option otherwise."""
    mean_text, _, stdev_text = text.partition(",")
    try:
        mean = int(mean_text.strip())
        stdev = float(stdev_text) if stdev_text.strip() else 0.0
    except ValueError:
        raise ValueError(f"{what} takes MEAN or MEAN,STDEV in tokens, e.g. 1000,100") from None
    if mean < 1 or stdev < 0:
        raise ValueError(f"{what}: the mean must be 1 or more and the stdev 0 or more")
    return TokenDist(mean=mean, stdev=stdev)


def draw_lengths(dist: TokenDist, n: int, seed: int | None, salt: str) -> list[int]:
    """N lengths from DIST, the same for the same seed (salt separates input from output)."""
    rng = random.Random(f"{seed}:{salt}")
    return [dist.draw(rng) for _ in range(n)]


# Common words that most tokenizers hold as one token after a space; the text is never read.
_WORD_LIST = """
    the of and to in is was for on that with as at by from his her they this have had not
    are but one all were which she there been their has would when who will more if no out
    so said what up its about into than them can only other new some could time these two
    may then do first any my now such like our over man me even most made after also did
    many before must through back years where much your way well down should because each
    just those people how too little state good very make world still own see men work long
    get here between both life being under never day same another know while last might us
    great old year off come since against go came right used take three small large next
    early young important few public bad able open plan team water light road house city
    market story point group problem fact hand part place case week company system program
    question number night home room money book line word river paper table music color price
    field level order power heart voice child sound change garden window morning answer
    letter summer island forest winter engine signal bridge valley harbor
"""
WORDS = tuple(_WORD_LIST.split())


def words_for(key: str, seed: int | None, n: int, start: int = 0) -> list[str]:
    """N random words, the same for the same request key and seed."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    picked = [rng.choice(WORDS) for _ in range(start + n)]
    return picked[start:]


async def exact_text(
    count: CountTokens, key: str, seed: int | None, tokens: int
) -> tuple[str, int]:
    """Text of exactly TOKENS tokens under COUNT, unique to KEY (or the nearest length the
    tokenizer allows after a few tries), and its count, for the caller to record."""
    words = words_for(key, seed, tokens + 16)
    n = max(1, min(len(words), round(tokens * 0.9)))
    text = " ".join(words[:n])
    got = await count(text)
    for _ in range(8):  # steps of the measured words-per-token ratio
        if got == tokens:
            return text, got
        n = max(1, n + round((tokens - got) * n / max(got, 1)))
        while n > len(words):
            words += words_for(key, seed, 64, start=len(words))
        text = " ".join(words[:n])
        new = await count(text)
        if new == got:
            break
        got = new
    while got > tokens and n > 1:  # one word at a time to the exact length
        n -= 1
        text = " ".join(words[:n])
        got = await count(text)
    while got < tokens:
        if n >= len(words):
            words += words_for(key, seed, 64, start=len(words))
        candidate = " ".join(words[: n + 1])
        more = await count(candidate)
        if more > tokens:  # a word of several tokens would pass it: pad with single ones
            text, got = await _pad(count, text, got, tokens)
            break
        n, text, got = n + 1, candidate, more
    return text, got


async def _pad(count: CountTokens, text: str, got: int, tokens: int) -> tuple[str, int]:
    for _ in range(tokens - got):
        longer = text + " a"
        more = await count(longer)
        if more > tokens:
            break
        text, got = longer, more
    return text, got


# Later turns of a conversation built from a prompt list: short, generic follow-ups whose
# answers depend on what came before, as a user's would.
FOLLOW_UPS = (
    "Go on: add one more detail to your answer.",
    "Now say that again in fewer words.",
    "Give one concrete example of what you just described.",
    "What is the weakest point of your answer?",
    "Summarize our conversation so far in one sentence.",
)


def follow_up(turn: int) -> str:
    """The user's message at TURN (1, 2, ...) of a conversation from a prompt list."""
    return FOLLOW_UPS[(turn - 1) % len(FOLLOW_UPS)]


def synthetic_prompts(dist: TokenDist, n: int, seed: int | None) -> list[Prompt]:
    """N prompts of drawn lengths; each request's words are made for the target at run time."""
    return [
        Prompt(id=f"s{i + 1}", prompt=f"(synthetic, {length} tokens)", input_tokens=length)
        for i, length in enumerate(draw_lengths(dist, n, seed, "input"))
    ]


def with_output_lengths(prompts: list[Prompt], dist: TokenDist, seed: int | None) -> list[Prompt]:
    """Each prompt asked for a drawn number of output tokens, held where the target can."""
    lengths = draw_lengths(dist, len(prompts), seed, "output")
    return [
        p.model_copy(update={"max_tokens": n, "hold_output": True})
        for p, n in zip(prompts, lengths, strict=True)
    ]
