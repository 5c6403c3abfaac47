"""The catalog's typed records: a model entry (alias) and its variants (files)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Device = Literal["cpu", "gpu"]

# Aliases and variant names end up in cache paths: keep them to a safe alphabet.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_name(value: str, what: str) -> str:
    if not _NAME.match(value) or ".." in value:
        raise ValueError(
            f"{what} {value!r} must start with a letter or digit and use only "
            "letters, digits, '.', '_' and '-'"
        )
    return value


class BundledSource(BaseModel):
    """A model file shipped inside installed Python distributions (one file or ordered chunks)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    distribution: str
    files: tuple[str, ...] = Field(min_length=1)


class Variant(BaseModel):
    """One concrete model file of an alias: a quantization for a device, with its source."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    engine: str = "llamacpp"
    device: Device = "cpu"
    quantization: str | None = None
    bundled: BundledSource | None = None
    repo: str | None = None
    revision: str = "main"
    file: str | None = None
    path: Path | None = None
    size_bytes: int | None = Field(default=None, ge=0)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    gated: bool = False
    # `alias:variant` this was made from by `assay quantize` or `convert` (a store variant).
    derived_from: str | None = None
    # A user's own model class, "package.module:Class" (engine "adapter"); path = its weights.
    adapter: str | None = Field(default=None, pattern=r"^[\w.]+:[\w.]+$")
    # An OpenAI-compatible upstream (engine "remote"): its base URL, model id, key variable.
    endpoint: str | None = Field(default=None, pattern=r"^https?://")
    remote_model: str | None = None
    api_key_env: str | None = None

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        return check_name(value, "variant name")

    @property
    def source(self) -> str:
        if self.endpoint is not None:
            return f"upstream {self.endpoint} (model {self.remote_model or 'its first'})"
        if self.adapter is not None:
            return f"adapter {self.adapter}" + (f" with weights {self.path}" if self.path else "")
        if self.path is not None:
            return f"local file {self.path}"
        if self.bundled is not None:
            return f"bundled in the Python package {self.bundled.distribution}"
        if self.repo is not None:
            return f"hf://{self.repo}/{self.file}"
        if self.derived_from is not None:
            made = "converted" if self.engine in ("onnx", "foundry") else "quantized"
            return f"{made} by assay from {self.derived_from}"
        return "unknown"


class ModelEntry(BaseModel):
    """An alias with what is known about the model and its variants, preferred first."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alias: str
    display_name: str | None = None
    family: str | None = None
    publisher: str | None = None
    license: str = "unknown"
    capabilities: tuple[str, ...] = ("chat", "completion")
    context_length: int | None = Field(default=None, gt=0)
    parameters: int | None = Field(default=None, gt=0)
    description: str | None = None
    origin: Literal["builtin", "user"] = "builtin"
    variants: tuple[Variant, ...] = Field(min_length=1)

    @field_validator("alias")
    @classmethod
    def _safe_alias(cls, value: str) -> str:
        return check_name(value, "alias")

    def variant(self, name: str) -> Variant | None:
        return next((v for v in self.variants if v.name == name), None)


class UserModelEntry(BaseModel):
    """An entry of the user's models.json: the workshop's shape, extended with a source.

    `{"alias": {"capabilities": [...], "size_mb": 98, "path": "/models/x.gguf"}}`
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    capabilities: tuple[str, ...] | None = None
    size_mb: float | None = Field(default=None, ge=0)
    path: Path | None = None
    repo: str | None = None
    file: str | None = None
    revision: str = "main"
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    endpoint: str | None = Field(default=None, pattern=r"^https?://")
    model: str | None = None
    api_key_env: str | None = None
    adapter: str | None = Field(default=None, pattern=r"^[\w.]+:[\w.]+$")
    weights: Path | None = None
    engine: str = "llamacpp"
    variant: str = "user"
    device: Device = "cpu"
    quantization: str | None = None
    license: str | None = None
    display_name: str | None = None
    description: str | None = None
    context_length: int | None = Field(default=None, gt=0)
    parameters: int | None = Field(default=None, gt=0)

    @field_validator("variant")
    @classmethod
    def _safe_variant(cls, value: str) -> str:
        return check_name(value, "variant name")

    @property
    def has_source(self) -> bool:
        sources = (self.path, self.repo, self.adapter, self.endpoint)
        return any(source is not None for source in sources)

    def to_variant(self) -> Variant:
        size = int(self.size_mb * 1_000_000) if self.size_mb is not None else None
        local = self.weights or self.path
        return Variant(
            name=self.variant,
            engine="adapter" if self.adapter else "remote" if self.endpoint else self.engine,
            device=self.device,
            quantization=self.quantization,
            repo=self.repo,
            revision=self.revision,
            file=self.file,
            path=local.expanduser() if local else None,
            size_bytes=size,
            sha256=self.sha256,
            adapter=self.adapter,
            endpoint=self.endpoint,
            remote_model=self.model,
            api_key_env=self.api_key_env,
        )
