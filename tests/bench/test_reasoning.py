"""Reasoning models: the split of a reply into reasoning and answer, TTFO and the reasoning's
tokens, on hand-built chunks and records, through the in-process target, and end to end
against the mock server in both of its formats."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest

from assay.bench import metrics as m
from assay.bench.prompts import Prompt
from assay.bench.reasoning import (
    ReasoningCount,
    count_reasoning,
    first_output_ns,
    split_reasoning,
)
from assay.bench.records import RequestRecord
from assay.bench.summary import LevelSummary, _level
from assay.bench.targets import BenchRequest, Generation, InProcessTarget
from assay.engines import LoadOptions, Message
from assay.engines.fake import FakeEngine, FakeOptions
from assay.openai_wire import Usage
from assay.reports.csv_table import render_csv
from assay.reports.markdown import render_markdown
from assay.reports.model import build_report
from tests.bench.conftest import mock_server
from tests.bench.test_bench_runs import bench, run_dir, summary

MS = 1_000_000


def record(**fields: Any) -> RequestRecord:
    base: dict[str, Any] = {
        "key": "k",
        "model": "m",
        "level": "c1",
        "index": 0,
        "round": 0,
        "prompt_id": "p",
        "sent_ns": 0,
        "end_ns": 100 * MS,
    }
    return RequestRecord(**{**base, **fields})


# The split


def test_a_think_block_split_anywhere_over_the_chunks() -> None:
    chunks = ["<th", "ink>Let me", " see.</th", "ink>", "\n\n", "Paris", " it is."]
    split = split_reasoning(chunks)
    assert split is not None
    assert split.text == "<think>Let me see.</think>"
    assert split.shares == (1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0)
    assert split.first_answer == 5, "the newlines after </think> are not yet an answer"


def test_a_close_tag_with_no_open_one_ends_a_block_the_template_opened() -> None:
    split = split_reasoning(["Hmm", ", two", " and two.", "</think>", "Four."])
    assert split is not None
    assert split.text == "Hmm, two and two.</think>"
    assert split.shares == (1.0, 1.0, 1.0, 1.0, 0.0)
    assert split.first_answer == 4


def test_a_chunk_with_reasoning_and_answer_is_shared_by_characters() -> None:
    split = split_reasoning(["<think>ab", "c</think>Yes"])
    assert split is not None
    assert split.shares[0] == 1.0 and split.shares[1] == pytest.approx(9 / 12)
    assert split.first_answer == 1
    # Blank text before an opening tag is not an answer either.
    later = split_reasoning(["\n", "<think>x</think>", " ", "Y"])
    assert later is not None and later.first_answer == 3


def test_two_think_blocks_and_a_chunk_across_both() -> None:
    whole = split_reasoning(["<think>a</think>b<think>c</think>d"])
    assert whole is not None
    assert whole.text == "<think>a</think><think>c</think>"
    assert whole.shares == (32 / 34,) and whole.first_answer == 0
    split = split_reasoning(["<think>a</thi", "nk>b<thi", "nk>c</think>", "d"])
    assert split is not None
    assert split.shares == (1.0, 7 / 8, 1.0, 0.0) and split.first_answer == 1


def test_a_block_never_closed_is_all_reasoning_and_no_answer() -> None:
    split = split_reasoning(["<think>First,", " consider"])
    assert split is not None
    assert split.shares == (1.0, 1.0)
    assert split.first_answer is None


def test_a_reasoning_field_and_a_reply_without_reasoning() -> None:
    split = split_reasoning(["", "", "\n", "Paris."], ["Capital", " of France", "", ""])
    assert split is not None
    assert split.text == "Capital of France"
    assert split.shares == (1.0, 1.0, 0.0, 0.0)
    assert split.first_answer == 3
    assert split_reasoning(["Paris", " is 2 < 3 <thinking> away."]) is None
    assert split_reasoning(["Paris"], [""]) is None
    assert split_reasoning([]) is None


# The count


def test_reasoning_tokens_the_server_counted_else_a_tokenizer_else_the_chunks() -> None:
    split = split_reasoning(["<think>a b", " c</think>", "Yes no"])
    assert split is not None
    words = len  # a "tokenizer" that counts characters, to tell the sources apart
    said = Usage(10, 9, reasoning_tokens=5)
    assert count_reasoning(said, split, (2, 2, 2), words) == ReasoningCount(5, "server")
    assert count_reasoning(None, split, (2, 2, 2), words) == ReasoningCount(20, "tokenizer")
    assert count_reasoning(None, split, (2, 2, 2), None) == ReasoningCount(4, "chunks")
    engine = count_reasoning(None, split, (3, 1, 2), None, chunks_source="engine")
    assert engine == ReasoningCount(4, "engine")
    # A server's 0 beside reasoning it did send is no count; with nothing to count by: None.
    zero = Usage(10, 9, reasoning_tokens=0)
    assert count_reasoning(zero, split, (2, 2, 2), None) == ReasoningCount(4, "chunks")
    assert count_reasoning(None, split, (), None) is None


def test_reasoning_the_server_kept_to_itself_and_no_reasoning_at_all() -> None:
    hidden = count_reasoning(Usage(10, 30, reasoning_tokens=24), None, (6,), None)
    assert hidden == ReasoningCount(24, "server")
    assert first_output_ns((7, 9), None) == 7, "all that was sent is answer"
    assert count_reasoning(Usage(10, 6, reasoning_tokens=0), None, (6,), None) is None
    assert count_reasoning(None, None, (6,), len) is None


def test_the_first_output_time_is_the_first_answer_chunks() -> None:
    split = split_reasoning(["<think>a</think>", "b"])
    assert first_output_ns((5, 8), split) == 8
    assert first_output_ns((), split) is None, "not streamed"
    cut = split_reasoning(["<think>a"])
    assert first_output_ns((5,), cut) is None


# Metrics and the level's summary


def test_ttfo_counts_to_the_first_answer_token_and_is_ttft_without_reasoning() -> None:
    thought = record(
        first_token_ns=20 * MS, first_output_ns=70 * MS, completion_tokens=30, reasoning_tokens=24
    )
    assert m.ttft(thought) == pytest.approx(0.020)
    assert m.ttfo(thought) == pytest.approx(0.070)
    assert m.answer_tokens(thought) == 6
    plain = record(first_token_ns=20 * MS, completion_tokens=30)
    assert m.ttfo(plain) == m.ttft(plain) == pytest.approx(0.020)
    assert m.answer_tokens(plain) == 30
    cut = record(first_token_ns=20 * MS, completion_tokens=30, reasoning_tokens=30)
    assert m.ttfo(cut) is None, "cut off while thinking: no output token"
    assert m.answer_tokens(cut) == 0
    assert m.answer_tokens(record()) is None


def level_of(records: list[RequestRecord]) -> LevelSummary:
    return _level("c1", "closed", 1, None, records)


def test_a_level_without_reasoning_has_no_reasoning_figures() -> None:
    plain = [record(first_token_ns=20 * MS, completion_tokens=30) for _ in range(3)]
    level = level_of(plain)
    assert level.ttfo_s is None and level.reasoning_tokens is None and level.answer_tokens is None


def test_a_level_with_reasoning_counts_every_answered_request() -> None:
    thought = record(
        first_token_ns=20 * MS, first_output_ns=60 * MS, completion_tokens=30, reasoning_tokens=20
    )
    plain = record(first_token_ns=20 * MS, completion_tokens=30)
    failed = record(error="boom", reasoning_tokens=99)
    level = level_of([thought, plain, failed])
    assert level.ttfo_s is not None and level.ttfo_s.n == 2
    assert level.ttfo_s.mean == pytest.approx(0.040)
    assert level.reasoning_tokens is not None and level.reasoning_tokens.mean == 10
    assert level.answer_tokens is not None and level.answer_tokens.mean == 20


def test_an_old_record_and_summary_still_load() -> None:
    old = record().model_dump(exclude={"first_output_ns", "reasoning_tokens", "reasoning_source"})
    assert RequestRecord.model_validate_json(json.dumps(old)).reasoning_tokens is None
    level = level_of([record(first_token_ns=20 * MS, completion_tokens=3)]).model_dump()
    for key in ("ttfo_s", "reasoning_tokens", "answer_tokens"):
        del level[key]
    assert LevelSummary.model_validate(level).ttfo_s is None


# The in-process target: the engine's chunks carry the think block as text


def test_the_in_process_target_splits_a_think_block_from_the_engines_chunks() -> None:
    reply = "<think> two and two</think> Four."  # tokens: <think>, " two", ... " Four."
    options = FakeOptions(reply=reply, first_token_s=0.002, token_s=0.005)

    def load() -> Any:
        return FakeEngine(options).load(Path(), LoadOptions())

    generation = Generation(
        max_tokens=64, temperature=0, seed=0, stream=True, prefix_cache=True, timeout_s=30
    )

    async def run() -> RequestRecord:
        target = InProcessTarget("fake", load, generation, time.perf_counter_ns)
        await target.open()
        try:
            prompt = Prompt(id="p", prompt="What is two and two?")
            messages = (Message("user", prompt.prompt),)
            return await target.send(BenchRequest("k", "fake", "c1", 0, 0, prompt, messages))
        finally:
            await target.close()

    r = asyncio.run(run())
    assert r.ok and r.text == reply
    assert r.completion_tokens == 5 and r.reasoning_tokens == 4
    assert r.reasoning_source == "engine"
    assert r.first_output_ns == r.chunk_ns[4]
    ttft, ttfo = m.ttft(r), m.ttfo(r)
    assert ttft is not None and ttfo is not None and ttfo > ttft
    assert m.answer_tokens(r) == 1


# End to end: `assay bench` against the mock server over HTTP


@pytest.mark.parametrize(
    ("form", "usage", "source"),
    [("field", "--reasoning-usage", "server"), ("think", "--no-reasoning-usage", "chunks")],
)
def test_a_bench_against_a_reasoning_server(
    tmp_path: Path, form: str, usage: str, source: str
) -> None:
    n, answer = 12, 6
    args = ["--ttft-ms", "20", "--itl-ms", "4", "--output-tokens", str(answer)]
    args += ["--reasoning-tokens", str(n), "--reasoning-format", form, usage]
    with mock_server(*args) as url:
        result = bench(
            "--endpoint", url, "--models", "mock", "--rounds", "1", "--warmup", "0",
            "--out", str(tmp_path),
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    path = run_dir(tmp_path)
    records = [
        RequestRecord.model_validate_json(line)
        for line in (path / "requests.jsonl").read_text().splitlines()
    ]
    assert records and all(r.ok for r in records)
    for r in records:
        assert r.reasoning_tokens == n and r.reasoning_source == source
        assert r.completion_tokens == n + answer and m.answer_tokens(r) == answer
        ttft, ttfo = m.ttft(r), m.ttfo(r)
        assert ttft is not None and ttfo is not None and ttfo > ttft
        # The first answer token is the chunk after the n reasoning ones, n x 4 ms after the
        # first (give or take a late chunk on a busy machine: 51 ms was seen for 48).
        assert r.first_output_ns == r.chunk_ns[n]
        assert ttfo - ttft == pytest.approx(n * 0.004, abs=0.010)
        assert ("<think>" in r.text) == (form == "think")
    (level,) = summary(path)["models"][0]["levels"]
    assert level["reasoning_tokens"]["mean"] == n
    assert level["answer_tokens"]["mean"] == answer
    assert level["ttfo_s"]["mean"] > level["ttft_s"]["mean"]
    report = build_report(path)
    markdown = render_markdown(report)
    assert "|TTFT p95|TTFO mean|TTFO p95|Reasoning tok|Decode tok/s|" in markdown
    assert "|TTFT p95|TTFO mean|TTFO p95|Reasoning tok|ITL p50|" in markdown
    (row,) = csv.DictReader(io.StringIO(render_csv(report)))
    assert float(row["reasoning_tokens_mean"]) == n
    assert float(row["ttfo_mean_s"]) > float(row["ttft_mean_s"])
    assert "TTFO" in result.stdout, "the console table shows it too"


def test_a_whole_reply_counts_its_reasoning_but_has_no_ttfo(tmp_path: Path) -> None:
    args = ("--ttft-ms", "1", "--itl-ms", "1", "--output-tokens", "4", "--reasoning-tokens", "8")
    with mock_server(*args, "--no-reasoning-usage") as url:
        result = bench(
            "--endpoint", url, "--models", "mock", "--rounds", "1", "--warmup", "0",
            "--no-stream", "--out", str(tmp_path),
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = (run_dir(tmp_path) / "requests.jsonl").read_text().splitlines()
    for r in map(RequestRecord.model_validate_json, lines):
        assert r.completion_tokens == 12, "the server's count, reasoning included"
        assert r.reasoning_tokens == 8 and r.reasoning_source == "chunks"  # 8 of 12 by text
        assert m.ttft(r) is None and m.ttfo(r) is None


def test_a_bench_without_reasoning_shows_nothing_new(tmp_path: Path) -> None:
    with mock_server("--ttft-ms", "1", "--itl-ms", "1", "--output-tokens", "4") as url:
        result = bench(
            "--endpoint", url, "--models", "mock", "--rounds", "1", "--warmup", "0",
            "--out", str(tmp_path),
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    path = run_dir(tmp_path)
    (level,) = summary(path)["models"][0]["levels"]
    assert level["ttfo_s"] is None and level["reasoning_tokens"] is None
    assert all(
        json.loads(line)["reasoning_tokens"] is None
        for line in (path / "requests.jsonl").read_text().splitlines()
    )
    report = build_report(path)
    assert "TTFO" not in render_markdown(report) and "TTFO" not in result.stdout
    (row,) = csv.DictReader(io.StringIO(render_csv(report)))
    assert row["ttfo_mean_s"] == row["reasoning_tokens_mean"] == ""
