"""Fixtures shared by the store and CLI tests: a fake hub serving SmolLM2, a private home."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from assay.config import Settings
from assay.registry import ModelRegistry
from tests.store.hub_server import FakeHub, HostedFile, host, serve

REPO = "test-org/SmolLM2-135M-GGUF"
FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SHA = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
GATED_REPO = "google/gemma-2-2b-it-GGUF"  # the built-in gemma-2-2b:f32 comes from here

HUB_ENTRIES = {
    # Checked against the catalog's sha256.
    "smol-hub": {"repo": REPO, "file": FILE, "sha256": SHA, "variant": "q4_1",
                 "quantization": "Q4_1", "capabilities": ["chat", "completion"]},
    # No sha256 in the catalog: checked against the hub's LFS ETag.
    "smol-nosha": {"repo": REPO, "file": FILE, "variant": "q4_1"},
}  # fmt: skip


@pytest.fixture(scope="session")
def smol_hosted(registry: ModelRegistry) -> HostedFile:
    hosted = host(registry.path(registry.resolve("smollm2-135m")))
    assert hosted.sha256 == SHA
    return hosted


@pytest.fixture
def hub(smol_hosted: HostedFile) -> Iterator[FakeHub]:
    with serve({(REPO, FILE): smol_hosted, (GATED_REPO, "2b_it_v2.gguf"): smol_hosted}) as fake:
        yield fake


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hub: FakeHub) -> Settings:
    """A private ASSAY_HOME with the hub entries in its models.json, and a clean HF env."""
    catalog = tmp_path / "models.json"
    catalog.write_text(json.dumps(HUB_ENTRIES))
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ASSAY_MODELS_FILE", str(catalog))
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    for name in ("HF_TOKEN", "HF_HUB_OFFLINE", "HF_HUB_DOWNLOAD_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    return Settings(home=tmp_path / "home", models_file=catalog)


def env(**extra: str) -> dict[str, str]:
    """The environment for an `assay` subprocess, with extra variables set."""
    return {**os.environ, **extra}
