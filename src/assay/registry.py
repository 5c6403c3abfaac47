"""From a model name to a loaded model: catalog, store and engine wired together."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path

from assay.catalog import (
    AdapterSource,
    Catalog,
    EndpointSource,
    FakeSource,
    ModelEntry,
    Resolved,
    Variant,
    load_catalog,
    resolve,
)
from assay.config import Settings
from assay.engines import Engine, EngineContext, LoadedModel, LoadOptions, Upstream, engine_for
from assay.engines.fake import FakeOptions
from assay.errors import AssayError
from assay.runner import RunnerEngine, RunnerSpec
from assay.store import is_cached, model_path
from assay.store.locate import cache_dir_for
from assay.store.records import touch_last_used, with_store_variants


@dataclass(frozen=True)
class LoadedEntry:
    resolved: Resolved
    model: LoadedModel


class ModelRegistry:
    """The catalog as seen from this machine: what resolves, what is cached, what loads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Memoized per registry (functools.cache on a method would keep every registry alive).
        self._tokenizer: Callable[[str], int] | None = None
        self._gpu: bool | None = None
        catalog = with_adapter_entry_points(load_catalog(settings.user_catalog_path))
        self.catalog: Catalog = with_store_variants(catalog, settings.models_dir)

    def resolve(self, name: str) -> Resolved:
        return resolve(self.catalog, name, gpu_usable=self.gpu_usable(), is_cached=self.is_cached)

    def is_cached(self, entry: ModelEntry, variant: Variant) -> bool:
        return is_cached(self.settings, entry, variant)

    def path(self, resolved: Resolved) -> Path:
        return model_path(self.settings, resolved.entry, resolved.variant)

    def load(self, name: str, options: LoadOptions | None = None) -> LoadedEntry:
        resolved = self.resolve(name)
        path = self.path(resolved)
        model = self.engine(resolved).load(path, options or self.load_options())
        touch_last_used(cache_dir_for(self.settings, resolved.entry, resolved.variant))
        return LoadedEntry(resolved, model)

    def engine(self, resolved: Resolved, loop: asyncio.AbstractEventLoop | None = None) -> Engine:
        """The engine that loads this model: in a runner process of its own unless
        `settings.runners` is off. A server passes its event loop, which then reads the
        runner's messages itself (see RunnerSpec)."""
        variant, source = resolved.variant, resolved.variant.location
        context = EngineContext(data_dir=self.settings.home, count_tokens=self.count_tokens)
        if isinstance(source, AdapterSource):
            context = replace(context, adapter=source.adapter)
        elif isinstance(source, EndpointSource):
            upstream = Upstream(source.endpoint, source.model, source.api_key_env)
            context = replace(context, upstream=upstream)
        elif isinstance(source, FakeSource):
            context = replace(context, fake=fake_options(source))
        if self.settings.runners and not isinstance(source, EndpointSource):
            # A remote upstream is HTTP already: it stays here, with nothing to isolate.
            spec = RunnerSpec(
                engine=variant.engine,
                context=context,
                label=resolved.name,
                counter_model=self._counter_model(),
                stall_s=self.settings.runner_stall_s,
                loop=loop,
            )
            return RunnerEngine(spec)
        return engine_for(variant.engine, context)

    def _counter_model(self) -> Path | None:
        """The bundled SmolLM2 file that counts tokens for engines that report none."""
        try:
            return self.path(self.resolve("smollm2-135m"))
        except AssayError:
            return None

    def count_tokens(self, text: str) -> int:
        """Tokens in text under the bundled SmolLM2 tokenizer (for engines that count none)."""
        return self._bundled_tokenizer()(text)

    def _bundled_tokenizer(self) -> Callable[[str], int]:
        if self._tokenizer is None:
            from assay.engines.llamacpp import vocab_counter

            self._tokenizer = vocab_counter(self.path(self.resolve("smollm2-135m")))
        return self._tokenizer

    def load_options(
        self,
        threads: int | None = None,
        context_size: int | None = None,
        gpu_layers: int | None = None,
        device: str = "auto",
    ) -> LoadOptions:
        """Load options from the arguments, else the settings. GPU layers: none on "cpu";
        all (-1) on "gpu" or when "auto" finds a usable GPU; "gpu" without one is an error."""
        if device == "gpu" and not self.gpu_usable():
            raise AssayError(
                "no usable GPU: this llama-cpp-python has no GPU backend or sees no device; "
                "rebuild it with CUDA: make engine GPU=on (needs nvcc), or use --device cpu"
            )
        layers = gpu_layers if gpu_layers is not None else self.settings.gpu_layers
        if device == "cpu":
            layers = 0
        elif layers is None:
            layers = -1 if device == "gpu" or self.gpu_usable() else 0
        return LoadOptions(
            threads=threads or self.settings.threads,
            context_size=context_size or self.settings.context_size,
            gpu_layers=layers,
            max_default_context=self.settings.max_default_context,
            engine_log=self.settings.llama_log,
        )

    def gpu_usable(self) -> bool:
        """True when llama.cpp was built with a GPU backend that can offload layers."""
        if self._gpu is None:
            import llama_cpp

            self._gpu = bool(llama_cpp.llama_supports_gpu_offload())
        return self._gpu


def fake_options(source: FakeSource) -> FakeOptions:
    """The fake engine's options from a catalog's fake source (the same fields)."""
    return FakeOptions(**source.model_dump(exclude={"kind"}))


def with_adapter_entry_points(catalog: Catalog) -> Catalog:
    """Adapters that installed packages register under the entry-point group
    `assay.adapters` (name = alias, value = "package.module:Class"); models.json wins."""
    merged = dict(catalog)
    for point in metadata.entry_points(group="assay.adapters"):
        if point.name in merged:
            continue
        source = AdapterSource(adapter=point.value)
        variant = Variant(name="adapter", engine="adapter", location=source)
        merged[point.name] = ModelEntry(
            alias=point.name,
            origin="user",
            variants=(variant,),
            description=f"adapter {point.value}, from the entry point group assay.adapters",
        )
    return merged
