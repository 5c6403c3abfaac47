"""The registry: what resolves, and that registries are freed like any object."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

from assay.config import Settings
from assay.registry import ModelRegistry


def test_registries_are_freed_after_use(tmp_path: Path) -> None:
    refs = []
    for _ in range(5):
        registry = ModelRegistry(Settings(home=tmp_path))
        registry.gpu_usable()  # memoized answers must not pin the registry
        assert registry.count_tokens("Hello there") > 0
        refs.append(weakref.ref(registry))
    del registry
    gc.collect()
    assert [r() for r in refs] == [None] * 5


def test_bundled_models_resolve_and_are_cached(tmp_path: Path) -> None:
    registry = ModelRegistry(Settings(home=tmp_path))
    resolved = registry.resolve("smollm2-135m")
    assert resolved.name == "smollm2-135m:q4_1"
    assert registry.is_cached(resolved.entry, resolved.variant)
    assert registry.path(resolved).name == "SmolLM2-135M-Instruct.Q4_1.gguf"
