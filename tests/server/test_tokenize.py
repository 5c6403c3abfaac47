"""POST /tokenize and /detokenize (and under /v1) on a real server: llama.cpp server's bodies
and vLLM's give the same answers, from the model's own tokenizer (through its runner); which
model answers without `model`; what they refuse, each a 400 in OpenAI's shape."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from assay.engines import LoadedModel
from assay.registry import ModelRegistry
from tests.server.conftest import RunningServer, ServerFactory, running_server
from tests.server.test_lifecycle_and_errors import assert_openai_error

TEXT = "Local inference keeps your data on the device."


def tokenize(server: RunningServer, body: Any, path: str = "/tokenize") -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=body, timeout=60)


def detokenize(server: RunningServer, body: Any, path: str = "/detokenize") -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=body, timeout=60)


@pytest.mark.slow
def test_both_bodies_give_the_models_own_tokens(server: RunningServer, smollm: LoadedModel) -> None:
    llama = tokenize(server, {"model": "smollm2-135m", "content": TEXT, "add_special": False})
    vllm = tokenize(server, {"model": "smollm2-135m", "prompt": TEXT}, "/v1/tokenize")
    assert llama.status_code == vllm.status_code == 200, (llama.text, vllm.text)
    assert llama.json() == vllm.json()
    answer = vllm.json()
    assert set(answer) == {"tokens", "count", "max_model_len"}
    assert answer["tokens"] == smollm.tokenize(TEXT)
    assert answer["count"] == len(answer["tokens"]) == smollm.count_tokens(TEXT)
    assert answer["max_model_len"] == 4096  # the context the server loads it with
    assert tokenize(server, {"model": "smollm2-135m", "content": ""}).json()["tokens"] == []


@pytest.mark.slow
def test_detokenize_gives_the_text_back_in_both_shapes(server: RunningServer) -> None:
    tokens = tokenize(server, {"model": "smollm2-135m", "prompt": TEXT}).json()["tokens"]
    llama = detokenize(server, {"model": "smollm2-135m", "tokens": tokens})
    vllm = detokenize(server, {"model": "smollm2-135m", "tokens": tokens}, "/v1/detokenize")
    assert llama.json() == vllm.json() == {"content": TEXT, "prompt": TEXT}
    # Special tokens are written out, as llama.cpp's server and vLLM write them.
    end = detokenize(server, {"model": "smollm2-135m", "tokens": [2]}).json()
    assert end["content"] == "<|im_end|>"
    for bad in (49152, -1):
        error = assert_openai_error(
            detokenize(server, {"model": "smollm2-135m", "tokens": [1, bad]}), 400
        )
        assert error["param"] == "tokens"
        assert error["message"] == (
            f"token id {bad} is not in the vocabulary (0 to 49151); send ids that /tokenize gave"
        )
    assert detokenize(server, {"model": "smollm2-135m", "tokens": []}).json()["content"] == ""


@pytest.mark.slow
def test_without_model_the_one_served_answers(make_server: ServerFactory) -> None:
    with make_server(models=("smollm2-135m",)) as server:
        answer = tokenize(server, {"content": TEXT})
        assert answer.status_code == 200, answer.text
        assert answer.json()["count"] == len(answer.json()["tokens"]) > 5


def test_without_model_and_more_than_one_served_it_names_them(
    make_fake_server: ServerFactory,
) -> None:
    with make_fake_server(models=("fake", "fake-b")) as server:
        error = assert_openai_error(tokenize(server, {"content": TEXT}), 400)
        assert error["param"] == "model"
        assert "name a model in 'model' (this server serves fake, fake-b)" in (error["message"])
    with make_fake_server() as server:
        error = assert_openai_error(tokenize(server, {"prompt": TEXT}), 400)
        assert error["message"].endswith("(no model is loaded)")


def test_a_model_without_a_tokenizer_is_a_400(fake_server: RunningServer) -> None:
    for response in (
        tokenize(fake_server, {"model": "fake", "content": TEXT}),
        detokenize(fake_server, {"model": "fake", "tokens": [1, 2]}),
    ):
        error = assert_openai_error(response, 400, "unsupported_parameter")
        assert error["param"] == "model"
        assert error["message"] == (
            "fake runs on the fake engine, which gives no token ids (it has no tokenizer of its "
            "own): use a llama.cpp or ONNX model"
        )


def test_an_adapter_in_a_runner_has_no_token_ids(adapter_registry: ModelRegistry) -> None:
    with running_server(adapter_registry) as server:
        error = assert_openai_error(tokenize(server, {"model": "plain", "content": TEXT}), 400)
        assert "the adapter engine, which gives no token ids" in error["message"]


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        ({"model": "fake"}, None, "send the text as 'content' (llama.cpp) or as 'prompt' (vLLM)"),
        ({"content": "a", "prompt": "b"}, None, "'content' and 'prompt' differ"),
        ({"content": 5}, "content", "content: Input should be a valid string"),
        ({"content": "a", "model": ""}, "model", "model: String should have at least 1"),
        (
            {"content": "a", "add_special": True},
            "add_special",
            "'add_special' is not supported here: only false is served: no special tokens",
        ),
        (
            {"prompt": "a", "add_special_tokens": True},
            "add_special_tokens",
            "only false is served",
        ),
        (
            {"content": "a", "with_pieces": True},
            "with_pieces",
            "only false is served: the token ids alone are given",
        ),
        ({"content": "a", "messages": []}, "messages", "assay does not know this field"),
        (["a"], None, "the request body must be a JSON object"),
    ],
)
def test_bad_bodies_are_openai_shaped_400s(
    fake_server: RunningServer, body: Any, param: str | None, message: str
) -> None:
    error = assert_openai_error(tokenize(fake_server, body), 400)
    assert error["param"] == param
    assert message in error["message"]


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        ({"model": "fake"}, "tokens", "tokens: Field required"),
        ({"tokens": ["a"]}, "tokens.0", "Input should be a valid integer"),
        ({"tokens": [1], "with_pieces": True}, "with_pieces", "assay does not know this field"),
    ],
)
def test_bad_detokenize_bodies_are_openai_shaped_400s(
    fake_server: RunningServer, body: Any, param: str | None, message: str
) -> None:
    error = assert_openai_error(detokenize(fake_server, body), 400)
    assert error["param"] == param
    assert message in error["message"]


def test_fields_at_the_values_served_are_accepted(fake_server: RunningServer) -> None:
    body = {"content": "a", "add_special": False, "parse_special": False, "with_pieces": False}
    # Accepted (the fake then has no tokenizer): the refusal names the model, no field.
    error = assert_openai_error(tokenize(fake_server, {"model": "fake", **body}), 400)
    assert error["param"] == "model"
