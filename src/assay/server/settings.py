"""`assay serve` settings; the field descriptions double as the CLI's help."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Device = Literal["auto", "cpu", "gpu"]
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")


class ServerSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    host: str = Field(default="127.0.0.1", description="Address to bind.")
    port: int = Field(default=5273, ge=0, le=65535, description="Port to bind (Foundry Local's).")
    models: tuple[str, ...] = Field(
        default=(),
        description="Serve only these models (default: every cached model). Comma-separated.",
    )
    preload: bool = Field(default=False, description="Load the --models at start-up.")
    threads: int | None = Field(
        default=None,
        ge=1,
        description="Threads per model, fixed; default: adaptive, up to the cores available.",
    )
    context_size: int | None = Field(default=None, ge=64, description="Context window.")
    gpu_layers: int | None = Field(
        default=None, ge=-1, description="Layers to offload to a GPU (-1: all)."
    )
    device: Device = Field(default="auto", description="auto, cpu, or gpu (an error without one).")
    parallel: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Requests decoded together per llama.cpp model (continuous batching); "
        "default: from the cores, fewer if RAM is short.",
    )
    ttl: float = Field(default=600.0, ge=0, description="Unload a model idle this many seconds.")
    max_loaded: int = Field(default=2, ge=1, description="Most models loaded at once (LRU).")
    max_queue: int = Field(default=64, ge=0, description="Requests that may wait per model.")
    api_key: str | None = Field(
        default=None, description="Require 'Authorization: Bearer KEY'. Or ASSAY_API_KEY."
    )
    cors_origins: tuple[str, ...] = Field(default=(), description="Origins allowed by CORS.")
    allowed_hosts: tuple[str, ...] = Field(
        default=(), description="Extra Host header values to accept (DNS-rebinding guard)."
    )
    max_body_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, description="Request body size limit, in bytes."
    )
    memory_budget_bytes: int | None = Field(
        default=None, ge=0, description="Memory models may use, in bytes (default: available RAM)."
    )

    @property
    def is_loopback(self) -> bool:
        if self.host in LOOPBACK_NAMES:
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def host_allowed(self, header: str) -> bool:
        """Whether a request's Host header names this server (any port)."""
        if not self.is_loopback and self.host in ("0.0.0.0", "::") and not self.allowed_hosts:
            return True  # bound to every interface: the address the client used is unknowable
        name = header.rsplit(":", 1)[0] if not header.endswith("]") else header
        if header.startswith("[") and "]:" in header:
            name = header.split("]:", 1)[0] + "]"
        allowed = {*LOOPBACK_NAMES, self.host, *self.allowed_hosts}
        return name.lower() in allowed


def default_parallel(cores: int) -> int:
    """Slots per model when --parallel is not given: two per core, at most four. On a CPU a
    step's cost grows with its batch, so more slots mostly add latency."""
    return max(1, min(4, 2 * cores))
