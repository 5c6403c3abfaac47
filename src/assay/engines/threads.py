"""How many threads a generation uses: the cores this process may use, less those that other
programs are using right now.

Why it adapts (measured on 2 cores, docs/performance.md): llama.cpp's threads meet at a
barrier hundreds of times a token. When another program keeps one core busy, two threads
on two cores wait at every barrier for a sibling the kernel has preempted, and decode falls
from ~180 to a few tok/s; one thread keeps ~0.5x. So each model has a ThreadPolicy that
looks at the CPU time other processes used over the last half second (/proc/stat through
psutil, minus this process's own) and picks the thread count for the next decode steps.
`--threads N` (or ASSAY_THREADS) fixes the count and turns this off.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

import psutil

from assay.config import available_cores
from assay.engines.base import LoadedModel

# Hysteresis: switch only when the free cores are this far past the midpoint between two
# thread counts, so a load that hovers near it does not flip the count every half second.
_MARGIN = 0.1


@dataclass(frozen=True)
class CpuSample:
    """Cumulative CPU seconds: busy on the cores we may use, ours, and the wall clock."""

    busy: float
    ours: float
    wall: float


# Set by a runner's parent (runner/client.py) in the runner's environment: the pid of the
# process the runner serves (a server, a bench), whose CPU time is not another program's.
PARENT_ENV = "ASSAY_RUNNER_PARENT"


def _cpu_sample(cores: list[int], parent: psutil.Process | None = None) -> CpuSample:
    per_cpu = psutil.cpu_times(percpu=True)
    busy = 0.0
    for index in cores:
        if index < len(per_cpu):
            t = per_cpu[index]
            busy += t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0.0)
    own = os.times()
    ours = own.user + own.system
    if parent is not None:
        try:
            times = parent.cpu_times()
            ours += times.user + times.system
        except psutil.Error:
            pass
    return CpuSample(busy=busy, ours=ours, wall=time.monotonic())


def _parent() -> psutil.Process | None:
    """The process this runner serves, when this is a runner (its CPU time counts as ours)."""
    pid = os.environ.get(PARENT_ENV)
    if not pid or not pid.isdigit():
        return None
    try:
        return psutil.Process(int(pid))
    except psutil.Error:
        return None


def _allowed_cpus() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


class OthersLoad:
    """Cores' worth of CPU that other processes used since the last reading (in a runner,
    the process it serves is not another: its work is the model's)."""

    def __init__(self) -> None:
        self._cpus = _allowed_cpus()
        self._parent = _parent()
        self._last = _cpu_sample(self._cpus, self._parent)

    def read(self) -> float | None:
        """Busy cores of other processes since the previous read; None if too soon to say."""
        now = _cpu_sample(self._cpus, self._parent)
        wall = now.wall - self._last.wall
        if wall < 0.05:
            return None
        others = (now.busy - self._last.busy) - (now.ours - self._last.ours)
        self._last = now
        return max(0.0, others / wall)


def pick_threads(free_cores: float, current: int, ceiling: int) -> int:
    """Threads for this many free cores, keeping `current` unless the load moved clearly."""
    wanted = max(1, min(ceiling, math.floor(free_cores + 0.5)))
    if wanted == current:
        return current
    if abs(free_cores - current) <= 0.5 + _MARGIN:
        return current
    return wanted


class ThreadPolicy:
    """The thread count for a model's next decode steps.

    `fixed`: always that many (what --threads asks for). Otherwise adaptive: between 1 and
    the cores this process may use, re-decided at most every `interval_s`.
    """

    def __init__(self, fixed: int | None = None, interval_s: float = 0.5) -> None:
        self.ceiling = fixed or available_cores()
        self.adaptive = fixed is None and self.ceiling > 1
        self._interval = interval_s
        self._current = self.ceiling
        self._load = OthersLoad() if self.adaptive else None
        # The first call decides as soon as there is a window to read (50 ms): a process that
        # starts under load (`assay run`) should not spend its first half second on 2 threads.
        self._decided = time.monotonic() - interval_s
        self.others: float | None = None

    @property
    def name(self) -> str:
        return "adaptive" if self.adaptive else "fixed"

    def current(self) -> int:
        """Cheap enough to call every token: it re-reads the load only every interval."""
        if self._load is None or time.monotonic() - self._decided < self._interval:
            return self._current
        others = self._load.read()
        if others is None:
            return self._current
        self._decided = time.monotonic()
        self.others = others
        self._current = pick_threads(self.ceiling - others, self._current, self.ceiling)
        return self._current

    def describe(self) -> str:
        if not self.adaptive:
            return f"{self.ceiling} (fixed)"
        busy = "" if self.others is None else f"; others use {self.others:.1f} cores"
        return f"{self._current} of {self.ceiling} (adaptive{busy})"


def threads_of(model: LoadedModel) -> str:
    """'1 of 2 (adaptive; others use 1.0 cores)' where the engine adapts, else the count."""
    policy = model.threads
    return policy.describe() if policy is not None else str(model.info.threads)
