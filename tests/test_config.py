"""Settings: every environment variable assay reads is a field, and a bad value is one line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from assay.config import Settings

ASSAY = [sys.executable, "-m", "assay"]


def test_the_workshops_variables_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_MODELS", "a,b")
    monkeypatch.setenv("BENCH_STREAM", "0")
    monkeypatch.setenv("ASSAY_ENDPOINT", "http://127.0.0.1:1/v1")
    monkeypatch.setenv("ASSAY_API_KEY", "k")
    settings = Settings()
    assert (settings.bench_models, settings.bench_stream) == ("a,b", False)
    assert (settings.endpoint, settings.api_key) == ("http://127.0.0.1:1/v1", "k")
    monkeypatch.setenv("FOUNDRY_LOCAL_ENDPOINT", "http://127.0.0.1:5273/v1")
    assert Settings().endpoint == "http://127.0.0.1:5273/v1"  # the workshop's name wins
    assert Settings(endpoint="http://x/v1").endpoint == "http://x/v1"


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("ASSAY_THREADS", "abc", "ASSAY_THREADS='abc' is not valid"),
        ("BENCH_STREAM", "maybe", "BENCH_STREAM='maybe' is not valid"),
    ],
)
def test_a_bad_variable_is_one_line_and_exit_2(name: str, value: str, needle: str) -> None:
    env = {**os.environ, name: value}
    result = subprocess.run([*ASSAY, "models", "list"], capture_output=True, text=True, env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(f"error: {needle}") and "unset it" in result.stderr


def _environment_names(name: str) -> list[str]:
    field = Settings.model_fields[name]
    alias = field.validation_alias
    if alias is not None and hasattr(alias, "choices"):
        return [str(choice) for choice in alias.choices]
    return [f"ASSAY_{name.upper()}"]


def test_every_setting_is_in_the_readmes_table() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text("utf-8")
    table = readme[readme.index("## Settings") :].split("\n\n")[1]
    for name in Settings.model_fields:
        for variable in _environment_names(name):
            assert f"`{variable}`" in table, f"{variable} is missing from README's Settings table"


def test_assay_reads_its_variables_through_settings_only() -> None:
    # Outside config.py, only the crash supervisor's own protocol variables are read directly.
    protocol = {"ASSAY_SUPERVISED", "ASSAY_CRASH_CONTEXT"}
    source = Path(__file__).parent.parent / "src" / "assay"
    for path in source.rglob("*.py"):
        if path.name == "config.py":
            continue
        for variable in re.findall(
            r"environ(?:\.get)?[\[(]\s*\"(ASSAY_\w+|BENCH_\w+)\"", path.read_text()
        ):
            assert variable in protocol, f"{path.relative_to(source)} reads {variable} directly"
