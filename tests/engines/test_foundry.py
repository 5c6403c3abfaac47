"""The Foundry Local engine (foundry-local-sdk in-process) on the SmolLM2 folder that
`assay convert` made, beside the ONNX Runtime GenAI engine on the same folder; and its
embeddings, on SmolLM2 built with its last hidden states as a second output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openai
import pytest

from assay.config import Settings
from assay.engines import CancelToken, LoadedModel, LoadOptions, Message, SamplingParams, collect
from assay.engines.foundry import FoundryEngine
from assay.errors import ContextOverflowError, EngineError, ModelFileError
from assay.registry import ModelRegistry
from tests.engines.structured import assert_schema_holds, assert_served_schema_holds
from tests.server.conftest import running_server

pytestmark = pytest.mark.slow

CAPITAL = [Message("user", "What is the capital of France?")]
GREEDY = SamplingParams(temperature=0.0, max_tokens=40)
TEXTS = [
    "The capital of France is Paris.",
    "Paris is the capital of France.",
    "Rust is a programming language.",
]


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


@pytest.fixture(scope="module")
def embedding_folder(smollm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled SmolLM2 as `assay convert` builds it, plus its last hidden states as a
    second output (`include_hidden_states=true`), which Foundry Local embeds from (35 s)."""
    work = tmp_path_factory.mktemp("foundry-embeddings")
    steps = [
        ["-m", "assay.engines.onnx_export", str(smollm_path), str(work / "hf")],
        ["-m", "onnxruntime_genai.models.builder", "-i", str(work / "hf"), "-o",
         str(work / "model"), "-p", "int4", "-e", "cpu", "-c", str(work / "cache"),
         "--extra_options", "include_hidden_states=true"],
    ]  # fmt: skip
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    for step in steps:
        result = subprocess.run(
            [sys.executable, *step], capture_output=True, text=True, env=env, timeout=600
        )
        assert result.returncode == 0, result.stderr[-2000:]
    return work / "model"


@pytest.fixture(scope="module")
def embedder(embedding_folder: Path, shared_home: Path) -> Iterator[LoadedModel]:
    model = FoundryEngine(shared_home / "foundry").load(embedding_folder, LoadOptions())
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


def test_embeddings_are_the_last_hidden_state_after_an_end_token(
    embedder: LoadedModel, embedding_folder: Path
) -> None:
    import onnxruntime_genai as og

    assert embedder.embeddings
    result = embedder.embed(TEXTS)
    vectors = np.array(result.vectors)
    assert vectors.shape == (3, 576)  # SmolLM2-135M's hidden size
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-12)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2]  # the two sentences on Paris are nearest
    assert np.allclose(embedder.embed([TEXTS[2]]).vectors[0], vectors[2], atol=1e-6)
    # Seven tokens each, and the end-of-sequence token Foundry appends (it reports none).
    assert result.prompt_tokens == 3 * (7 + 1)
    # What Foundry computes, done by hand in ONNX Runtime GenAI on the same folder: the
    # last position's hidden state after the text's tokens and the end token (id 2).
    model = og.Model(str(embedding_folder))
    tokens = [*og.Tokenizer(model).encode(TEXTS[0]), 2]
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=len(tokens) + 1)
    generator = og.Generator(model, params)
    generator.append_tokens(np.array(tokens, dtype=np.int32))
    last = np.array(generator.get_output("hidden_states"), dtype=np.float64).reshape(-1, 576)[-1]
    assert float(vectors[0] @ (last / np.linalg.norm(last))) > 0.9999


def test_a_folder_that_embeds_still_chats(embedder: LoadedModel) -> None:
    assert "Paris" in collect(embedder.chat(CAPITAL, GREEDY))[0]


def test_what_foundry_cannot_embed_is_a_clear_error(
    embedder: LoadedModel, onnx_folder: Path, shared_home: Path, tmp_path: Path
) -> None:
    with pytest.raises(EngineError, match="embeds text only; send the input as strings"):
        embedder.embed([[504, 3575]])
    with pytest.raises(EngineError, match="input 1 is empty"):
        embedder.embed(["Paris", ""])
    # 8,192 tokens and the end token: Foundry embeds at most its context (8,192) less one.
    with pytest.raises(ContextOverflowError, match="8193 tokens; model embeds at most 8191"):
        embedder.embed(["word " * 8191])
    # `assay convert` builds no hidden_states output. A copy: a folder of its own has ids
    # of its own (Foundry unloads a model by its id).
    shutil.copytree(onnx_folder, tmp_path / "chat")
    chat = FoundryEngine(shared_home / "foundry").load(tmp_path / "chat", LoadOptions())
    try:
        assert not chat.embeddings
        with pytest.raises(EngineError, match=r"no hidden_states output.*hidden_states=true"):
            chat.embed(["Paris"])
    finally:
        chat.close()


def test_embeddings_served_to_the_openai_client(
    embedding_folder: Path, shared_home: Path, tmp_path: Path
) -> None:
    # After the tests of `embedder`: Foundry unloads a model by its id, and this server's
    # model has the same ids.
    models = tmp_path / "models.json"
    entry = {"engine": "foundry", "path": str(embedding_folder), "license": "Apache-2.0"}
    models.write_text(json.dumps({"smol-embed": entry}))
    registry = ModelRegistry(Settings(home=shared_home, models_file=models))
    with running_server(registry) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0)
        reply = client.embeddings.create(model="smol-embed", input=TEXTS)
    vectors = np.array([d.embedding for d in reply.data])
    assert vectors.shape == (3, 576)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert reply.usage.prompt_tokens == 24


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
        assert_served_schema_holds(client, "smol-foundry")
