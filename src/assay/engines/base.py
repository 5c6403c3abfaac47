"""The engine boundary that the CLI, the server and the bench all consume.

An Engine loads a model file into a LoadedModel; a LoadedModel turns chat messages or a raw
prompt into a stream of Chunks. The last chunk of every stream carries the finish reason and
the usage, so a consumer that only wants the totals reads the last chunk.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from assay.errors import AssayError, EngineError, ModelCrashedError

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "cancelled"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str
    # An assistant turn's calls; a tool turn's answer says which call it answers.
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@dataclass(frozen=True)
class ToolSpec:
    """A function the model may call: its name, what it does, and its arguments' schema."""

    name: str
    description: str
    parameters: str  # the JSON schema of its arguments, as JSON text (hashable, frozen)

    @property
    def schema(self) -> dict[str, Any]:
        value = json.loads(self.parameters)
        return value if isinstance(value, dict) else {}

    def openai(self) -> dict[str, Any]:
        """The definition as OpenAI sends it (what tool-aware templates read)."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.schema,
            },
        }


@dataclass(frozen=True)
class ToolCall:
    """One call the model made: an id, the function, its arguments as JSON text."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class LoadOptions:
    """How to load a model. None means the engine's documented default."""

    threads: int | None = None
    context_size: int | None = None
    gpu_layers: int = 0
    max_default_context: int = 4096
    # Sequences decoded together (continuous batching); 1 is the unbatched path.
    parallel: int = 1
    # The engine's own log to stderr (Settings.llama_log); off, assay reports failures itself.
    engine_log: bool = False

    def context_for(self, native: int) -> int:
        """The context to load: the one asked for, else the model's own (0: unknown) capped
        at max_default_context."""
        if self.context_size:
            return self.context_size
        cap = self.max_default_context
        return min(native or cap, cap)


@dataclass(frozen=True)
class SamplingParams:
    """Sampling for one request. temperature 0 is greedy (and deterministic)."""

    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    seed: int | None = None
    max_tokens: int | None = 512
    stop: tuple[str, ...] = ()
    repeat_penalty: float = 1.0
    # False clears the KV cache first so a repeated prompt is not served from it.
    prefix_cache: bool = True
    # A GBNF grammar the output must match (llama.cpp engines); None: unconstrained.
    grammar: str | None = None
    # A JSON schema (JSON text) the output must match: llama.cpp holds it by the grammar made
    # from it (`grammar`, when given, is that grammar), ONNX Runtime GenAI by its guidance.
    json_schema: str | None = None
    # Functions the model may call, rendered into the prompt (LoadedModel.tools).
    tools: tuple[ToolSpec, ...] = ()
    # Log probabilities of each generated token and of this many alternatives (0-20);
    # None: none (engines that cannot give them refuse, see LoadedModel.logprobs).
    logprobs: int | None = None
    # End-of-generation tokens cannot be sampled until this many tokens were generated
    # (vLLM's min_tokens); stop strings still end it. At or above the token limit, the
    # generation runs to the limit (vLLM's ignore_eos: UNTIL_LIMIT when there is no
    # max_tokens). Engines that cannot hold it refuse it (LoadedModel.min_tokens).
    min_tokens: int = 0


# SamplingParams.min_tokens that holds a generation to its limit, whatever the limit is.
UNTIL_LIMIT = 2**31 - 1


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    # "engine": the model's own count; "counted": assay counted the text with a tokenizer.
    source: str = "engine"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Logprob:
    """A token's log probability under the model (its raw distribution, before sampling),
    with its text and bytes; `top` holds the most likely tokens at that position."""

    token: str
    bytes: bytes
    logprob: float
    top: tuple[Logprob, ...] = ()


@dataclass(frozen=True)
class Chunk:
    """Text produced since the previous chunk and how many tokens it came from.

    The final chunk has finish_reason and usage set (its text may be empty). With
    SamplingParams.logprobs, `logprobs` holds one entry per token the chunk came from.
    """

    text: str
    tokens: int
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    logprobs: tuple[Logprob, ...] | None = None


@dataclass(frozen=True)
class Embeddings:
    """One vector per input, unit length (L2), and the tokens the inputs came to."""

    vectors: list[list[float]]
    prompt_tokens: int


# An embedding input: text, or the token ids to embed as they are.
EmbeddingInput = str | Sequence[int]


@dataclass(frozen=True)
class ModelInfo:
    """What a loaded model is and what loading it cost; recorded with every result."""

    path: Path
    engine: str
    engine_version: str
    architecture: str
    threads: int
    context_size: int
    gpu_layers: int
    load_seconds: float
    rss_delta_bytes: int
    file_bytes: int
    chat_template_source: str
    # "adaptive": up to `threads`, fewer while other programs use the cores; "fixed": always.
    thread_policy: str = "fixed"


