from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.catalog import load_catalog, resolve
from assay.catalog.loader import load_builtin
from assay.catalog.schema import ModelEntry, Variant
from assay.errors import CatalogError, UnknownModelError

WORKSHOP_CANDIDATES = [
    "qwen2.5-0.5b",
    "gemma-2-2b",
    "mistral-7b",
    "deepseek-r1-distill-qwen-1.5b",
    "phi-3.5-mini",
    "llama-3.2-1b",
]


def test_builtin_catalog_has_bundled_models_and_workshop_candidates() -> None:
    catalog = load_builtin()
    for alias in ["smollm2-135m", "gemma3-270m", *WORKSHOP_CANDIDATES]:
        entry = catalog[alias]
        assert entry.license != "unknown"
        assert entry.parameters and entry.context_length
        for variant in entry.variants:
            assert variant.size_bytes and variant.quantization
            assert variant.bundled or (variant.repo and variant.file)
    assert catalog["smollm2-135m"].variants[0].sha256 is not None
    assert any(v.gated for v in catalog["gemma-2-2b"].variants)


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "models.json"
    path.write_text(json.dumps(data))
    return path


def test_user_file_in_the_workshop_shape_adds_a_model(tmp_path: Path) -> None:
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF")
    path = _write(
        tmp_path,
        {"my-model": {"capabilities": ["chat"], "size_mb": 98, "path": str(gguf)}},
    )
    catalog = load_catalog(path)
    entry = catalog["my-model"]
    assert entry.origin == "user"
    assert entry.capabilities == ("chat",)
    assert entry.variants[0].path == gguf
    assert entry.variants[0].size_bytes == 98_000_000
    assert "smollm2-135m" in catalog


def test_user_file_updates_builtin_metadata_and_prefers_its_variant(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {"qwen2.5-0.5b": {"capabilities": ["chat"], "path": "/models/q.gguf", "variant": "mine"}},
    )
    entry = load_catalog(path)["qwen2.5-0.5b"]
    assert entry.capabilities == ("chat",)
    assert entry.variants[0].name == "mine"
    assert {v.name for v in entry.variants} == {"mine", "q4_k_m", "q8_0"}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"m": {"size_mb": "big", "path": "/x.gguf"}}, "model 'm', field 'size_mb'"),
        ({"m": {"capabilities": ["chat"], "colour": "red", "path": "/x"}}, "field 'colour'"),
        ({"m": {"capabilities": ["chat"]}}, "model 'm', field 'path'"),
        ({"m": {"path": "/x", "sha256": "nothex"}}, "field 'sha256'"),
        ({"../evil": {"path": "/x"}}, "alias '../evil'"),
        ({"m": {"path": "/x", "variant": "a/b"}}, "field 'variant'"),
        ({"m": "not an object"}, "model 'm': expected an object"),
    ],
)
def test_bad_user_entries_name_file_alias_and_field(
    tmp_path: Path, data: object, expected: str
) -> None:
    path = _write(tmp_path, data)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert str(path) in info.value.message
    assert expected in info.value.message
    assert "\n" not in info.value.message


def test_user_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "models.json"
    path.write_text("{ not json")
    with pytest.raises(CatalogError, match="not valid JSON"):
        load_catalog(path)


def _entry() -> ModelEntry:
    return ModelEntry(
        alias="m",
        variants=(
            Variant(name="q4", device="cpu", repo="r", file="a.gguf"),
            Variant(name="q8", device="gpu", repo="r", file="b.gguf"),
            Variant(name="q5", device="cpu", repo="r", file="c.gguf"),
        ),
    )


def test_alias_resolves_to_a_cpu_variant_without_gpu_and_gpu_variant_with_one() -> None:
    catalog = {"m": _entry()}
    assert resolve(catalog, "m", gpu_usable=False).variant.name == "q4"
    assert resolve(catalog, "m", gpu_usable=True).variant.name == "q8"


def test_alias_prefers_a_cached_variant() -> None:
    catalog = {"m": _entry()}
    chosen = resolve(catalog, "m", is_cached=lambda e, v: v.name == "q5")
    assert chosen.variant.name == "q5"


def test_alias_colon_variant_picks_that_variant() -> None:
    assert resolve({"m": _entry()}, "m:q8").variant.name == "q8"
    with pytest.raises(UnknownModelError, match="its variants are: q4, q8, q5"):
        resolve({"m": _entry()}, "m:q3")


def test_unknown_model_suggests_the_closest_name() -> None:
    with pytest.raises(UnknownModelError) as info:
        resolve(load_builtin(), "smollm2")
    assert info.value.message == "unknown model 'smollm2'; did you mean 'smollm2-135m'?"
    with pytest.raises(UnknownModelError, match="assay models list"):
        resolve(load_builtin(), "zzzzzz")
