"""The Foundry Local engine: Microsoft's foundry-local-sdk, in-process, on an ONNX GenAI
model folder registered in its LOCAL catalog (nothing is downloaded or copied).

Foundry Local keeps its registrations, cache and logs under `<ASSAY_HOME>/foundry`. It is
never asked about its public catalog (offline, that costs seconds of retries), and its
telemetry upload is switched off the way the SDK documents: a CI marker at initialisation.
Its sampler takes temperature (0-2), top-k, top-p and seed; repetition penalty and min-p
are not Foundry options and are ignored. Stop strings are applied here, on the stream.

Embeddings come from Foundry's EmbeddingsSession, which takes a model registered with task
'embeddings' and reads the decoder's `hidden_states` output: a folder gives them when its
ONNX graph has that output beside the logits (the model builder's
`--extra_options include_hidden_states=true`).
"""

from __future__ import annotations

import atexit
import hashlib
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from assay.engines.base import (
    CancelToken,
    Chunk,
    EmbeddingInput,
    Embeddings,
    FinishReason,
    LoadedModelBase,
    LoadOptions,
    Message,
    ModelInfo,
    SamplingParams,
    Usage,
)
from assay.engines.loading import (
    LoadMeter,
    check_grammar,
    check_min_tokens,
    check_token_ids,
    model_info,
    path_bytes,
    token_budget,
)
from assay.engines.onnx_genai import GenaiFolder, read_genai_folder
from assay.engines.token_stream import chunks_from_tokens
from assay.errors import AssayError, ContextOverflowError, EngineError, ModelFileError

INSTALL_HINT = "install it with: pip install 'assay[foundry]'"
EMBEDDING_HINT = (
    "rebuild it with onnxruntime-genai's model builder and "
    "--extra_options include_hidden_states=true"
)
_init_lock = threading.Lock()


def foundry_sdk() -> Any:
    try:
        import foundry_local_sdk
    except ImportError:
        raise AssayError(f"the foundry engine needs foundry-local-sdk; {INSTALL_HINT}") from None
    return foundry_local_sdk


def _manager(sdk: Any, data_dir: Path) -> Any:
    """The process's one FoundryLocalManager (the SDK allows one), started on first use."""
    with _init_lock:
        if sdk.FoundryLocalManager.instance is None:
            config = sdk.Configuration(
                app_name="assay",
                app_data_dir=str(data_dir / "data"),
                model_cache_dir=str(data_dir / "cache"),
                logs_dir=str(data_dir / "logs"),
                log_level=sdk.LogLevel.FATAL,  # assay reports failures itself, in one line
                disable_nonessential_telemetry=True,
            )
            # The SDK reads a CI marker once, here, and then uploads no telemetry at all.
            previous = os.environ.get("CI")
            os.environ["CI"] = "true"
            try:
                sdk.FoundryLocalManager.initialize(config)
            finally:
                if previous is None:
                    del os.environ["CI"]
                else:
                    os.environ["CI"] = previous
            atexit.register(_close_manager, sdk)
        return sdk.FoundryLocalManager.instance


def _close_manager(sdk: Any) -> None:
    manager = sdk.FoundryLocalManager.instance
    if manager is not None:
        manager.close()


class FoundryEngine:
    """Registers an ONNX GenAI folder with Foundry Local and loads it through the SDK."""

    name = "foundry"

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def estimate_load_bytes(self, path: Path, options: LoadOptions) -> int:
        folder = read_genai_folder(path)
        return path_bytes(path) + folder.kv_cache_bytes(folder.context_length or 4096)

    def load(self, path: Path, options: LoadOptions) -> FoundryModel:
        folder = read_genai_folder(path)
        sdk = foundry_sdk()
        manager = _manager(sdk, self.data_dir)
        meter = LoadMeter()
        try:
            model = _registered(sdk, manager, path.resolve())
            model.load()
        except sdk.FoundryLocalException as exc:
            raise ModelFileError(f"Foundry Local cannot load {path}: {exc}") from None
        cost = meter.stop()
        chat_format = folder.chat_format()
        info = model_info(
            path,
            cost,
            engine=self.name,
            engine_version=f"foundry-local-sdk {metadata.version('foundry-local-sdk')}",
            architecture=folder.model_type,
            threads=os.cpu_count() or 1,  # Foundry Local picks its own thread count
            context_size=folder.context_length,
            chat_template_source=f"Foundry Local, from {chat_format.source}",
        )
        decoder = path / folder.config["model"]["decoder"]["filename"]
        embeds = "hidden_states" in graph_outputs(decoder)
        return FoundryModel(sdk, manager, model, folder, info, embeds)


