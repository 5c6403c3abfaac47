"""Pulls against the fake hub, in process: resume, retries, verification, locking, offline."""

from __future__ import annotations

import threading
from pathlib import Path

import huggingface_hub.constants
import pytest

from assay.catalog import ModelEntry, Resolved, Variant
from assay.config import Settings
from assay.errors import DownloadError, UnsafePathError
from assay.registry import ModelRegistry
from assay.store.download import PullOptions, PullResult, RetryPolicy, pull
from assay.store.integrity import is_verified, sha256_file
from assay.store.records import read_record
from tests.store.fixtures import FILE, SHA
from tests.store.hub_server import COMMIT, FakeHub, Faults, HostedFile

CHUNK = huggingface_hub.constants.DOWNLOAD_CHUNK_SIZE  # what http_get may lose on a cut


def _resolve(settings: Settings, name: str) -> Resolved:
    return ModelRegistry(settings).resolve(name)


def _pull(settings: Settings, hub: FakeHub, name: str = "smol-hub") -> PullResult:
    options = PullOptions(
        endpoint=hub.url, offline=False, retry=RetryPolicy(attempts=2, first_wait=0.05)
    )
    return pull(settings, _resolve(settings, name), options)


def _cache_files(settings: Settings) -> list[str]:
    return sorted(p.name for p in settings.models_dir.rglob("*") if p.is_file())


def test_a_full_pull_places_a_verified_file_and_its_record(
    home: Settings, hub: FakeHub, smol_hosted: HostedFile
) -> None:
    result = _pull(home, hub)
    assert not result.already_cached
    assert result.path == home.models_dir / "smol-hub" / "q4_1" / FILE
    assert result.size == smol_hosted.size == result.downloaded
    assert result.verified_against == "the catalog" and result.commit == COMMIT
    assert sha256_file(result.path) == SHA and is_verified(result.path, SHA)
    record = read_record(result.path.parent)
    assert record is not None and record.kind == "pulled" and record.commit == COMMIT
    assert [s.status for s in hub.wait_for_gets(1)] == [200]
    assert not list(home.models_dir.rglob("*.incomplete*"))
    # A second pull finds the verified file and asks the hub nothing.
    before = len(hub.log)
    again = _pull(home, hub)
    assert again.already_cached and again.path == result.path
    assert len(hub.log) == before


