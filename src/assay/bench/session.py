"""Start or resume a benchmark run: the run directory's life from first line to summary."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from pathlib import Path

from assay.bench.probes import fingerprint
from assay.bench.rundir import RunDir, new_run_dir, utc_now
from assay.bench.runner import BenchRunner, OnRecord, start_meta
from assay.bench.spec import BenchSpec, Level
from assay.bench.summary import Summary, summarize
from assay.registry import ModelRegistry


def create_run(spec: BenchSpec, out: Path) -> RunDir:
    run = RunDir(new_run_dir(out, spec.name))
    run.write_meta(start_meta(spec))
    return run


def execute(
    run: RunDir,
    registry: ModelRegistry,
    api_key: str | None = None,
    on_record: OnRecord | None = None,
    on_level: Callable[[str, Level], None] | None = None,
    on_runner: Callable[[BenchRunner], None] | None = None,
) -> Summary:
    """Run what is left of the run's plan, then write summary.json; returns the summary.

    Interrupted (Ctrl-C), it still writes the summary of what was measured, marks the run
    'interrupted' (resumable) and re-raises KeyboardInterrupt.
    """
    meta = run.read_meta()
    run.open_for_append()
    runner = BenchRunner(meta.spec, run, registry, api_key, on_record, on_level)
    if on_runner is not None:
        on_runner(runner)
    status = "interrupted"
    try:
        _run_async(runner)
        status = "complete"
    finally:
        run.close()
        meta = run.read_meta()
        run.write_meta(
            meta.model_copy(
                update={
                    "status": status,
                    "finished_at": utc_now(),
                    "environment_end": fingerprint(),
                    "attempts": runner.attempt,
                }
            )
        )
        summary = summarize(run)
        run.write_summary(summary)
    return summary


def _run_async(runner: BenchRunner) -> None:
    """Run the benchmark's event loop here; inside a running loop (a Jupyter cell), on a
    thread of its own, since a thread can hold one running loop only."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        _run_loop(runner)
        return
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="assay-bench") as pool:
        pool.submit(_run_loop, runner).result()


def _run_loop(runner: BenchRunner) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(runner.execute())
    else:
        uvloop.run(runner.execute())
