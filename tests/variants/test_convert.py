"""`assay convert`'s refusals: each one line, exit 2, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from assay.engines import onnx_export
from assay.errors import AssayError

pytestmark = pytest.mark.slow


def convert(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assay", "convert", *args],
        capture_output=True,
        text=True,
        env=os.environ | {"ASSAY_HOME": str(home)},
        timeout=300,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["smollm2-135m", "--precision", "int3"], "unknown precision 'int3'; choose one of"),
        (["smollm2-135m", "--to", "coreml"], "unknown target 'coreml'"),
        (["smollm2-135m:onnx-int4"], "is not a GGUF model"),
        (["smollm2-135m"], "'smollm2-135m:onnx-int4' already exists (converted from"),
        (["smollm2-135m", "--name", "../x"], "variant name '../x' must start with"),
        (["nope"], "unknown model 'nope'"),
    ],
)
def test_bad_requests_are_one_line_errors(
    shared_home: Path, onnx_converted: str, args: list[str], message: str
) -> None:
    before = sorted((shared_home / "models").rglob("*"))
    result = convert(shared_home, *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert sorted((shared_home / "models").rglob("*")) == before


def test_missing_conversion_libraries_are_named_with_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(onnx_export, "REQUIRED", (*onnx_export.REQUIRED, "no_such_library"))
    with pytest.raises(AssayError, match=r"needs no_such_library; pip install 'assay\[convert\]'"):
        onnx_export.check_tools()
