"""Engines: the protocol every consumer uses, and the implementations behind it."""

from collections.abc import Callable
from pathlib import Path

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


def engine_for(
    name: str,
    adapter: str | None = None,
    count_tokens: Callable[[str], int] | None = None,
    upstream: tuple[str, str | None, str | None] | None = None,
    data_dir: Path | None = None,
) -> Engine:
    """The engine registered under name (imported lazily: llama_cpp is slow to import).

    "adapter" wraps the user's class named by `adapter`; count_tokens counts its usage when
    it reports none; data_dir is where an engine with state of its own keeps it."""
    if name == "llamacpp":
        from assay.engines.llamacpp import LlamaCppEngine

        return LlamaCppEngine()
    from assay.errors import AssayError

    if name == "onnx":
        from assay.engines.onnx_genai import OnnxGenaiEngine

        return OnnxGenaiEngine()
    if name == "foundry" and data_dir is not None:
        from assay.engines.foundry import FoundryEngine

        return FoundryEngine(data_dir / "foundry")
    if name == "adapter" and adapter is not None:
        from assay.engines.adapter import AdapterEngine

        return AdapterEngine(adapter, count_tokens or _whitespace_tokens)
    if name == "remote" and upstream is not None:
        from assay.engines.remote import RemoteEngine

        endpoint, model, key_env = upstream
        return RemoteEngine(endpoint, model, key_env, count_tokens or _whitespace_tokens)
    raise AssayError(
        f"unknown engine '{name}'; available: llamacpp, onnx, foundry, adapter, remote"
    )


def _whitespace_tokens(text: str) -> int:
    return len(text.split())