def _registered(sdk: Any, manager: Any, path: Path, task: str = "chat-completion") -> Any:
    """The folder's model for a task in the LOCAL catalog, registered now if it is not there
    yet (Foundry gives a model one task, so a folder that embeds has a second id)."""
    catalog = manager.get_catalog(sdk.CatalogType.LOCAL)
    # Foundry ids are name:version; one per folder and task, so two folders never share one.
    suffix = "" if task == "chat-completion" else f"-{task}"
    model_id = f"assay-{hashlib.sha256(str(path).encode()).hexdigest()[:12]}{suffix}:1"
    model = catalog.get_model_variant(model_id)
    if model is not None and Path(model.get_path()) != path:
        catalog.unregister_model(model_id)
        model = None
    if model is None:
        with sdk.ModelInfoBuilder() as info:
            info.set_string_property("task", task)
            info.set_string_property("display_name", f"{path.parent.name}/{path.name}")
            model = catalog.register_model(model_path=str(path), model_id=model_id, metadata=info)
    return model


class FoundryModel(LoadedModelBase):
    """One model loaded by Foundry Local; generations run one at a time, each in a fresh
    ChatSession (a session keeps history, and requests here are independent)."""

    json_schema = True  # held by the runtime's guidance (see _guidance)
    token_ids = True  # its folder's tokenizer.json

    def __init__(
        self,
        sdk: Any,
        manager: Any,
        model: Any,
        folder: GenaiFolder,
        info: ModelInfo,
        embeds: bool = False,
    ) -> None:
        self._sdk = sdk
        self._manager = manager
        self._model = model
        self._chat_format = folder.chat_format()
        self._tokenizer: Any = None
        self._folder = folder
        self._lock = threading.Lock()
        self._embedder: Any = None  # the folder registered for embeddings, loaded on first use
        self._embed_lock = threading.Lock()
        self.embeddings = embeds
        self.info = info

    def chat(
        self,
        messages: Sequence[Message],
        params: SamplingParams,
        cancel: CancelToken | None = None,
    ) -> Iterator[Chunk]:
        if params.json_schema is None:  # a schema is held by guidance (its grammar unused)
            check_grammar(self, params)
        check_min_tokens(self, params)  # its SearchOptions have no min_length
        if not 0 <= params.temperature <= 2:
            raise EngineError("Foundry Local takes a temperature from 0 to 2")
        prompt_tokens = self.count_tokens(self._chat_format.render(messages))
        limit = token_budget(
            prompt_tokens, self.info.context_size, params.max_tokens, "shorten the prompt"
        )
        return self._stream(messages, params, prompt_tokens, limit, cancel)

    def complete(
        self, prompt: str, params: SamplingParams, cancel: CancelToken | None = None
    ) -> Iterator[Chunk]:
        raise EngineError("the foundry engine answers chat only; use /v1/chat/completions")

    def embed(self, inputs: Sequence[EmbeddingInput]) -> Embeddings:
        """One unit-length vector per text from Foundry's EmbeddingsSession: the last hidden
        state after the text's tokens and an end-of-sequence token that Foundry appends
        (last-token pooling). An input longer than the context is an error, never cut short."""
        name = self._folder.path.name
        if not self.embeddings:
            raise EngineError(f"{name} has no hidden_states output to embed; {EMBEDDING_HINT}")
        texts = [_text(index, item) for index, item in enumerate(inputs)]
        # Foundry reports no usage here; each text is its tokens and the end token it appends.
        counts = [self.count_tokens(text) + 1 for text in texts]
        # Foundry's generator runs to the tokens and one more, within the context (its error
        # for 9,001 text tokens: "max_length (9003) cannot be greater than ... (8192)").
        limit = self.info.context_size - 1
        for index, count in enumerate(counts):
            if 0 < limit < count:
                raise ContextOverflowError(
                    f"input {index} is {count} tokens; {name} embeds at most {limit} at once: "
                    "shorten it or split it"
                )
        with self._embed_lock:
            embedder = self._embedder or self._open_embedder()
            vectors = _embedded(self._sdk, embedder, texts)
        return Embeddings(vectors=vectors, prompt_tokens=sum(counts))

    def _open_embedder(self) -> Any:
        sdk = self._sdk
        if self._model is None:
            raise EngineError("the model was unloaded")
        try:
            embedder = _registered(sdk, self._manager, self._folder.path.resolve(), "embeddings")
            embedder.load()
        except sdk.FoundryLocalException as exc:
            raise EngineError(f"Foundry Local cannot load it for embeddings: {exc}") from None
        self._embedder = embedder
        return embedder

    def render_chat(self, messages: Sequence[Message]) -> str:
        return self._chat_format.render(messages)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def tokenize(self, text: str) -> list[int]:
        return list(self._hf_tokenizer().encode(text, add_special_tokens=False).ids)

    def detokenize(self, tokens: Sequence[int]) -> str:
        tokenizer = self._hf_tokenizer()
        check_token_ids(tokens, tokenizer.get_vocab_size())
        return str(tokenizer.decode(list(tokens), skip_special_tokens=False))

    def _hf_tokenizer(self) -> Any:
        """The folder's tokenizer.json, read on first use."""
        if self._tokenizer is None:
            from tokenizers import Tokenizer

            self._tokenizer = Tokenizer.from_file(str(self._folder.path / "tokenizer.json"))
        return self._tokenizer

    def close(self) -> None:
        with self._lock:
            if self._model is not None:
                self._model.unload()
                self._model = None
        with self._embed_lock:
            if self._embedder is not None:
                self._embedder.unload()
                self._embedder = None

    def _stream(
        self,
        messages: Sequence[Message],
        params: SamplingParams,
        prompt_tokens: int,
        limit: int,
        cancel: CancelToken | None,
    ) -> Iterator[Chunk]:
        sdk = self._sdk
        with self._lock:
            if self._model is None:
                raise EngineError("the model was unloaded")
            try:
                with sdk.ChatSession(self._model) as session:
                    session.set_options(
                        sdk.RequestOptions(
                            search=_search(sdk, params, limit),
                            additional_options=_guidance(params),
                        )
                    )
                    session.set_streaming(True)
                    with sdk.Request() as request:
                        for message in messages:
                            request.add_item(_item(sdk, message))
                        with session.process_streaming_request(request) as stream:
                            yield from self._chunks(stream, params, prompt_tokens, limit, cancel)
            except sdk.FoundryLocalException as exc:
                raise EngineError(f"Foundry Local failed while generating: {exc}") from None

    def _chunks(
        self,
        stream: Any,
        params: SamplingParams,
        prompt_tokens: int,
        limit: int,
        cancel: CancelToken | None,
    ) -> Iterator[Chunk]:
        drained = [False]

        def texts() -> Iterator[str]:
            for item in stream:
                if isinstance(item, self._sdk.TextItem):
                    yield item.text
            drained[0] = True

        for chunk in chunks_from_tokens(
            texts(),
            decode=str,
            is_end=lambda _: False,
            stops=params.stop + self._chat_format.stop,
            cancel=cancel,
            # Foundry stops at max_output_tokens itself; reading on to the end of its stream
            # is what makes its own finish reason and usage available.
            limit=limit + 1,
            prompt_tokens=prompt_tokens,
        ):
            if chunk.finish_reason is not None and drained[0]:
                # Foundry ended the answer itself: its own finish reason and usage.
                chunk = _with_final(chunk, stream)
            elif chunk.usage is not None:
                # Cut short here (stop string, limit, cancel): Foundry gives no usage then.
                chunk = replace(chunk, usage=replace(chunk.usage, source="counted"))
            yield chunk


