"""Engines: the protocol every consumer uses, and the implementations behind it."""

from assay.engines.base import (
    CancelToken,
    Chunk,
    Engine,
    LoadedModel,
    LoadOptions,
    Message,
    ModelInfo,
    SamplingParams,
    Usage,
    collect,
)

__all__ = [
    "CancelToken",
    "Chunk",
    "Engine",
    "LoadOptions",
    "LoadedModel",
    "Message",
    "ModelInfo",
    "SamplingParams",
    "Usage",
    "collect",
    "engine_for",
]


def engine_for(name: str) -> Engine:
    """The engine registered under name (imported lazily: llama_cpp is slow to import)."""
    if name == "llamacpp":
        from assay.engines.llamacpp import LlamaCppEngine

        return LlamaCppEngine()
    from assay.errors import AssayError

    raise AssayError(f"unknown engine '{name}'; available: llamacpp")
