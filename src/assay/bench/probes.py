"""Resource probes: process memory sampled in the background, GPU memory, the machine."""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psutil
from pydantic import BaseModel, ConfigDict

from assay.version import installed_version, version

_LOOPBACK = {"localhost", "127.0.0.1", "::1", "0.0.0.0", ""}


class MemoryReport(BaseModel):
    """Memory and energy inputs of one model's run (CPU time and RAPL energy are deltas)."""

    peak_rss_bytes: int | None
    steady_rss_bytes: int | None
    samples: int
    source: str
    gpu_used_bytes: int | None = None
    cpu_seconds: float | None = None
    rapl_joules: float | None = None
    wall_seconds: float | None = None


class MemorySampler:
    """Samples the RSS of a process and its children every interval, on a daemon thread."""

    def __init__(self, pid: int | None, interval_s: float = 0.1, what: str | None = None) -> None:
        self._pid = pid
        self._what = what or "process"
        self._interval = interval_s
        self._samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="assay-memory", daemon=True)
        self._started = time.perf_counter()
        self._cpu_start: float | None = None
        self._rapl_start: int | None = None

    def start(self) -> MemorySampler:
        self._started = time.perf_counter()
        self._cpu_start = _cpu_seconds(self._pid)
        self._rapl_start = _rapl_microjoules()
        if self._pid is not None:
            self._thread.start()
        return self

    def _run(self) -> None:
        try:
            process = psutil.Process(self._pid)
        except psutil.Error:
            return
        while not self._stop.is_set():
            try:
                rss = process.memory_info().rss
                rss += sum(_rss(child) for child in process.children(recursive=True))
            except psutil.Error:
                return
            self._samples.append(rss)
            self._stop.wait(self._interval)

    def stop(self) -> MemoryReport:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        cpu_end, rapl_end = _cpu_seconds(self._pid), _rapl_microjoules()
        cpu = None if cpu_end is None or self._cpu_start is None else cpu_end - self._cpu_start
        rapl = None
        if rapl_end is not None and self._rapl_start is not None and rapl_end >= self._rapl_start:
            rapl = (rapl_end - self._rapl_start) / 1e6
        energy: dict[str, Any] = {
            "gpu_used_bytes": gpu_used_bytes(),
            "cpu_seconds": cpu,
            "rapl_joules": rapl,
            "wall_seconds": time.perf_counter() - self._started,
        }
        samples = self._samples
        if self._pid is None or not samples:
            return MemoryReport(
                peak_rss_bytes=None, steady_rss_bytes=None, samples=0, source="unknown", **energy
            )
        return MemoryReport(
            peak_rss_bytes=max(samples),
            steady_rss_bytes=int(statistics.median(samples)),
            samples=len(samples),
            source=f"{self._what} (pid {self._pid}) and its children, "
            f"every {self._interval * 1000:.0f} ms",
            **energy,
        )


def _cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a process and its children so far."""
    if pid is None:
        return None
    try:
        process = psutil.Process(pid)
        total = sum(process.cpu_times()[:2])
        for child in process.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += sum(child.cpu_times()[:2])
        return float(total)
    except psutil.Error:
        return None


_RAPL = Path("/sys/class/powercap/intel-rapl:0/energy_uj")


def _rapl_microjoules() -> int | None:
    """The CPU package's energy counter (Intel RAPL), when this machine exposes it."""
    try:
        return int(_RAPL.read_text())
    except (OSError, ValueError):
        return None


def _rss(process: psutil.Process) -> int:
    try:
        return int(process.memory_info().rss)
    except psutil.Error:
        return 0


def listening_pid(base_url: str) -> int | None:
    """The pid of the local process listening on the URL's port; None for remote hosts."""
    parsed = urlparse(base_url)
    if (parsed.hostname or "") not in _LOOPBACK:
        return None
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            return conn.pid
    return None


def _nvml() -> Any:
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml
    except Exception:  # no driver, no GPU, or no library: there is no GPU to report
        return None


def gpu_used_bytes() -> int | None:
    nvml = _nvml()
    if nvml is None:
        return None
    total = 0
    for i in range(nvml.nvmlDeviceGetCount()):
        total += int(nvml.nvmlDeviceGetMemoryInfo(nvml.nvmlDeviceGetHandleByIndex(i)).used)
    return total


class Gpu(BaseModel):
    name: str
    driver: str
    memory_bytes: int


def gpus() -> list[Gpu]:
    nvml = _nvml()
    if nvml is None:
        return []
    driver = nvml.nvmlSystemGetDriverVersion()
    found = []
    for i in range(nvml.nvmlDeviceGetCount()):
        handle = nvml.nvmlDeviceGetHandleByIndex(i)
        name = nvml.nvmlDeviceGetName(handle)
        found.append(
            Gpu(
                name=name.decode() if isinstance(name, bytes) else name,
                driver=driver.decode() if isinstance(driver, bytes) else driver,
                memory_bytes=int(nvml.nvmlDeviceGetMemoryInfo(handle).total),
            )
        )
    return found


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class Environment(BaseModel):
    """The machine and software a run measured (run.json's environment and environment_end).
    Every field may be missing from a file another version wrote; keys this version does not
    know are kept."""

    model_config = ConfigDict(extra="allow")

    cpu: str | None = None
    cores_logical: int | None = None
    cores_physical: int | None = None
    cores_available: int | None = None
    ram_bytes: int | None = None
    gpus: list[Gpu] = []
    os: str | None = None
    python: str | None = None
    assay: str | None = None
    llama_cpp_python: str | None = None
    load_average: list[float] = []


def fingerprint() -> Environment:
    """The machine and software a run measured, so runs can be compared honestly."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count() or 0
    return Environment(
        cpu=cpu_model(),
        cores_logical=psutil.cpu_count(logical=True),
        cores_physical=psutil.cpu_count(logical=False),
        cores_available=affinity,
        ram_bytes=psutil.virtual_memory().total,
        gpus=gpus(),
        os=platform.platform(),
        python=sys.version.split()[0],
        assay=version(),
        llama_cpp_python=installed_version("llama-cpp-python"),
        load_average=list(os.getloadavg()),
    )
