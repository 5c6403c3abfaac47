"""From a model name to a loaded model: catalog, store and engine wired together."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from assay.catalog import Catalog, ModelEntry, Resolved, Variant, load_catalog, resolve
from assay.config import Settings
from assay.engines import LoadedModel, LoadOptions, engine_for
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
        catalog = load_catalog(settings.user_catalog_path)
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
        engine = engine_for(resolved.variant.engine)
        model = engine.load(path, options or self.default_load_options())
        touch_last_used(cache_dir_for(self.settings, resolved.entry, resolved.variant))
        return LoadedEntry(resolved, model)

    def default_load_options(self) -> LoadOptions:
        return LoadOptions(
            threads=self.settings.threads,
            context_size=self.settings.context_size,
            max_default_context=self.settings.max_default_context,
        )

    @functools.cache  # noqa: B019 - one registry per process; the answer does not change
    def gpu_usable(self) -> bool:
        """True when llama.cpp was built with a GPU backend that can offload layers."""
        import llama_cpp

        return bool(llama_cpp.llama_supports_gpu_offload())