def _text(index: int, item: EmbeddingInput) -> str:
    if not isinstance(item, str):
        raise EngineError("the foundry engine embeds text only; send the input as strings")
    if not item:
        raise EngineError(f"input {index} is empty; send some text")
    return item


def _embedded(sdk: Any, embedder: Any, texts: list[str]) -> list[list[float]]:
    """One vector per text, in order. Foundry normalises them in float32; they are normalised
    again here in float64, so unit length holds to the precision of the numbers sent."""
    try:
        with sdk.EmbeddingsSession(embedder) as session, sdk.Request() as request:
            for text in texts:
                request.add_item(sdk.TextItem(text))
            with session.process_request(request) as response:
                tensors = [item for item in response if isinstance(item, sdk.TensorItem)]
                if any(t.data_type != sdk.TensorDataType.FLOAT for t in tensors):
                    raise EngineError("Foundry Local gave embeddings that are not float32")
                raw = [np.frombuffer(t.data, dtype=np.float32).astype(np.float64) for t in tensors]
    except sdk.FoundryLocalException as exc:
        raise EngineError(f"Foundry Local failed while embedding: {exc}") from None
    if len(raw) != len(texts):
        raise EngineError(f"Foundry Local gave {len(raw)} embeddings for {len(texts)} inputs")
    return [[float(v) for v in vector / (np.linalg.norm(vector) or 1.0)] for vector in raw]


