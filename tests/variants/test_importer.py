"""Bring-your-own GGUF files: registered in models.json after llama.cpp reads the header."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.config import Settings
from assay.errors import AssayError, CatalogError, ModelFileError
from assay.registry import ModelRegistry
from assay.store.integrity import is_verified
from assay.variants.importer import ImportRequest, ImportResult, import_gguf


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    catalog = tmp_path / "models.json"
    catalog.write_text(json.dumps({"kept": {"path": "/somewhere/k.gguf", "license": "MIT"}}))
    return Settings(home=tmp_path / "home", models_file=catalog)


@pytest.fixture
def my_gguf(tmp_path: Path, smollm_path: Path) -> Path:
    path = tmp_path / "downloads" / "my-model.gguf"
    path.parent.mkdir()
    path.write_bytes(smollm_path.read_bytes())
    return path


def _import(settings: Settings, request: ImportRequest) -> ImportResult:
    return import_gguf(settings, ModelRegistry(settings).catalog, request)


def test_a_local_gguf_is_registered_in_place(settings: Settings, my_gguf: Path) -> None:
    result = _import(settings, ImportRequest(my_gguf, "mine", "Apache-2.0", ("chat",)))
    assert (result.alias, result.variant, result.quantization) == ("mine", "q4_1", "Q4_1")
    assert result.path == my_gguf and not result.copied
    entries = json.loads(settings.user_catalog_path.read_text())
    assert entries["kept"] == {"path": "/somewhere/k.gguf", "license": "MIT"}
    assert entries["mine"]["path"] == str(my_gguf)
    assert entries["mine"]["capabilities"] == ["chat"]
    registry = ModelRegistry(settings)
    resolved = registry.resolve("mine")
    assert registry.path(resolved) == my_gguf
    assert resolved.entry.license == "Apache-2.0" and resolved.entry.origin == "user"
    assert not settings.models_dir.exists(), "no copy without --copy"


def test_copy_puts_a_verified_file_in_the_cache(settings: Settings, my_gguf: Path) -> None:
    result = _import(settings, ImportRequest(my_gguf, "mine", copy=True))
    assert result.path == settings.models_dir / "mine" / "q4_1" / "my-model.gguf"
    assert result.path.read_bytes() == my_gguf.read_bytes()
    assert result.capabilities == ("chat", "completion"), "it has a chat template"
    registry = ModelRegistry(settings)
    resolved = registry.resolve("mine")
    assert is_verified(result.path, resolved.variant.sha256)
    assert not list(result.path.parent.glob("*.incomplete"))


def test_a_non_gguf_file_is_refused(settings: Settings, tmp_path: Path) -> None:
    text = tmp_path / "notes.gguf"
    text.write_text("not a model")
    with pytest.raises(ModelFileError, match="is not a GGUF file"):
        _import(settings, ImportRequest(text, "notes"))
    assert "notes" not in json.loads(settings.user_catalog_path.read_text())


def test_a_truncated_gguf_is_refused(settings: Settings, tmp_path: Path, smollm_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    with smollm_path.open("rb") as fh:
        broken.write_bytes(fh.read(2_000_000))
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        _import(settings, ImportRequest(broken, "broken"))


@pytest.mark.parametrize(
    ("alias", "message"),
    [("kept", "already in the catalog"), ("smollm2-135m", "already"), ("../up", "must start")],
)
def test_taken_or_unsafe_aliases_are_refused(
    settings: Settings, my_gguf: Path, alias: str, message: str
) -> None:
    with pytest.raises(AssayError, match=message):
        _import(settings, ImportRequest(my_gguf, alias))


def test_a_race_on_the_alias_is_caught_when_writing(settings: Settings, my_gguf: Path) -> None:
    catalog = ModelRegistry(settings).catalog  # read before another command adds the alias
    _import(settings, ImportRequest(my_gguf, "mine"))
    with pytest.raises(CatalogError, match="already in"):
        import_gguf(settings, catalog, ImportRequest(my_gguf, "mine"))
