"""Shared fixtures: an isolated ASSAY_HOME, the bundled models loaded once per session, and
fake models (the fake engine) that load nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assay.config import Settings
from assay.engines import LoadedModel, LoadOptions
from assay.registry import ModelRegistry


@pytest.fixture(scope="session")
def shared_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ASSAY_HOME for the session, so gemma3-270m is assembled once."""
    return tmp_path_factory.mktemp("assay-home")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, shared_home: Path) -> None:
    monkeypatch.setenv("ASSAY_HOME", str(shared_home))
    for name in ("ASSAY_MODELS_FILE", "ASSAY_THREADS", "ASSAY_CONTEXT_SIZE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def registry(shared_home: Path) -> ModelRegistry:
    return ModelRegistry(Settings(home=shared_home))


def _load(registry: ModelRegistry, name: str) -> Iterator[LoadedModel]:
    """The engine's own model, in this process: these fixtures are for the engines' tests
    (what a runner adds is tested in tests/runner, and by the server's tests)."""
    in_process = ModelRegistry(registry.settings.model_copy(update={"runners": False}))
    loaded = in_process.load(name, LoadOptions(context_size=2048))
    yield loaded.model
    loaded.model.close()


@pytest.fixture(scope="session")
def smollm(registry: ModelRegistry) -> Iterator[LoadedModel]:
    yield from _load(registry, "smollm2-135m")


@pytest.fixture(scope="session")
def gemma(registry: ModelRegistry) -> Iterator[LoadedModel]:
    yield from _load(registry, "gemma3-270m")


@pytest.fixture(scope="session")
def smollm_path(registry: ModelRegistry) -> Path:
    return registry.path(registry.resolve("smollm2-135m"))


@pytest.fixture(scope="session")
def onnx_converted(shared_home: Path) -> str:
    """`assay convert smollm2-135m` run once per session (about 25 s): its stdout."""
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "assay", "convert", "smollm2-135m"],
        capture_output=True,
        text=True,
        env=os.environ | {"ASSAY_HOME": str(shared_home)},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="session")
def onnx_registry(shared_home: Path, onnx_converted: str) -> ModelRegistry:
    """A registry that sees the converted variant smollm2-135m:onnx-int4."""
    return ModelRegistry(Settings(home=shared_home))


@pytest.fixture(scope="session")
def onnx_smollm(onnx_registry: ModelRegistry) -> Iterator[LoadedModel]:
    yield from _load(onnx_registry, "smollm2-135m:onnx-int4")


# Fake models (the fake engine), each a behaviour that the server, the judge and the other
# consumers of a model must handle; each has the variant "user".
FAKES: dict[str, dict[str, Any]] = {
    "fake": {"engine": "fake"},
    "fake-b": {"engine": "fake"},
    # Endless, a token every 10 ms: a stream that runs until max_tokens or a cancel.
    "streamer": {"fake": {"words": None, "token_s": 0.01}},
    "slow-loader": {"fake": {"load_s": 0.3}},
    "big": {"fake": {"memory_bytes": 98_000_000}},
    "unloadable": {"fake": {"load_error": "the weights are gone"}},
    "faulty": {"fake": {"fail_after": 3, "token_s": 0.01}},
    "faulty-at-once": {"fake": {"fail_after": 0}},
}


@pytest.fixture(scope="session")
def fake_registry(shared_home: Path, tmp_path_factory: pytest.TempPathFactory) -> ModelRegistry:
    """The catalog with FAKES added (the bundled models are there too, never loaded)."""
    models = tmp_path_factory.mktemp("fakes") / "models.json"
    models.write_text(json.dumps(FAKES))
    return ModelRegistry(Settings(home=shared_home, models_file=models))
