"""The Foundry Local engine (foundry-local-sdk in-process) on the SmolLM2 folder that
`assay convert` made, beside the ONNX Runtime GenAI engine on the same folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import openai
import pytest

from assay.config import Settings
from assay.engines import CancelToken, LoadedModel, LoadOptions, Message, SamplingParams, collect
from assay.engines.foundry import FoundryEngine
from assay.errors import EngineError, ModelFileError
from assay.registry import ModelRegistry
from tests.engines.structured import CAT_SCHEMA, assert_schema_holds
from tests.server.conftest import running_server

pytestmark = pytest.mark.slow

CAPITAL = [Message("user", "What is the capital of France?")]
GREEDY = SamplingParams(temperature=0.0, max_tokens=40)


@pytest.fixture(scope="module")
def onnx_folder(onnx_registry: ModelRegistry) -> Path:
    return onnx_registry.path(onnx_registry.resolve("smollm2-135m:onnx-int4"))


@pytest.fixture(scope="module")
def models_file(onnx_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("foundry") / "models.json"
    entry = {"engine": "foundry", "path": str(onnx_folder), "license": "Apache-2.0"}
    path.write_text(json.dumps({"smol-foundry": entry}))
    return path


@pytest.fixture(scope="module")
def foundry_registry(shared_home: Path, models_file: Path) -> ModelRegistry:
    return ModelRegistry(Settings(home=shared_home, models_file=models_file))


@pytest.fixture(scope="module")
def foundry(foundry_registry: ModelRegistry) -> Iterator[LoadedModel]:
    model = foundry_registry.load("smol-foundry").model
    yield model
    model.close()


def test_same_weights_same_greedy_text_as_onnx_runtime_genai(
    foundry: LoadedModel, onnx_smollm: LoadedModel
) -> None:
    text, final = collect(foundry.chat(CAPITAL, GREEDY))
    assert "Paris" in text
    assert text == collect(onnx_smollm.chat(CAPITAL, GREEDY))[0]
    assert final.finish_reason == "length" and final.usage is not None
    assert final.usage.source == "engine"
    assert final.usage.prompt_tokens == 37 and final.usage.completion_tokens == 40
    assert foundry.info.engine == "foundry"
    assert foundry.info.engine_version.startswith("foundry-local-sdk ")
    assert foundry.info.load_seconds > 0 and foundry.info.context_size == 8192


def test_streams_deltas_and_honours_stop_and_cancel(foundry: LoadedModel) -> None:
    chunks = list(foundry.chat(CAPITAL, SamplingParams(temperature=0, max_tokens=10)))
    assert len(chunks) >= 8 and sum(c.tokens for c in chunks) == 10
    text, final = collect(foundry.chat(CAPITAL, SamplingParams(temperature=0, stop=("Paris",))))
    assert text.endswith("is ") and final.finish_reason == "stop"
    assert final.usage is not None and final.usage.source == "counted"
    cancel = CancelToken()
    stream = foundry.chat(CAPITAL, SamplingParams(temperature=0, max_tokens=200), cancel)
    next(stream)
    cancel.cancel()
    assert list(stream)[-1].finish_reason == "cancelled"
    # The model is still usable after a cut-short stream.
    assert "Paris" in collect(foundry.chat(CAPITAL, GREEDY))[0]


def test_seeded_sampling_repeats(foundry: LoadedModel) -> None:
    params = SamplingParams(temperature=1.0, top_p=0.95, top_k=50, seed=11, max_tokens=25)
    assert collect(foundry.chat(CAPITAL, params))[0] == collect(foundry.chat(CAPITAL, params))[0]


def test_what_foundry_cannot_do_is_a_clear_error(foundry: LoadedModel) -> None:
    with pytest.raises(EngineError, match="chat only"):
        foundry.complete("The capital of France is", GREEDY)
    with pytest.raises(EngineError, match="temperature from 0 to 2"):
        foundry.chat(CAPITAL, SamplingParams(temperature=3))


def test_a_folder_foundry_cannot_load(tmp_path: Path, onnx_folder: Path, shared_home: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(onnx_folder, broken)
    (broken / "tokenizer.json").unlink()
    with pytest.raises(ModelFileError, match="Foundry Local cannot load"):
        FoundryEngine(shared_home / "foundry").load(broken, LoadOptions())


def test_served_to_the_openai_client(foundry_registry: ModelRegistry) -> None:
    with running_server(foundry_registry) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="none")
        stream = client.chat.completions.create(
            model="smol-foundry",
            messages=[{"role": "user", "content": "What is the capital of France?"}],
            max_tokens=20,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
        events = list(stream)
    text = "".join(e.choices[0].delta.content or "" for e in events if e.choices)
    assert "Paris" in text
    assert events[-1].usage is not None and events[-1].usage.completion_tokens == 20


def test_one_bench_run_compares_three_runtimes_on_the_same_weights(
    models_file: Path, shared_home: Path, tmp_path: Path
) -> None:
    models = "smollm2-135m,smollm2-135m:onnx-int4,smol-foundry"
    result = subprocess.run(
        [sys.executable, "-m", "assay", "bench", "--models", models, "--rounds", "1",
         "--warmup", "1", "--max-tokens", "16", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
        env=os.environ | {"ASSAY_HOME": str(shared_home), "ASSAY_MODELS_FILE": str(models_file)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (run,) = tmp_path.iterdir()
    summary = json.loads((run / "summary.json").read_text())
    engines = [m["info"]["engine"] for m in summary["models"]]
    assert engines == ["llamacpp", "onnx", "foundry"]
    for model in summary["models"]:
        assert model["status"] == "ok", model["error"]
        level = model["levels"][0]
        assert level["errors"] == 0 and level["decode_tokens_per_second"]["mean"] > 1


def test_a_json_schema_holds_through_foundrys_guidance(foundry_registry: ModelRegistry) -> None:
    # Foundry Local's native guidance options (guidance_type, guidance_data): the same
    # structured outputs as llama.cpp's grammar and ONNX Runtime GenAI's guidance. A model
    # of its own: Foundry unloads a model by its id, and a served test before unloads it.
    foundry = foundry_registry.load("smol-foundry").model
    try:
        assert_schema_holds(foundry)
    finally:
        foundry.close()
    with running_server(foundry_registry) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="none")
        reply = client.chat.completions.create(
            model="smol-foundry",
            messages=[{"role": "user", "content": "Describe a cat as JSON."}],
            temperature=0,
            max_tokens=80,
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "cat", "schema": CAT_SCHEMA},
            },
        )
    jsonschema.validate(json.loads(reply.choices[0].message.content or ""), CAT_SCHEMA)
