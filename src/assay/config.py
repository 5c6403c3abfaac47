"""All of assay's settings and environment variables, in one place."""

from __future__ import annotations

import math
import os
from pathlib import Path

from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "assay"


def available_cores() -> int:
    """Cores this process may run on: its affinity, capped by a cgroup CPU quota (a container
    given 1.5 CPUs of 8 gets 2 threads, not 8)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    if quota is not None:
        cores = min(cores, math.ceil(quota))
    return max(1, cores)


def cgroup_cpu_quota(
    root: Path = Path("/sys/fs/cgroup"), membership: Path = Path("/proc/self/cgroup")
) -> float | None:
    """This process's cgroup CPU quota in cores (v2 cpu.max, v1 cfs_quota_us), None if none."""
    try:
        lines = membership.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, group = line.split(":", 2)
        if controllers == "":  # v2: "<quota|max> <period>"
            fields = _read_fields(root / group.lstrip("/") / "cpu.max")
        elif "cpu" in controllers.split(","):  # v1: two files
            base = root / controllers / group.lstrip("/")
            fields = _read_fields(base / "cpu.cfs_quota_us") + _read_fields(
                base / "cpu.cfs_period_us"
            )
        else:
            continue
        try:
            quota, period = int(fields[0]), int(fields[1])
        except (IndexError, ValueError):
            continue
        if quota > 0 and period > 0:
            return quota / period
    return None


def _read_fields(path: Path) -> list[str]:
    try:
        return path.read_text().split()
    except OSError:
        return []


class Settings(BaseSettings):
    """assay's settings; every field can be set as ASSAY_<NAME> in the environment."""

    model_config = SettingsConfigDict(env_prefix="ASSAY_", frozen=True, populate_by_name=True)

    home: Path = Field(
        default_factory=_default_home,
        description="Root of assay's cache: model files, the user catalog, runs.",
    )
    models_file: Path | None = Field(
        default=None,
        description="User catalog (models.json) merged over the built-in one; "
        "default <home>/models.json.",
    )
    threads: int | None = Field(
        default=None, ge=1, description="Inference threads; default: cores available."
    )
    context_size: int | None = Field(
        default=None, ge=64, description="Context window; default: the model's, capped."
    )
    gpu_layers: int | None = Field(
        default=None,
        ge=-1,
        description="Layers to offload to a GPU; -1 all; default: all if usable.",
    )
    max_default_context: int = Field(
        default=4096, ge=64, description="Cap on the default context window."
    )
    api_key: str | None = Field(
        default=None,
        description="Bearer key: required from clients by `assay serve`, sent by `assay bench`, "
        "`assay score --judge URL` and Manager.",
    )
    endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("FOUNDRY_LOCAL_ENDPOINT", "ASSAY_ENDPOINT"),
        description="`assay bench`'s default --endpoint (FOUNDRY_LOCAL_ENDPOINT, the "
        "workshop's name, wins over ASSAY_ENDPOINT).",
    )
    bench_models: str | None = Field(
        default=None,
        validation_alias=AliasChoices("BENCH_MODELS", "ASSAY_BENCH_MODELS"),
        description="`assay bench`'s default --models, comma-separated (the workshop's name).",
    )
    llama_log: bool = Field(
        default=False,
        description="Let llama.cpp write its own log to stderr (ASSAY_LLAMA_LOG=1); off, "
        "assay reports failures itself, in one line.",
    )
    runners: bool = Field(
        default=True,
        description="Load every model in a runner process of its own, so that its crash, "
        "hang or memory takes nothing else with it (ASSAY_RUNNERS=0: in this process).",
    )
    runner_stall_s: float = Field(
        default=300.0,
        gt=0,
        description="A runner that sends a waiting request nothing for this many seconds "
        "is taken to hang, and killed (ASSAY_RUNNER_STALL_S).",
    )
    bench_stream: bool = Field(
        default=True,
        validation_alias=AliasChoices("BENCH_STREAM", "ASSAY_BENCH_STREAM"),
        description="`assay bench` streams unless --no-stream (BENCH_STREAM=0 turns it off).",
    )

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def user_catalog_path(self) -> Path:
        return self.models_file or self.home / "models.json"

    def effective_threads(self) -> int:
        return self.threads or available_cores()


def settings_error(exc: ValidationError) -> str:
    """One line for a bad environment variable: which, what it holds, and the fix."""
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else "?"
    # A field read under an alias reports the alias (BENCH_STREAM); others their name.
    name = field if field.isupper() else f"ASSAY_{field.upper()}"
    return f"{name}={error.get('input')!r} is not valid: {error['msg']}; fix it or unset it"
