"""Build and install llama-cpp-python for the CPU (and GPU) of the machine it runs on.

Why this exists instead of a plain `pip install llama-cpp-python`:

- A default source build uses `-march=native`. On a Xeon that reports AMX, that compiles
  ggml's AMX kernels, and the first decode dies with SIGILL on `tilezero` (tile-data
  permission is per thread; see llama.cpp PR #26954). We keep the native build, which is
  the fastest, and switch the AMX instruction sets off with `-mno-amx-*`: GCC lets an
  explicit `-mno-X` win over `-march`, whatever the order.
- pip's wheel cache is keyed by the sdist alone, not by CMAKE_ARGS or the CPU. A wheel built
  natively on one machine and reused on another can crash there. So this script keeps its
  own wheel cache, keyed by the version, the build flags, the compiler and the CPU's
  instruction-set flags, and builds with pip's cache off.
- Where `nvidia-smi` sees a GPU and `nvcc` exists, it builds with CUDA (`GPU=off` overrides).

Stdlib only: it runs before assay is installed. Usage:
    python tools/install_engine.py [--gpu auto|on|off] [--cache DIR] [--print-plan]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Instruction sets that a native build may use and that must match between build and run.
ISA_FLAGS = [
    *("sse4_2", "avx", "avx2", "fma", "f16c", "bmi2", "avx_vnni"),
    *("avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"),
    *("avx512_vnni", "avx512_bf16", "avx512vbmi", "amx_tile", "amx_int8", "amx_bf16"),
]
# ggml's AMX kernels crash on some machines that report AMX: never compile them.
NO_AMX = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"


def pinned_version() -> str:
    """The llama-cpp-python version pinned in pyproject.toml (one place for it)."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in deps:
        if dep.replace("_", "-").startswith("llama-cpp-python=="):
            return str(dep.split("==", 1)[1])
    raise SystemExit("install_engine: pyproject.toml pins no llama-cpp-python==VERSION")


def cpu_isa() -> list[str]:
    """The instruction-set flags this CPU reports (x86 only; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            have = set(line.split(":", 1)[1].split())
            return [flag for flag in ISA_FLAGS if flag in have]
    return []


def find_nvcc() -> str | None:
    found = shutil.which("nvcc")
    if found:
        return found
    for home in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if home and (Path(home) / "bin" / "nvcc").exists():
            return str(Path(home) / "bin" / "nvcc")
    return None


def gpu_present() -> bool:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return False
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def cuda_architectures() -> str:
    """'90' for an H100/H200 (compute capability 9.0), from nvidia-smi; else CMake's 'native'
    (which needs CMake 3.24 or newer)."""
    smi = shutil.which("nvidia-smi")
    try:
        out = subprocess.run(
            [smi or "nvidia-smi", "--query-gpu=compute_cap", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "native"
    caps = sorted({line.strip().replace(".", "") for line in out.stdout.splitlines()})
    caps = [cap for cap in caps if cap.isdigit()]
    return ";".join(caps) if out.returncode == 0 and caps else "native"


def compiler_id() -> str:
    cc = os.environ.get("CC", "cc")
    try:
        return subprocess.run([cc, "--version"], capture_output=True, text=True).stdout[:80]
    except OSError:
        return cc


def plan(gpu: str) -> dict[str, object]:
    """What to build, and the key under which its wheel is cached."""
    cmake_args = ["-DGGML_NATIVE=ON", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF"]
    nvcc = find_nvcc()
    use_cuda = gpu == "on" or (gpu == "auto" and nvcc is not None and gpu_present())
    if gpu == "on" and nvcc is None:
        raise SystemExit("install_engine: GPU=on but no nvcc found; install the CUDA toolkit")
    if use_cuda:
        cmake_args.append("-DGGML_CUDA=on")
        # This machine's GPUs only: all architectures would take several times as long.
        cmake_args.append(f"-DCMAKE_CUDA_ARCHITECTURES={cuda_architectures()}")
        if nvcc:
            cmake_args.append(f"-DCMAKE_CUDA_COMPILER={nvcc}")
    cflags = " ".join(filter(None, [os.environ.get("CFLAGS", ""), NO_AMX]))
    cxxflags = " ".join(filter(None, [os.environ.get("CXXFLAGS", ""), NO_AMX]))
    extra = os.environ.get("CMAKE_ARGS", "").split()
    record = {
        "version": pinned_version(),
        "cmake_args": cmake_args + extra,
        "cflags": cflags,
        "cxxflags": cxxflags,
        "cuda": use_cuda,
        "machine": platform.machine(),
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "compiler": compiler_id(),
        "cpu_isa": cpu_isa(),
    }
    record["key"] = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]
    return record


def build(record: dict[str, object], wheel_dir: Path) -> Path:
    env = dict(os.environ)
    env["CMAKE_ARGS"] = " ".join(record["cmake_args"])  # type: ignore[arg-type]
    env["CFLAGS"] = str(record["cflags"])
    env["CXXFLAGS"] = str(record["cxxflags"])
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 1))
    with tempfile.TemporaryDirectory(prefix="assay-engine-") as tmp:
        cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-cache-dir"]
        cmd += ["--no-binary", "llama-cpp-python", "-w", tmp]
        cmd.append(f"llama-cpp-python=={record['version']}")
        print(
            f"install_engine: building llama-cpp-python {record['version']} ({env['CMAKE_ARGS']};"
            f" CFLAGS {env['CFLAGS']}); 5-15 min on 2 cores",
            flush=True,
        )
        subprocess.run(cmd, env=env, check=True)
        built = next(Path(tmp).glob("llama_cpp_python-*.whl"))
        wheel_dir.mkdir(parents=True, exist_ok=True)
        target = wheel_dir / built.name
        shutil.move(str(built), target.with_suffix(".part"))
        os.replace(target.with_suffix(".part"), target)
    (wheel_dir / "build.json").write_text(json.dumps(record, indent=2) + "\n")
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--gpu", choices=["auto", "on", "off"], default="auto")
    default_cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "assay"
    parser.add_argument("--cache", type=Path, default=default_cache / "engine-wheels")
    parser.add_argument("--print-plan", action="store_true", help="print the plan and stop")
    args = parser.parse_args()
    record = plan(args.gpu)
    if args.print_plan:
        print(json.dumps(record, indent=2))
        return 0
    wheel_dir = args.cache / str(record["key"])
    wheels = sorted(wheel_dir.glob("llama_cpp_python-*.whl"))
    if wheels:
        print(f"install_engine: reusing {wheels[-1]} (same version, flags, compiler and CPU)")
        wheel = wheels[-1]
    else:
        wheel = build(record, wheel_dir)
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall"]
    subprocess.run([*cmd, str(wheel)], check=True)
    # Its own dependencies (numpy, jinja2, diskcache, typing-extensions) come from assay's.
    (Path(sys.prefix) / "assay-engine-build.json").write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
