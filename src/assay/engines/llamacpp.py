"""The llama.cpp engine, over llama-cpp-python's Llama object."""

from __future__ import annotations

import codecs
import ctypes
import functools
import random
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from assay.engines.base import (
    CancelToken,
    Chunk,
    EmbeddingInput,
    Embeddings,
    LoadedModelBase,
    LoadOptions,
    Logprob,
    Message,
    ModelInfo,
    SamplingParams,
    StepObserver,
)
from assay.engines.batching import BatchedSequence, BatchScheduler, eog_checker
from assay.engines.chat_format import ChatFormat, chat_format_for
from assay.engines.json_schema import grammar_for_schema_json
from assay.engines.loading import (
    LoadMeter,
    check_min_tokens,
    check_token_ids,
    model_info,
    token_budget,
)
from assay.engines.logprobs import TokenLogprobs, from_logits, with_text
from assay.engines.sampling import EndTokenIds, SequenceSampler, check_grammar
from assay.engines.threads import ThreadPolicy
from assay.engines.token_stream import chunks_from_tokens
from assay.errors import ContextOverflowError, EngineError, ModelFileError

_GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class GgufInfo:
    """A GGUF file's header as llama.cpp reads it (no weights loaded)."""

    path: Path
    architecture: str
    context_length: int
    metadata: dict[str, str]

    @property
    def has_chat_template(self) -> bool:
        return bool(self.metadata.get("tokenizer.chat_template"))

    def kv_cache_bytes(self, context: int) -> int:
        """f16 K and V for every layer at this context (llama.cpp's default cache type)."""
        arch = self.architecture

        def number(key: str, default: int = 0) -> int:
            return int(float(self.metadata.get(f"{arch}.{key}", default) or default))

        layers = number("block_count")
        heads = max(1, number("attention.head_count", 1))
        kv_heads = number("attention.head_count_kv", heads)
        key_size = number("attention.key_length", number("embedding_length") // heads)
        value_size = number("attention.value_length", key_size)
        return context * layers * kv_heads * (key_size + value_size) * 2


def _llama_cpp(log: bool = False) -> Any:
    """llama_cpp, its log (process-wide) silenced unless LOG (LoadOptions.engine_log)."""
    import llama_cpp

    # Off, llama.cpp's log is dropped: assay reports failures itself, in one line. On, every
    # line goes to stderr (llama-cpp-python's own callback would keep errors only).
    llama_cpp.llama_log_set(_log_callback(llama_cpp, log), ctypes.c_void_p(0))
    return llama_cpp


@functools.cache
def _log_callback(llama_cpp: Any, to_stderr: bool) -> Any:
    # Cached: the ctypes callback must outlive the call, or llama.cpp calls freed memory.
    def write(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        if to_stderr:
            sys.stderr.write(text.decode("utf-8", errors="replace"))

    return llama_cpp.llama_log_callback(write)


def read_gguf_info(path: Path) -> GgufInfo:
    """Read a GGUF header through llama.cpp (vocab only); a clear error if it cannot."""
    _check_magic(path)
    llama_cpp = _llama_cpp()
    try:
        vocab = llama_cpp.Llama(str(path), vocab_only=True, verbose=False)
    except (ValueError, RuntimeError):
        raise ModelFileError(_unreadable(path)) from None
    try:
        metadata = dict(vocab.metadata)
    finally:
        vocab.close()
    architecture = metadata.get("general.architecture", "unknown")
    context = int(metadata.get(f"{architecture}.context_length", "0") or 0)
    return GgufInfo(path, architecture, context, metadata)


def _check_magic(path: Path) -> None:
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {path}: {exc.strerror}") from None
    if magic != _GGUF_MAGIC:
        raise ModelFileError(f"{path} is not a GGUF file (it does not start with 'GGUF')")


def _unreadable(path: Path) -> str:
    return (
        f"llama.cpp cannot load {path.name}: the file is truncated or corrupt; "
        "delete it and pull it again, or check the file"
    )


def vocab_counter(path: Path) -> Callable[[str], int]:
    """A token counter from a GGUF's vocabulary alone (no weights loaded)."""
    _check_magic(path)
    vocab = _llama_cpp().Llama(str(path), vocab_only=True, verbose=False)

    def count(text: str) -> int:
        return len(vocab.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    return count


class LlamaCppEngine:
    """Loads GGUF files with llama.cpp: mmap, threads, context and GPU layers from options."""

    name = "llamacpp"

    def estimate_load_bytes(self, path: Path, options: LoadOptions) -> int:
        """Memory a load will need: the weights plus the KV cache at the chosen context."""
        header = read_gguf_info(path)
        kv = header.kv_cache_bytes(options.context_for(header.context_length))
        return path.stat().st_size + kv * max(1, options.parallel)

    def load(self, path: Path, options: LoadOptions) -> LlamaCppModel:
        header = read_gguf_info(path)
        llama_cpp = _llama_cpp(options.engine_log)
        policy = ThreadPolicy(options.threads)
        threads = policy.ceiling
        context = options.context_for(header.context_length)
        batched = options.parallel > 1
        meter = LoadMeter()
        try:
            llm = llama_cpp.Llama(
                str(path),
                # Batched, this context only tokenizes: the scheduler owns the real one.
                n_ctx=min(context, 256) if batched else context,
                n_threads=threads,
                n_threads_batch=threads,
                n_gpu_layers=options.gpu_layers,
                # What llama-server's "auto" picks on CPU and GPU alike: decode here was 10%
                # faster with it (6.1 vs 6.8 ms a token for SmolLM2 on 2 cores).
                flash_attn=True,
                use_mmap=True,
                verbose=False,
            )
        except (ValueError, RuntimeError):
            raise ModelFileError(_unreadable(path)) from None
        scheduler = None
        if batched:
            scheduler = BatchScheduler(
                llama_cpp,
                llm._model.model,
                llm._model.vocab,
                slots=options.parallel,
                context_per_slot=context,
                threads=policy,
            )
        cost = meter.stop()
        chat_format = chat_format_for(
            header.metadata,
            bos_token=_token_text(llm, llm.token_bos()),
            eos_token=_token_text(llm, llm.token_eos()),
            architecture=header.architecture,
        )
        info = model_info(
            path,
            cost,
            engine=self.name,
            engine_version=f"llama-cpp-python {llama_cpp.__version__}",
            architecture=header.architecture,
            threads=threads,
            thread_policy=policy.name,
            context_size=scheduler.context_per_slot if scheduler else llm.n_ctx(),
            gpu_layers=options.gpu_layers,
            chat_template_source=chat_format.source,
        )
        if scheduler is not None:
            return BatchedLlamaCppModel(llm, info, chat_format, llama_cpp, scheduler, policy)
        return LlamaCppModel(llm, info, chat_format, llama_cpp, policy)


def _token_text(llm: Any, token: int) -> str:
    if token < 0:
        return ""
    return str(llm.detokenize([token], special=True).decode("utf-8", errors="replace"))


class LlamaCppModel(LoadedModelBase):
    """One loaded GGUF model; generations run one at a time."""

    grammar = True
    json_schema = True
    logprobs = True
    min_tokens = True
    tools = True
    embeddings = True
    token_ids = True

    def __init__(
        self, llm: Any, info: ModelInfo, chat_format: ChatFormat, lib: Any, threads: ThreadPolicy
    ) -> None:
        self._llm = llm
        self._lib = lib
        self._vocab = llm._model.vocab
        self._n_vocab = int(lib.llama_vocab_n_tokens(self._vocab))
        self._chat_format = chat_format
        self._lock = threading.Lock()
        self._pieces: dict[int, bytes] = {}
        self._is_eog = eog_checker(lib, self._vocab)
        self._end = EndTokenIds(lib, self._vocab, self._n_vocab)
        self._policy = threads
        self._threads = info.threads
        self.info = info
        self._embedder: Any = None  # a second context, in embedding mode, made on first use
        self._embed_lock = threading.Lock()

    @property
    def threads(self) -> ThreadPolicy:
        """The thread policy: how many threads decode now, and why."""
        return self._policy

    def chat(
        self,
        messages: Sequence[Message],
        params: SamplingParams,
        cancel: CancelToken | None = None,
    ) -> Iterator[Chunk]:
        prompt = self._chat_format.render(messages, params.tools)
        tokens = self._tokenize(prompt)
        stops = params.stop + self._chat_format.stop
        return self._generate(tokens, params, stops, cancel)

    def complete(
        self, prompt: str, params: SamplingParams, cancel: CancelToken | None = None
    ) -> Iterator[Chunk]:
        return self._generate(self._tokenize(prompt), params, params.stop, cancel)

    def render_chat(self, messages: Sequence[Message]) -> str:
        return self._chat_format.render(messages)

    def prompt_tokens(self, prompt: str) -> list[int]:
        """The tokens a prompt is fed as (BOS added when the model wants one)."""
        return self._tokenize(prompt)

    def embed(self, inputs: Sequence[EmbeddingInput]) -> Embeddings:
        """One unit-length vector per input, from a context of its own in embedding mode
        (the weights are shared: both map the same file). Pooling: the model's own, else the
        mean of its tokens' embeddings. An input longer than that context is an error, never
        cut short."""
        token_lists = [
            list(item)
            if not isinstance(item, str)
            else list(self._llm.tokenize(item.encode("utf-8"), add_bos=True, special=False))
            for item in inputs
        ]
        with self._embed_lock:
            embedder = self._embedder or self._open_embedder()
            limit = embedder.n_ctx()
            for index, tokens in enumerate(token_lists):
                if not tokens:
                    raise EngineError(f"input {index} is empty; send some text")
                if len(tokens) > limit:
                    raise ContextOverflowError(
                        f"input {index} is {len(tokens)} tokens; {self.info.path.name} embeds "
                        f"at most {limit} at once: shorten it or split it"
                    )
            vectors = [self._embed_one(embedder, tokens) for tokens in token_lists]
        return Embeddings(vectors=vectors, prompt_tokens=sum(map(len, token_lists)))

    def _open_embedder(self) -> Any:
        lib = self._lib
        architecture = self._llm.metadata.get("general.architecture", "")
        declared = self._llm.metadata.get(f"{architecture}.pooling_type")
        pooling = int(declared) if declared else lib.LLAMA_POOLING_TYPE_MEAN
        context = min(self.info.context_size, 2048)
        try:
            self._embedder = lib.Llama(
                str(self.info.path),
                embedding=True,
                pooling_type=pooling,
                n_ctx=context,
                n_batch=context,
                n_ubatch=context,
                n_threads=self.info.threads,
                n_threads_batch=self.info.threads,
                n_gpu_layers=self.info.gpu_layers,
                use_mmap=True,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise EngineError(f"llama.cpp cannot make an embedding context: {exc}") from None
        return self._embedder

    def _embed_one(self, embedder: Any, tokens: list[int]) -> list[float]:
        # llama-cpp-python's own embed() takes text only and cuts long input short; this is
        # its loop for one sequence of token ids.
        embedder._ctx.kv_cache_clear()
        embedder._batch.reset()
        embedder._batch.add_sequence(tokens, 0, True)
        try:
            embedder._ctx.decode(embedder._batch)
        except RuntimeError as exc:
            raise EngineError(f"llama.cpp failed to embed: {exc}") from None
        finally:
            embedder._batch.reset()
        pointer = self._lib.llama_get_embeddings_seq(embedder._ctx.ctx, 0)
        vector = np.ctypeslib.as_array(pointer, shape=(embedder.n_embd(),)).astype(np.float64)
        norm = float(np.linalg.norm(vector))
        return [float(v) for v in (vector / norm if norm > 0 else vector)]

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def tokenize(self, text: str) -> list[int]:
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def detokenize(self, tokens: Sequence[int]) -> str:
        check_token_ids(tokens, self._n_vocab)
        text = self._llm.detokenize(list(tokens), special=True)
        return str(text.decode("utf-8", errors="replace"))

    def close(self) -> None:
        with self._lock:
            self._llm.close()
        with self._embed_lock:
            if self._embedder is not None:
                self._embedder.close()
                self._embedder = None

    def _tokenize(self, prompt: str) -> list[int]:
        bos = self._chat_format.bos_token
        add_bos = not (bos and prompt.startswith(bos))
        return list(self._llm.tokenize(prompt.encode("utf-8"), add_bos=add_bos, special=True))

    def _generate(
        self,
        prompt_tokens: list[int],
        params: SamplingParams,
        stops: tuple[str, ...],
        cancel: CancelToken | None,
    ) -> Iterator[Chunk]:
        # Checked before the first chunk is asked for, so a caller sees it at once.
        if not prompt_tokens:
            raise EngineError("the prompt is empty; send some text")
        check_min_tokens(self, params)
        limit = token_budget(len(prompt_tokens), self.info.context_size, params.max_tokens)
        if params.grammar is None and params.json_schema is not None:
            # The schema's grammar: samplers read params.grammar, on both paths.
            params = replace(params, grammar=grammar_for_schema_json(params.json_schema))
        grammar = self._grammar(params.grammar) if params.grammar else None
        return self._stream(prompt_tokens, params, stops, cancel, limit, grammar)

    def _grammar(self, text: str) -> str:
        """The grammar, once llama.cpp has parsed it: checked now, before the first chunk is
        asked for, so a caller sees a bad one at once."""
        check_grammar(self._lib, self._vocab, text)
        return text

    def _stream(
        self,
        prompt_tokens: list[int],
        params: SamplingParams,
        stops: tuple[str, ...],
        cancel: CancelToken | None,
        limit: int,
        grammar: Any = None,
    ) -> Iterator[Chunk]:
        with self._lock:
            llm = self._llm
            llm.set_seed(params.seed if params.seed is not None else random.getrandbits(31))
            if not params.prefix_cache:
                llm.reset()
            self._retune()
            try:
                if grammar is None and params.min_tokens <= 0:
                    tokens = llm.generate(
                        prompt_tokens,
                        temp=params.temperature,
                        top_p=params.top_p,
                        top_k=params.top_k,
                        min_p=params.min_p,
                        repeat_penalty=params.repeat_penalty,
                    )
                else:
                    tokens = self._constrained(prompt_tokens, params)
                logprob = None
                if params.logprobs is not None:
                    latest: list[TokenLogprobs] = []
                    tokens = self._scored(tokens, params.logprobs, latest)
                    logprob = lambda _: with_text(latest[-1], self._piece)  # noqa: E731
                yield from self._chunks(
                    self._tuned(tokens), len(prompt_tokens), stops, cancel, limit, logprob
                )
            except (RuntimeError, ValueError) as exc:
                raise EngineError(f"llama.cpp failed while generating: {exc}") from None

    def _constrained(self, prompt_tokens: list[int], params: SamplingParams) -> Iterator[int]:
        """Llama.generate's loop, sampled by a SequenceSampler: its grammar checks the drawn
        token instead of walking the whole vocabulary at every step, and it holds off the
        end of generation until min_tokens were drawn."""
        llm = self._llm
        # Keep what the KV cache holds of this prompt, as generate does; the last prompt
        # token is decoded again so that its logits are there to sample from.
        kept = llm.longest_token_prefix(llm._input_ids[: llm.n_tokens], prompt_tokens)
        llm.n_tokens = min(kept, len(prompt_tokens) - 1)
        sampler = SequenceSampler(self._lib, self._vocab, self._n_vocab, params, self._end)
        try:
            pending = prompt_tokens[llm.n_tokens :]
            while True:
                llm.eval(pending)
                token = sampler.sample(llm._ctx.ctx, -1)
                yield token
                pending = [token]
        finally:
            sampler.free()

    def _scored(
        self, tokens: Iterable[int], top: int, latest: list[TokenLogprobs]
    ) -> Iterator[int]:
        """The tokens; before each is passed on, its log probabilities go to LATEST, from the
        logits that sampled it (llama.cpp keeps them until the token is decoded)."""
        ctx = self._llm._ctx.ctx
        for token in tokens:
            logits = self._lib.llama_get_logits_ith(ctx, -1)
            row = np.ctypeslib.as_array(logits, shape=(self._n_vocab,))
            latest[:] = [from_logits(row, token, top)]
            yield token

    def _tuned(self, tokens: Iterable[int]) -> Iterator[int]:
        """The tokens, with the thread count re-decided between decode steps."""
        for token in tokens:
            yield token
            self._retune()

    def _retune(self) -> None:
        threads = self._policy.current()
        if threads != self._threads:
            self._lib.llama_set_n_threads(self._llm._ctx.ctx, threads, threads)
            self._threads = threads

    def _piece(self, token: int) -> bytes:
        # Memoized, as eog_checker is: each ctypes call gives up the GIL, and with batching
        # several request threads and the scheduler want it back on every token.
        piece = self._pieces.get(token)
        if piece is None:
            piece = self._pieces[token] = self._llm.detokenize([token])
        return piece

    def _chunks(
        self,
        tokens: Iterable[int],
        prompt_tokens: int,
        stops: tuple[str, ...],
        cancel: CancelToken | None,
        limit: int,
        logprob: Callable[[int], Logprob] | None = None,
    ) -> Iterator[Chunk]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        return chunks_from_tokens(
            tokens,
            decode=lambda token: decoder.decode(self._piece(token)),
            is_end=self._is_eog,
            stops=stops,
            cancel=cancel,
            limit=limit,
            prompt_tokens=prompt_tokens,
            flush=lambda: decoder.decode(b"", final=True),
            logprob=logprob,
        )


class BatchedLlamaCppModel(LlamaCppModel):
    """A GGUF model whose generations are decoded together by a BatchScheduler: up to
    `parallel` at once, each with its own sampling, streamed as it is sampled."""

    def __init__(
        self,
        llm: Any,
        info: ModelInfo,
        chat_format: ChatFormat,
        lib: Any,
        scheduler: BatchScheduler,
        threads: ThreadPolicy,
    ) -> None:
        super().__init__(llm, info, chat_format, lib, threads)
        self._scheduler = scheduler
        self._end = scheduler.end_ids  # one scan of the vocabulary, the scheduler's
        self.parallel = scheduler.slots

    def observe(self, observer: StepObserver) -> bool:
        """Call observer(busy slots, tokens in the batch) at every decode step."""
        self._scheduler.observe = observer
        return True

    def close(self) -> None:
        self._scheduler.close()
        super().close()

    def _stream(
        self,
        prompt_tokens: list[int],
        params: SamplingParams,
        stops: tuple[str, ...],
        cancel: CancelToken | None,
        limit: int,
        grammar: Any = None,
    ) -> Iterator[Chunk]:
        if params.min_tokens > 0:
            self._end.get()  # the first time, scanned here rather than in the decode loop
        sequence = self._scheduler.submit(BatchedSequence(prompt_tokens, params, limit, cancel))
        logprob = None
        if params.logprobs is not None:

            def logprob(_: int) -> Logprob:
                entry = sequence.latest_logprobs
                assert entry is not None  # set by tokens() before it yields the token
                return with_text(entry, self._piece)

        yield from self._chunks(
            sequence.tokens(), len(prompt_tokens), stops, cancel, limit, logprob
        )
