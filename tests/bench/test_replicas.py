"""Several endpoints for one model: the replica each request goes to, the figures per replica
and in total, their /metrics, and the report's table. End to end against mock servers (one
slow, one fast) and `assay serve`; the policy and the sums also on hand-built parts."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from assay.bench.prompts import Prompt
from assay.bench.records import RequestRecord
from assay.bench.replica_summary import replica_summaries
from assay.bench.replicas import ReplicatedTarget
from assay.bench.server_metrics import ServerSample, summarize_samples
from assay.bench.spec import Balance, BenchSpec
from assay.bench.targets import BenchRequest, TargetInfo
from assay.engines import Message
from tests.bench.conftest import free_port, mock_server
from tests.bench.test_bench_runs import ASSAY, bench, run_dir, summary
from tests.server.conftest import make_fake_server  # noqa: F401 - a second assay serve

SLOW = ("--ttft-ms", "60", "--itl-ms", "5", "--output-tokens", "8")  # ~95 ms a request
FAST = ("--ttft-ms", "4", "--itl-ms", "1", "--output-tokens", "8")  # ~11 ms a request
MS = 1_000_000


class FakeReplica:
    """A target that answers after `delay_s`, and remembers what it was asked."""

    def __init__(self, delay_s: float, pid: int | None = None) -> None:
        self.model = "m"
        self.delay_s = delay_s
        self.pid = pid
        self.prepared: list[int] = []
        self.sent: list[str] = []
        self.closed = False

    async def open(self) -> TargetInfo:
        return TargetInfo("openai-endpoint", None, None, None, None, None, pid=self.pid)

    async def prepare(self, concurrency: int) -> None:
        self.prepared.append(concurrency)

    async def send(self, request: BenchRequest) -> RequestRecord:
        self.sent.append(request.key)
        await asyncio.sleep(self.delay_s)
        return RequestRecord(
            key=request.key,
            model=request.model,
            level=request.level,
            index=request.index,
            round=0,
            prompt_id=request.prompt.id,
            sent_ns=0,
            end_ns=1,
        )

    async def count_tokens(self, text: str) -> int:
        return len(text.split())

    @property
    def token_counter(self) -> str:
        return "server"

    async def close(self) -> None:
        self.closed = True


def request(index: int) -> BenchRequest:
    prompt = Prompt(id="p", prompt="hi")
    return BenchRequest(f"m|c4|{index}", "m", "c4", index, 0, prompt, (Message("user", "hi"),))


def spread(balance: Balance, slow: FakeReplica, fast: FakeReplica) -> list[RequestRecord]:
    """16 requests from 4 clients, as the runner's closed loop sends them."""
    target = ReplicatedTarget("m", [("http://slow/v1", slow), ("http://fast/v1", fast)], balance)
    queue = iter(range(16))
    records: list[RequestRecord] = []

    async def client() -> None:
        for index in queue:
            records.append(await target.send(request(index)))

    async def run() -> None:
        await target.open()
        await target.prepare(4)
        await asyncio.gather(*(client() for _ in range(4)))
        await target.close()

    asyncio.run(run())
    return records


def test_round_robin_alternates_and_least_favours_the_faster() -> None:
    slow, fast = FakeReplica(0.05), FakeReplica(0.005)
    records = spread("round-robin", slow, fast)
    assert Counter(r.replica for r in records) == {"http://slow/v1": 8, "http://fast/v1": 8}
    assert slow.prepared == fast.prepared == [4]  # in turn, a slow one may hold all four
    assert slow.closed and fast.closed
    slow, fast = FakeReplica(0.05), FakeReplica(0.005)
    records = spread("least", slow, fast)
    counts = Counter(r.replica for r in records)
    assert counts["http://fast/v1"] >= 12 and counts["http://slow/v1"] >= 1, counts
    assert slow.prepared == fast.prepared == [2]  # at most ceil(4 / 2) each at a time
    assert {r.key for r in records} == {request(i).key for i in range(16)}


