"""`assay doctor`: the real engine build and a real test generation in a child process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from assay.doctor.checks import build_record, check_engine_build
from assay.doctor.smoke import run_smoke, signal_name

ASSAY = [sys.executable, "-m", "assay"]


def test_signal_names_say_what_happened() -> None:
    assert signal_name(-4) == "SIGILL (illegal instruction)"
    assert signal_name(-11) == "SIGSEGV (segmentation fault)"
    assert signal_name(-9) == "SIGKILL (killed)"
    assert signal_name(-200) == "signal 200"


@pytest.mark.slow
def test_the_test_generation_runs_in_a_child(smollm_path: Path) -> None:
    result = run_smoke(smollm_path, threads=2)
    assert result.ok and result.detail.startswith("8 tokens in"), result.detail


def test_a_test_generation_on_a_file_that_is_no_model_fails_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    result = run_smoke(bad, threads=1)
    assert not result.ok and result.signal is None
    assert result.detail.startswith("the test generation failed:")
    assert "\n" not in result.detail


def test_a_build_from_another_cpu_is_a_failure_with_its_fix(tmp_path: Path) -> None:
    record = tmp_path / "build.json"
    record.write_text(
        json.dumps(
            {
                "version": "0.3.36",
                "cmake_args": ["-DGGML_NATIVE=ON"],
                "cflags": "-mno-amx-tile",
                "cuda": False,
                "cpu_isa": ["avx2", "no_such_isa_flag"],
                "key": "x",
            }
        )
    )
    assert build_record(record) is not None
    checks = {c.name: c for c in check_engine_build(record)}
    assert checks["engine build"].status == "ok"
    origin = checks["engine origin"]
    assert origin.status == "fail" and "no_such_isa_flag" in origin.detail
    assert origin.fix == "rebuild here: make engine"


def test_this_environment_was_built_by_the_install_script() -> None:
    record = build_record()
    assert record is not None, "the Makefile installs llama-cpp-python via tools/install_engine.py"
    assert "-mno-amx-int8" in record.cflags
    checks = check_engine_build()
    assert all(c.status == "ok" for c in checks), checks


@pytest.mark.slow
def test_doctor_json_names_every_check_and_exits_0_here() -> None:
    result = subprocess.run([*ASSAY, "doctor", "--json"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    for name in ("engine build", "test generation", "gpu", "threads", "load", "memory", "cache"):
        assert name in checks
    assert checks["test generation"]["status"] == "ok"
    assert "adaptive" in checks["threads"]["detail"] or "fixed" in checks["threads"]["detail"]


@pytest.mark.slow
def test_doctor_engine_prints_one_line_a_check() -> None:
    result = subprocess.run([*ASSAY, "doctor", "--engine"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("ok engine build: llama-cpp-python")
    assert lines[-1].startswith("ok test generation:")
