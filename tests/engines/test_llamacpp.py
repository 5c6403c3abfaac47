"""The llama.cpp engine on the real bundled models."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from assay.engines import CancelToken, LoadedModel, LoadOptions, Message, SamplingParams, collect
from assay.engines.json_schema import grammar_for_schema
from assay.engines.llamacpp import LlamaCppEngine, LlamaCppModel
from assay.errors import ContextOverflowError, EngineError, ModelFileError

pytestmark = pytest.mark.slow

GREEDY = SamplingParams(temperature=0.0, seed=7, max_tokens=48, prefix_cache=False)
QUESTION = [Message("user", "List 3 privacy benefits of local inference.")]


def test_greedy_output_is_deterministic(smollm: LoadedModel) -> None:
    first, _ = collect(smollm.chat(QUESTION, GREEDY))
    second, _ = collect(smollm.chat(QUESTION, GREEDY))
    assert first == second
    assert first.strip()


def test_seeded_sampling_repeats_and_other_seeds_differ(smollm: LoadedModel) -> None:
    def sample(seed: int) -> str:
        params = SamplingParams(temperature=1.0, seed=seed, max_tokens=32, prefix_cache=False)
        return collect(smollm.chat(QUESTION, params))[0]

    assert sample(1) == sample(1)
    assert len({sample(s) for s in (1, 2, 3)}) > 1


def test_stream_matches_llama_cpp_pythons_own_non_streamed_answer(smollm: LoadedModel) -> None:
    assert isinstance(smollm, LlamaCppModel)
    text, final = collect(smollm.chat(QUESTION, GREEDY))
    reference = smollm._llm.create_chat_completion(
        [{"role": "user", "content": QUESTION[0].content}],
        temperature=0.0,
        max_tokens=GREEDY.max_tokens,
    )
    assert text == reference["choices"][0]["message"]["content"]
    assert final.usage is not None
    assert final.usage.prompt_tokens == reference["usage"]["prompt_tokens"]
    assert final.usage.completion_tokens == reference["usage"]["completion_tokens"]


def test_usage_counts_match_a_retokenization(smollm: LoadedModel) -> None:
    assert isinstance(smollm, LlamaCppModel)
    chunks = list(smollm.chat(QUESTION, GREEDY))
    text = "".join(c.text for c in chunks)
    final = chunks[-1]
    assert final.usage is not None and final.finish_reason == "length"
    prompt = smollm.render_chat(QUESTION)
    assert final.usage.prompt_tokens == len(smollm.prompt_tokens(prompt))
    assert final.usage.completion_tokens == GREEDY.max_tokens
    assert smollm.count_tokens(text) == final.usage.completion_tokens
    assert sum(c.tokens for c in chunks) == final.usage.completion_tokens


def test_both_bundled_models_answer(smollm: LoadedModel, gemma: LoadedModel) -> None:
    for model in (smollm, gemma):
        text, final = collect(model.chat(QUESTION, GREEDY))
        assert text.strip(), model.info.path
        assert final.usage is not None and final.usage.completion_tokens > 0
    assert gemma.info.chat_template_source.startswith("fallback: gemma")
    assert smollm.info.chat_template_source == "gguf metadata"


def test_raw_completion_on_the_base_model(gemma: LoadedModel) -> None:
    text, final = collect(gemma.complete("The capital of France is", GREEDY))
    assert text.strip()
    assert final.usage is not None and final.usage.prompt_tokens >= 5


def test_stop_strings_end_the_answer(smollm: LoadedModel) -> None:
    text, _ = collect(smollm.chat(QUESTION, GREEDY))
    cut = text.strip().split()[3]
    params = SamplingParams(temperature=0.0, max_tokens=48, stop=(cut,), prefix_cache=False)
    stopped, final = collect(smollm.chat(QUESTION, params))
    assert final.finish_reason == "stop"
    assert cut not in stopped
    assert text.startswith(stopped)


def test_eos_ends_with_finish_reason_stop(smollm: LoadedModel) -> None:
    params = SamplingParams(temperature=0.0, max_tokens=400, prefix_cache=False)
    _, final = collect(smollm.chat([Message("user", "Say hello.")], params))
    assert final.finish_reason == "stop"


def test_cancellation_stops_within_a_token(smollm: LoadedModel) -> None:
    cancel = CancelToken()
    params = SamplingParams(temperature=0.0, max_tokens=400, prefix_cache=False)
    seen = 0
    final = None
    for chunk in smollm.chat(QUESTION, params, cancel):
        seen += chunk.tokens
        if seen >= 5:
            cancel.cancel()
        final = chunk
    assert final is not None and final.finish_reason == "cancelled"
    assert final.usage is not None and final.usage.completion_tokens <= 6


def test_cancellation_from_another_thread(smollm: LoadedModel) -> None:
    cancel = CancelToken()
    params = SamplingParams(temperature=0.0, max_tokens=2000, prefix_cache=False)
    timer = threading.Timer(0.2, cancel.cancel)
    timer.start()
    _, final = collect(smollm.complete("Once upon a time", params, cancel))
    timer.cancel()
    assert final.finish_reason == "cancelled"


def test_a_grammar_constrains_the_output(smollm: LoadedModel, gemma: LoadedModel) -> None:
    params = SamplingParams(temperature=0.0, max_tokens=8, grammar='root ::= "yes" | "no"')
    for model in (smollm, gemma):
        text, final = collect(model.chat(QUESTION, params))
        assert text in ("yes", "no"), model.info.path
        assert final.finish_reason == "stop"
        # A sampler per call: the grammar starts afresh each time.
        assert collect(model.chat(QUESTION, params))[0] == text
    free, _ = collect(smollm.chat(QUESTION, GREEDY))
    assert free not in ("yes", "no")


@pytest.mark.parametrize(
    ("temperature", "penalty"),
    [(0.0, 1.0), (0.9, 1.0), (0.9, 1.3)],
    ids=["greedy", "drawn", "penalized"],
)
def test_a_schema_grammar_holds_however_tokens_are_drawn(
    smollm: LoadedModel, temperature: float, penalty: float
) -> None:
    # The chain draws first and the grammar checks only that token (redrawing over every
    # candidate when it refuses): the answer must match whichever way it was drawn.
    grammar = grammar_for_schema(
        {
            "type": "object",
            "properties": {
                "answer": {"enum": ["yes", "no"]},
                "why": {"type": "string", "maxLength": 30},
            },
            "required": ["answer", "why"],
            "additionalProperties": False,
        }
    )
    for seed in (1, 2, 3):
        params = SamplingParams(
            temperature=temperature, seed=seed, max_tokens=60, repeat_penalty=penalty,
            grammar=grammar,
        )  # fmt: skip
        text, final = collect(smollm.chat(QUESTION, params))
        assert final.finish_reason == "stop", text
        answer = json.loads(text)
        assert answer["answer"] in ("yes", "no") and len(answer["why"]) <= 30


def test_a_grammar_that_does_not_parse_is_an_error_not_a_crash(smollm: LoadedModel) -> None:
    for grammar in ('root ::= "unterminated', "root ::= missing-rule", "no rules"):
        with pytest.raises(EngineError, match="grammar does not parse"):
            smollm.chat(QUESTION, SamplingParams(max_tokens=4, grammar=grammar))
    assert collect(smollm.chat(QUESTION, GREEDY))[0].strip()


def test_prompt_longer_than_the_context_is_refused(smollm: LoadedModel) -> None:
    long_prompt = "word " * 3000
    with pytest.raises(ContextOverflowError, match=r"context holds 2048; shorten"):
        smollm.chat([Message("user", long_prompt)], GREEDY)


def test_max_tokens_is_capped_by_the_room_left_in_the_context(smollm_path: Path) -> None:
    model = LlamaCppEngine().load(smollm_path, LoadOptions(context_size=128, threads=1))
    try:
        prompt_tokens = len(model.prompt_tokens("Once upon a time"))
        params = SamplingParams(temperature=0.0, max_tokens=None, prefix_cache=False)
        _, final = collect(model.complete("Once upon a time", params))
        assert final.usage is not None
        # llama.cpp rounds the context up to its padding (256 here).
        n_ctx = model.info.context_size
        assert n_ctx >= 128
        if final.finish_reason == "length":
            assert final.usage.completion_tokens == n_ctx - prompt_tokens
        assert model.info.threads == 1
    finally:
        model.close()


def test_load_records_what_it_cost(smollm: LoadedModel) -> None:
    info = smollm.info
    assert info.load_seconds > 0
    assert info.file_bytes == 98362432
    assert info.threads >= 1
    assert info.engine_version.startswith("llama-cpp-python 0.3")


def test_a_truncated_gguf_is_a_clear_error(tmp_path: Path, smollm_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(smollm_path.read_bytes()[:4_000_000])
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        LlamaCppEngine().load(broken, LoadOptions())


def test_a_file_that_is_not_gguf_is_a_clear_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.gguf"
    text.write_text("hello")
    with pytest.raises(ModelFileError, match="is not a GGUF file"):
        LlamaCppEngine().load(text, LoadOptions())


def test_a_json_schema_alone_is_held_by_the_grammar_made_from_it(
    smollm: LoadedModel, registry: Any
) -> None:
    # SamplingParams.json_schema without a grammar (a library caller's way): the engine
    # makes the grammar itself, on the unbatched and the batched path.
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 20}, "legs": {"enum": [2, 4]}},
        "required": ["name", "legs"],
        "additionalProperties": False,
    }
    params = SamplingParams(temperature=0, max_tokens=60, json_schema=json.dumps(schema))
    batched = registry.load("smollm2-135m", LoadOptions(parallel=2, context_size=512)).model
    try:
        for model in (smollm, batched):
            text, final = collect(model.chat([Message("user", "Describe a cat.")], params))
            assert final.finish_reason == "stop", text
            jsonschema.validate(json.loads(text), schema)
    finally:
        batched.close()
