"""`assay bench` end to end: against the mock server, the bundled models and `assay serve`."""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlparse

import pytest

from tests.bench.conftest import mock_server

ASSAY = [sys.executable, "-m", "assay"]


def bench(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ASSAY, "bench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def run_dir(out: Path) -> Path:
    (path,) = list(out.iterdir())
    return path


def summary(path: Path) -> dict[str, Any]:
    return cast("dict[str, Any]", json.loads((path / "summary.json").read_text()))


def levels(path: Path, model_index: int = 0) -> dict[str, dict[str, Any]]:
    return {lv["level"]: lv for lv in summary(path)["models"][model_index]["levels"]}


def platform_delay_ms(url: str, requests: int = 24) -> float:
    """How much later than the mock's 40 ms a bare blocking socket sees the first token
    (median): the machine's own wake-up and loopback delay, no client library in it."""
    parsed = urlparse(url)
    ask = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    body = json.dumps({**ask, "max_tokens": 1}).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {parsed.hostname}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    delays = []
    for _ in range(requests):
        with socket.create_connection((parsed.hostname, parsed.port or 80)) as sock:
            sent = time.perf_counter()
            sock.sendall(head + body)
            seen = b""
            while b'"content":" w' not in seen:
                seen += sock.recv(65536)
            delays.append((time.perf_counter() - sent) * 1000 - 40)
            while b"[DONE]" not in seen:  # the whole reply, so no stream outlives it
                seen += sock.recv(65536)
    return statistics.median(delays)


@pytest.mark.parametrize("tokens_per_chunk", ["1", "3"])
def test_ttft_and_itl_match_the_mock_within_a_millisecond(
    tmp_path: Path, tokens_per_chunk: str
) -> None:
    with mock_server(
        "--ttft-ms",
        "40",
        "--itl-ms",
        "8",
        "--output-tokens",
        "24",
        "--tokens-per-chunk",
        tokens_per_chunk,
    ) as url:
        platform = platform_delay_ms(url)
        result = bench(
            "--endpoint",
            url,
            "--models",
            "mock",
            "--concurrency",
            "1,16",
            "--requests",
            "48",
            "--warmup",
            "1",
            "--out",
            str(tmp_path),
        )
    assert result.returncode == 0, result.stderr
    path = run_dir(tmp_path)
    # Medians within 1 ms; means (which a stray OS hiccup can move) within 2 ms. At 16
    # streams the mock's own deadline spinning (16 streams, each yielding to its loop for
    # the last 1.5 ms before every chunk) shares the 2 cores with the client: TTFT medians
    # of 41.1 ms were seen there on one machine, 42.2-48.0 ms on another of the same kind
    # (which the workshop-length ITL checks below still hold to 2 ms), so 8 ms at c16: a
    # client that lost track of time would be off by a chunk's 8 ms or more.
    # Beyond the client's own error, a lone stream's first token also waits for the machine
    # to wake an idle core: measured by a bare blocking socket, up to a few ms on some
    # virtual machines (2.2-2.9 ms on one), and allowed at c1 only.
    assert platform < 10, platform
    for name, slack, allowance in (("c1", 1.0, platform), ("c16", 8.0, 0.0)):
        level = levels(path)[name]
        assert level["errors"] == 0
        late = level["ttft_s"]["p50"] * 1000 - 40 - allowance
        assert abs(late) < slack, (name, platform, level["ttft_s"])
        itl_slack = min(slack, 2.0)
        assert abs(level["itl_s"]["p50"] * 1000 - 8) < itl_slack, (name, level["itl_s"])
        late_mean = level["ttft_s"]["mean"] * 1000 - 40 - allowance
        assert abs(late_mean) < slack + 1, (name, platform, level["ttft_s"])
        assert abs(level["itl_s"]["mean"] * 1000 - 8) < itl_slack + 1, (name, level["itl_s"])
        assert level["completion_tokens"]["mean"] == 24
        assert level["token_sources"] == ["server"]
    records = [json.loads(line) for line in (path / "requests.jsonl").read_text().splitlines()]
    timed = [r for r in records if not r["warmup"]]
    assert len(timed) == 96
    assert all(sum(r["chunk_tokens"]) == 24 for r in timed)
    assert all(len(r["chunk_tokens"]) == 24 // int(tokens_per_chunk) for r in timed)
    assert summary(path)["client"]["saturated"] is False


def test_failures_are_recorded_and_the_run_goes_on(tmp_path: Path) -> None:
    with mock_server("--ttft-ms", "1", "--itl-ms", "1", "--failure-rate", "0.5") as url:
        result = bench(
            "--endpoint",
            url,
            "--models",
            "mock",
            "--rounds",
            "5",
            "--warmup",
            "0",
            "--out",
            str(tmp_path),
        )
    assert result.returncode == 0, result.stderr
    model = summary(run_dir(tmp_path))["models"][0]
    level = model["levels"][0]
    assert 0 < level["errors"] < level["requests"] == 20
    assert model["status"] == "partial"
    assert "mock failure" in level["first_error"]


def test_env_vars_and_an_open_loop_rate(tmp_path: Path) -> None:
    with mock_server("--ttft-ms", "2", "--itl-ms", "1", "--output-tokens", "8") as url:
        env = {"FOUNDRY_LOCAL_ENDPOINT": url, "BENCH_MODELS": "mock", "BENCH_STREAM": "0"}
        result = bench(
            "--rate", "50", "--requests", "40", "--warmup", "0", "--out", str(tmp_path), env=env
        )
    assert result.returncode == 0, result.stderr
    path = run_dir(tmp_path)
    spec = json.loads((path / "run.json").read_text())["spec"]
    assert spec["endpoint"] == url and spec["models"] == ["mock"] and spec["stream"] is False
    level = levels(path)["rate50"]
    assert level["requests"] == 40 and level["errors"] == 0
    assert level["ttft_s"] is None  # not streamed: no first-token time
    assert 20 < level["request_throughput"] < 80
    # The schedule is kept: a send is late by well under the 20 ms gap between arrivals (a
    # client that fell behind would be late by a growing multiple of it). On 2 shared cores
    # one preemption can cost 5 ms, so the bound is half the gap, not a tight figure.
    assert summary(path)["client"]["send_lag_p95_ms"] < 10


def test_memory_is_unknown_for_a_remote_endpoint_never_zero(tmp_path: Path) -> None:
    with mock_server("--ttft-ms", "1", "--itl-ms", "1") as url:
        remote = url.replace("127.0.0.1", "localhost.invalid")
        result = bench(
            "--endpoint",
            remote,
            "--models",
            "mock",
            "--rounds",
            "1",
            "--warmup",
            "0",
            "--timeout",
            "5",
            "--out",
            str(tmp_path),
        )
    assert result.returncode == 0, result.stderr
    model = summary(run_dir(tmp_path))["models"][0]
    assert model["memory"]["peak_rss_bytes"] is None
    assert model["memory"]["source"] == "unknown"


@pytest.mark.slow
def test_both_bundled_models_in_process(tmp_path: Path) -> None:
    result = bench("--rounds", "1", "--warmup", "1", "--max-tokens", "16", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    for column in ("Avg Latency", "p95", "TPS", "TTFT p50", "Decode tok/s", "Peak mem", "Load"):
        assert column in result.stdout
    path = run_dir(tmp_path)
    for name in ("run.json", "requests.jsonl", "progress.jsonl", "summary.json"):
        assert (path / name).exists()
    models = summary(path)["models"]
    assert [m["model"] for m in models] == ["smollm2-135m", "gemma3-270m"]
    for model in models:
        assert model["status"] == "ok"
        assert model["info"]["load_seconds"] > 0 and model["info"]["threads"] >= 1
        assert model["memory"]["peak_rss_bytes"] > 100_000_000
        level = model["levels"][0]
        assert level["requests"] == 4 and level["token_sources"] == ["engine"]
        assert level["ttft_s"]["p50"] > 0 and level["decode_tokens_per_second"]["mean"] > 1
    meta = json.loads((path / "run.json").read_text())
    assert meta["status"] == "complete"
    assert meta["environment"]["cores_available"] >= 1 and meta["environment"]["load_average"]
    texts = [
        json.loads(line)["text"] for line in (path / "requests.jsonl").read_text().splitlines()
    ]
    assert all(texts)


@pytest.mark.slow
def test_a_corrupt_model_does_not_stop_the_run(tmp_path: Path, smollm_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(smollm_path.read_bytes()[:2_000_000])
    catalog = tmp_path / "models.json"
    catalog.write_text(json.dumps({"broken": {"path": str(broken)}}))
    out = tmp_path / "runs"
    result = bench(
        "--models",
        "broken,smollm2-135m",
        "--rounds",
        "1",
        "--max-tokens",
        "8",
        "--out",
        str(out),
        env={"ASSAY_MODELS_FILE": str(catalog)},
    )
    assert result.returncode == 0, result.stderr
    broken_model, smol = summary(run_dir(out))["models"]
    assert broken_model["status"] == "failed" and "truncated or corrupt" in broken_model["error"]
    assert smol["status"] == "ok" and smol["levels"][0]["requests"] == 4


@pytest.mark.slow
def test_through_assay_serve_with_memory_of_the_server(tmp_path: Path, server) -> None:  # type: ignore[no-untyped-def]
    result = bench(
        "--endpoint",
        server.base_url,
        "--models",
        "smollm2-135m",
        "--rounds",
        "1",
        "--max-tokens",
        "16",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    model = summary(run_dir(tmp_path))["models"][0]
    level = model["levels"][0]
    assert level["errors"] == 0 and level["token_sources"] == ["server"]
    assert level["completion_tokens"]["mean"] == 16
    assert model["memory"]["peak_rss_bytes"] > 50_000_000  # the server's process, found by port


def _wait_for_records(path: Path, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        requests = path / "requests.jsonl"
        if requests.exists() and requests.read_text().count("\n") >= count:
            return
        assert time.monotonic() < deadline, "the run did not progress"
        time.sleep(0.05)


def _start(args: list[str], out: Path) -> tuple[subprocess.Popen[bytes], Path]:
    process = subprocess.Popen(
        [*ASSAY, "bench", *args, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while not out.exists() or not list(out.iterdir()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return process, run_dir(out)


def test_kill_9_mid_run_then_resume_finishes_without_repeating(tmp_path: Path) -> None:
    with mock_server("--ttft-ms", "5", "--itl-ms", "3", "--output-tokens", "20") as url:
        args = ["--endpoint", url, "--models", "mock", "--rounds", "6", "--warmup", "0"]
        process, path = _start(args, tmp_path)
        _wait_for_records(path, 5)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        before = (path / "requests.jsonl").read_text().count("\n")
        assert 5 <= before < 24
        result = bench("--resume", str(path))
    assert result.returncode == 0, result.stderr
    keys = [json.loads(line)["key"] for line in (path / "requests.jsonl").read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 24
    assert levels(path)["sequential"]["requests"] == 24
    assert json.loads((path / "run.json").read_text())["status"] == "complete"


def test_ctrl_c_keeps_what_was_measured(tmp_path: Path) -> None:
    with mock_server("--ttft-ms", "5", "--itl-ms", "3", "--output-tokens", "20") as url:
        args = ["--endpoint", url, "--models", "mock", "--rounds", "50", "--warmup", "0"]
        process, path = _start(args, tmp_path)
        _wait_for_records(path, 3)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert b"--resume" in stderr and b"Traceback" not in stderr
    meta = json.loads((path / "run.json").read_text())
    assert meta["status"] == "interrupted"
    assert levels(path)["sequential"]["requests"] >= 3


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = bench("--models", "nope", "--out", str(tmp_path))
    assert result.returncode == 2 and result.stderr.startswith("error: unknown model 'nope'")
    bad = tmp_path / "p.json"
    bad.write_text("[1]")
    result = bench("--prompts", str(bad), "--out", str(tmp_path))
    assert result.returncode == 2 and "prompt #1" in result.stderr
    result = bench("--concurrency", "1,x", "--out", str(tmp_path))
    assert result.returncode == 2 and "--concurrency" in result.stderr
    assert "Traceback" not in result.stderr


def test_slos_give_each_level_its_share_met_and_its_goodput(tmp_path: Path) -> None:
    """The mock answers its first token after 30 ms and each next one 2 ms later: objectives
    it meets count every request; a TTFT objective under 30 ms counts none."""
    with mock_server("--ttft-ms", "30", "--itl-ms", "2", "--output-tokens", "12") as url:
        common = ["--endpoint", url, "--models", "mock", "--concurrency", "1,4"]
        common += ["--requests", "8", "--warmup", "0", "--max-tokens", "12"]
        met = bench(*common, "--slo", "ttft=300ms,itl=50ms,e2e=5s", "--out", str(tmp_path / "a"))
        missed = bench(*common, "--slo", "ttft=10ms", "--out", str(tmp_path / "b"))
        bad = bench(*common, "--slo", "ttft=fast", "--out", str(tmp_path / "c"))
    assert met.returncode == 0 and missed.returncode == 0, met.stderr + missed.stderr
    for level in levels(run_dir(tmp_path / "a")).values():
        assert level["slo_met_rate"] == 1.0
        assert level["goodput"] == pytest.approx(level["request_throughput"])
    for level in levels(run_dir(tmp_path / "b")).values():
        assert level["slo_met_rate"] == 0.0 and level["goodput"] == 0.0
    spec = json.loads((run_dir(tmp_path / "a") / "run.json").read_text())["spec"]
    assert spec["slo"] == {"ttft_s": 0.3, "tpot_s": 0.05, "e2e_s": 5.0}
    report = subprocess.run(
        [*ASSAY, "report", str(run_dir(tmp_path / "a")), "--format", "md"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert report.returncode == 0, report.stderr
    markdown = (run_dir(tmp_path / "a") / "benchmark_report.md").read_text()
    assert "|SLO met|Goodput req/s|" in markdown and "|100%|" in markdown
    assert "TTFT <= 300 ms, TPOT <= 50 ms, E2E <= 5000 ms" in markdown
    assert bad.returncode == 2 and bad.stderr.startswith("error: --slo: bad duration 'fast'")
    assert "Traceback" not in bad.stderr


def test_the_servers_metrics_are_scraped_beside_the_run(tmp_path: Path, fake_server) -> None:  # type: ignore[no-untyped-def]
    """Against assay serve: its queue and running requests, read from /metrics every second
    while the model ran; against a server without /metrics, no file and no failure."""
    args = ["--models", "streamer", "--concurrency", "4", "--requests", "8", "--warmup", "0"]
    args += ["--max-tokens", "150", "--out", str(tmp_path / "a")]  # 1.5 s a request
    result = bench("--endpoint", fake_server.base_url, *args)
    assert result.returncode == 0, result.stderr
    run = run_dir(tmp_path / "a")
    lines = (run / "server_metrics.jsonl").read_text().splitlines()
    samples = [json.loads(line) for line in lines]
    assert len(samples) >= 2 and all(s["model"] == "streamer" for s in samples)
    assert max(s["running"] for s in samples) >= 2  # four streams at once, as the client saw
    server = summary(run)["models"][0]["server"]
    assert server["samples"] == len(samples) and server["peak_running"] >= 2
    assert (
        subprocess.run([*ASSAY, "report", str(run), "--format", "md"], timeout=120).returncode == 0
    )
    assert "## The server's side" in (run / "benchmark_report.md").read_text()
    with mock_server("--ttft-ms", "1", "--itl-ms", "1") as url:
        plain = bench("--endpoint", url, "--models", "mock", "--requests", "4", "--warmup", "0",
                      "--concurrency", "2", "--out", str(tmp_path / "b"))  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    assert not (run_dir(tmp_path / "b") / "server_metrics.jsonl").exists()
    assert summary(run_dir(tmp_path / "b"))["models"][0]["server"] is None
