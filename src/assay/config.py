"""All of assay's settings and environment variables, in one place."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "assay"


def available_cores() -> int:
    """Cores this process may run on (affinity and cgroup pinning respected)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class Settings(BaseSettings):
    """assay's settings; every field can be set as ASSAY_<NAME> in the environment."""

    model_config = SettingsConfigDict(env_prefix="ASSAY_", frozen=True)

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

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def user_catalog_path(self) -> Path:
        return self.models_file or self.home / "models.json"

    def effective_threads(self) -> int:
        return self.threads or available_cores()
