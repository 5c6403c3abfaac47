"""--device and --gpu-layers: CPU here; a GPU run only where llama.cpp can offload."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from assay.config import Settings
from assay.registry import ModelRegistry

ASSAY = [sys.executable, "-m", "assay"]
GPU = ModelRegistry(Settings()).gpu_usable()


def assay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ASSAY, *args], capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(GPU, reason="this machine has a usable GPU")
@pytest.mark.parametrize(
    "args",
    [
        ["run", "smollm2-135m", "--device", "gpu", "--prompt", "hi"],
        ["bench", "--models", "smollm2-135m", "--device", "cpu,gpu"],
        ["serve", "--device", "gpu", "--port", "0"],
    ],
)
def test_asking_for_a_gpu_without_one_exits_2(args: list[str], tmp_path: Path) -> None:
    result = assay(*args, *(["--out", str(tmp_path)] if args[0] == "bench" else []))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: no usable GPU: this llama-cpp-python has no GPU backend or sees no device; "
        "rebuild it with CUDA: make engine GPU=on (needs nvcc), or use --device cpu"
    )
    assert not list(tmp_path.iterdir())


def test_a_bad_device_list_is_refused(tmp_path: Path) -> None:
    result = assay("bench", "--device", "tpu", "--out", str(tmp_path))
    assert result.returncode == 2 and "--device takes cpu, gpu or auto" in result.stderr


def _run_devices(tmp_path: Path, devices: str) -> dict[str, dict[str, Any]]:
    result = assay(
        "bench",
        "--models",
        "smollm2-135m",
        "--device",
        devices,
        "--rounds",
        "1",
        "--warmup",
        "0",
        "--max-tokens",
        "8",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    (run,) = list(tmp_path.iterdir())
    return {m["model"]: m for m in json.loads((run / "summary.json").read_text())["models"]}


@pytest.mark.slow
def test_each_model_runs_once_per_device(tmp_path: Path) -> None:
    models = _run_devices(tmp_path, "cpu,auto")
    assert set(models) == {"smollm2-135m@cpu", "smollm2-135m@auto"}
    assert models["smollm2-135m@cpu"]["info"]["gpu_layers"] == 0
    assert all(m["status"] == "ok" and m["levels"][0]["requests"] == 4 for m in models.values())


@pytest.mark.slow
@pytest.mark.skipif(not GPU, reason="needs a GPU that llama.cpp can offload to")
def test_with_and_without_gpu_in_one_run(tmp_path: Path) -> None:
    models = _run_devices(tmp_path, "cpu,gpu")
    assert models["smollm2-135m@gpu"]["info"]["gpu_layers"] == -1
    assert models["smollm2-135m@gpu"]["memory"]["gpu_used_bytes"] > 0
    (run,) = list(tmp_path.iterdir())
    assert json.loads((run / "run.json").read_text())["environment"]["gpus"]