def graph_outputs(onnx_file: Path) -> frozenset[str]:
    """The output names of an ONNX model's graph, read from its protobuf without reading the
    weights: ModelProto field 7 is the graph, GraphProto field 12 an output, ValueInfoProto
    field 1 its name (the `onnx` package is not a dependency of the foundry engine)."""
    names: set[str] = set()
    try:
        with onnx_file.open("rb") as file:
            for field, start, size in _length_fields(file, 0, onnx_file.stat().st_size):
                if field != 7:
                    continue
                for g_field, g_start, g_size in _length_fields(file, start, start + size):
                    if g_field != 12:
                        continue
                    for v_field, v_start, v_size in _length_fields(file, g_start, g_start + g_size):
                        if v_field == 1:
                            file.seek(v_start)
                            names.add(file.read(v_size).decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{onnx_file} is not a readable ONNX model: {exc}") from None
    return frozenset(names)


def _length_fields(file: BinaryIO, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(field number, payload offset, payload size) of each length-delimited field of the
    protobuf message between start and end; the other fields are skipped."""
    position = start
    while position < end:
        file.seek(position)
        key = _varint(file)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _varint(file)
            position = file.tell()
        elif wire in (1, 5):
            position = file.tell() + (8 if wire == 1 else 4)
        elif wire == 2:
            size = _varint(file)
            position = file.tell() + size
            if position > end:
                raise ValueError(f"field {field} runs past its message")
            yield field, position - size, size
        else:
            raise ValueError(f"unexpected protobuf wire type {wire}")


def _varint(file: BinaryIO) -> int:
    value = shift = 0
    while True:
        byte = file.read(1)
        if not byte:
            raise ValueError("the file ends inside a number")
        value |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return value
        shift += 7


def _with_final(chunk: Chunk, stream: Any) -> Chunk:
    with stream.final_response as final:
        usage = final.get_usage()
        reason: FinishReason = "length" if final.finish_reason.name == "LENGTH" else "stop"
    return Chunk(
        chunk.text,
        chunk.tokens,
        finish_reason=reason,
        usage=Usage(usage.prompt_tokens, usage.completion_tokens),
    )


def _guidance(params: SamplingParams) -> dict[str, str]:
    """Structured outputs in Foundry Local's runtime: its native options `guidance_type`
    and `guidance_data` (llguidance, as ONNX Runtime GenAI's set_guidance)."""
    if params.json_schema is None:
        return {}
    return {"guidance_type": "json_schema", "guidance_data": params.json_schema}


def _search(sdk: Any, params: SamplingParams, limit: int) -> Any:
    if params.temperature <= 0:
        return sdk.SearchOptions(temperature=0.0, do_sample=False, max_output_tokens=limit)
    return sdk.SearchOptions(
        temperature=params.temperature,
        top_p=params.top_p,
        top_k=params.top_k if params.top_k > 0 else None,
        seed=params.seed,
        do_sample=True,
        max_output_tokens=limit,
    )


def _item(sdk: Any, message: Message) -> Any:
    make = {
        "system": sdk.MessageItem.system,
        "user": sdk.MessageItem.user,
        "assistant": sdk.MessageItem.assistant,
    }.get(message.role)
    if make is None:
        raise EngineError(f"the foundry engine takes no '{message.role}' messages")
    return make(message.content)
