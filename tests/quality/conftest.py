"""Run directories built by hand (fast, exact) and one small real bench run."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from assay.bench.probes import Environment
from assay.bench.prompts import Expect, Prompt
from assay.bench.records import RequestRecord
from assay.bench.rundir import RunDir, RunMeta
from assay.bench.session import create_run, execute
from assay.bench.spec import BenchSpec
from assay.registry import ModelRegistry

PROMPTS = [
    Prompt(
        id="rag",
        prompt="Explain RAG in 2 sentences.",
        expect=Expect(contains=("retriev",), max_words=40),
        facets=("retrieval", "grounding"),
        reference="RAG retrieves passages and gives them to the model.",
    ),
    Prompt(id="free", prompt="Say anything."),
]


@dataclass(frozen=True)
class Req:
    model: str
    prompt: int
    text: str
    round: int = 0
    warmup: bool = False
    error: str | None = None


def make_run(root: Path, requests: Sequence[Req], prompts: Sequence[Prompt] = PROMPTS) -> Path:
    """A run directory with these requests recorded, as `assay bench` would leave it."""
    models = list(dict.fromkeys(r.model for r in requests))
    spec = BenchSpec(name="hand", models=models, prompts=list(prompts), rounds=1, warmup=0)
    path = root / "20250101T000000Z-hand"
    run = RunDir(path)
    path.mkdir(parents=True)
    run.write_meta(
        RunMeta(
            spec=spec,
            started_at="2025-01-01T00:00:00+00:00",
            environment=Environment(),
            status="complete",
        )
    )
    counters: dict[tuple[str, str], int] = {}
    lines = []
    for r in requests:
        level = "warmup" if r.warmup else "sequential"
        index = counters.get((r.model, level), 0)
        counters[(r.model, level)] = index + 1
        record = RequestRecord(
            key=f"{r.model}|{level}|{index}",
            model=r.model,
            level=level,
            index=index,
            round=r.round,
            prompt_id=prompts[r.prompt].id,
            warmup=r.warmup,
            sent_ns=0,
            end_ns=1,
            error=r.error,
            text=r.text,
        )
        lines.append(record.model_dump_json() + "\n")
    (path / "requests.jsonl").write_text("".join(lines))
    return path


def run_files(path: Path) -> dict[str, bytes]:
    """The bench's own files, to check that scoring never changes them."""
    names = ("run.json", "requests.jsonl", "progress.jsonl", "summary.json")
    return {name: (path / name).read_bytes() for name in names if (path / name).exists()}


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, registry: ModelRegistry) -> Path:
    """A real bench run of the bundled smollm2-135m: one round of the default prompts."""
    from assay.bench.prompts import default_prompts

    spec = BenchSpec(
        name="tiny",
        models=["smollm2-135m"],
        prompts=default_prompts(),
        rounds=1,
        warmup=0,
        max_tokens=24,
    )
    run = create_run(spec, tmp_path_factory.mktemp("runs"))
    execute(run, registry)
    return run.path


Reply = Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]


@contextmanager
def judge_server(reply: Reply) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """An OpenAI-compatible stub that answers each chat request with reply(body); yields its
    base URL and the request bodies it received."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._send(200, {"object": "list", "data": [{"id": "stub-judge"}]})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append(body)
            self._send(*reply(body))

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def chat_reply(content: str) -> tuple[int, dict[str, Any]]:
    return 200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}