@dataclass
class CancelToken:
    """Set from any thread to stop a generation at the next token."""

    _event: threading.Event = field(default_factory=threading.Event)
    _callbacks: list[Callable[[], None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def cancel(self) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Call callback when cancelled (at once if it is already): a generation that runs
        elsewhere (a runner process) is told without polling."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return
        callback()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


# Called at every decode step of a batch with (busy slots, tokens decoded in that step).
StepObserver = Callable[[int, int], None]
# Called once, from another thread, when the process that holds a model dies.
CrashObserver = Callable[[ModelCrashedError], None]


@runtime_checkable
class PushableChunks(Protocol):
    """A chat or complete stream that can hand its chunks over as they arrive instead of
    being read (a runner's model gives one). `push` calls deliver with every further chunk,
    or with the AssayError that ends the stream, from the thread that receives them, and
    returns when the stream has ended; the stream is then spent."""

    def __next__(self) -> Chunk: ...

    def push(self, deliver: Callable[[Chunk | AssayError], None]) -> None: ...


class ThreadsView(Protocol):
    """How a model's thread count is chosen now, in words (ThreadPolicy.describe)."""

    def describe(self) -> str: ...


@runtime_checkable
class LoadedModel(Protocol):
    """A loaded model: chat, complete, count tokens, close; and what it can do beyond that
    (`parallel`, `threads`, `grammar`, `observe`), which consumers read here and never probe
    for. `LoadedModelBase` gives a model that does none of it the defaults."""

    info: ModelInfo

    @property
    def parallel(self) -> int:
        """Requests it serves at once: >1 for a batched llama.cpp model (its slots) and a
        remote upstream; 1: one generation at a time."""
        ...

    @property
    def threads(self) -> ThreadsView | None:
        """How its thread count is chosen now (llama.cpp); None: info.threads, fixed."""
        ...

    @property
    def pid(self) -> int | None:
        """The process that holds the model (its runner), whose memory and CPU time are the
        model's own; None: this process."""
        ...

    @property
    def grammar(self) -> bool:
        """True when its output follows SamplingParams.grammar (GBNF); a model without it
        refuses a grammar (onnx, foundry) or ignores it (an adapter, a remote upstream)."""
        ...

    @property
    def json_schema(self) -> bool:
        """True when its output is held to SamplingParams.json_schema (structured outputs)."""
        ...

    @property
    def logprobs(self) -> bool:
        """True when its chunks carry log probabilities for SamplingParams.logprobs."""
        ...

    @property
    def min_tokens(self) -> bool:
        """True when its generations hold SamplingParams.min_tokens (no end of generation
        before that many tokens); a model without it refuses min_tokens above 0."""
        ...

    @property
    def tools(self) -> bool:
        """True when `chat` puts SamplingParams.tools and tool turns into the prompt."""
        ...

    @property
    def embeddings(self) -> bool:
        """True when `embed` gives vectors; without it, `embed` raises EngineError."""
        ...

    @property
    def token_ids(self) -> bool:
        """True when `tokenize` and `detokenize` speak its own tokenizer's ids; without it,
        they raise EngineError."""
        ...

    def embed(self, inputs: Sequence[EmbeddingInput]) -> Embeddings:
        """One vector per input (the model's pooling, else the mean of its tokens')."""
        ...

    def observe(self, observer: StepObserver) -> bool:
        """Have observer called at every decode step of its batches; False (and nothing is
        ever called) when the model decodes no batches."""
        ...

    def on_crash(self, observer: CrashObserver) -> bool:
        """Have observer called if the process that holds the model dies (its runner);
        False (and nothing is ever called) when the model lives in this process."""
        ...

    def chat(
        self,
        messages: Sequence[Message],
        params: SamplingParams,
        cancel: CancelToken | None = None,
    ) -> Iterator[Chunk]:
        """Stream a reply to chat messages, formatted with the model's chat template."""
        ...

    def complete(
        self, prompt: str, params: SamplingParams, cancel: CancelToken | None = None
    ) -> Iterator[Chunk]:
        """Stream a continuation of a raw prompt (no template)."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens in text under this model's tokenizer (no BOS)."""
        ...

    def tokenize(self, text: str) -> list[int]:
        """The ids of the tokens count_tokens counts (LoadedModel.token_ids)."""
        ...

    def detokenize(self, tokens: Sequence[int]) -> str:
        """The text of token ids, special tokens written out; an EngineError naming an id
        that is not in the vocabulary."""
        ...

    def close(self) -> None:
        """Free the model's memory; the object is unusable afterwards."""
        ...


class LoadedModelBase:
    """The defaults of LoadedModel's capabilities: one generation at a time, a fixed thread
    count, no grammar, no batches to observe. Engines' models inherit it and override."""

    parallel: int = 1
    grammar: bool = False
    json_schema: bool = False
    logprobs: bool = False
    min_tokens: bool = False
    tools: bool = False
    embeddings: bool = False
    token_ids: bool = False
    info: ModelInfo

    def embed(self, inputs: Sequence[EmbeddingInput]) -> Embeddings:
        raise EngineError(f"the {self.info.engine} engine gives no embeddings")

    def tokenize(self, text: str) -> list[int]:
        raise EngineError(self._no_token_ids())

    def detokenize(self, tokens: Sequence[int]) -> str:
        raise EngineError(self._no_token_ids())

    def _no_token_ids(self) -> str:
        return (
            f"the {self.info.engine} engine gives no token ids (it has no tokenizer of its "
            "own); use a llama.cpp or ONNX model"
        )

    pid: int | None = None

    @property
    def threads(self) -> ThreadsView | None:
        return None

    def observe(self, observer: StepObserver) -> bool:
        return False

    def on_crash(self, observer: CrashObserver) -> bool:
        return False


class Engine(Protocol):
    name: str

    def load(self, path: Path, options: LoadOptions) -> LoadedModel: ...

    def estimate_load_bytes(self, path: Path, options: LoadOptions) -> int:
        """Memory that loading this file with these options will take, for admission checks."""
        ...


def collect(chunks: Iterator[Chunk]) -> tuple[str, Chunk]:
    """Drain a stream: the whole text and the final chunk (finish reason, usage)."""
    parts: list[str] = []
    last: Chunk | None = None
    for chunk in chunks:
        parts.append(chunk.text)
        last = chunk
    if last is None or last.usage is None:
        raise RuntimeError("engine stream ended without a final chunk")
    return "".join(parts), last
