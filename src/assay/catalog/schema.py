"""The catalog's typed records: a model entry (alias) and its variants (files)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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


class _Source(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @property
    def cache_file(self) -> str | None:
        """The file's name in assay's cache (`<models_dir>/<alias>/<variant>/`), where it is
        pulled, assembled or made; None for a source assay keeps nothing of."""
        return None

    @property
    def user_file(self) -> Path | None:
        """The user's own file or folder, which assay loads in place and never deletes."""
        return None

    def describe(self) -> str:
        raise NotImplementedError


class BundledSource(_Source):
    """A model file shipped inside installed Python distributions (one file or ordered chunks,
    which are assembled once in assay's cache as `file`)."""

    kind: Literal["bundled"] = "bundled"
    distribution: str
    files: tuple[str, ...] = Field(min_length=1)
    file: str | None = None

    @property
    def cache_file(self) -> str | None:
        return self.file

    def describe(self) -> str:
        return f"bundled in the Python package {self.distribution}"


class HubSource(_Source):
    """A file of a Hugging Face hub repository, pulled into assay's cache."""

    kind: Literal["hub"] = "hub"
    repo: str
    # None: the catalog names no file, and `assay pull` says so.
    file: str | None = None
    revision: str = "main"

    @property
    def cache_file(self) -> str | None:
        return self.file

    def describe(self) -> str:
        return f"hf://{self.repo}/{self.file}"


class LocalSource(_Source):
    """The user's own model file (or folder, for the folder engines), loaded where it is."""

    kind: Literal["local"] = "local"
    path: Path

    @property
    def user_file(self) -> Path | None:
        return self.path

    def describe(self) -> str:
        return f"local file {self.path}"


class AdapterSource(_Source):
    """A user's own model class, "package.module:Class" (engine "adapter"), and its weights."""

    kind: Literal["adapter"] = "adapter"
    adapter: str = Field(pattern=r"^[\w.]+:[\w.]+$")
    weights: Path | None = None

    @property
    def user_file(self) -> Path | None:
        return self.weights

    def describe(self) -> str:
        return f"adapter {self.adapter}" + (f" with weights {self.weights}" if self.weights else "")


class EndpointSource(_Source):
    """An OpenAI-compatible upstream (engine "remote"): its base URL, model id, key variable."""

    kind: Literal["endpoint"] = "endpoint"
    endpoint: str = Field(pattern=r"^https?://")
    model: str | None = None
    api_key_env: str | None = None

    def describe(self) -> str:
        return f"upstream {self.endpoint} (model {self.model or 'its first'})"


class DerivedSource(_Source):
    """A variant `assay quantize` or `convert` made from `alias:variant` (a store variant)."""

    kind: Literal["derived"] = "derived"
    derived_from: str | None = None
    file: str
    made_by: Literal["quantized", "converted"] = "quantized"

    @property
    def cache_file(self) -> str | None:
        return self.file

    def describe(self) -> str:
        return f"{self.made_by} by assay" + (
            f" from {self.derived_from}" if self.derived_from else ""
        )


class FakeSource(_Source):
    """No model at all: the fake engine (engine "fake", `assay.engines.fake`) makes up
    deterministic replies, with the timing and the faults given here (its FakeOptions)."""

    kind: Literal["fake"] = "fake"
    # Every reply is this text (cut by max_tokens and stop); None: words from the prompt.
    reply: str | None = None
    # Words in a made-up reply before it ends with "stop"; None: until max_tokens.
    words: int | None = Field(default=16, ge=0)
    first_token_s: float = Field(default=0.0, ge=0)
    token_s: float = Field(default=0.0, ge=0)
    load_s: float = Field(default=0.0, ge=0)
    # Loading fails with this message.
    load_error: str | None = None
    # Every generation fails (EngineError) once it has given this many tokens.
    fail_after: int | None = Field(default=None, ge=0)
    # Requests served at once; None: the server's --parallel, as a llama.cpp model's slots.
    parallel: int | None = Field(default=None, ge=1, le=64)
    # What it says loading takes, for the server's memory admission.
    memory_bytes: int = Field(default=0, ge=0)

    def describe(self) -> str:
        return "fake: no model, made-up replies"


