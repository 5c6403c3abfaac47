"""POST /tokenize and /detokenize (and under /v1): a served model's own tokenizer, for counting
tokens as llama.cpp's server and vLLM allow.

One route takes llama.cpp server's body and vLLM's and answers with both shapes at once:
/tokenize takes `{"content": ...}` or `{"model": ..., "prompt": ...}` and gives `tokens`
(llama.cpp) with `count` and `max_model_len` (vLLM); /detokenize takes `{"tokens": [...]}`,
with `model` or not, and gives `content` (llama.cpp) and `prompt` (vLLM). The tokens are the
text's own, with no BOS added, as usage and count_tokens count them. Without `model`, the one
model this server serves (--models), else the one loaded, answers.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI

from assay.engines import LoadedModel
from assay.errors import EngineError, ModelCrashedError
from assay.server.errors import APIError
from assay.server.models import ModelManager
from assay.server.schemas import DetokenizeRequest, TokenizeRequest


def add_token_routes(app: FastAPI, manager: ModelManager) -> None:
    @app.post("/tokenize")
    @app.post("/v1/tokenize")
    async def tokenize(body: TokenizeRequest) -> dict[str, Any]:
        model = await _tokenizer(manager, body)
        tokens = await asyncio.to_thread(model.tokenize, body.text)
        return {"tokens": tokens, "count": len(tokens), "max_model_len": model.info.context_size}

    @app.post("/detokenize")
    @app.post("/v1/detokenize")
    async def detokenize(body: DetokenizeRequest) -> dict[str, Any]:
        model = await _tokenizer(manager, body)
        try:
            text = await asyncio.to_thread(model.detokenize, body.tokens)
        except ModelCrashedError:
            raise
        except EngineError as exc:  # an id outside the vocabulary
            raise APIError(400, exc.message, param="tokens") from None
        return {"content": text, "prompt": text}


async def _tokenizer(
    manager: ModelManager, body: TokenizeRequest | DetokenizeRequest
) -> LoadedModel:
    """The model whose tokenizer answers, loaded; a 400 for a field assay does not serve and
    for a model with no tokenizer of its own."""
    refusal = body.refusal()
    if refusal is not None:
        raise APIError(400, refusal.message, code="unsupported_parameter", param=refusal.field)
    name = body.model or _only_model(manager)
    model = (await manager.worker(name)).model
    if not model.token_ids:
        raise APIError(
            400,
            f"{name} runs on the {model.info.engine} engine, which gives no token ids (it "
            "has no tokenizer of its own): use a llama.cpp or ONNX model",
            code="unsupported_parameter",
            param="model",
        )
    return model


def _only_model(manager: ModelManager) -> str:
    """The model a request without `model` means: the only one served, else the only one
    loaded; a 400 naming the choices when there is not one."""
    served = manager.settings.models
    if len(served) == 1:
        return served[0]
    if served:
        where = "this server serves " + ", ".join(served)
    else:
        loaded = [summary.name for summary in manager.loaded()]
        if len(loaded) == 1:
            return loaded[0]
        where = "loaded now: " + ", ".join(loaded) if loaded else "no model is loaded"
    raise APIError(400, f"name a model in 'model' ({where})", param="model")
