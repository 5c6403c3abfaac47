"""llama.cpp's quantizer on the bundled SmolLM2 (Q4_1), and the requests it must refuse."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.catalog import DerivedSource
from assay.config import Settings
from assay.engines.llamacpp import read_gguf_info
from assay.engines.quantizer import QUANT_TYPES, type_of_file
from assay.errors import AssayError, ModelFileError
from assay.registry import ModelRegistry
from assay.store.integrity import is_verified
from assay.store.records import read_record
from assay.variants import quantize


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


def _plan(
    settings: Settings, name: str, type_: str, new: str | None = None
) -> quantize.QuantizeJob:
    return quantize.plan(settings, ModelRegistry(settings).resolve(name), type_, new)


def test_the_type_table_matches_llama_cpp() -> None:
    import llama_cpp

    for quant in QUANT_TYPES.values():
        constant = (
            "LLAMA_FTYPE_ALL_F32" if quant.name == "f32" else f"LLAMA_FTYPE_MOSTLY_{quant.label}"
        )
        assert getattr(llama_cpp, constant) == quant.ftype


def test_q4_1_to_q8_0_makes_a_variant_that_resolves_and_loads(settings: Settings) -> None:
    job = _plan(settings, "smollm2-135m", "Q8_0")
    assert job.name == "smollm2-135m:q8_0" and job.warning and "cannot restore" in job.warning
    result = quantize.run(job, threads=2)
    assert result.path == settings.models_dir / "smollm2-135m" / "q8_0" / "smollm2-135m-Q8_0.gguf"
    assert result.size > result.source_size
    file_type = type_of_file(read_gguf_info(result.path).metadata["general.file_type"])
    assert file_type is not None and file_type.name == "q8_0"
    record = read_record(result.path.parent)
    assert record and record.kind == "quantized" and record.derived_from == "smollm2-135m:q4_1"
    assert is_verified(result.path, record.sha256)
    assert not list(result.path.parent.glob("*.incomplete"))
    registry = ModelRegistry(settings)
    resolved = registry.resolve("smollm2-135m:q8_0")
    assert resolved.variant.location == DerivedSource(
        derived_from="smollm2-135m:q4_1", file="smollm2-135m-Q8_0.gguf", made_by="quantized"
    )
    assert registry.path(resolved) == result.path
    # The bundled variant stays the default; the new one is an extra.
    assert registry.resolve("smollm2-135m").variant.name == "q4_1"
    with pytest.raises(AssayError, match="already exists"):
        _plan(settings, "smollm2-135m", "q8_0")
    assert _plan(settings, "smollm2-135m", "q8_0", "q8_0-again").name == "smollm2-135m:q8_0-again"


@pytest.mark.parametrize(
    ("name", "type_", "message"),
    [
        ("smollm2-135m", "q9_9", "unknown quantization type 'q9_9'; choose one of: f32"),
        ("smollm2-135m", "q4_1", "already Q4_1"),
        ("qwen2.5-0.5b:q4_k_m", "q8_0", "not in the cache; run 'assay pull"),
    ],
)
def test_impossible_requests_are_refused(
    settings: Settings, name: str, type_: str, message: str
) -> None:
    with pytest.raises((AssayError, ModelFileError), match=message):
        _plan(settings, name, type_)


def test_a_name_clash_with_a_catalog_variant_asks_for_another_name(tmp_path: Path) -> None:
    catalog = tmp_path / "models.json"
    catalog.write_text('{"smollm2-135m": {"repo": "x/y", "file": "f.gguf", "variant": "q8_0"}}')
    settings = Settings(home=tmp_path / "home", models_file=catalog)
    with pytest.raises(AssayError, match="pass --name"):
        _plan(settings, "smollm2-135m:q4_1", "q8_0")
    with pytest.raises(AssayError, match="variant name"):
        _plan(settings, "smollm2-135m:q4_1", "q8_0", "../x")


def test_requantizing_to_fewer_bits_warns_about_precision(settings: Settings) -> None:
    job = _plan(settings, "smollm2-135m", "q4_0")
    assert job.warning and "loses more" in job.warning
