"""The ONNX Runtime GenAI engine on SmolLM2 converted from the bundled GGUF by `assay convert`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from assay.catalog import DerivedSource
from assay.engines import CancelToken, LoadedModel, LoadOptions, Message, SamplingParams, collect
from assay.engines.onnx_genai import OnnxGenaiEngine, read_genai_folder
from assay.errors import ContextOverflowError, EngineError, ModelFileError
from assay.registry import ModelRegistry
from tests.engines.structured import assert_schema_holds, assert_served_schema_holds

pytestmark = pytest.mark.slow

CAPITAL = [Message("user", "What is the capital of France?")]
GREEDY = SamplingParams(temperature=0.0, max_tokens=40)


def test_convert_makes_a_variant_that_resolves_to_the_onnx_engine(
    onnx_converted: str, onnx_registry: ModelRegistry
) -> None:
    assert onnx_converted.startswith("made smollm2-135m:onnx-int4 (onnx, int4) from smollm2-135m:")
    resolved = onnx_registry.resolve("smollm2-135m:onnx-int4")
    assert resolved.variant.engine == "onnx"
    assert resolved.variant.location == DerivedSource(
        derived_from="smollm2-135m:q4_1", file="model", made_by="converted"
    )
    folder = onnx_registry.path(resolved)
    assert {"genai_config.json", "model.onnx", "model.onnx.data", "chat_template.jinja"} <= {
        p.name for p in folder.iterdir()
    }
    # The plain alias still means the GGUF: a converted variant is never the default.
    assert onnx_registry.resolve("smollm2-135m").variant.engine == "llamacpp"


def test_greedy_chat_answers_with_the_models_own_template(onnx_smollm: LoadedModel) -> None:
    text, final = collect(onnx_smollm.chat(CAPITAL, GREEDY))
    assert "Paris" in text
    assert onnx_smollm.info.engine == "onnx"
    assert onnx_smollm.info.chat_template_source == "chat_template.jinja"
    assert onnx_smollm.info.engine_version.startswith("onnxruntime-genai ")
    assert final.usage is not None and final.usage.source == "engine"
    # The SmolLM template adds its default system prompt: 37 tokens in all.
    prompt = onnx_smollm.render_chat(CAPITAL)  # type: ignore[attr-defined]
    assert final.usage.prompt_tokens == onnx_smollm.count_tokens(prompt) == 37
    again, _ = collect(onnx_smollm.chat(CAPITAL, GREEDY))
    assert again == text


def test_streams_token_by_token_and_counts_every_token(onnx_smollm: LoadedModel) -> None:
    chunks = list(onnx_smollm.chat(CAPITAL, SamplingParams(temperature=0.0, max_tokens=12)))
    final = chunks[-1]
    assert len(chunks) >= 10
    assert final.finish_reason == "length" and final.usage is not None
    assert final.usage.completion_tokens == 12 == sum(c.tokens for c in chunks)


def test_sampling_follows_the_seed(onnx_smollm: LoadedModel) -> None:
    def sample(seed: int) -> str:
        params = SamplingParams(temperature=1.2, top_p=0.95, top_k=50, seed=seed, max_tokens=30)
        return collect(onnx_smollm.chat(CAPITAL, params))[0]

    assert sample(7) == sample(7)
    assert len({sample(seed) for seed in (1, 2, 3)}) > 1


def test_stop_strings_and_cancellation(onnx_smollm: LoadedModel) -> None:
    text, final = collect(onnx_smollm.chat(CAPITAL, SamplingParams(temperature=0, stop=("Paris",))))
    assert "Paris" not in text and final.finish_reason == "stop"
    cancel = CancelToken()
    stream = onnx_smollm.chat(CAPITAL, SamplingParams(temperature=0, max_tokens=200), cancel)
    next(stream)
    cancel.cancel()
    rest = list(stream)
    assert rest[-1].finish_reason == "cancelled"
    assert rest[-1].usage is not None and rest[-1].usage.completion_tokens < 5


def test_raw_completion_and_limits(onnx_smollm: LoadedModel) -> None:
    text, final = collect(onnx_smollm.complete("The capital of France is", GREEDY))
    assert text.strip() and final.usage is not None
    with pytest.raises(ContextOverflowError, match="larger --ctx"):
        onnx_smollm.complete("word " * 3000, GREEDY)
    with pytest.raises(EngineError, match="no GBNF grammar"):
        onnx_smollm.complete("x", SamplingParams(grammar='root ::= "a"'))


def test_threads_and_context_come_from_the_load_options(onnx_registry: ModelRegistry) -> None:
    path = onnx_registry.path(onnx_registry.resolve("smollm2-135m:onnx-int4"))
    model = OnnxGenaiEngine().load(path, LoadOptions(threads=1, context_size=256))
    try:
        assert model.info.threads == 1 and model.info.context_size == 256
        with pytest.raises(ContextOverflowError, match="context holds 256"):
            model.complete("word " * 300, GREEDY)
    finally:
        model.close()


def test_a_bad_folder_is_a_one_line_model_file_error(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not a folder"):
        read_genai_folder(tmp_path / "missing")
    with pytest.raises(ModelFileError, match=r"has no genai_config\.json"):
        read_genai_folder(tmp_path)
    (tmp_path / "genai_config.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="not a valid GenAI config"):
        read_genai_folder(tmp_path)
    (tmp_path / "genai_config.json").write_text(
        json.dumps({"model": {"decoder": {"filename": "model.onnx"}}})
    )
    with pytest.raises(ModelFileError, match=r"lacks model\.onnx"):
        read_genai_folder(tmp_path)
    (tmp_path / "model.onnx").write_bytes(b"not onnx")
    with pytest.raises(ModelFileError, match="ONNX Runtime GenAI cannot load"):
        OnnxGenaiEngine().load(tmp_path, LoadOptions())


def test_a_users_onnx_folder_runs_from_models_json(
    onnx_registry: ModelRegistry, tmp_path: Path
) -> None:
    folder = onnx_registry.path(onnx_registry.resolve("smollm2-135m:onnx-int4"))
    models = tmp_path / "models.json"
    models.write_text(
        json.dumps(
            {
                "my-onnx": {"engine": "onnx", "path": str(folder)},
                "gone": {"engine": "onnx", "path": str(tmp_path / "nowhere")},
            }
        )
    )
    env = {"ASSAY_MODELS_FILE": str(models), "PATH": "/usr/bin:/bin"}
    run = [sys.executable, "-m", "assay", "run", "--max-tokens", "20", "--temperature", "0"]
    ok = subprocess.run([*run, "my-onnx", "--prompt", "What is the capital of France?"],
                        capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "Paris" in ok.stdout
    gone = subprocess.run([*run, "gone", "--prompt", "hi"], capture_output=True, text=True,
                          env=env, timeout=120)  # fmt: skip
    assert gone.returncode != 0
    assert gone.stderr.strip().count("\n") == 0 and "model folder" in gone.stderr
    assert "Traceback" not in gone.stderr


def test_a_json_schema_holds_through_the_runtimes_guidance(onnx_smollm: LoadedModel) -> None:
    assert_schema_holds(onnx_smollm)


def test_serve_answers_response_format_on_the_onnx_engine(onnx_registry: ModelRegistry) -> None:
    import openai

    from tests.server.conftest import running_server

    with running_server(onnx_registry) as server:
        api = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
        assert_served_schema_holds(api, "smollm2-135m:onnx-int4")
        tool: Any = {"type": "function", "function": {"name": "now"}}
        with pytest.raises(openai.BadRequestError) as forced:  # a tool grammar is GBNF only
            api.chat.completions.create(
                model="smollm2-135m:onnx-int4",
                messages=[{"role": "user", "content": "hi"}],
                tools=[tool],
                tool_choice="required",
            )
    assert forced.value.param in ("tools", "tool_choice")
