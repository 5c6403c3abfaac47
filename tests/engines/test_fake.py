"""The fake engine: deterministic replies through the stream loop real engines use, with the
timing, faults and slots its options ask for; and how a catalog names one."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Generator
from pathlib import Path

import pytest

from assay.catalog import FakeSource
from assay.config import Settings
from assay.engines import (
    CancelToken,
    Chunk,
    LoadedModel,
    LoadOptions,
    Message,
    SamplingParams,
    collect,
    engine_for,
)
from assay.engines.fake import FakeEngine, FakeModel, FakeOptions, reply_tokens
from assay.errors import ContextOverflowError, EngineError
from assay.registry import ModelRegistry

HI = [Message("user", "Say hi.")]
GREEDY = SamplingParams(temperature=0, max_tokens=None)


def fake(**options: object) -> FakeModel:
    return FakeEngine(FakeOptions(**options)).load(Path(), LoadOptions())  # type: ignore[arg-type]


def test_a_made_up_reply_is_the_same_for_the_same_prompt_and_seed() -> None:
    model = fake(words=6)
    text, final = collect(model.chat(HI, GREEDY))
    # Pinned: the same words in every process and on every machine.
    assert text == "from never reply model like weights"
    assert final.finish_reason == "stop" and final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (4, 6)
    assert collect(model.chat(HI, dataclasses.replace(GREEDY, temperature=1.5)))[0] == text
    assert collect(model.complete("Once upon", dataclasses.replace(GREEDY, seed=7)))[0] == (
        "that tokens like model like its"
    )
    assert collect(model.chat(HI, dataclasses.replace(GREEDY, seed=1)))[0] != text


def test_max_tokens_and_an_endless_reply_end_with_length() -> None:
    text, final = collect(fake().complete("x", SamplingParams(max_tokens=5)))
    assert len(text.split()) == 5 and final.finish_reason == "length"
    endless = fake(words=None)
    text, final = collect(endless.complete("x", SamplingParams(max_tokens=300)))
    assert len(text.split()) == 300 and final.finish_reason == "length"
    assert final.usage is not None and final.usage.completion_tokens == 300


def test_a_fixed_reply_streams_word_by_word_and_stops_at_a_stop_string() -> None:
    model = fake(reply="Hello there,  friend!\n")
    chunks = list(model.complete("x", GREEDY))
    assert [c.text for c in chunks] == ["Hello", " there,", "  friend!\n", ""]
    assert chunks[-1].finish_reason == "stop"
    text, final = collect(model.complete("x", dataclasses.replace(GREEDY, stop=("ere, ",))))
    assert text == "Hello th" and final.finish_reason == "stop"
    assert reply_tokens("") == [] and "".join(reply_tokens(" a b ")) == " a b "


def test_a_prompt_that_fills_the_context_fails_before_the_first_chunk() -> None:
    model = FakeEngine().load(Path(), LoadOptions(context_size=64))
    assert model.info.context_size == 64 and model.count_tokens("one two  three\n") == 3
    with pytest.raises(ContextOverflowError, match="the prompt is 64 tokens but the context"):
        model.complete("word " * 64, SamplingParams())
    _, final = collect(model.complete("word " * 60, SamplingParams(max_tokens=None)))
    assert final.usage is not None and final.usage.completion_tokens == 4  # what is left


def test_the_delays_are_kept_and_a_cancel_cuts_them_short() -> None:
    model = fake(first_token_s=0.2, token_s=0.05, words=3)
    started = time.perf_counter()
    times = [time.perf_counter() - started for _ in model.complete("x", GREEDY)]
    assert times[0] >= 0.2 and times[1] - times[0] >= 0.05 and times[2] - times[1] >= 0.05
    cancel = CancelToken()
    slow = fake(token_s=10.0, words=None)
    threading.Timer(0.1, cancel.cancel).start()
    started = time.perf_counter()
    chunks = list(slow.complete("x", GREEDY, cancel))
    assert time.perf_counter() - started < 1.0
    assert chunks[-1].finish_reason == "cancelled"


def test_a_fault_comes_after_the_tokens_it_was_given() -> None:
    stream = fake(fail_after=2).complete("x", GREEDY)
    assert [c.tokens for c in (next(stream), next(stream))] == [1, 1]
    with pytest.raises(EngineError) as info:
        next(stream)
    assert info.value.message == "the fake model failed after 2 tokens (fail_after)"
    with pytest.raises(EngineError, match="after 0 tokens"):
        next(fake(fail_after=0).chat(HI, GREEDY))
    assert collect(fake(fail_after=5, reply="short reply").complete("x", GREEDY))[0] == (
        "short reply"
    )


def test_a_load_takes_its_time_or_fails_with_its_message() -> None:
    engine = FakeEngine(FakeOptions(load_s=0.1, memory_bytes=123))
    assert engine.estimate_load_bytes(Path(), LoadOptions()) == 123
    assert engine.load(Path(), LoadOptions()).info.load_seconds >= 0.1
    with pytest.raises(EngineError, match=r"^no such weights$"):
        FakeEngine(FakeOptions(load_error="no such weights")).load(Path(), LoadOptions())


def test_what_a_fake_declares_it_can_do() -> None:
    model = fake()
    assert isinstance(model, LoadedModel)
    assert (model.parallel, model.threads, model.grammar, model.logprobs) == (1, None, False, False)
    assert model.observe(lambda busy, tokens: None) is False
    with pytest.raises(EngineError, match="the fake engine takes no GBNF grammar"):
        model.complete("x", SamplingParams(grammar='root ::= "a"'))
    assert model.info.engine == "fake" and model.info.file_bytes == 0
    assert FakeEngine().load(Path(), LoadOptions(parallel=4)).parallel == 4  # the slots asked
    assert fake(parallel=2).parallel == 2
    model.close()
    with pytest.raises(EngineError, match="unloaded"):
        model.complete("x", GREEDY)


def test_with_slots_it_reports_its_steps_as_a_batched_model() -> None:
    model = FakeEngine(FakeOptions(words=3)).load(Path(), LoadOptions(parallel=2))
    steps: list[tuple[int, int]] = []
    assert model.observe(lambda busy, tokens: steps.append((busy, tokens)))
    first, second = model.complete("a", GREEDY), model.complete("b", GREEDY)
    next(first), next(second)
    list(first)  # its end frees a slot, which the next step reports
    assert steps == [(1, 1), (2, 1), (2, 1), (2, 1)]
    chunks: list[Chunk] = list(second)
    assert steps[4:] == [(1, 1), (1, 1), (0, 0)] and chunks[-1].finish_reason == "stop"
    abandoned = model.complete("c", GREEDY)
    assert isinstance(abandoned, Generator)
    next(abandoned)
    abandoned.close()  # a reader that goes away frees its slot
    assert steps[-1] == (0, 0)


def test_the_engine_table_and_a_catalog_entry_give_a_fake(tmp_path: Path) -> None:
    assert isinstance(engine_for("fake"), FakeEngine)
    assert {f.name for f in dataclasses.fields(FakeOptions)} == set(FakeSource.model_fields) - {
        "kind"
    }
    models = tmp_path / "models.json"
    models.write_text(
        json.dumps(
            {
                "mock": {"engine": "fake"},
                "hello": {"fake": {"reply": "Hello!", "parallel": 3}, "context_length": 512},
            }
        )
    )
    # In this process, to see the engine's own model (a runner's is a RunnerModel).
    registry = ModelRegistry(Settings(home=tmp_path, models_file=models, runners=False))
    hello = registry.resolve("hello")
    assert hello.name == "hello:user" and hello.variant.engine == "fake"
    assert registry.is_cached(hello.entry, hello.variant)
    assert registry.path(hello) == Path()
    loaded = registry.load("hello").model
    assert loaded.parallel == 3
    assert collect(loaded.chat(HI, SamplingParams()))[0] == "Hello!"
    mock = registry.load("mock").model
    assert isinstance(mock, FakeModel) and mock.options == FakeOptions()