# Where a variant's model comes from: one of seven kinds, told apart by `kind`.
ModelSource = Annotated[
    BundledSource
    | HubSource
    | LocalSource
    | AdapterSource
    | EndpointSource
    | DerivedSource
    | FakeSource,
    Field(discriminator="kind"),
]

# The source as flat optional fields, the shape catalog files had before `location`.
_FLAT_SOURCE = (
    "bundled",
    "repo",
    "revision",
    "file",
    "path",
    "derived_from",
    "adapter",
    "endpoint",
    "remote_model",
    "api_key_env",
)


def _flat_source(flat: dict[str, Any], engine: str) -> dict[str, Any] | None:
    """The one source that flat fields describe, in the order their readers tried them."""
    if flat.get("adapter") is not None:
        return {"kind": "adapter", "adapter": flat["adapter"], "weights": flat.get("path")}
    if flat.get("endpoint") is not None:
        return {
            "kind": "endpoint",
            "endpoint": flat["endpoint"],
            "model": flat.get("remote_model"),
            "api_key_env": flat.get("api_key_env"),
        }
    if flat.get("path") is not None:
        return {"kind": "local", "path": flat["path"]}
    bundled = flat.get("bundled")
    if bundled is not None:
        fields = bundled.model_dump() if isinstance(bundled, BaseModel) else dict(bundled)
        return {**fields, "kind": "bundled", "file": flat.get("file")}
    if flat.get("repo") is not None:
        revision = flat.get("revision") or "main"
        return {"kind": "hub", "repo": flat["repo"], "file": flat.get("file"), "revision": revision}
    if flat.get("file") is not None:
        made_by = "converted" if engine in ("onnx", "foundry") else "quantized"
        return {
            "kind": "derived",
            "derived_from": flat.get("derived_from"),
            "file": flat["file"],
            "made_by": made_by,
        }
    if engine == "fake":
        return {"kind": "fake"}  # it needs no source: its defaults
    return None


class Variant(BaseModel):
    """One concrete model of an alias: a quantization for a device, and where it comes from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    engine: str = "llamacpp"
    device: Device = "cpu"
    quantization: str | None = None
    location: ModelSource
    size_bytes: int | None = Field(default=None, ge=0)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    gated: bool = False

    @model_validator(mode="before")
    @classmethod
    def _read_flat_source(cls, data: Any) -> Any:
        """Read a source given as the old flat fields (catalog files, keyword arguments)."""
        if not isinstance(data, dict) or "location" in data:
            return data
        flat = {key: data[key] for key in _FLAT_SOURCE if key in data}
        location = _flat_source(flat, str(data.get("engine") or "llamacpp"))
        if location is None:
            return data
        rest = {key: value for key, value in data.items() if key not in flat}
        return {**rest, "location": location}

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        return check_name(value, "variant name")

    @property
    def source(self) -> str:
        """Where it comes from, in words (`assay models`)."""
        return self.location.describe()


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
    # The fake engine's behaviour (engine "fake" without it: the defaults).
    fake: FakeSource | None = None
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
        return self.is_fake or any(source is not None for source in sources)

    @property
    def is_fake(self) -> bool:
        """A fake model: `"engine": "fake"`, or its `fake` options, and no other engine's."""
        wanted = self.fake is not None or self.engine == "fake"
        return wanted and self.adapter is None and self.endpoint is None

    def to_variant(self) -> Variant:
        size = int(self.size_mb * 1_000_000) if self.size_mb is not None else None
        if self.adapter:
            engine = "adapter"
        elif self.endpoint:
            engine = "remote"
        else:
            engine = "fake" if self.is_fake else self.engine
        return Variant(
            name=self.variant,
            engine=engine,
            device=self.device,
            quantization=self.quantization,
            location=self._location(),
            size_bytes=size,
            sha256=self.sha256,
        )

    def _location(self) -> ModelSource:
        local = self.weights or self.path
        local = local.expanduser() if local else None
        if self.adapter is not None:
            return AdapterSource(adapter=self.adapter, weights=local)
        if self.endpoint is not None:
            return EndpointSource(
                endpoint=self.endpoint, model=self.model, api_key_env=self.api_key_env
            )
        if self.is_fake:
            return self.fake or FakeSource()
        if local is not None:
            return LocalSource(path=local)
        assert self.repo is not None, "to_variant needs has_source"
        return HubSource(repo=self.repo, file=self.file, revision=self.revision)
