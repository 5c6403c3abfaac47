"""Hand-built run directories: records written the way `assay bench` writes them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from assay.bench.events import ModelEvent
from assay.bench.probes import Environment
from assay.bench.prompts import default_prompts
from assay.bench.records import RequestRecord
from assay.bench.rundir import RunDir, RunMeta
from assay.bench.spec import BenchSpec
from assay.bench.summary import summarize

MS = 1_000_000


def make_record(
    model: str,
    index: int,
    e2e_ms: float,
    ttft_ms: float,
    tokens: int = 20,
    level: str = "sequential",
    error: str | None = None,
) -> RequestRecord:
    sent = index * 10_000 * MS
    first = sent + int(ttft_ms * MS)
    end = sent + int(e2e_ms * MS)
    step = (end - first) // max(1, tokens - 1)
    chunks = tuple(first + i * step for i in range(tokens))
    return RequestRecord(
        key=f"{model}|{level}|{index}",
        model=model,
        level=level,
        index=index,
        round=index // 4,
        prompt_id=f"p{index % 4 + 1}",
        sent_ns=sent,
        first_byte_ns=first,
        first_token_ns=first,
        chunk_ns=chunks if error is None else (),
        chunk_tokens=(1,) * tokens if error is None else (),
        end_ns=end,
        prompt_tokens=30,
        completion_tokens=tokens if error is None else None,
        token_source="engine",
        finish_reason="length" if error is None else None,
        error=error,
        text="Local inference keeps data private." if error is None else "",
    )


def make_run(
    root: Path,
    models: dict[str, dict[str, Any]],
    records: list[RequestRecord],
    name: str = "hand",
    scores: list[dict[str, Any]] | None = None,
    concurrency: list[int] | None = None,
) -> Path:
    """models: name -> {"status", "error", "info", "memory"} as progress.jsonl holds them."""
    path = root / name
    path.mkdir(parents=True)
    spec = BenchSpec(
        name=name,
        models=list(models),
        prompts=default_prompts(),
        warmup=0,
        concurrency=concurrency or [],
    )
    run = RunDir(path)
    run.write_meta(
        RunMeta(
            spec=spec,
            started_at="2026-11-25T10:00:00+00:00",
            finished_at="2026-11-25T10:05:00+00:00",
            status="complete",
            environment=Environment(
                cpu="test cpu", cores_available=2, load_average=[0.5, 0.5, 0.5]
            ),
        )
    )
    run.open_for_append()
    for record in records:
        run.append_record(record)
    for model, state in models.items():
        run.append_progress(ModelEvent.model_validate({"model": model, **state}))
    run.close()
    run.write_summary(summarize(run))
    if scores:
        (path / "scores.jsonl").write_text("".join(json.dumps(s) + "\n" for s in scores))
    return path


def score_row(
    model: str, score: float | None, source: str = "judge", index: int = 0
) -> dict[str, Any]:
    """A scores.jsonl row as `assay score` writes it."""
    row: dict[str, Any] = {
        "run": "hand",
        "model": model,
        "prompt_id": f"p{index % 4 + 1}",
        "round": index // 4,
        "key": f"{model}|sequential|{index}",
        "source": source,
        "score": score,
        "scored_at": "2026-11-25T10:06:00+00:00",
    }
    if source == "judge":
        row.update(judge="smollm2-135m", rubric_version="assay-rubric-1")
    return row


OK_INFO = {
    "engine": "llamacpp",
    "engine_version": "llama-cpp-python 0.3.36",
    "threads": 2,
    "context_size": 4096,
    "load_seconds": 0.2,
    "disk_bytes": 98_000_000,
    "pid": 1,
}


def ok_state(peak: int = 300_000_000, cpu_seconds: float | None = 12.0) -> dict[str, Any]:
    return {
        "status": "ok",
        "error": None,
        "info": OK_INFO,
        "memory": {
            "peak_rss_bytes": peak,
            "steady_rss_bytes": peak - 1000,
            "samples": 10,
            "source": "pid 1 and children, every 100 ms",
            "cpu_seconds": cpu_seconds,
            "rapl_joules": None,
        },
    }


RunFactory = Callable[..., Path]


@pytest.fixture
def run_factory(tmp_path: Path) -> RunFactory:
    return lambda *args, **kwargs: make_run(tmp_path, *args, **kwargs)
