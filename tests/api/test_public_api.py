"""The public API is pinned, light to import, and the CLI gives what the library gives."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import assay
from assay import AssayError, api
from assay.config import Settings
from tests.reports.conftest import make_record, make_run, ok_state

ASSAY = [sys.executable, "-m", "assay"]


def test_the_public_names_are_pinned() -> None:
    assert assay.__all__ == [
        "AssayError",
        "BenchHooks",
        "Manager",
        "ModelInfo",
        "ScoreResult",
        "__version__",
        "bench",
        "charts",
        "compare",
        "load_report",
        "report",
        "resume",
        "score",
        "select",
    ]
    for name in assay.__all__:
        assert getattr(assay, name) is not None
    assert (Path(assay.__file__).parent / "py.typed").exists()


def test_importing_assay_loads_no_heavy_library() -> None:
    code = (
        "import sys, assay; heavy = {'llama_cpp', 'numpy', 'scipy', 'matplotlib', 'aiohttp', "
        "'fastapi', 'huggingface_hub'} & set(sys.modules); assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_library_and_cli_agree_on_one_run(tmp_path: Path) -> None:
    records = [make_record("smollm2-135m", i, 400 + 10 * i, 100) for i in range(8)]
    records += [make_record("gemma3-270m", i, 900, 40, tokens=30) for i in range(8)]
    run = make_run(
        tmp_path, {"smollm2-135m": ok_state(), "gemma3-270m": ok_state(600_000_000)}, records
    )
    out = tmp_path / "cli"
    subprocess.run(
        [*ASSAY, "report", str(run), "--format", "json", "--out", str(out)],
        check=True,
        capture_output=True,
    )
    (library,) = api.report(run, ["json"], out=tmp_path / "lib")
    assert json.loads((out / "benchmark_report.json").read_text()) == json.loads(
        library.read_text()
    )
    chosen = api.select(run, max_p95="2s", license="any")
    cli = subprocess.run(
        [*ASSAY, "select", str(run), "--max-p95", "2s"], capture_output=True, text=True, check=True
    )
    assert chosen.winner is not None and f"Recommended: {chosen.winner.model}" in cli.stdout
    changes = api.compare(run, run)
    assert changes and not any(c.regression for c in changes)


def test_assay_bench_stays_the_function_once_its_package_is_imported() -> None:
    code = (
        "import assay, assay.bench.spec; from assay.bench.spec import BenchSpec; "
        "assert callable(assay.bench) and BenchSpec, assay.bench"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_misspelt_bench_option_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(AssayError, match="unknown bench option 'rouns'; did you mean 'rounds'"):
        assay.bench(["smollm2-135m"], out=tmp_path, rouns=5)
    assert not list(tmp_path.iterdir()), "nothing ran"


def test_report_and_select_use_the_callers_settings(tmp_path: Path) -> None:
    run = make_run(
        tmp_path, {"smollm2-135m": ok_state()}, [make_record("smollm2-135m", 0, 400, 100)]
    )
    broken = tmp_path / "models.json"
    broken.write_text("{ not json")
    settings = Settings(home=tmp_path / "home", models_file=broken)
    # The caller's catalog is read (and its fault reported), not the default one.
    with pytest.raises(AssayError, match=r"models\.json"):
        api.report(run, ["json"], out=tmp_path / "out", settings=settings)
    with pytest.raises(AssayError, match=r"models\.json"):
        api.select(run, settings=settings)
    assert api.select(run).winner is not None
