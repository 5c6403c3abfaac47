"""Engines: the protocol every consumer uses, and the implementations behind it."""

from assay.engines.base import (
    CancelToken,
    Chunk,
    EmbeddingInput,
    Embeddings,
    Engine,
    LoadedModel,
    LoadedModelBase,
    LoadOptions,
    Logprob,
    Message,
    ModelInfo,
    SamplingParams,
    StepObserver,
    Usage,
    collect,
)
from assay.engines.factories import (
    EngineContext,
    EngineFactory,
    Upstream,
    engine_factories,
    engine_for,
)

__all__ = [
    "CancelToken",
    "Chunk",
    "EmbeddingInput",
    "Embeddings",
    "Engine",
    "EngineContext",
    "EngineFactory",
    "LoadOptions",
    "LoadedModel",
    "LoadedModelBase",
    "Logprob",
    "Message",
    "ModelInfo",
    "SamplingParams",
    "StepObserver",
    "Upstream",
    "Usage",
    "collect",
    "engine_factories",
    "engine_for",
]