def test_least_breaks_ties_in_turn_so_one_request_at_a_time_still_spreads() -> None:
    replicas = [FakeReplica(0), FakeReplica(0), FakeReplica(0)]
    urls = ["http://a/v1", "http://b/v1", "http://c/v1"]
    target = ReplicatedTarget("m", list(zip(urls, replicas, strict=True)), "least")

    async def one_at_a_time() -> list[str | None]:
        await target.prepare(1)
        return [(await target.send(request(i))).replica for i in range(6)]

    assert asyncio.run(one_at_a_time()) == urls * 2
    assert [r.prepared for r in replicas] == [[1], [1], [1]]


def test_memory_is_sampled_only_when_one_local_process_serves_every_replica() -> None:
    async def info(*pids: int | None) -> TargetInfo:
        replicas = [(f"http://r{i}/v1", FakeReplica(0, pid)) for i, pid in enumerate(pids)]
        return await ReplicatedTarget("m", replicas, "round-robin").open()

    same = asyncio.run(info(42, 42))
    assert same.pid == 42 and same.memory_of == "server process" and same.replicas == 2
    assert asyncio.run(info(42, 43)).pid is None
    assert asyncio.run(info(42, None)).pid is None
    assert asyncio.run(info(None, None, None)).replicas == 3


def spec(endpoint: str | None, **fields: Any) -> BenchSpec:
    prompts = [Prompt(id="p", prompt="hi")]
    return BenchSpec(models=["m"], prompts=prompts, endpoint=endpoint, **fields)


def test_the_spec_takes_replicas_comma_separated_and_refuses_bad_ones() -> None:
    two = spec(" http://a:8000/v1 , https://b:8000/v1,")
    assert two.endpoint == "http://a:8000/v1,https://b:8000/v1"
    assert two.endpoints() == ["http://a:8000/v1", "https://b:8000/v1"]
    assert spec("http://a:8000/v1").endpoints() == ["http://a:8000/v1"]
    assert spec(None).endpoints() == []
    with pytest.raises(ValidationError, match="given twice"):
        spec("http://a:8000/v1,http://a:8000/v1")
    with pytest.raises(ValidationError, match="not an http"):
        spec("http://a:8000/v1,b:8000/v1")
    with pytest.raises(ValidationError, match="several endpoints"):
        spec("http://a:8000/v1", balance="least")
    # A run.json written before replicas loads as it was.
    old = spec("http://a:8000/v1").model_dump()
    del old["balance"]
    assert BenchSpec.model_validate(old).balance == "round-robin"


def record(replica: str, sent_ms: int, end_ms: int, error: str | None = None) -> RequestRecord:
    return RequestRecord(
        key=f"{replica}{sent_ms}",
        model="m",
        level="c4",
        index=0,
        round=0,
        prompt_id="p",
        sent_ns=sent_ms * MS,
        first_token_ns=(sent_ms + 10) * MS,
        end_ns=end_ms * MS,
        completion_tokens=8,
        error=error,
        replica=replica,
    )


def test_replica_rates_are_over_the_levels_duration_so_they_add_up() -> None:
    records = [record("a", 0, 100), record("a", 100, 200), record("b", 0, 1000)]
    records.append(record("b", 10, 20, error="HTTP 500: boom"))
    a, b, c = replica_summaries(records, ["a", "b", "c"]) or []
    assert (a.requests, a.errors, b.requests, b.errors, c.requests) == (2, 0, 2, 1, 0)
    assert a.request_throughput == pytest.approx(2.0)  # 2 answered over the level's 1 s
    assert b.request_throughput == pytest.approx(1.0)
    assert a.output_tokens_per_second == pytest.approx(16.0)
    assert b.ttft_s is not None and b.ttft_s.n == 1 and b.first_error == "HTTP 500: boom"
    assert c.request_throughput is None and c.e2e_s is None
    assert replica_summaries(records, ["a"]) is None  # one endpoint: no per-replica figures


