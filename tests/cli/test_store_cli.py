"""`assay pull`, `assay cache …` and `assay quantize` as a user runs them: real processes
against the fake hub (HF_ENDPOINT), exit codes, and one-line errors without a traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assay.config import Settings
from tests.store.fixtures import FILE, SHA
from tests.store.hub_server import FakeHub, Faults, HostedFile

ASSAY = [sys.executable, "-m", "assay"]


def assay(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ASSAY, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **env},
    )


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*ASSAY, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def assert_error(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    """Exit code, and exactly one `error:` line, the last one; no traceback."""
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors == [lines[-1]], result.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def test_the_store_commands_are_listed_without_importing_heavy_libraries() -> None:
    code = (
        "import sys, assay.cli.main;"
        "heavy = {'huggingface_hub', 'httpx2', 'llama_cpp'} & set(sys.modules);"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    result = assay("--help")
    for command in ("pull", "cache", "quantize"):
        assert command in result.stdout


def _cached(home: Settings, alias: str = "smol-hub") -> Path:
    return home.models_dir / alias / "q4_1" / FILE


def test_pull_then_pull_again_then_offline(home: Settings, hub: FakeHub) -> None:
    result = assay("pull", "smol-hub")
    assert result.returncode == 0, result.stderr
    assert "pulled smol-hub:q4_1: 98.4 MB" in result.stdout
    assert "sha256 matches the catalog" in result.stdout
    assert _cached(home).is_file()
    again = assay("pull", "smol-hub")
    assert again.returncode == 0 and "already in the cache" in again.stdout
    requests = len(hub.log)
    offline = assay("pull", "smol-hub", HF_HUB_OFFLINE="1")
    assert offline.returncode == 0 and "already in the cache" in offline.stdout
    listed = assay("cache", "list", HF_HUB_OFFLINE="1")
    assert listed.returncode == 0 and "smol-hub" in listed.stdout and "total" in listed.stdout
    assert len(hub.log) == requests, "offline with the model cached: no network"


def test_offline_without_the_model_is_one_clear_line(home: Settings, hub: FakeHub) -> None:
    result = assay("pull", "smol-hub", HF_HUB_OFFLINE="1")
    assert_error(result, 1, "not in the cache", "HF_HUB_OFFLINE")
    assert hub.log == []


def test_a_gated_repo_without_a_token_then_with_one(home: Settings, hub: FakeHub) -> None:
    hub.faults = Faults(gated=frozenset({"google/gemma-2-2b-it-GGUF"}), tokens=frozenset({"ok"}))
    assert_error(assay("pull", "gemma-2-2b:f32"), 1, "is gated", "set HF_TOKEN", "licence")
    refused = assay("pull", "gemma-2-2b:f32", HF_TOKEN="hf_not_accepted")
    assert_error(refused, 1, "refused the token in HF_TOKEN", "accept the model's licence")
    allowed = assay("pull", "gemma-2-2b:f32", HF_TOKEN="ok")
    assert allowed.returncode == 0, allowed.stderr
    assert (home.models_dir / "gemma-2-2b" / "f32" / "2b_it_v2.gguf").is_file()


def test_a_checksum_mismatch_exits_1_and_caches_nothing(home: Settings, hub: FakeHub) -> None:
    hub.faults = Faults(corrupt=True)
    assert_error(assay("pull", "smol-hub"), 1, "expected b179c9523d0e", "nothing entered the cache")
    assert not _cached(home).exists()
    assert not list(home.models_dir.rglob("*.incomplete"))


def test_ctrl_c_then_a_new_pull_resumes_where_it_stopped(
    home: Settings, hub: FakeHub, smol_hosted: HostedFile
) -> None:
    hub.faults = Faults(bytes_per_second=20_000_000)
    partial = _cached(home).with_name(FILE + ".incomplete")
    process = start("pull", "smol-hub")
    deadline = time.monotonic() + 60
    while not (partial.exists() and partial.stat().st_size >= 20_000_000):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "resumes the download" in stderr and "Traceback" not in stderr
    kept = partial.stat().st_size
    assert 20_000_000 <= kept < smol_hosted.size
    hub.faults = Faults()
    result = assay("pull", "smol-hub")
    assert result.returncode == 0, result.stderr
    assert "resumed from" in result.stdout
    last = next(s for s in hub.wait_for_gets(2) if s.status == 206)
    assert last.range_start == kept
    assert last.body_bytes == smol_hosted.size - kept, "the first part is not fetched again"
    from assay.store.integrity import sha256_file

    assert sha256_file(_cached(home)) == SHA


def test_two_concurrent_pulls_give_one_good_file(home: Settings, hub: FakeHub) -> None:
    hub.faults = Faults(bytes_per_second=60_000_000)
    first, second = start("pull", "smol-hub"), start("pull", "smol-hub")
    outputs = [p.communicate(timeout=120) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outputs
    said = " ".join(out for out, _ in outputs)
    assert "pulled smol-hub:q4_1" in said and "already in the cache" in said
    assert len(hub.wait_for_gets(1)) == 1
    from assay.store.integrity import sha256_file

    assert sha256_file(_cached(home)) == SHA


def test_path_traversal_in_the_user_catalog_is_refused(home: Settings, hub: FakeHub) -> None:
    entries = {
        "evil": {"repo": "test-org/x", "file": "../../../../evil.gguf"},
        "evil2": {"repo": "../../etc", "file": "x.gguf"},
    }
    home.user_catalog_path.write_text(json.dumps(entries))
    assert_error(assay("pull", "evil"), 2, "not a safe repo file name")
    assert_error(assay("pull", "evil2"), 2, "not a valid 'owner/name'")
    assert_error(assay("cache", "rm", "../evil", "--yes"), 2, "must start with a letter")
    assert assay("models", "list").returncode == 0
    assert assay("cache", "list").returncode == 0
    assert hub.log == [] and not list(home.home.parent.rglob("evil.gguf"))


def test_free_space_is_checked_first(home: Settings, hub: FakeHub) -> None:
    hub.faults = Faults(announced_size=5 * 10**15)
    assert_error(assay("pull", "smol-hub"), 1, "needs 5000000.0 GB", "free in")
    assert hub.gets() == []


@pytest.mark.slow
def test_quantize_then_run_the_new_variant(home: Settings) -> None:
    result = assay("quantize", "smollm2-135m", "--type", "q8_0")
    assert result.returncode == 0, result.stderr
    assert "made smollm2-135m:q8_0 (Q8_0) from smollm2-135m:q4_1: 144.8 MB" in result.stdout
    assert "cannot restore the precision" in result.stderr
    run = assay("run", "smollm2-135m:q8_0", "--prompt", "hi", "--max-tokens", "8",
                "--temperature", "0")  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() and "tok/s" in run.stderr
    listed = assay("cache", "list")
    assert "quantized" in listed.stdout
    assert_error(assay("quantize", "smollm2-135m", "--type", "q4_1"), 2, "already Q4_1")
    assert_error(assay("quantize", "smollm2-135m", "--type", "q7"), 2, "unknown quantization")
    assert_error(assay("quantize", "mistral-7b", "--type", "q8_0"), 2, "assay pull mistral-7b")


def test_import_a_local_gguf_and_refuse_a_non_gguf(
    home: Settings, tmp_path: Path, smol_hosted: HostedFile
) -> None:
    result = assay("cache", "import", str(smol_hosted.path), "--alias", "mine",
                   "--license", "Apache-2.0", "--capabilities", "chat,completion")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "imported mine:q4_1" in result.stdout and "used in place" in result.stdout
    shown = assay("models", "show", "mine")
    assert shown.returncode == 0 and str(smol_hosted.path) in shown.stdout
    text = tmp_path / "readme.gguf"
    text.write_text("hello")
    assert_error(assay("cache", "import", str(text), "--alias", "text"), 2, "is not a GGUF file")
    entries = json.loads(home.user_catalog_path.read_text())
    assert "mine" in entries and "text" not in entries and "smol-hub" in entries


def test_cache_location_verify_and_rm(home: Settings, hub: FakeHub) -> None:
    location = assay("cache", "location")
    assert location.stdout.strip() == str(home.models_dir)
    assert assay("pull", "smol-hub").returncode == 0
    verified = assay("cache", "verify")
    assert verified.returncode == 0, verified.stderr
    with _cached(home).open("r+b") as fh:
        fh.seek(1234)
        fh.write(b"!!")
    corrupt = assay("cache", "verify")
    assert "CORRUPT" in corrupt.stdout
    assert_error(corrupt, 1, "1 corrupt: smol-hub:q4_1")
    declined = assay("cache", "rm", "smol-hub", stdin="n\n")
    assert declined.returncode == 1 and _cached(home).exists()
    removed = assay("cache", "rm", "smol-hub", "--yes")
    assert removed.returncode == 0 and "removed 1 item(s)" in removed.stdout
    assert not _cached(home).exists()
    assert_error(assay("cache", "rm"), 2, "or pass --all")
    assert_error(assay("cache", "rm", "smol-hub", "--yes"), 2, "nothing in the cache")


def test_pull_of_a_model_without_a_file_says_so(tmp_path: Path) -> None:
    # A fake (or an endpoint) has no file: pull says there is nothing to download; it used
    # to report the size of the current folder as the model's.
    models = tmp_path / "models.json"
    models.write_text('{"mock": {"engine": "fake"}}')
    result = assay("pull", "mock", ASSAY_HOME=str(tmp_path / "home"), ASSAY_MODELS_FILE=str(models))
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.strip()
        == "mock:user needs no download: it has no model file (an endpoint, a fake model)"
    )


def test_a_model_without_a_file_weighs_nothing() -> None:
    from assay.engines.loading import path_bytes

    assert path_bytes(Path()) == 0 and path_bytes(Path(__file__)) > 0
