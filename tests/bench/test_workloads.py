"""Synthetic lengths, datasets and traces, turns, repeats and sweeps: their pure parts on
hand-made input, then whole runs against the mock server and the bundled models."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from assay import api
from assay.bench.datasets import load_dataset
from assay.bench.metrics import mean_interval
from assay.bench.prompts import PromptFileError
from assay.bench.records import RequestRecord
from assay.bench.workload import exact_text, parse_token_dist
from assay.engines.llamacpp import vocab_counter
from assay.errors import AssayError
from assay.registry import ModelRegistry
from tests.bench.conftest import mock_server
from tests.bench.test_bench_runs import bench, levels, run_dir, summary


def records(path: Path) -> list[RequestRecord]:
    lines = (path / "requests.jsonl").read_text().splitlines()
    return [RequestRecord.model_validate_json(line) for line in lines]


# -- pure parts ---------------------------------------------------------------------------


def test_token_lengths_parse_or_say_what_to_write() -> None:
    assert parse_token_dist("1000", "--input-tokens").model_dump() == {"mean": 1000, "stdev": 0}
    assert parse_token_dist("1000,100", "--input-tokens").stdev == 100
    for bad in ("x", "0", "10,-1", "1000,abc"):
        with pytest.raises(ValueError, match="--input-tokens"):
            parse_token_dist(bad, "--input-tokens")


@pytest.mark.parametrize("model", ["smollm2-135m", "gemma3-270m"])
def test_synthetic_texts_have_the_exact_length_for_each_tokenizer(
    registry: ModelRegistry, model: str
) -> None:
    count = vocab_counter(registry.path(registry.resolve(model)))

    async def counted(text: str) -> int:
        return count(text)

    async def make(key: str, n: int) -> str:
        text, got = await exact_text(counted, key, 1234, n)
        assert got == count(text)  # the count it returns is the text's
        return text

    for n in (1, 7, 100, 1000, 3000):
        text = asyncio.run(make(f"m|c1|{n}", n))
        assert count(text) == n, (model, n)
    one, again, other = (asyncio.run(make(k, 200)) for k in ("a", "a", "b"))
    assert one == again and one != other
    assert one.split()[:3] != other.split()[:3]  # unique from the first words on


def test_a_mean_with_its_95_percent_interval() -> None:
    interval = mean_interval([1.0, 2.0, 3.0])
    assert interval is not None
    assert interval.mean == pytest.approx(2.0)
    assert interval.half_width == pytest.approx(4.303 / 3**0.5, rel=1e-3)  # t(2) * sd / sqrt(n)
    assert mean_interval([5.0]) is None and mean_interval([None, 1.0]) is None


def test_jsonl_prompts_and_messages(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    rows = [
        {"prompt": "Hello?", "max_tokens": 20},
        {
            "id": "m",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello."},
                {"role": "user", "content": "And now?"},
            ],
        },
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    data = load_dataset(path)
    first, second = data.prompts
    assert data.format == "jsonl" and first.id == "d1" and first.max_tokens == 20
    assert second.system == "Be brief." and second.prompt == "And now?"
    assert [(t.role, t.content) for t in second.history] == [
        ("user", "Hi"),
        ("assistant", "Hello."),
    ]


def test_sharegpt_first_turns_and_follow_ups(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    data = [
        {
            "id": "x",
            "conversations": [
                {"from": "human", "value": "What is a GGUF file?"},
                {"from": "gpt", "value": "A model file."},
                {"from": "human", "value": "Who reads it?"},
            ],
        },
        {"id": "empty", "conversations": [{"from": "gpt", "value": "no question"}]},
    ]
    path.write_text(json.dumps(data))
    loaded = load_dataset(path)
    assert loaded.format == "sharegpt" and loaded.skipped == 1
    (prompt,) = loaded.prompts
    assert prompt.prompt == "What is a GGUF file?" and prompt.followups == ("Who reads it?",)


def test_mooncake_and_burstgpt_traces(tmp_path: Path) -> None:
    mooncake = tmp_path / "m.jsonl"
    rows = [
        {"timestamp": 1500, "input_length": 300, "output_length": 20, "hash_ids": [1]},
        {"timestamp": 1000, "input_length": 100, "output_length": 10, "hash_ids": [2]},
    ]
    mooncake.write_text("\n".join(json.dumps(r) for r in rows))
    trace = load_dataset(mooncake)
    assert trace.is_trace and [p.arrival_s for p in trace.prompts] == [0.0, 0.5]
    assert [(p.input_tokens, p.max_tokens, p.hold_output) for p in trace.prompts] == [
        (100, 10, True),
        (300, 20, True),
    ]
    burst = tmp_path / "b.csv"
    burst.write_text(
        "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
        "5,ChatGPT,472,18,490,Conversation log\n"
        "7.5,ChatGPT,1087,0,1087,Conversation log\n"
        "8,GPT-4,200,50,250,API log\n"
    )
    loaded = load_dataset(burst)
    assert loaded.format == "trace (burstgpt)" and loaded.skipped == 1  # 0 output tokens
    assert [p.arrival_s for p in loaded.prompts] == [0.0, 3.0]


@pytest.mark.parametrize(
    ("text", "name", "message"),
    [
        ('{"prompt": "a"}\nnot json\n', "d.jsonl", r"d.jsonl:2: not a JSON line"),
        ('{"text": "a"}\n', "d.jsonl", r"d.jsonl:1: a row needs 'prompt'"),
        ('[{"id": 1}]', "s.json", r"conversation #1 has no 'conversations' list"),
        ("Timestamp,Model\n1,x\n", "t.csv", r"needs the columns"),
        ('{"timestamp": 1, "input_length": 5}\n', "t.jsonl", r"t.jsonl:1: a trace row needs"),
        ("", "e.jsonl", r"the dataset is empty"),
    ],
)
def test_bad_datasets_name_the_file_the_row_and_the_fix(
    tmp_path: Path, text: str, name: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(PromptFileError, match=message):
        load_dataset(path)


def test_incoherent_workloads_are_refused_before_anything_runs(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    trace.write_text('{"timestamp": 0, "input_length": 5, "output_length": 5}\n')
    cases: list[tuple[dict[str, Any], str]] = [
        ({"sweep": True}, "--sweep needs --slo"),
        ({"dataset": trace, "concurrency": [2]}, "a trace sets its own schedule"),
        ({"time_scale": 2.0}, "--time-scale applies to a trace"),
        ({"input_tokens": "100", "prompts": ["a"]}, "two sources of prompts"),
        ({"dataset": trace, "output_tokens": "5"}, "drop --output-tokens"),
        ({"input_tokens": "lots"}, "--input-tokens takes MEAN"),
    ]
    for options, message in cases:
        with pytest.raises(AssayError, match=message):
            api.bench_spec(["m"], **options)


# -- whole runs ---------------------------------------------------------------------------


def test_synthetic_lengths_in_process_are_exact_and_held(tmp_path: Path) -> None:
    """SmolLM2 in its runner: every prompt has exactly 64 tokens for its own tokenizer, and
    every answer exactly the 12 tokens asked for (min_tokens holds them past its end)."""
    result = bench(
        "--models", "smollm2-135m", "--input-tokens", "64", "--output-tokens", "12",
        "--requests", "3", "--rounds", "1", "--warmup", "0", "--out", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    path = run_dir(tmp_path)
    done = records(path)
    assert len(done) == 3 and all(r.ok for r in done)
    assert {r.input_tokens for r in done} == {64}
    assert all((r.prompt_tokens or 0) > 64 for r in done)  # the chat template's on top
    assert {r.completion_tokens for r in done} == {12} and all(r.output_held for r in done)
    assert len({r.text for r in done}) == 3
    level = levels(path)["sequential"]
    assert level["output_held_rate"] == 1.0 and level["input_tokens"]["mean"] == 64
    info = summary(path)["models"][0]["info"]
    assert info["token_counter"] == "engine"


def test_synthetic_lengths_at_an_endpoint_without_tokenize(tmp_path: Path) -> None:
    """The mock has no /tokenize: lengths are counted by the bundled SmolLM2 tokenizer and
    recorded as approximate; it honours max_tokens, so a 16-token length is held."""
    with mock_server("--ttft-ms", "5", "--itl-ms", "1", "--output-tokens", "64") as url:
        result = bench(
            "--endpoint", url, "--models", "mock", "--input-tokens", "200,20",
            "--output-tokens", "16", "--concurrency", "2", "--requests", "6",
            "--warmup", "0", "--out", str(tmp_path), "--report", "md",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    path = run_dir(tmp_path)
    done = records(path)
    assert len(done) == 6 and all(r.completion_tokens == 16 for r in done)
    lengths = [r.input_tokens for r in done]
    assert all(n is not None and 120 <= n <= 280 for n in lengths) and len(set(lengths)) > 1
    assert summary(path)["models"][0]["info"]["token_counter"].startswith("approximate")
    markdown = (path / "benchmark_report.md").read_text()
    assert "## Input and output lengths" in markdown and "approximate" in markdown


def test_turns_carry_the_history(tmp_path: Path) -> None:
    """Each later turn's prompt holds the earlier turns and answers: more prompt tokens
    than the turn before plus its answer."""
    result = bench(
        "--models", "smollm2-135m", "--turns", "3", "--max-tokens", "10",
        "--prompts", _prompts(tmp_path, ["Name a colour.", "Name a fruit."]),
        "--rounds", "1", "--warmup", "0", "--out", str(tmp_path / "out"), "--report", "md",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    path = run_dir(tmp_path / "out")
    done = sorted(records(path), key=lambda r: r.index)
    assert [r.turn for r in done] == [0, 1, 2, 0, 1, 2]
    for earlier, later in itertools.pairwise(done):
        if later.turn:
            assert (later.prompt_tokens or 0) > (earlier.prompt_tokens or 0) + (
                earlier.completion_tokens or 0
            )
    turns = levels(path)["sequential"]["turns"]
    assert [t["turn"] for t in turns] == [0, 1, 2] and all(t["requests"] == 2 for t in turns)
    assert "## Turns" in (path / "benchmark_report.md").read_text()


def _prompts(tmp_path: Path, texts: list[str]) -> str:
    path = tmp_path / "prompts.json"
    path.write_text(json.dumps(texts))
    return str(path)


def test_a_trace_is_replayed_on_its_own_schedule(tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    rows = [(0, 30, 4), (400, 50, 4), (1000, 20, 4), (1200, 40, 4)]
    trace.write_text(
        "\n".join(
            json.dumps({"timestamp": t, "input_length": i, "output_length": o}) for t, i, o in rows
        )
    )
    with mock_server("--ttft-ms", "5", "--itl-ms", "1") as url:
        result = bench(
            "--endpoint", url, "--models", "mock", "--dataset", str(trace),
            "--time-scale", "2", "--warmup", "0", "--out", str(tmp_path / "out"),
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    path = run_dir(tmp_path / "out")
    done = sorted(records(path), key=lambda r: r.index)
    assert [r.level for r in done] == ["trace"] * 4
    start = done[0].sent_ns
    offsets = [(r.sent_ns - start) / 1e9 for r in done]
    for got, want in zip(offsets, [0.0, 0.2, 0.5, 0.6], strict=True):
        assert got == pytest.approx(want, abs=0.03)
    assert [r.completion_tokens for r in done] == [4, 4, 4, 4]
    spec = json.loads((path / "run.json").read_text())["spec"]
    assert spec["dataset"] == "trace.jsonl (trace (mooncake), 4 rows)"


def test_a_sweep_finds_the_highest_rate_within_the_slos(tmp_path: Path) -> None:
    with mock_server("--ttft-ms", "20", "--itl-ms", "1", "--output-tokens", "8") as url:
        result = bench(
            "--endpoint", url, "--models", "mock", "--sweep", "--slo", "ttft=200ms",
            "--concurrency", "4", "--requests", "8", "--warmup", "0",
            "--out", str(tmp_path), "--report", "md,html",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    path = run_dir(tmp_path)
    assert "Best rate req/s" in result.stdout  # the console's sweep table
    sweep = summary(path)["models"][0]["sweep"]
    rates = [p["rate"] for p in sweep["points"]]
    assert len(rates) == 5 and rates == sorted(rates)
    assert rates[-1] == pytest.approx(sweep["max_rate"], rel=0.01)
    assert sweep["best_rate"] == rates[-1]  # the mock meets 200 ms at every rate
    assert list(levels(path)) == ["sweep-max", "sweep1", "sweep2", "sweep3", "sweep4", "sweep5"]
    markdown = (path / "benchmark_report.md").read_text()
    assert "## Sweep" in markdown and "Highest rate with at least 90%" in markdown
    assert "Sweep: SLO attainment" in (path / "benchmark_report.html").read_text()


def test_repeats_interleave_models_and_give_intervals(tmp_path: Path) -> None:
    with mock_server("--ttft-ms", "10", "--itl-ms", "1", "--output-tokens", "8") as url:
        result = bench(
            "--endpoint", url, "--models", "a,b", "--repeat", "3", "--concurrency", "2",
            "--requests", "4", "--warmup", "0", "--out", str(tmp_path), "--report", "md",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    path = run_dir(tmp_path)
    order = [
        json.loads(line)["model"]
        for line in (path / "progress.jsonl").read_text().splitlines()
        if json.loads(line)["type"] == "model_start"
    ]
    assert order == ["a", "b", "a", "b", "a", "b"]
    assert {r.level for r in records(path)} == {"c2#1", "c2#2", "c2#3"}
    level = levels(path)["c2"]
    assert level["requests"] == 12 and level["repeats"]["repeats"] == 3
    ttft = level["repeats"]["ttft_mean_s"]
    assert ttft["low"] <= ttft["mean"] <= ttft["high"]
    assert "## Across repeats" in (path / "benchmark_report.md").read_text()


def test_bad_workload_flags_are_one_line(tmp_path: Path) -> None:
    for args, message in (
        (["--sweep"], "error: --sweep needs --slo"),
        (["--dataset", str(tmp_path / "none.jsonl")], "cannot read the dataset"),
        (["--input-tokens", "1k"], "--input-tokens takes MEAN or MEAN,STDEV"),
    ):
        result = bench("--models", "smollm2-135m", *args, "--out", str(tmp_path))
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_synthetic_lengths_at_assay_serve_use_its_tokenize(tmp_path: Path, server) -> None:  # type: ignore[no-untyped-def]
    """assay serve has /tokenize and holds min_tokens: lengths are the server's own count,
    exact, and every answer has the length asked."""
    result = bench(
        "--endpoint", server.base_url, "--models", "smollm2-135m", "--input-tokens", "96",
        "--output-tokens", "10", "--requests", "3", "--rounds", "1", "--warmup", "0",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    path = run_dir(tmp_path)
    done = records(path)
    assert {r.input_tokens for r in done} == {96}
    assert all(r.completion_tokens == 10 and r.output_held for r in done)
    assert summary(path)["models"][0]["info"]["token_counter"] == "server"
