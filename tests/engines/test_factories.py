"""The engine table: built-ins named without importing them, engines from entry points, and
what each model declares it can do."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from assay.engines import (
    EngineContext,
    LoadedModel,
    LoadedModelBase,
    LoadOptions,
    Message,
    SamplingParams,
    collect,
    engine_factories,
    engine_for,
)
from assay.engines.factories import BUILTIN_ENGINES, ENTRY_POINT_GROUP
from assay.errors import AssayError, EngineError
from tests.engines.echo_engine import EchoEngine, EchoModel

BUILTINS = ["llamacpp", "onnx", "foundry", "adapter", "remote", "fake"]


def with_entry_points(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    """Installed packages that register these engines (name = "module:factory")."""
    points = [metadata.EntryPoint(n, v, ENTRY_POINT_GROUP) for n, v in values.items()]
    original = metadata.entry_points

    def entry_points(*, group: str) -> metadata.EntryPoints:
        if group == ENTRY_POINT_GROUP:
            return metadata.EntryPoints(points)
        return original(group=group)

    monkeypatch.setattr(metadata, "entry_points", entry_points)


def test_the_builtins_are_named_without_importing_any_engine() -> None:
    assert list(BUILTIN_ENGINES) == BUILTINS
    code = (
        "import sys; from assay.engines import engine_factories, engine_for; "
        "names = list(engine_factories()); engine_for('llamacpp'); engine_for('onnx'); "
        "heavy = {'llama_cpp', 'onnxruntime_genai', 'foundry_local_sdk'} & set(sys.modules); "
        "assert not heavy, heavy; print(names)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip().startswith(str(BUILTINS)[:-1])


def test_an_entry_point_engine_is_found_and_loads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with_entry_points(monkeypatch, echo="tests.engines.echo_engine:create")
    assert list(engine_factories()) == [*BUILTINS, "echo"]
    engine = engine_for("echo", EngineContext())
    assert isinstance(engine, EchoEngine)
    model = engine.load(tmp_path, LoadOptions())
    assert isinstance(model, LoadedModel)
    text, final = collect(model.chat([Message("user", "one two three")], SamplingParams()))
    assert text == "one two three " and final.finish_reason == "stop"


def test_an_unknown_engine_is_one_line_naming_the_known_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with_entry_points(monkeypatch, echo="tests.engines.echo_engine:create")
    with pytest.raises(AssayError) as info:
        engine_for("llamcpp")
    assert info.value.message == (
        "unknown engine 'llamcpp'; available: llamacpp, onnx, foundry, adapter, remote, fake, echo"
    )


def test_a_package_cannot_take_over_a_builtin(monkeypatch: pytest.MonkeyPatch) -> None:
    with_entry_points(monkeypatch, llamacpp="tests.engines.echo_engine:create")
    assert type(engine_for("llamacpp")).__name__ == "LlamaCppEngine"


def test_a_broken_entry_point_names_itself_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    with_entry_points(monkeypatch, broken="no_such_module:create")
    with pytest.raises(AssayError) as info:
        engine_for("broken")
    message = info.value.message
    assert message.startswith("engine 'broken' (no_such_module:create, entry point group")
    assert "cannot import it" in message and "\n" not in message


def test_engines_that_need_a_source_say_which_field() -> None:
    with pytest.raises(AssayError, match=r"set 'adapter' in models\.json"):
        engine_for("adapter")
    with pytest.raises(AssayError, match=r"set 'endpoint' in models\.json"):
        engine_for("remote")


def test_what_each_model_declares_it_can_do() -> None:
    from assay.engines.adapter import AdapterModel
    from assay.engines.fake import FakeModel
    from assay.engines.foundry import FoundryModel
    from assay.engines.llamacpp import BatchedLlamaCppModel, LlamaCppModel
    from assay.engines.onnx_genai import OnnxGenaiModel

    base = LoadedModelBase()
    assert (base.parallel, base.threads, base.grammar) == (1, None, False)
    assert base.observe(lambda busy, tokens: None) is False
    assert LlamaCppModel.grammar and BatchedLlamaCppModel.grammar
    for model in (OnnxGenaiModel, FoundryModel, AdapterModel, FakeModel):
        assert issubclass(model, LoadedModelBase) and not model.grammar
        assert model.parallel == 1


def test_a_model_without_grammar_refuses_one(tmp_path: Path) -> None:
    model = EchoEngine().load(tmp_path, LoadOptions())
    with pytest.raises(EngineError) as info:
        model.complete("x", SamplingParams(grammar='root ::= "a"'))
    assert info.value.message == (
        "the echo engine takes no GBNF grammar (response_format); use a llama.cpp model"
    )
    assert isinstance(model, EchoModel)
