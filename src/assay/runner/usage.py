"""What a process costs now, read from the outside: resident memory, its peak, CPU time."""

from __future__ import annotations

from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class ProcessUsage:
    pid: int
    rss_bytes: int
    peak_rss_bytes: int
    cpu_seconds: float


def process_usage(pid: int) -> ProcessUsage | None:
    """The process's figures; None when it is gone."""
    try:
        process = psutil.Process(pid)
        rss = int(process.memory_info().rss)
        times = process.cpu_times()
    except psutil.Error:
        return None
    return ProcessUsage(pid, rss, max(rss, _peak_rss(pid)), times.user + times.system)


def _peak_rss(pid: int) -> int:
    """VmHWM ("high water mark") from /proc/PID/status, in bytes; 0 where unreadable."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0
