"""The ONNX Runtime GenAI engine (the runtime under Foundry Local): model folders that hold
`genai_config.json`, an ONNX decoder and a Hugging Face tokenizer.

Chat prompts come from the folder's own template (`chat_template.jinja`, else the
`chat_template` of `tokenizer_config.json`), rendered in the same Jinja sandbox as GGUF
templates; ONNX Runtime GenAI's sampler does greedy, temperature, top-k, top-p, seed and
repetition penalty, and holds min_tokens with its min_length (the end-of-sequence tokens of
genai_config.json cannot be drawn before it). It has no min-p: that option is ignored here.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assay.config import available_cores
from assay.engines.base import (
    CancelToken,
    Chunk,
    LoadedModelBase,
    LoadOptions,
    Message,
    ModelInfo,
    SamplingParams,
)
from assay.engines.chat_format import ChatFormat, chat_format_from_template, fallback_format
from assay.engines.loading import (
    LoadMeter,
    check_grammar,
    check_min_tokens,
    check_token_ids,
    model_info,
    path_bytes,
    token_budget,
)
from assay.engines.token_stream import chunks_from_tokens
from assay.errors import AssayError, EngineError, ModelFileError

CONFIG_NAME = "genai_config.json"
INSTALL_HINT = "install it with: pip install 'assay[onnx]'"


def onnxruntime_genai() -> Any:
    try:
        import onnxruntime_genai
    except ImportError:
        raise AssayError(f"the onnx engine needs onnxruntime-genai; {INSTALL_HINT}") from None
    return onnxruntime_genai


@dataclass(frozen=True)
class GenaiFolder:
    """What a model folder's genai_config.json and tokenizer_config.json say."""

    path: Path
    config: dict[str, Any]
    tokenizer_config: dict[str, Any]

    @property
    def model_type(self) -> str:
        return str(self.config["model"].get("type", "unknown"))

    @property
    def context_length(self) -> int:
        return int(self.config["model"].get("context_length") or 0)

    @property
    def eos_token_ids(self) -> frozenset[int]:
        eos = self.config["model"].get("eos_token_id", [])
        return frozenset(eos if isinstance(eos, list) else [eos])

    def kv_cache_bytes(self, context: int) -> int:
        """fp32 K and V for every layer at this context (what the CPU build allocates)."""
        decoder = self.config["model"].get("decoder", {})
        layers = int(decoder.get("num_hidden_layers", 0))
        kv_heads = int(decoder.get("num_key_value_heads", decoder.get("num_attention_heads", 0)))
        head_size = int(decoder.get("head_size", 0))
        return context * layers * kv_heads * head_size * 2 * 4

    def chat_format(self) -> ChatFormat:
        bos, eos = (
            _token(self.tokenizer_config, "bos_token"),
            _token(self.tokenizer_config, "eos_token"),
        )
        template_file = self.path / "chat_template.jinja"
        if template_file.is_file():
            return chat_format_from_template(
                template_file.read_text("utf-8"), "chat_template.jinja", bos, eos
            )
        template = self.tokenizer_config.get("chat_template")
        if isinstance(template, str) and template:
            return chat_format_from_template(template, "tokenizer_config.json", bos, eos)
        return fallback_format(self.model_type, bos, eos)


