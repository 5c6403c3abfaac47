"""Which engines there are: one table of factories, keyed by the name a catalog variant gives
in `engine`. The built-ins are in it, and so is every engine an installed package registers
under the entry-point group `assay.engines`, the way adapters register under `assay.adapters`:

    [project.entry-points."assay.engines"]
    mine = "my_package.engine:create"    # def create(context: EngineContext) -> Engine

A factory imports its engine's module only when it is called, so naming the engines imports
none of them (llama_cpp alone takes about 0.3 s). A built-in name cannot be taken over.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from assay.engines.base import (
    CancelToken,
    Chunk,
    Engine,
    LoadedModel,
    LoadedModelBase,
    LoadOptions,
    Message,
    SamplingParams,
)
from assay.engines.loading import check_min_tokens
from assay.errors import AssayError

if TYPE_CHECKING:
    from assay.engines.fake import FakeOptions
    from assay.engines.remote import RemoteEngine, RemoteModel

ENTRY_POINT_GROUP = "assay.engines"
Counter = Callable[[str], int]


def whitespace_tokens(text: str) -> int:
    return len(text.split())


@dataclass(frozen=True)
class Upstream:
    """An OpenAI-compatible server as a model: its base URL, model id, key variable."""

    endpoint: str
    model: str | None = None
    api_key_env: str | None = None


@dataclass(frozen=True)
class EngineContext:
    """What a factory may use to build the engine for one model."""

    # Where an engine with state of its own keeps it (ASSAY_HOME).
    data_dir: Path | None = None
    # Counts the usage of models that report none (the registry passes a real tokenizer).
    count_tokens: Counter = whitespace_tokens
    # A user's adapter class, "package.module:Class" (the adapter engine).
    adapter: str | None = None
    # The upstream server (the remote engine).
    upstream: Upstream | None = None
    # How the fake model behaves (the fake engine); None: its defaults.
    fake: FakeOptions | None = None


EngineFactory = Callable[[EngineContext], Engine]


def _llamacpp(context: EngineContext) -> Engine:
    from assay.engines.llamacpp import LlamaCppEngine

    return LlamaCppEngine()


def _onnx(context: EngineContext) -> Engine:
    from assay.engines.onnx_genai import OnnxGenaiEngine

    return OnnxGenaiEngine()


def _foundry(context: EngineContext) -> Engine:
    from assay.engines.foundry import FoundryEngine

    if context.data_dir is None:
        raise AssayError("the foundry engine needs a data folder (ASSAY_HOME) for Foundry Local")
    return FoundryEngine(context.data_dir / "foundry")


def _adapter(context: EngineContext) -> Engine:
    from assay.engines.adapter import AdapterEngine

    if context.adapter is None:
        raise AssayError("the adapter engine needs a class: set 'adapter' in models.json")
    return AdapterEngine(context.adapter, context.count_tokens)


def _remote(context: EngineContext) -> Engine:
    from assay.engines.remote import RemoteEngine

    upstream = context.upstream
    if upstream is None:
        raise AssayError("the remote engine needs an upstream: set 'endpoint' in models.json")
    engine = RemoteEngine(
        upstream.endpoint, upstream.model, upstream.api_key_env, context.count_tokens
    )
    return _DeclaredRemote(engine)


def _fake(context: EngineContext) -> Engine:
    from assay.engines.fake import FakeEngine

    return FakeEngine(context.fake)


BUILTIN_ENGINES: Mapping[str, EngineFactory] = MappingProxyType(
    {
        "llamacpp": _llamacpp,
        "onnx": _onnx,
        "foundry": _foundry,
        "adapter": _adapter,
        "remote": _remote,
        "fake": _fake,
    }
)


def engine_factories() -> dict[str, EngineFactory]:
    """Every engine by name: the built-ins, then those of the `assay.engines` entry points."""
    factories = dict(BUILTIN_ENGINES)
    for point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        factories.setdefault(point.name, _entry_point_factory(point))
    return factories


def engine_for(name: str, context: EngineContext | None = None) -> Engine:
    """The engine registered under name, built for this context; a one-line error naming the
    engines there are when none is."""
    factories = engine_factories()
    factory = factories.get(name)
    if factory is None:
        raise AssayError(f"unknown engine '{name}'; available: {', '.join(factories)}")
    return factory(context or EngineContext())


def _entry_point_factory(point: metadata.EntryPoint) -> EngineFactory:
    def build(context: EngineContext) -> Engine:
        where = f"engine '{point.name}' ({point.value}, entry point group {ENTRY_POINT_GROUP})"
        try:
            factory = point.load()
        except Exception as exc:  # a plugin's import can fail in any way
            raise AssayError(f"{where}: cannot import it: {exc}") from None
        if not callable(factory):
            raise AssayError(f"{where}: it is not a function of an EngineContext")
        engine: Engine = factory(context)
        return engine

    return build


class _DeclaredRemote:
    """The remote engine, its models wrapped to declare LoadedModel's capabilities.

    remote.py is being rewritten elsewhere: once its RemoteModel inherits LoadedModelBase,
    `_remote` returns the RemoteEngine itself and these two classes go."""

    name = "remote"

    def __init__(self, engine: RemoteEngine) -> None:
        self._engine = engine

    def estimate_load_bytes(self, path: Path, options: LoadOptions) -> int:
        return self._engine.estimate_load_bytes(path, options)

    def load(self, path: Path, options: LoadOptions) -> LoadedModel:
        return _DeclaredRemoteModel(self._engine.load(path, options))


class _DeclaredRemoteModel(LoadedModelBase):
    def __init__(self, model: RemoteModel) -> None:
        self._model = model
        self.info = model.info
        self.parallel = model.parallel  # the upstream batches: this many requests go through

    def chat(
        self, messages: Sequence[Message], params: SamplingParams, cancel: CancelToken | None = None
    ) -> Iterator[Chunk]:
        check_min_tokens(self, params)  # whether the upstream would hold it is unknown
        return self._model.chat(messages, params, cancel)

    def complete(
        self, prompt: str, params: SamplingParams, cancel: CancelToken | None = None
    ) -> Iterator[Chunk]:
        check_min_tokens(self, params)
        return self._model.complete(prompt, params, cancel)

    def count_tokens(self, text: str) -> int:
        return self._model.count_tokens(text)

    def close(self) -> None:
        self._model.close()
