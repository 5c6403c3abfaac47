"""Continuous batching on the real SmolLM2: several sequences decoded together keep their
own text, limits, cancellation and context, and free their slots."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from assay.engines import (
    CancelToken,
    Chunk,
    LoadedModel,
    LoadOptions,
    Message,
    SamplingParams,
    collect,
)
from assay.registry import ModelRegistry

pytestmark = pytest.mark.slow

GREEDY = SamplingParams(temperature=0.0, max_tokens=16)
# Continuations the model is sure of: a mix-up of sequences (a wrong KV slot, the logits of
# another row) would show at once, and flash attention's batch-dependent rounding does not
# flip them (docs/performance.md measures how often it flips less certain ones).
COUNTING = [
    "1, 2, 3, 4, 5, 6,",
    "10 20 30 40 50",
    "Monday, Tuesday, Wednesday,",
    "January, February, March,",
]


@pytest.fixture(scope="module")
def batched(registry: ModelRegistry) -> Iterator[LoadedModel]:
    model = registry.load("smollm2-135m", LoadOptions(context_size=512, parallel=4)).model
    yield model
    model.close()


def together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls on threads at once, as the server's worker threads do."""
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


def test_a_request_alone_matches_the_unbatched_engine(
    batched: LoadedModel, smollm: LoadedModel
) -> None:
    assert getattr(batched, "parallel", 1) == 4 and batched.info.context_size == 512
    question = [Message("user", "List 3 privacy benefits of local inference.")]
    params = SamplingParams(temperature=0.0, max_tokens=40)
    alone, final = collect(batched.chat(question, params))
    assert alone == collect(smollm.chat(question, params))[0]
    assert final.usage is not None and final.usage.completion_tokens == 40
    # Greedy with a repeat penalty goes through the chain, not the argmax shortcut (which
    # once skipped the penalty): the same text as unbatched, and not the unpenalized one.
    penalized = SamplingParams(temperature=0.0, max_tokens=40, repeat_penalty=1.5)
    text = collect(batched.chat(question, penalized))[0]
    assert text == collect(smollm.chat(question, penalized))[0] and text != alone


def test_side_by_side_each_sequence_keeps_its_own_text(
    batched: LoadedModel, smollm: LoadedModel
) -> None:
    solo = [collect(smollm.complete(p, GREEDY))[0] for p in COUNTING]

    def text_of(prompt: str) -> str:
        return collect(batched.complete(prompt, GREEDY))[0]

    for _ in range(2):
        side_by_side = together([functools.partial(text_of, p) for p in COUNTING])
        assert side_by_side == solo


def test_mixed_max_tokens_and_per_request_sampling(batched: LoadedModel) -> None:
    limits = [3, 9, 27]

    def count_up_to(limit: int) -> tuple[str, Chunk]:
        return collect(
            batched.complete("1, 2, 3,", SamplingParams(temperature=0, max_tokens=limit))
        )

    finals: list[Chunk] = [
        result[1] for result in together([functools.partial(count_up_to, n) for n in limits])
    ]
    assert [f.usage.completion_tokens for f in finals if f.usage] == limits
    assert all(f.finish_reason == "length" for f in finals)
    seeded = SamplingParams(temperature=1.0, seed=5, max_tokens=20)
    a, b, greedy = together(
        [
            lambda: collect(batched.complete("Once upon a time", seeded))[0],
            lambda: collect(batched.complete("Once upon a time", seeded))[0],
            lambda: collect(batched.complete(COUNTING[0], GREEDY))[0],
        ]
    )
    assert a == b  # each sequence samples with its own chain and seed
    assert greedy.startswith(" 7, 8, 9")


def test_a_cancel_mid_batch_leaves_the_others_intact(
    batched: LoadedModel, smollm: LoadedModel
) -> None:
    cancel = CancelToken()

    def cancelled() -> Chunk:
        stream = batched.complete("Once upon a time", SamplingParams(max_tokens=400), cancel)
        for i, chunk in enumerate(stream):
            if i == 3:
                cancel.cancel()
            if chunk.finish_reason is not None:
                return chunk
        raise AssertionError("no final chunk")

    params = SamplingParams(temperature=0.0, max_tokens=24)
    results = together(
        [cancelled, *[lambda p=p: collect(batched.complete(p, params))[0] for p in COUNTING[:2]]]
    )
    assert results[0].finish_reason == "cancelled"
    assert results[0].usage.completion_tokens < 10
    assert results[1:] == [collect(smollm.complete(p, params))[0] for p in COUNTING[:2]]


def test_the_context_limit_ends_a_sequence_with_length(batched: LoadedModel) -> None:
    prompt = "word " * 490
    prompt_tokens = batched.count_tokens(prompt)
    long_one, short_one = together(
        [
            lambda: collect(batched.complete(prompt, SamplingParams(max_tokens=None)))[1],
            lambda: collect(batched.complete(COUNTING[0], GREEDY))[1],
        ]
    )
    assert long_one.finish_reason == "length"
    assert long_one.usage.prompt_tokens + long_one.usage.completion_tokens == 512
    assert prompt_tokens <= long_one.usage.prompt_tokens <= prompt_tokens + 1  # a BOS, or not
    assert short_one.usage.completion_tokens == 16


def test_slots_are_freed_for_the_next_requests(batched: LoadedModel) -> None:
    for _ in range(3):
        texts = together([lambda: collect(batched.complete("1, 2, 3,", GREEDY))[0]] * 6)
        assert len(set(texts)) == 1 and texts[0].startswith(" 4, 5, 6")


def test_grammars_side_by_side_each_hold(batched: LoadedModel) -> None:
    # Each sequence checks its own grammar on the token its chain drew: greedy, drawn and
    # penalized sequences decoded together all answer in their grammar.
    grammar = 'root ::= "yes" | "no" | "maybe"'
    ask = [Message("user", "Is the sky blue? Answer yes, no or maybe.")]
    kinds = [
        SamplingParams(temperature=0, max_tokens=6, grammar=grammar),
        SamplingParams(temperature=0.9, seed=3, max_tokens=6, grammar=grammar),
        SamplingParams(temperature=0.9, seed=4, repeat_penalty=1.3, max_tokens=6, grammar=grammar),
        SamplingParams(temperature=0, max_tokens=6),
    ]
    answers = together([functools.partial(collect, batched.chat(ask, p)) for p in kinds])
    for (text, final), params in zip(answers, kinds, strict=True):
        if params.grammar is not None:
            assert text in ("yes", "no", "maybe") and final.finish_reason == "stop", text
    assert answers[3][0] not in ("yes", "no", "maybe")  # the free one is not held
