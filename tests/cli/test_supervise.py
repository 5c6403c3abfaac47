"""Native crashes leave their cause: real faults (a segfault, an illegal instruction) inside
`assay run`, `assay bench` and `assay serve`, and no orphan when the parent is killed."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.bench.conftest import free_port, wait_until_serving

ASSAY = [sys.executable, "-m", "assay"]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "custom_adapter"
x86_only = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="ud2 is x86")


@pytest.fixture
def crashy(tmp_path: Path) -> dict[str, str]:
    """An environment whose catalog has adapters that die of real signals."""
    models = tmp_path / "models.json"
    models.write_text(
        json.dumps(
            {
                "segfaults": {"adapter": "broken_adapters:Segfaults"},
                "illegal": {"adapter": "broken_adapters:IllegalInstruction"},
                "plain": {"adapter": "broken_adapters:PlainText"},
            }
        )
    )
    path = os.pathsep.join([str(EXAMPLE), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "ASSAY_MODELS_FILE": str(models), "PYTHONPATH": path}


def assay(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ASSAY, *args], capture_output=True, text=True, env=env, timeout=timeout)


def test_a_segfault_in_run_is_one_line_naming_signal_model_and_fix(crashy: dict[str, str]) -> None:
    result = assay(crashy, "run", "segfaults", "--prompt", "hello")
    assert result.returncode == 128 + signal.SIGSEGV
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    assert "the runner for segfaults:user died: SIGSEGV (segmentation fault)" in lines[0]
    assert "assay doctor" in lines[0] and "native stack:" in lines[0]
    assert "Traceback" not in result.stderr and "Fatal Python error" not in result.stderr
    stack = Path(lines[0].split("native stack: ")[1].split(" ")[0])
    assert "Segmentation fault" in stack.read_text()  # faulthandler's dump, every thread
    stack.unlink()


@x86_only
def test_an_illegal_instruction_fails_one_model_and_the_bench_goes_on(
    crashy: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "runs"
    args = ["--models", "illegal,plain", "--rounds", "1", "--warmup", "0", "--out", str(out)]
    result = assay(crashy, "bench", *args, timeout=300)
    assert result.returncode == 0, result.stderr
    (run,) = list(out.iterdir())
    models = {m["model"]: m for m in json.loads((run / "summary.json").read_text())["models"]}
    assert models["illegal"]["status"] == "failed"
    assert models["illegal"]["error"] == "engine crashed: SIGILL (illegal instruction)"
    assert models["plain"]["status"] == "ok"
    # The model's own memory: its runner's, not this process's with earlier models' leftovers.
    assert models["plain"]["memory"]["source"].startswith("runner process (pid ")
    assert assay(crashy, "report", str(run), "--format", "md").returncode == 0
    markdown = (run / "benchmark_report.md").read_text()
    assert "Memory (peak RSS): sampled from runner process and its children" in markdown
    progress = [json.loads(line) for line in (run / "progress.jsonl").read_text().splitlines()]
    started = [e["model"] for e in progress if e["type"] == "model_start"]
    assert started == ["illegal", "plain"], "the run went on in the same process"
    assert [e["crashed"] for e in progress if e["type"] == "model"] == [True, False]
    assert sum(1 for e in progress if e["type"] == "start") == 1, "no restart was needed"
    assert all(len(e["load_average"]) == 3 for e in progress if e["type"] == "model_start")
    assert "Illegal instruction" in (run / "crash-illegal.log").read_text(), "the stack is kept"
    records = [json.loads(line) for line in (run / "requests.jsonl").read_text().splitlines()]
    assert records and all(r["threads"] for r in records), "threads recorded per request"


@pytest.mark.slow
def test_a_crash_in_serve_fails_one_request_and_the_server_goes_on(
    crashy: dict[str, str],
) -> None:
    port = free_port()
    process = subprocess.Popen(
        [*ASSAY, "serve", "--port", str(port), "--models", "segfaults,plain"],
        env=crashy,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/v1"
        wait_until_serving(url, process, timeout_s=60)
        body = {"model": "segfaults", "messages": [{"role": "user", "content": "hi"}]}
        reply = httpx.post(f"{url}/chat/completions", json=body, timeout=30)
        assert reply.status_code == 503
        message = reply.json()["error"]["message"]
        assert "the runner for segfaults:user died: SIGSEGV (segmentation fault)" in message
        body["model"] = "plain"
        assert httpx.post(f"{url}/chat/completions", json=body, timeout=30).status_code == 200
        assert process.poll() is None, "the server is still up"
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert "the engine crashed" not in stderr and "Traceback" not in stderr
    Path(message.split("native stack: ")[1].split(" ")[0]).unlink()


def _chat_with_child(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], psutil.Process]:
    """`assay run plain`, an interactive chat waiting on stdin, and its working child."""
    process = subprocess.Popen(
        [*ASSAY, "run", "plain"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    parent = psutil.Process(process.pid)
    deadline = time.monotonic() + 30
    while not parent.children():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    (child,) = parent.children()
    return process, child


def test_kill_9_of_the_parent_leaves_no_orphan(crashy: dict[str, str]) -> None:
    process, child = _chat_with_child(crashy)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    child.wait(10)  # gone: it died with its parent (PR_SET_PDEATHSIG)
    assert not psutil.pid_exists(child.pid) or child.status() == psutil.STATUS_ZOMBIE


def test_kill_9_of_the_server_leaves_no_runner_behind(crashy: dict[str, str]) -> None:
    port = free_port()
    process = subprocess.Popen(
        [*ASSAY, "serve", "--port", str(port), "--models", "plain"],
        env=crashy,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/v1"
        wait_until_serving(url, process, timeout_s=60)
        httpx.post(f"{url}/models/plain/load", timeout=60).raise_for_status()
        (runner_pid,) = [m["pid"] for m in httpx.get(f"{url}/models/loaded").json()["data"]]
        family = psutil.Process(process.pid).children(recursive=True)
        assert runner_pid in [p.pid for p in family], "the runner is the server's child"
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        for orphan in family:  # each died with its parent (PR_SET_PDEATHSIG)
            with contextlib.suppress(psutil.NoSuchProcess):
                orphan.wait(10)
            assert not psutil.pid_exists(orphan.pid) or orphan.status() == psutil.STATUS_ZOMBIE
    finally:
        process.kill()
        process.wait(10)


def test_sigterm_reaches_the_child_and_its_code_comes_back(crashy: dict[str, str]) -> None:
    process, _ = _chat_with_child(crashy)
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert b"crashed" not in stderr  # it was asked to stop: nothing to report
