from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.catalog import (
    AdapterSource,
    BundledSource,
    DerivedSource,
    EndpointSource,
    FakeSource,
    HubSource,
    LocalSource,
    load_catalog,
    resolve,
)
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
            source = variant.location
            assert isinstance(source, BundledSource) or (
                isinstance(source, HubSource) and source.file
            )
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
    assert entry.variants[0].location == LocalSource(path=gguf)
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
            Variant(name="q4", device="cpu", location=HubSource(repo="r", file="a.gguf")),
            Variant(name="q8", device="gpu", location=HubSource(repo="r", file="b.gguf")),
            Variant(name="q5", device="cpu", location=HubSource(repo="r", file="c.gguf")),
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


# The source as the flat fields of catalog files written before `location`, and what it is.
FLAT_SOURCES = [
    (
        {"bundled": {"distribution": "pkg", "files": ["a/x.gguf"]}, "file": "x.gguf"},
        BundledSource(distribution="pkg", files=("a/x.gguf",), file="x.gguf"),
        "bundled in the Python package pkg",
    ),
    (
        {"repo": "org/repo", "file": "x.gguf", "revision": "v1", "gated": True},
        HubSource(repo="org/repo", file="x.gguf", revision="v1"),
        "hf://org/repo/x.gguf",
    ),
    ({"path": "/m/x.gguf"}, LocalSource(path=Path("/m/x.gguf")), "local file /m/x.gguf"),
    (
        {"engine": "adapter", "adapter": "pkg.mod:Model", "path": "/w"},
        AdapterSource(adapter="pkg.mod:Model", weights=Path("/w")),
        "adapter pkg.mod:Model with weights /w",
    ),
    (
        {"engine": "remote", "endpoint": "http://h/v1", "remote_model": "m", "api_key_env": "K"},
        EndpointSource(endpoint="http://h/v1", model="m", api_key_env="K"),
        "upstream http://h/v1 (model m)",
    ),
    (
        {"engine": "onnx", "file": "model", "derived_from": "a:q4"},
        DerivedSource(derived_from="a:q4", file="model", made_by="converted"),
        "converted by assay from a:q4",
    ),
    ({"engine": "fake"}, FakeSource(), "fake: no model, made-up replies"),
]


@pytest.mark.parametrize(("flat", "source", "described"), FLAT_SOURCES)
def test_a_flat_source_reads_as_the_one_kind_it_describes(
    flat: dict[str, object], source: object, described: str
) -> None:
    variant = Variant.model_validate({"name": "v", **flat})
    assert variant.location == source
    assert variant.source == described
    # Written back, it is the nested shape, which reads back the same.
    dumped = json.loads(variant.model_dump_json())
    assert dumped["location"]["kind"] == variant.location.kind
    assert Variant.model_validate(dumped) == variant


def test_a_catalog_file_in_either_shape_loads_the_same(tmp_path: Path) -> None:
    flat = {"name": "q4", "quantization": "Q4", "repo": "org/r", "file": "a.gguf"}
    nested = {
        "name": "q4",
        "quantization": "Q4",
        "location": {"kind": "hub", "repo": "org/r", "file": "a.gguf"},
    }
    entries = [ModelEntry(alias="m", variants=(Variant.model_validate(v),)) for v in (flat, nested)]
    assert entries[0] == entries[1]


def test_a_source_is_one_kind_with_its_own_fields() -> None:
    with pytest.raises(ValueError, match="location"):
        Variant.model_validate({"name": "v"})  # no source at all
    with pytest.raises(ValueError, match="repo"):
        Variant.model_validate(
            {"name": "v", "location": {"kind": "local", "path": "/x"}, "repo": "org/r"}
        )
    with pytest.raises(ValueError, match="kind"):
        Variant.model_validate({"name": "v", "location": {"kind": "ftp", "path": "/x"}})


def test_a_fake_model_needs_no_file_and_takes_its_options(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {
            "mock": {"engine": "fake"},
            "slow": {"fake": {"token_s": 0.05, "words": None}, "variant": "v1"},
            "smollm2-135m": {"engine": "fake", "fake": {"reply": "hi"}},
        },
    )
    catalog = load_catalog(path)
    assert catalog["mock"].variants[0].location == FakeSource()
    slow = catalog["slow"].variants[0]
    assert (slow.name, slow.engine) == ("v1", "fake")
    assert slow.location == FakeSource(token_s=0.05, words=None)
    # Over a built-in alias: its preferred variant, ahead of the real ones.
    variants = catalog["smollm2-135m"].variants
    assert variants[0].location == FakeSource(reply="hi") and len(variants) > 1
    bad = _write(tmp_path, {"mock": {"engine": "fake", "fake": {"token_s": -1}}})
    with pytest.raises(CatalogError, match=r"model 'mock', field 'fake\.token_s'"):
        load_catalog(bad)
