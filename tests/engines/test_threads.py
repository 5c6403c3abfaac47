"""The thread policy: cores from affinity and cgroup quota, the load of other programs read
from /proc/stat, and a real generation that drops to one thread while a core is taken."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assay.config import cgroup_cpu_quota
from assay.engines import LoadOptions, SamplingParams, collect
from assay.engines.llamacpp import LlamaCppModel
from assay.engines.threads import OthersLoad, ThreadPolicy, pick_threads
from assay.registry import ModelRegistry


@pytest.fixture
def busy_core() -> Iterator[None]:
    """Another program keeping one core busy."""
    loop = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.3)
    try:
        yield
    finally:
        loop.kill()
        loop.wait()


@pytest.mark.parametrize(
    ("free", "current", "ceiling", "expected"),
    [
        (2.0, 2, 2, 2),  # quiet: every core
        (1.0, 2, 2, 1),  # one core taken: one thread
        (1.45, 2, 2, 2),  # near the midpoint: keep what runs (hysteresis)
        (1.35, 2, 2, 1),  # clearly past it: switch
        (1.55, 1, 2, 1),  # coming back: not yet
        (1.65, 1, 2, 2),  # clearly free again
        (0.0, 2, 2, 1),  # everything taken: never fewer than one
        (7.9, 4, 8, 8),
        (3.0, 8, 8, 3),
    ],
)
def test_pick_threads(free: float, current: int, ceiling: int, expected: int) -> None:
    assert pick_threads(free, current, ceiling) == expected


def test_a_fixed_count_never_changes(busy_core: None) -> None:
    policy = ThreadPolicy(fixed=2, interval_s=0.0)
    time.sleep(0.2)
    assert (policy.current(), policy.adaptive, policy.describe()) == (2, False, "2 (fixed)")


def _others_while_we_spin(seconds: float = 0.5) -> float:
    load = OthersLoad()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:  # this process busy too: it must not count
        pass
    others = load.read()
    assert others is not None
    return others


def test_others_load_sees_a_busy_core_and_not_our_own_work() -> None:
    alone = _others_while_we_spin()  # whatever else this machine runs; never our own core
    if alone > 0.4:
        pytest.skip(f"other programs already use {alone:.1f} cores: no room to see one more")
    loop = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)
        with_loop = _others_while_we_spin()
    finally:
        loop.kill()
        loop.wait()
    assert with_loop >= 0.6 and with_loop - alone >= 0.5, (alone, with_loop)


def test_others_load_needs_a_window() -> None:
    load = OthersLoad()
    assert load.read() is None  # too soon after the first reading to say anything


def test_cgroup_quota_v2_and_v1(tmp_path: Path) -> None:
    membership = tmp_path / "cgroup"
    membership.write_text("0::/user/app\n")
    (tmp_path / "user" / "app").mkdir(parents=True)
    (tmp_path / "user" / "app" / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_quota(tmp_path, membership) == 1.5
    (tmp_path / "user" / "app" / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_quota(tmp_path, membership) is None
    membership.write_text("4:memory:/x\n3:cpu,cpuacct:/job\n")
    (tmp_path / "cpu,cpuacct" / "job").mkdir(parents=True)
    (tmp_path / "cpu,cpuacct" / "job" / "cpu.cfs_quota_us").write_text("50000\n")
    (tmp_path / "cpu,cpuacct" / "job" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_quota(tmp_path, membership) == 0.5
    (tmp_path / "cpu,cpuacct" / "job" / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_cpu_quota(tmp_path, membership) is None


@pytest.mark.slow
def test_a_generation_drops_to_one_thread_while_a_core_is_busy(
    registry: ModelRegistry, busy_core: None
) -> None:
    if ThreadPolicy().ceiling < 2:
        pytest.skip("needs two cores")
    in_process = ModelRegistry(registry.settings.model_copy(update={"runners": False}))
    model = in_process.load("smollm2-135m", LoadOptions(context_size=1024)).model
    assert isinstance(model, LlamaCppModel) and model.info.thread_policy == "adaptive"
    try:
        params = SamplingParams(temperature=0.0, max_tokens=200, prefix_cache=False)
        time.sleep(0.6)  # one policy interval of load to see
        text, final = collect(model.complete("Once upon a time,", params))
        assert final.usage is not None and final.usage.completion_tokens > 0 and text
        assert model.threads.current() == 1, model.threads.describe()
        assert "others use" in model.threads.describe()
    finally:
        model.close()
