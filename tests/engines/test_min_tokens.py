"""min_tokens (and ignore_eos, min_tokens at the limit) on the engines: SmolLM2 answers "Say
OK." in 12 tokens and then ends; held, it goes on to the limit, on the unbatched and the
batched llama.cpp path, greedy and sampled, and on ONNX Runtime GenAI. Stop strings still end
it, log probabilities stay the model's own, and engines that cannot hold it refuse it."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assay.engines import LoadedModel, LoadOptions, Message, SamplingParams, collect
from assay.engines.adapter import AdapterEngine
from assay.engines.base import UNTIL_LIMIT
from assay.engines.factories import whitespace_tokens
from assay.engines.fake import FakeEngine, FakeOptions
from assay.engines.llamacpp import LlamaCppModel
from assay.errors import EngineError
from assay.registry import ModelRegistry

SAY_OK = [Message("user", "Say OK.")]
# SmolLM2's greedy answer to SAY_OK, then its end of generation.
NATURAL = 12


def greedy(**fields: Any) -> SamplingParams:
    return SamplingParams(**{"temperature": 0.0, "max_tokens": 40, **fields})


@pytest.fixture(scope="module")
def batched(registry: ModelRegistry) -> Iterator[LoadedModel]:
    model = registry.load("smollm2-135m", LoadOptions(context_size=512, parallel=4)).model
    yield model
    model.close()


@pytest.fixture(params=["unbatched", "batched"])
def llama(request: pytest.FixtureRequest) -> LoadedModel:
    name = "smollm" if request.param == "unbatched" else "batched"
    model: LoadedModel = request.getfixturevalue(name)
    return model


def completion_tokens(model: LoadedModel, params: SamplingParams) -> tuple[int, str]:
    _, final = collect(model.chat(SAY_OK, params))
    assert final.usage is not None and final.finish_reason is not None
    return final.usage.completion_tokens, final.finish_reason


@pytest.mark.slow
def test_held_generations_run_to_the_limit_and_free_ones_end(llama: LoadedModel) -> None:
    assert llama.min_tokens
    assert completion_tokens(llama, greedy()) == (NATURAL, "stop")
    assert completion_tokens(llama, greedy(min_tokens=40)) == (40, "length")
    assert completion_tokens(llama, greedy(min_tokens=UNTIL_LIMIT)) == (40, "length")
    held, _ = completion_tokens(llama, greedy(min_tokens=20))
    assert held >= 20
    sampled = SamplingParams(temperature=0.8, seed=3, max_tokens=40, min_tokens=40)
    assert completion_tokens(llama, sampled) == (40, "length")
    _, final = collect(llama.complete("OK.", greedy(min_tokens=40)))
    assert final.usage is not None and final.usage.completion_tokens == 40


@pytest.mark.slow
def test_the_batched_and_unbatched_paths_hold_alike(
    smollm: LoadedModel, batched: LoadedModel
) -> None:
    texts = {collect(model.chat(SAY_OK, greedy(min_tokens=40)))[0] for model in (smollm, batched)}
    assert len(texts) == 1


@pytest.mark.slow
def test_held_and_free_sequences_share_a_batch(batched: LoadedModel) -> None:
    params = [
        greedy(),
        greedy(min_tokens=40),
        SamplingParams(temperature=0.8, seed=3, max_tokens=40, min_tokens=40),
        greedy(min_tokens=20),
    ]
    results: list[tuple[int, str] | None] = [None] * len(params)

    def run(i: int) -> None:
        results[i] = completion_tokens(batched, params[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(params))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    free, held, sampled, floor = results
    # The free one still stops on its own; not necessarily at NATURAL: a batch of four can
    # round its logits apart from a lone sequence's (benchmarks/batch_divergence.py).
    assert free is not None and free[1] == "stop" and free[0] < 40
    assert held == sampled == (40, "length")
    assert floor is not None and floor[0] >= 20


@pytest.mark.slow
def test_a_stop_string_still_ends_a_held_generation(llama: LoadedModel) -> None:
    # Held, the answer goes on "...your request? What's the task you need help with".
    text, final = collect(llama.chat(SAY_OK, greedy(min_tokens=40, stop=("task",))))
    assert final.finish_reason == "stop" and text.endswith("What's the ")
    assert final.usage is not None and NATURAL < final.usage.completion_tokens < 40


@pytest.mark.slow
def test_log_probabilities_stay_the_models_own(llama: LoadedModel) -> None:
    chunks = list(llama.chat(SAY_OK, greedy(min_tokens=20, max_tokens=20, logprobs=2)))
    entries = [entry for chunk in chunks for entry in chunk.logprobs or ()]
    assert len(entries) == 20
    # Where the model would have ended, the end is still its most likely token (a piece
    # with no text), and the token taken in its place is less likely.
    ended = entries[NATURAL]
    assert ended.top[0].token == "" and ended.top[0].logprob > ended.logprob
    assert all(math.isclose(e.top[0].logprob, e.logprob) for e in entries[:NATURAL])


@pytest.mark.slow
def test_a_grammar_and_min_tokens_are_refused_together(smollm: LoadedModel) -> None:
    with pytest.raises(EngineError, match="cannot hold with a grammar or a schema"):
        smollm.chat(SAY_OK, greedy(min_tokens=5, grammar='root ::= "OK"'))
    with pytest.raises(EngineError, match="cannot hold with a grammar or a schema"):
        smollm.chat(SAY_OK, greedy(min_tokens=5, json_schema='{"type": "object"}'))


@pytest.mark.slow
def test_the_end_tokens_are_every_token_llama_cpp_says_ends(smollm: LoadedModel) -> None:
    assert isinstance(smollm, LlamaCppModel)
    lib, vocab = smollm._lib, smollm._vocab
    ids = set(smollm._end.get().tolist())
    assert {lib.llama_vocab_eos(vocab), lib.llama_vocab_eot(vocab)} - {-1} <= ids
    assert all(lib.llama_vocab_is_eog(vocab, token) for token in ids)
    assert smollm._end.get() is smollm._end.get()  # scanned once


@pytest.mark.slow
def test_tokenize_and_detokenize_speak_the_models_ids(smollm: LoadedModel) -> None:
    text = "Local inference keeps data on the device."
    tokens = smollm.tokenize(text)
    assert smollm.token_ids and len(tokens) == smollm.count_tokens(text)
    assert smollm.detokenize(tokens) == text
    with pytest.raises(EngineError, match="token id 49152 is not in the vocabulary"):
        smollm.detokenize([49152])


@pytest.mark.slow
def test_onnx_holds_min_tokens_with_its_min_length(onnx_smollm: LoadedModel) -> None:
    assert onnx_smollm.min_tokens and onnx_smollm.token_ids
    free, _ = completion_tokens(onnx_smollm, greedy())
    assert free < 40
    assert completion_tokens(onnx_smollm, greedy(min_tokens=40)) == (40, "length")
    assert completion_tokens(onnx_smollm, greedy(min_tokens=UNTIL_LIMIT)) == (40, "length")
    assert completion_tokens(onnx_smollm, greedy(min_tokens=free + 5))[0] >= free + 5
    text = "Local inference keeps data on the device."
    tokens = onnx_smollm.tokenize(text)
    assert len(tokens) == onnx_smollm.count_tokens(text)
    assert onnx_smollm.detokenize(tokens) == text
    with pytest.raises(EngineError, match="token id 49152 is not in the vocabulary"):
        onnx_smollm.detokenize([49152])


def test_the_fake_goes_on_with_made_up_words_until_min_tokens() -> None:
    model = FakeEngine(FakeOptions(reply="OK then.")).load(Path(), LoadOptions())
    assert collect(model.complete("hi", SamplingParams(max_tokens=40)))[0] == "OK then."
    text, final = collect(model.complete("hi", SamplingParams(max_tokens=40, min_tokens=10)))
    assert text.startswith("OK then. ") and len(text.split()) == 10
    assert final.finish_reason == "stop"
    _, held = collect(model.complete("hi", SamplingParams(max_tokens=40, min_tokens=UNTIL_LIMIT)))
    assert held.finish_reason == "length" and held.usage is not None
    assert held.usage.completion_tokens == 40
    with pytest.raises(EngineError, match="the fake engine gives no token ids"):
        model.tokenize("hi")


class Parrot:
    """An adapter that repeats its prompt."""

    def load(self, weights_path: str) -> None:
        return None

    def generate(self, prompt: str, **params: Any) -> str:
        return prompt


def test_an_engine_that_cannot_hold_min_tokens_refuses_it() -> None:
    spec = f"{__name__}:Parrot"
    model = AdapterEngine(spec, whitespace_tokens).load(Path(), LoadOptions())
    assert not model.min_tokens and not model.token_ids
    assert collect(model.complete("hi there", SamplingParams()))[0] == "hi there"
    with pytest.raises(EngineError, match="the adapter engine cannot hold min_tokens"):
        model.complete("hi there", SamplingParams(min_tokens=5))
