"""The registry: what resolves, and that registries are freed like any object."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest

from assay.config import Settings
from assay.errors import AssayError
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


def test_load_options_take_the_arguments_then_the_settings(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, threads=3, context_size=512, llama_log=True)
    registry = ModelRegistry(settings)
    from_settings = registry.load_options(device="cpu")
    assert (from_settings.threads, from_settings.context_size) == (3, 512)
    assert from_settings.gpu_layers == 0 and from_settings.engine_log
    given = registry.load_options(threads=1, context_size=256, gpu_layers=5, device="cpu")
    assert (given.threads, given.context_size, given.gpu_layers) == (1, 256, 0)  # cpu: none
    assert from_settings.context_for(8192) == 512
    assert ModelRegistry(Settings(home=tmp_path)).load_options().context_for(8192) == 4096


def test_an_unknown_model_and_a_missing_gpu_are_one_line_errors(tmp_path: Path) -> None:
    registry = ModelRegistry(Settings(home=tmp_path))
    with pytest.raises(AssayError, match="unknown model 'nosuch'; run 'assay models list'"):
        registry.resolve("nosuch")
    if not registry.gpu_usable():
        with pytest.raises(AssayError, match="no usable GPU"):
            registry.load_options(device="gpu")