def test_a_pull_follows_the_hubs_lfs_redirect_without_the_token(
    home: Settings, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    hub.faults = Faults(redirect=True)
    result = _pull(home, hub)
    assert sha256_file(result.path) == SHA
    (head,) = hub.heads()
    (get,) = hub.wait_for_gets(1)
    assert head.authorized and head.status == 302
    assert get.path.startswith("/lfs/") and not get.authorized, "the token stays with the hub"


def test_an_expired_cdn_url_is_renewed_and_the_download_resumes(
    home: Settings, hub: FakeHub, smol_hosted: HostedFile
) -> None:
    hub.faults = Faults(redirect=True, cut_at=30_000_000, cdn_denials=1)
    result = _pull(home, hub)
    assert sha256_file(result.path) == SHA
    assert len(hub.heads()) == 2, "a fresh HEAD for a fresh signed URL"
    statuses = [s.status for s in hub.wait_for_gets(3)]
    assert sorted(statuses) == [200, 206, 403]
    resumed = next(s for s in hub.gets() if s.status == 206)
    assert resumed.range_start and resumed.body_bytes == smol_hosted.size - resumed.range_start


def test_a_dropped_connection_resumes_without_fetching_the_start_again(
    home: Settings, hub: FakeHub, smol_hosted: HostedFile
) -> None:
    cut = 40_000_000
    hub.faults = Faults(cut_at=cut)
    result = _pull(home, hub)
    assert sha256_file(result.path) == SHA
    first, second = hub.wait_for_gets(2)
    assert first.status == 200 and first.body_bytes == cut
    assert second.status == 206 and second.range_start is not None
    assert cut - CHUNK <= second.range_start <= cut
    assert second.body_bytes == smol_hosted.size - second.range_start
    assert hub.body_bytes() < smol_hosted.size + CHUNK


def test_a_stalled_connection_times_out_and_resumes(
    home: Settings, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DOWNLOAD_TIMEOUT", 1)
    hub.faults = Faults(stall_at=30_000_000, stall_seconds=4)
    result = _pull(home, hub)
    assert sha256_file(result.path) == SHA
    assert sorted(s.status for s in hub.wait_for_gets(2)) == [200, 206]


def test_a_partial_file_from_an_earlier_run_is_resumed(
    home: Settings, hub: FakeHub, smol_hosted: HostedFile
) -> None:
    folder = home.models_dir / "smol-hub" / "q4_1"
    folder.mkdir(parents=True)
    done = 25_000_000
    with smol_hosted.path.open("rb") as src:
        (folder / f"{FILE}.incomplete").write_bytes(src.read(done))
    (folder / f"{FILE}.incomplete.json").write_text(f'{{"etag": "{SHA}", "size": null}}')
    result = _pull(home, hub)
    assert result.resumed_from == done and result.downloaded == smol_hosted.size - done
    (get,) = hub.wait_for_gets(1)
    assert get.range_start == done and get.body_bytes == smol_hosted.size - done
    assert sha256_file(result.path) == SHA


def test_a_partial_file_of_another_version_is_discarded(
    home: Settings, hub: FakeHub, smol_hosted: HostedFile
) -> None:
    folder = home.models_dir / "smol-hub" / "q4_1"
    folder.mkdir(parents=True)
    (folder / f"{FILE}.incomplete").write_bytes(b"x" * 1000)
    (folder / f"{FILE}.incomplete.json").write_text('{"etag": "older", "size": null}')
    result = _pull(home, hub)
    assert result.resumed_from == 0
    assert [s.range_start for s in hub.wait_for_gets(1)] == [None]
    assert sha256_file(result.path) == SHA


@pytest.mark.parametrize("name", ["smol-hub", "smol-nosha"])
def test_wrong_bytes_are_deleted_and_nothing_enters_the_cache(
    home: Settings, hub: FakeHub, name: str
) -> None:
    hub.faults = Faults(corrupt=True)
    with pytest.raises(DownloadError, match="nothing entered the cache") as caught:
        _pull(home, hub, name)
    assert caught.value.exit_code == 1
    assert _cache_files(home) == [f"{FILE}.lock"]
    assert not ModelRegistry(home).is_cached(*_pair(home, f"{name}:q4_1"))


def _pair(settings: Settings, name: str) -> tuple[ModelEntry, Variant]:
    resolved = _resolve(settings, name)
    return resolved.entry, resolved.variant


def test_concurrent_pulls_of_one_model_download_it_once(home: Settings, hub: FakeHub) -> None:
    hub.faults = Faults(bytes_per_second=200_000_000)  # slow enough for the pulls to overlap
    results: list[PullResult] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(_pull(home, hub))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(r.already_cached for r in results) == [False, True, True]
    assert len(hub.wait_for_gets(1)) == 1
    assert sha256_file(results[0].path) == SHA


def test_the_free_space_check_runs_before_any_byte_is_fetched(home: Settings, hub: FakeHub) -> None:
    hub.faults = Faults(announced_size=10**18)
    with pytest.raises(DownloadError, match=r"needs 1000000000\.0 GB, .* free in "):
        _pull(home, hub)
    assert hub.gets() == []


def test_a_gated_repo_says_to_set_hf_token_and_accept_the_licence(
    home: Settings, hub: FakeHub
) -> None:
    hub.faults = Faults(gated=frozenset({"google/gemma-2-2b-it-GGUF"}))
    with pytest.raises(DownloadError) as caught:
        _pull(home, hub, "gemma-2-2b:f32")
    message = caught.value.message
    assert "set HF_TOKEN" in message and "accept the model's licence" in message
    assert "\n" not in message and [s.status for s in hub.heads()] == [401]


def test_offline_with_the_model_cached_touches_no_network(home: Settings, hub: FakeHub) -> None:
    _pull(home, hub)
    before = len(hub.log)
    result = pull(home, _resolve(home, "smol-hub"), PullOptions(endpoint=hub.url, offline=True))
    assert result.already_cached
    assert len(hub.log) == before


def test_offline_without_the_model_is_a_clear_error(home: Settings, hub: FakeHub) -> None:
    with pytest.raises(DownloadError, match="not in the cache and HF_HUB_OFFLINE is set"):
        pull(home, _resolve(home, "smol-hub"), PullOptions(endpoint=hub.url, offline=True))
    assert hub.log == []


def test_a_corrupt_cached_file_is_downloaded_again(home: Settings, hub: FakeHub) -> None:
    path = _pull(home, hub).path
    with path.open("r+b") as fh:
        fh.seek(1000)
        fh.write(b"\0\0\0\0")
    result = _pull(home, hub)
    assert not result.already_cached and sha256_file(path) == SHA
    assert len(hub.wait_for_gets(2)) == 2


def test_bundled_models_need_no_download(home: Settings, hub: FakeHub) -> None:
    result = _pull(home, hub, "smollm2-135m")
    assert result.already_cached and result.path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert hub.log == []


@pytest.mark.parametrize(
    "fields",
    [
        {"repo": "a/b", "file": "../../../outside.gguf"},
        {"repo": "a/b", "file": "/etc/passwd"},
        {"repo": "a/b", "file": "dir/../../x.gguf"},
        {"repo": "a/b", "file": "x\u0000.gguf"},
        {"repo": "../b", "file": "x.gguf"},
        {"repo": "a/b/c", "file": "x.gguf"},
        {"repo": "a/b", "file": "x.gguf", "revision": "../../main"},
    ],
)
def test_unsafe_repo_fields_are_refused_before_any_request(
    tmp_path: Path, hub: FakeHub, fields: dict[str, str]
) -> None:
    import json

    catalog = tmp_path / "models.json"
    catalog.write_text(json.dumps({"evil": fields}))
    settings = Settings(home=tmp_path / "home", models_file=catalog)
    with pytest.raises(UnsafePathError):
        _pull(settings, hub, "evil")
    assert hub.log == []
    assert not (tmp_path / "outside.gguf").exists()
    assert not ModelRegistry(settings).is_cached(*_pair(settings, "evil"))
