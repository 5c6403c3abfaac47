"""Custom adapters: the example class through run, serve and bench; broken ones fail clearly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import openai
import pytest

from assay.config import Settings
from assay.engines import Message, SamplingParams, collect
from assay.errors import EngineError, ModelFileError
from assay.registry import ModelRegistry
from tests.server.conftest import running_server

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "custom_adapter"
QUESTION = [Message("user", "List 3 privacy benefits of local inference.")]


@pytest.fixture
def adapters(tmp_path: Path, smollm_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModelRegistry:
    models = tmp_path / "models.json"
    models.write_text(
        json.dumps(
            {
                "smol-adapter": {
                    "adapter": "smol_adapter:SmolChat",
                    "weights": str(smollm_path),
                    "capabilities": ["chat", "completion"],
                    "license": "Apache-2.0",
                },
                "plain": {"adapter": "broken_adapters:PlainText"},
                "no-generate": {"adapter": "broken_adapters:NoGenerate"},
                "fails": {"adapter": "broken_adapters:FailsToGenerate"},
                "fails-mid": {"adapter": "broken_adapters:FailsMidStream"},
                "missing": {"adapter": "no_such_module:Model"},
            }
        )
    )
    monkeypatch.setenv("ASSAY_MODELS_FILE", str(models))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(EXAMPLE), os.environ.get("PYTHONPATH", "")])
    )
    monkeypatch.syspath_prepend(str(EXAMPLE))
    return ModelRegistry(Settings(models_file=models))


def test_the_example_adapter_streams_real_text_with_its_own_usage(adapters: ModelRegistry) -> None:
    model = adapters.load("smol-adapter").model
    params = SamplingParams(temperature=0.0, max_tokens=300)
    chunks = list(model.chat([Message("user", "Say hello.")], params))
    text = "".join(c.text for c in chunks)
    final = chunks[-1]
    assert len(chunks) > 3 and text.strip()
    assert final.finish_reason == "stop"
    assert final.usage is not None and final.usage.source == "adapter"  # its own count
    assert final.usage.completion_tokens > 0 and final.usage.prompt_tokens > 5
    again, _ = collect(model.chat([Message("user", "Say hello.")], params))
    assert again == text  # temperature 0 repeats
    assert (
        model.info.engine == "adapter" and model.info.chat_template_source == "the adapter's chat()"
    )


def test_assay_enforces_max_tokens_and_then_counts_usage(adapters: ModelRegistry) -> None:
    model = adapters.load("smol-adapter").model
    chunks = list(model.chat(QUESTION, SamplingParams(temperature=0.0, max_tokens=8)))
    final = chunks[-1]
    assert final.finish_reason == "length"
    assert final.usage is not None and final.usage.source == "counted"
    assert 8 <= sum(c.tokens for c in chunks) <= 10


def test_stop_strings_max_tokens_and_counted_usage(adapters: ModelRegistry) -> None:
    model = adapters.load("plain").model
    text, final = collect(model.complete("anything", SamplingParams(stop=("STOP",))))
    assert text == "Local inference keeps data on the device. "
    assert final.finish_reason == "stop"
    assert final.usage is not None and final.usage.source == "counted"
    assert final.usage.completion_tokens == adapters.count_tokens(text)


def test_broken_adapters_fail_with_their_name(adapters: ModelRegistry) -> None:
    with pytest.raises(EngineError, match="broken_adapters:NoGenerate: the class has no generate"):
        adapters.load("no-generate")
    with pytest.raises(EngineError, match="no_such_module:Model: cannot import no_such_module"):
        adapters.load("missing")
    fails = adapters.load("fails").model
    with pytest.raises(EngineError, match="FailsToGenerate failed while generating: the GPU"):
        collect(fails.chat(QUESTION, SamplingParams()))
    mid = adapters.load("fails-mid").model
    with pytest.raises(EngineError, match="lost the thread"):
        collect(mid.complete("x", SamplingParams()))


def test_missing_weights_are_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models = tmp_path / "models.json"
    models.write_text(
        json.dumps(
            {"ghost": {"adapter": "smol_adapter:SmolChat", "weights": str(tmp_path / "nope.gguf")}}
        )
    )
    registry = ModelRegistry(Settings(models_file=models))
    with pytest.raises(ModelFileError, match=r"weights .*nope\.gguf for 'ghost' do not exist"):
        registry.load("ghost")


def test_run_serve_and_bench_use_the_adapter(adapters: ModelRegistry, tmp_path: Path) -> None:
    env = os.environ.copy()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "assay",
            "run",
            "smol-adapter",
            "--temperature",
            "0",
            "--max-tokens",
            "16",
            "--prompt",
            "Say hello.",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() and "tok/s" in run.stderr

    with running_server(adapters) as server:
        api = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
        stream = api.chat.completions.create(
            model="smol-adapter",
            messages=[{"role": "user", "content": "Say hello."}],
            max_tokens=16,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
        broken = httpx.post(
            f"{server.base_url}/chat/completions",
            timeout=60,
            json={"model": "fails", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert broken.status_code == 500
        assert "FailsToGenerate failed while generating" in broken.json()["error"]["message"]
        assert httpx.get(f"{server.url}/health").status_code == 200  # the server stays up

    out = tmp_path / "runs"
    bench = subprocess.run(
        [
            sys.executable,
            "-m",
            "assay",
            "bench",
            "--models",
            "smol-adapter",
            "--rounds",
            "1",
            "--warmup",
            "0",
            "--max-tokens",
            "16",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert bench.returncode == 0, bench.stderr
    (run_dir,) = list(out.iterdir())
    model = json.loads((run_dir / "summary.json").read_text())["models"][0]
    assert model["status"] == "ok" and model["levels"][0]["requests"] == 4
    assert model["info"]["engine"] == "adapter"
