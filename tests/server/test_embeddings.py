"""POST /v1/embeddings on a llama.cpp model: texts, token ids, a batch, float and base64, the
refusals. The official openai client (which asks for base64 and decodes it) on a real server."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from assay.config import Settings
from assay.registry import ModelRegistry
from tests.server.conftest import RunningServer

pytestmark = pytest.mark.slow

TEXTS = ["The cat sat on the mat.", "A kitten rested on the rug.", "Stock markets fell today."]


def client(server: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)


def test_a_batch_of_texts_gives_unit_vectors_in_order(server: RunningServer) -> None:
    reply = client(server).embeddings.create(model="smollm2-135m", input=TEXTS)
    assert [d.index for d in reply.data] == [0, 1, 2] and reply.model == "smollm2-135m"
    vectors = np.array([d.embedding for d in reply.data])
    assert vectors.shape == (3, 576)  # SmolLM2-135M's embedding width
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2]  # the cat is nearer the kitten than the market
    alone = client(server).embeddings.create(model="smollm2-135m", input=TEXTS[2])
    assert np.allclose(alone.data[0].embedding, vectors[2], atol=1e-5)  # batch = one by one
    assert reply.usage.prompt_tokens == reply.usage.total_tokens > 10


def test_float_and_base64_and_token_ids_agree(
    server: RunningServer, registry: ModelRegistry
) -> None:
    def raw(body: dict[str, Any]) -> Any:
        reply = httpx.post(f"{server.base_url}/embeddings", json=body, timeout=60)
        assert reply.status_code == 200, reply.text
        return reply.json()

    floats = raw({"model": "smollm2-135m", "input": TEXTS[0], "encoding_format": "float"})
    packed = raw({"model": "smollm2-135m", "input": TEXTS[0], "encoding_format": "base64"})
    vector = np.array(floats["data"][0]["embedding"])
    decoded = np.frombuffer(base64.b64decode(packed["data"][0]["embedding"]), "<f4")
    assert np.allclose(decoded, vector, atol=1e-6)
    # The tokenizer itself, in this process (a runner's model has no prompt_tokens).
    local = ModelRegistry(registry.settings.model_copy(update={"runners": False}))
    model = local.load("smollm2-135m").model
    try:
        ids = model.prompt_tokens(TEXTS[0])  # type: ignore[attr-defined]
    finally:
        model.close()
    by_ids = raw({"model": "smollm2-135m", "input": ids, "encoding_format": "float"})
    assert np.allclose(by_ids["data"][0]["embedding"], vector, atol=1e-5)
    assert by_ids["usage"]["prompt_tokens"] == len(ids) == floats["usage"]["prompt_tokens"]


@pytest.mark.parametrize(
    ("fields", "param", "needle"),
    [
        ({"dimensions": 64}, "dimensions", "576 dimensions and cannot be shortened"),
        ({"input": ""}, "input", "an input is empty"),
        ({"input": ["ok", ""]}, "input", "an input is empty"),
        ({"input": "word " * 3000}, "input", "embeds at most"),
        ({"truncate": True}, "truncate", "assay does not know this field"),
    ],
)
def test_what_cannot_be_served_is_a_400_naming_the_field(
    server: RunningServer, fields: dict[str, Any], param: str, needle: str
) -> None:
    body = {"model": "smollm2-135m", "input": "hi", **fields}
    reply = httpx.post(f"{server.base_url}/embeddings", json=body, timeout=60)
    error = reply.json()["error"]
    assert reply.status_code == 400 and error["param"] == param and needle in error["message"]


def test_a_model_of_an_engine_without_embeddings_is_refused(tmp_path: Any) -> None:
    from tests.bench.conftest import mock_server
    from tests.server.conftest import running_server

    models = tmp_path / "models.json"
    with mock_server("--ttft-ms", "1", "--itl-ms", "1") as url:
        models.write_text(f'{{"upstream": {{"endpoint": "{url}", "model": "mock"}}}}')
        registry = ModelRegistry(Settings(models_file=models))
        with running_server(registry) as running, pytest.raises(openai.BadRequestError) as caught:
            client(running).embeddings.create(model="upstream", input="hi")
    assert caught.value.param == "model" and "gives no embeddings" in caught.value.message