def test_the_deployments_peaks_add_the_replicas_up_per_tick() -> None:
    def sample(t: int, replica: str, running: float, kv: float) -> ServerSample:
        return ServerSample(t_ns=t, model="m", running=running, kv_cache_usage=kv, replica=replica)

    side = summarize_samples(
        [
            sample(1, "a", 3, 0.2),
            sample(1, "b", 1, 0.6),
            sample(2, "a", 1, 0.1),
            sample(2, "b", 2, 0.3),
        ]
    )
    assert side is not None and side.samples == 4
    assert side.peak_running == 4 and side.peak_kv_cache_usage == 0.6
    assert side.replicas is not None
    assert [(r.replica, r.peak_running, r.samples) for r in side.replicas] == [
        ("a", 3, 2),
        ("b", 2, 2),
    ]


def levels_of(path: Path) -> dict[str, dict[str, Any]]:
    return {lv["level"]: lv for lv in summary(path)["models"][0]["levels"]}


def records_of(path: Path) -> list[dict[str, Any]]:
    lines = (path / "requests.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def assert_adds_up(level: dict[str, Any]) -> None:
    replicas = level["replicas"]
    for field in ("requests", "errors"):
        assert sum(r[field] for r in replicas) == level[field]
    for field in ("request_throughput", "output_tokens_per_second"):
        total = sum(r[field] or 0.0 for r in replicas)
        assert total == pytest.approx(level[field] or 0.0)


COMMON = ("--models", "mock", "--concurrency", "4", "--requests", "16", "--warmup", "0")


def test_a_level_is_spread_over_a_slow_and_a_fast_replica(tmp_path: Path) -> None:
    with mock_server(*SLOW) as slow, mock_server(*FAST) as fast:
        endpoints = f"{slow},{fast}"
        turns = bench("--endpoint", endpoints, *COMMON, "--out", str(tmp_path / "rr"))
        least = bench(
            "--endpoint", endpoints, *COMMON, "--balance", "least", "--out", str(tmp_path / "ls")
        )
    assert turns.returncode == 0, turns.stderr
    assert least.returncode == 0, least.stderr
    path = run_dir(tmp_path / "rr")
    level = levels_of(path)["c4"]
    assert level["requests"] == 16 and level["errors"] == 0
    assert [(r["replica"], r["requests"]) for r in level["replicas"]] == [(slow, 8), (fast, 8)]
    assert_adds_up(level)
    by_replica = {r["replica"]: r for r in level["replicas"]}
    assert by_replica[slow]["ttft_s"]["mean"] > by_replica[fast]["ttft_s"]["mean"] + 0.03
    assert Counter(r["replica"] for r in records_of(path)) == {slow: 8, fast: 8}
    model = summary(path)["models"][0]
    assert model["info"]["replicas"] == 2 and model["info"]["pid"] is None  # two processes
    assert "replicas" in turns.stdout  # the console's table of them
    spec = json.loads((path / "run.json").read_text())["spec"]
    assert spec["endpoint"] == endpoints and spec["balance"] == "round-robin"

    level = levels_of(run_dir(tmp_path / "ls"))["c4"]
    counts = {r["replica"]: r["requests"] for r in level["replicas"]}
    assert counts[fast] > counts[slow] >= 1, counts
    assert_adds_up(level)

    report = subprocess.run(
        [*ASSAY, "report", str(path), "--format", "md,html"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert report.returncode == 0, report.stderr
    markdown = (path / "benchmark_report.md").read_text()
    assert "## Replicas" in markdown
    assert (
        "|Model|Level|Replica|Requests|Errors|Req/s|Output tok/s|TTFT mean|TTFT p95|E2E p95|"
        in (markdown)
    )
    assert f"|mock|c4|{slow}|8|0|" in markdown and f"|mock|c4|{fast}|8|0|" in markdown
    assert f"2 replicas (round-robin): {slow}, {fast}" in markdown
    html = next(path.glob("*.html")).read_text()
    assert '<table id="replicas">' in html


def test_a_dead_replica_fails_its_own_requests_only(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with mock_server(*FAST) as live:
        result = bench("--endpoint", f"{live},{dead}", *COMMON, "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    path = run_dir(tmp_path)
    level = levels_of(path)["c4"]
    by_replica = {r["replica"]: r for r in level["replicas"]}
    assert (by_replica[live]["requests"], by_replica[live]["errors"]) == (8, 0)
    assert (by_replica[dead]["requests"], by_replica[dead]["errors"]) == (8, 8)
    first_error = by_replica[dead]["first_error"]
    assert first_error.startswith("ClientConnectorError: Cannot connect"), first_error
    assert by_replica[live]["first_error"] is None and by_replica[live]["e2e_s"]["n"] == 8
    assert level["errors"] == 8 and summary(path)["models"][0]["status"] == "partial"
    failed = [r for r in records_of(path) if r["error"]]
    assert len(failed) == 8 and {r["replica"] for r in failed} == {dead}


def test_bad_replicas_and_a_balance_without_them_fail_in_one_line(tmp_path: Path) -> None:
    out = ("--models", "mock", "--out", str(tmp_path))
    cases = {
        "--endpoint: 'http://a:1/v1' is given twice": ("--endpoint", "http://a:1/v1,http://a:1/v1"),
        "--endpoint: 'a:1/v1' is not an http(s) URL": ("--endpoint", "http://a:1/v1,a:1/v1"),
        "--balance spreads requests over several endpoints": (
            "--endpoint",
            "http://a:1/v1",
            "--balance",
            "least",
        ),
        "--balance takes round-robin or least (got 'fastest')": (
            "--endpoint",
            "http://a:1/v1,http://b:1/v1",
            "--balance",
            "fastest",
        ),
    }
    for message, args in cases.items():
        result = bench(*args, *out)
        assert result.returncode == 2, (message, result.stderr)
        assert result.stderr.startswith(f"error: {message}"), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not list(tmp_path.iterdir())  # nothing ran


def test_each_replicas_metrics_are_scraped_at_one_tick(
    tmp_path: Path,
    fake_server: Any,
    make_fake_server: Any,  # noqa: F811
) -> None:
    """Two assay serve instances over the fake models: each one's /metrics, tagged with its
    replica; the summary's peaks per replica, and of their sum per tick."""
    with make_fake_server() as second:
        endpoints = [fake_server.base_url, second.base_url]
        args = ["--models", "streamer", "--concurrency", "4", "--requests", "8", "--warmup", "0"]
        args += ["--max-tokens", "150", "--out", str(tmp_path)]  # 1.5 s a request
        result = bench("--endpoint", ",".join(endpoints), *args)
    assert result.returncode == 0, result.stderr
    path = run_dir(tmp_path)
    lines = (path / "server_metrics.jsonl").read_text().splitlines()
    samples = [json.loads(line) for line in lines]
    assert {s["replica"] for s in samples} == set(endpoints)
    ticks: dict[int, float] = defaultdict(float)
    for s in samples:
        ticks[s["t_ns"]] += s["running"] or 0.0
    model = summary(path)["models"][0]
    server = model["server"]
    assert server["samples"] == len(samples)
    assert server["peak_running"] == max(ticks.values()) >= 2
    own = {r["replica"]: r for r in server["replicas"]}
    assert set(own) == set(endpoints)
    assert all(server["peak_running"] >= r["peak_running"] >= 1 for r in own.values())
    # Both servers run in this test's process: that one process's memory is the model's.
    assert model["info"]["pid"] is not None and model["info"]["replicas"] == 2
    report = subprocess.run([*ASSAY, "report", str(path), "--format", "md"], timeout=120)
    assert report.returncode == 0
    markdown = (path / "benchmark_report.md").read_text()
    assert "|Model|Replica|Scrapes|" in markdown and "|streamer|all (summed per tick)|" in markdown