def read_genai_folder(path: Path) -> GenaiFolder:
    """Check that path is an ONNX GenAI model folder and read its configs (no weights)."""
    if not path.is_dir():
        raise ModelFileError(
            f"{path} is not a folder; the onnx engine loads a model folder with {CONFIG_NAME}"
        )
    try:
        config = json.loads((path / CONFIG_NAME).read_text("utf-8"))
        decoder_file = config["model"]["decoder"]["filename"]
    except FileNotFoundError:
        raise ModelFileError(
            f"{path} has no {CONFIG_NAME}; it is not an ONNX GenAI model"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{path / CONFIG_NAME} is not a valid GenAI config: {exc}") from None
    if not (path / decoder_file).is_file():
        raise ModelFileError(f"{path} lacks {decoder_file}, which {CONFIG_NAME} names")
    tokenizer_config: dict[str, Any] = {}  # without one, the architecture's template is used
    with contextlib.suppress(OSError, ValueError):
        tokenizer_config = json.loads((path / "tokenizer_config.json").read_text("utf-8"))
    return GenaiFolder(path, config, tokenizer_config)


def _token(tokenizer_config: dict[str, Any], key: str) -> str:
    value = tokenizer_config.get(key)
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else ""


class OnnxGenaiEngine:
    """Loads ONNX GenAI folders on the CPU with the requested thread count."""

    name = "onnx"

    def estimate_load_bytes(self, path: Path, options: LoadOptions) -> int:
        folder = read_genai_folder(path)
        return path_bytes(path) + folder.kv_cache_bytes(options.context_for(folder.context_length))

    def load(self, path: Path, options: LoadOptions) -> OnnxGenaiModel:
        folder = read_genai_folder(path)
        og = onnxruntime_genai()
        threads = options.threads or available_cores()
        session = {"intra_op_num_threads": threads, "inter_op_num_threads": 1}
        meter = LoadMeter()
        try:
            config = og.Config(str(path))
            config.overlay(json.dumps({"model": {"decoder": {"session_options": session}}}))
            model = og.Model(config)
            tokenizer = og.Tokenizer(model)
        except RuntimeError as exc:
            raise ModelFileError(f"ONNX Runtime GenAI cannot load {path}: {exc}") from None
        cost = meter.stop()
        chat_format = folder.chat_format()
        info = model_info(
            path,
            cost,
            engine=self.name,
            engine_version=f"onnxruntime-genai {og.__version__}",
            architecture=folder.model_type,
            threads=threads,
            context_size=options.context_for(folder.context_length),
            chat_template_source=chat_format.source,
        )
        return OnnxGenaiModel(og, model, tokenizer, folder, chat_format, info)


class OnnxGenaiModel(LoadedModelBase):
    """One loaded ONNX GenAI model; generations run one at a time."""

    min_tokens = True
    token_ids = True

    def __init__(
        self,
        og: Any,
        model: Any,
        tokenizer: Any,
        folder: GenaiFolder,
        chat_format: ChatFormat,
        info: ModelInfo,
    ) -> None:
        self._og = og
        self._model = model
        self._tokenizer = tokenizer
        self._eos = folder.eos_token_ids
        self._vocabulary = int(folder.config["model"].get("vocab_size") or 0)
        self._chat_format = chat_format
        self._lock = threading.Lock()
        self.info = info
        # Structured outputs through the runtime's guidance (onnxruntime-genai 0.8 and later).
        self.json_schema = hasattr(og.GeneratorParams, "set_guidance")

    def chat(
        self,
        messages: Sequence[Message],
        params: SamplingParams,
        cancel: CancelToken | None = None,
    ) -> Iterator[Chunk]:
        prompt = self._chat_format.render(messages)
        return self._generate(prompt, params, params.stop + self._chat_format.stop, cancel)

    def complete(
        self, prompt: str, params: SamplingParams, cancel: CancelToken | None = None
    ) -> Iterator[Chunk]:
        return self._generate(prompt, params, params.stop, cancel)

    def render_chat(self, messages: Sequence[Message]) -> str:
        return self._chat_format.render(messages)

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer.encode(text))

    def tokenize(self, text: str) -> list[int]:
        return [int(token) for token in self._tokenizer.encode(text)]

    def detokenize(self, tokens: Sequence[int]) -> str:
        check_token_ids(tokens, self._vocabulary)
        return str(self._tokenizer.decode(np.array(tokens, dtype=np.int32)))

    def close(self) -> None:
        with self._lock:
            self._model = self._tokenizer = None

    def _generate(
        self,
        prompt: str,
        params: SamplingParams,
        stops: tuple[str, ...],
        cancel: CancelToken | None,
    ) -> Iterator[Chunk]:
        if params.json_schema is None:  # a schema is held by guidance (its grammar unused)
            check_grammar(self, params)
        check_min_tokens(self, params)
        tokens = [int(t) for t in self._tokenizer.encode(prompt)]
        limit = token_budget(len(tokens), self.info.context_size, params.max_tokens)
        return self._stream(tokens, params, stops, cancel, limit)

    def _search_options(
        self, params: SamplingParams, prompt_tokens: int, limit: int
    ) -> dict[str, Any]:
        max_length = prompt_tokens + limit  # min_length and max_length count the prompt too
        options: dict[str, Any] = {
            "max_length": max_length,
            "do_sample": params.temperature > 0,
            "repetition_penalty": params.repeat_penalty,
        }
        if params.min_tokens > 0:
            options["min_length"] = min(prompt_tokens + params.min_tokens, max_length)
        if params.temperature > 0:
            seed = params.seed if params.seed is not None else random.getrandbits(31)
            options |= {
                "temperature": params.temperature,
                "top_p": params.top_p,
                "top_k": params.top_k if params.top_k > 0 else 0,
                "random_seed": seed,
            }
        return options

    def _stream(
        self,
        tokens: list[int],
        params: SamplingParams,
        stops: tuple[str, ...],
        cancel: CancelToken | None,
        limit: int,
    ) -> Iterator[Chunk]:
        with self._lock:
            if self._model is None:
                raise EngineError("the model was unloaded")
            og = self._og
            search = og.GeneratorParams(self._model)
            search.set_search_options(**self._search_options(params, len(tokens), limit))
            try:
                if params.json_schema is not None:
                    # llguidance, in the runtime: the same structured outputs as llama.cpp's.
                    search.set_guidance("json_schema", params.json_schema)
                generator = og.Generator(self._model, search)
                generator.append_tokens(tokens)
                decoder = self._tokenizer.create_stream()
                yield from chunks_from_tokens(
                    _next_tokens(generator),
                    decode=decoder.decode,
                    is_end=self._eos.__contains__,
                    stops=stops,
                    cancel=cancel,
                    limit=limit,
                    prompt_tokens=len(tokens),
                )
            except RuntimeError as exc:
                raise EngineError(f"ONNX Runtime GenAI failed while generating: {exc}") from None


def _next_tokens(generator: Any) -> Iterator[int]:
    while not generator.is_done():
        generator.generate_next_token()
        yield int(generator.get_next_tokens()[0])
