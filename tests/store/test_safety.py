from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from assay.config import Settings
from assay.errors import ModelFileError, UnsafePathError
from assay.registry import ModelRegistry
from assay.store.locate import cached_file
from assay.store.safety import (
    check_repo_file,
    check_repo_id,
    check_revision,
    check_segment,
    contained,
    local_file_name,
)


@pytest.mark.parametrize("repo", ["Qwen/Qwen2.5-0.5B-Instruct-GGUF", "a/b", "org_1/m.v2"])
def test_good_repo_ids_pass(repo: str) -> None:
    assert check_repo_id(repo) == repo


@pytest.mark.parametrize("repo", ["a", "a/b/c", "../b", "a/..", "/a/b", "a/b\x00", "a\\b/c", ""])
def test_bad_repo_ids_are_refused(repo: str) -> None:
    with pytest.raises(UnsafePathError):
        check_repo_id(repo)


def test_repo_files_may_sit_in_folders_but_land_by_their_name() -> None:
    assert local_file_name("Q4_K_M/model-Q4_K_M.gguf") == "model-Q4_K_M.gguf"
    assert local_file_name("model.gguf") == "model.gguf"


@pytest.mark.parametrize(
    "file", ["../x.gguf", "a/../../x.gguf", "/etc/passwd", "a\\..\\x", "x\x00.gguf", "", "a//b",
             ".hidden", "a/./b.gguf", "~/x.gguf"],
)  # fmt: skip
def test_bad_repo_files_are_refused(file: str) -> None:
    with pytest.raises(UnsafePathError):
        check_repo_file(file)


@pytest.mark.parametrize("revision", ["main", "v1.0", "refs/pr/1", "0123456789abcdef" * 2])
def test_revisions_are_url_parts_not_paths(revision: str) -> None:
    assert check_revision(revision) == revision


@pytest.mark.parametrize("revision", ["", "../main", "a\x00b", "a\nb"])
def test_bad_revisions_are_refused(revision: str) -> None:
    with pytest.raises(UnsafePathError):
        check_revision(revision)


@pytest.mark.parametrize("name", ["..", ".", "a/b", "a\\b", "/abs", "x\x00"])
def test_segments_cannot_leave_their_folder(name: str) -> None:
    with pytest.raises(UnsafePathError):
        check_segment(name, "file")


def test_a_symlink_out_of_the_cache_is_refused(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    outside = tmp_path / "secret.gguf"
    outside.write_bytes(b"GGUF")
    (cache / "link.gguf").symlink_to(outside)
    (cache / "inner.gguf").write_bytes(b"GGUF")
    (cache / "ok-link.gguf").symlink_to(cache / "inner.gguf")
    with pytest.raises(UnsafePathError, match="outside"):
        contained(cache, cache / "link.gguf")
    assert contained(cache, cache / "ok-link.gguf") == cache / "ok-link.gguf"


def test_a_cached_file_symlinked_out_of_the_cache_does_not_load(tmp_path: Path) -> None:
    catalog = tmp_path / "models.json"
    catalog.write_text(json.dumps({"m": {"repo": "a/b", "file": "m.gguf", "variant": "v"}}))
    settings = Settings(home=tmp_path / "home", models_file=catalog)
    registry = ModelRegistry(settings)
    resolved = registry.resolve("m")
    folder = settings.models_dir / "m" / "v"
    folder.mkdir(parents=True)
    outside = tmp_path / "elsewhere.gguf"
    outside.write_bytes(b"GGUF")
    os.symlink(outside, folder / "m.gguf")
    assert not registry.is_cached(resolved.entry, resolved.variant)
    with pytest.raises(UnsafePathError):
        registry.path(resolved)
    with pytest.raises(UnsafePathError):
        cached_file(settings, resolved.entry, resolved.variant)


def test_a_missing_pulled_file_says_to_pull_it(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    registry = ModelRegistry(settings)
    with pytest.raises(ModelFileError, match=r"assay pull qwen2\.5-0\.5b:q4_k_m"):
        registry.path(registry.resolve("qwen2.5-0.5b:q4_k_m"))
