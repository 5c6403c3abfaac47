"""What every engine does around loading a model and before each generation, in one place.

Around a load: `LoadMeter` takes the time and the resident memory the load adds (started just
before the engine's own loading call, stopped right after it), and `model_info` records them
with the file's size in the ModelInfo every result carries. Before a generation:
`token_budget` refuses a prompt that fills the context and caps max_tokens at what is left,
`check_grammar` refuses a grammar the model cannot follow, and `check_min_tokens` a
min_tokens it cannot hold.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from assay.engines.base import LoadedModel, ModelInfo, SamplingParams
from assay.errors import ContextOverflowError, EngineError

LARGER_CONTEXT = "shorten the prompt or load the model with a larger --ctx"


@dataclass(frozen=True)
class LoadCost:
    seconds: float
    rss_delta_bytes: int


class LoadMeter:
    """Started just before an engine loads; `stop()` says what the load cost."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._rss_before = self._process.memory_info().rss
        self._started = time.perf_counter()

    def stop(self) -> LoadCost:
        seconds = time.perf_counter() - self._started
        rss = self._process.memory_info().rss
        return LoadCost(seconds, max(0, rss - self._rss_before))


def path_bytes(path: Path) -> int:
    """Bytes of a model file, or of every file in a model folder; 0 when there is none
    (Path(): an upstream, a fake, an adapter without weights; never the current folder)."""
    if path == Path():
        return 0
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return 0


def model_info(
    path: Path,
    cost: LoadCost,
    *,
    engine: str,
    engine_version: str,
    architecture: str,
    threads: int,
    context_size: int,
    chat_template_source: str,
    gpu_layers: int = 0,
    thread_policy: str = "fixed",
) -> ModelInfo:
    """The ModelInfo of a model loaded from path at this cost (its size read from the disk)."""
    return ModelInfo(
        path=path,
        engine=engine,
        engine_version=engine_version,
        architecture=architecture,
        threads=threads,
        context_size=context_size,
        gpu_layers=gpu_layers,
        load_seconds=cost.seconds,
        rss_delta_bytes=cost.rss_delta_bytes,
        file_bytes=path_bytes(path),
        chat_template_source=chat_template_source,
        thread_policy=thread_policy,
    )


def token_budget(
    prompt_tokens: int, context: int, max_tokens: int | None, remedy: str = LARGER_CONTEXT
) -> int:
    """Tokens a generation may produce: max_tokens, capped by the context the prompt leaves.

    A prompt that fills the context is a ContextOverflowError; engines check before the first
    chunk is asked for, so a caller sees it at once."""
    if prompt_tokens >= context:
        raise ContextOverflowError(
            f"the prompt is {prompt_tokens} tokens but the context holds {context}; {remedy}"
        )
    budget = context - prompt_tokens
    return min(max_tokens, budget) if max_tokens else budget


def check_grammar(model: LoadedModel, params: SamplingParams) -> None:
    """Refuse a grammar the model does not declare it follows (LoadedModel.grammar)."""
    if params.grammar is not None and not model.grammar:
        raise EngineError(
            f"the {model.info.engine} engine takes no GBNF grammar (response_format); "
            "use a llama.cpp model"
        )


def check_token_ids(tokens: Sequence[int], vocabulary: int) -> None:
    """Refuse an id outside the vocabulary before a tokenizer sees it (llama.cpp aborts)."""
    for token in tokens:
        if not 0 <= token < vocabulary:
            raise EngineError(
                f"token id {token} is not in the vocabulary (0 to {vocabulary - 1}); send ids "
                "that /tokenize gave"
            )


def check_min_tokens(model: LoadedModel, params: SamplingParams) -> None:
    """Refuse min_tokens the model does not declare it holds (LoadedModel.min_tokens), and
    min_tokens with a grammar or a schema, which may allow nothing but the end first."""
    if params.min_tokens <= 0:
        return
    if not model.min_tokens:
        raise EngineError(
            f"the {model.info.engine} engine cannot hold min_tokens (or ignore_eos); "
            "use a llama.cpp or ONNX model"
        )
    if params.grammar is not None or params.json_schema is not None:
        raise EngineError(
            "min_tokens (or ignore_eos) cannot hold with a grammar or a schema, which may "
            "allow nothing but the end first; drop one of them"
        )
