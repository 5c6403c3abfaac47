"""Reasoning models: which part of a reply is thinking and which is the answer.

A model that thinks first sends its reasoning in a `reasoning_content` or `reasoning` field
(openai_wire reads it into StreamReply.reasoning) or inside `<think>` ... `</think>` in its
content (the in-process engines and servers without a reasoning parser). This divides each
chunk between the two, for the time to the first answer token and the reasoning's tokens.
Pure functions, run after a reply has ended, never per chunk while it streams.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assay.bench.records import TokenSource
from assay.openai_wire import Usage

_OPEN, _CLOSE = "<think>", "</think>"


@dataclass(frozen=True, slots=True)
class Reasoning:
    """How a reasoning model's reply divides between its reasoning and its answer.

    `text`: the reasoning, a field's and the content's think blocks (their tags included: a
    model generates them, and they are not answer). `shares`: per chunk, the part of its
    characters that are reasoning (0 to 1), to divide the chunk's tokens. `first_answer`: the
    first chunk whose answer text is not blank, None when the reply never got past reasoning.
    """

    text: str
    shares: tuple[float, ...]
    first_answer: int | None


def split_reasoning(chunks: Sequence[str], fields: Sequence[str] = ()) -> Reasoning | None:
    """Each chunk's reasoning and answer: `chunks` holds the content each added, `fields` the
    text each carried in a reasoning field (StreamReply.reasoning; () for none). None for a
    reply without reasoning: no field text and no think tag in the content.

    Inside the content, text from `<think>` to `</think>` is reasoning, wherever the chunks
    split the tags (they are matched in the joined content). A `</think>` before any
    `<think>` ends a block that the chat template opened (DeepSeek-R1's and Qwen3's
    templates end the prompt with `<think>`), so everything before it is reasoning; a block
    never closed (the reply was cut off while thinking) runs to the end.

    The first answer chunk is the first with answer text that is not blank: the newlines
    between `</think>` and the answer, or before an opening `<think>`, are not yet an answer.
    AIPerf's time to first output token takes the first non-empty one; it reads reasoning
    from the field alone and counts think blocks in the content as output.
    """
    content = "".join(chunks)
    spans = _think_spans(content) if _OPEN in content or _CLOSE in content else []
    if not spans and not any(fields):
        return None
    shares: list[float] = []
    first: int | None = None
    start = j = 0  # j: the first think block that does not end before this chunk
    for i, chunk in enumerate(chunks):
        end = start + len(chunk)
        while j < len(spans) and spans[j][1] <= start:
            j += 1
        if j == len(spans) or spans[j][0] >= end:  # most chunks: all answer or all reasoning
            inside, answer = 0, chunk
        elif spans[j][0] <= start and end <= spans[j][1]:
            inside, answer = len(chunk), ""
        else:
            inside, answer = _divide(content, start, end, spans[j:])
        if fields:
            inside += len(fields[i])
        size = inside + len(answer)
        shares.append(inside / size if size else 0.0)
        if first is None and answer.strip():
            first = i
        start = end
    thought = "".join(fields) + "".join(content[a:b] for a, b in spans)
    return Reasoning(thought, tuple(shares), first)


def _think_spans(content: str) -> list[tuple[int, int]]:
    """Where the content's think blocks lie, tags included, in order."""
    spans: list[tuple[int, int]] = []
    pos = 0
    close = content.find(_CLOSE)
    if close != -1 and not 0 <= content.find(_OPEN) < close:  # the template opened it
        pos = close + len(_CLOSE)
        spans.append((0, pos))
    while (opened := content.find(_OPEN, pos)) != -1:
        close = content.find(_CLOSE, opened)
        pos = len(content) if close == -1 else close + len(_CLOSE)
        spans.append((opened, pos))
    return spans


def _divide(content: str, start: int, end: int, spans: list[tuple[int, int]]) -> tuple[int, str]:
    """content[start:end]'s characters inside the spans, and its text outside them."""
    inside = 0
    outside: list[str] = []
    pos = start
    for a, b in spans:
        if a >= end:
            break
        lo, hi = max(a, pos), min(b, end)
        outside.append(content[pos:lo])
        inside += hi - lo
        pos = hi
    outside.append(content[pos:end])
    return inside, "".join(outside)


@dataclass(frozen=True, slots=True)
class ReasoningCount:
    """A reply's reasoning tokens and where the number came from."""

    tokens: int
    source: TokenSource


def count_reasoning(
    usage: Usage | None,
    split: Reasoning | None,
    chunk_tokens: Sequence[int],
    count: Callable[[str], int] | None,
    chunks_source: TokenSource = "chunks",
) -> ReasoningCount | None:
    """The reasoning's tokens, as count_completion counts the completion's: the server's
    count (usage.completion_tokens_details.reasoning_tokens), else the reasoning's text
    counted with a tokenizer, else each chunk's tokens (`chunk_tokens`: spread_tokens' at an
    endpoint, the engine's own in process, named by `chunks_source`; () when unknown) times
    its share of reasoning. None for a reply without reasoning, or nothing to count it by.

    A server's count above 0 stands even with no reasoning in sight (OpenAI's o-series keeps
    it to itself); a count of 0 beside reasoning the reply did carry is a server that does not
    count it, and is passed over. The reasoning tokens are part of the completion tokens (as
    OpenAI's usage has them): the answer's tokens are the completion's less these.
    """
    said = usage.reasoning_tokens if usage is not None else None
    if said:
        return ReasoningCount(said, "server")
    if split is None:
        return None
    if count is not None:
        return ReasoningCount(count(split.text), "tokenizer")
    if not chunk_tokens:
        return None
    tokens = sum(t * share for t, share in zip(chunk_tokens, split.shares, strict=True))
    return ReasoningCount(round(tokens), chunks_source)


def first_output_ns(times: Sequence[int], split: Reasoning | None) -> int | None:
    """When the first answer chunk arrived (`times`: each chunk's); None when none did, or
    the reply was not streamed. For reasoning the server counted but never sent: the first
    chunk, all of them answer."""
    if not times:
        return None
    if split is None:
        return times[0]
    return times[split.first_answer] if split.first_answer is not None else None
