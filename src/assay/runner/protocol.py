"""What a runner and its parent say to each other, and how it travels.

The channel is one end each of a Unix socket pair (socket.socketpair), made by the parent
before it starts the runner and handed over as an inherited descriptor. Why a socket pair and
not pipes or a named socket: one descriptor carries both directions; nothing is created on
the file system (nothing to clean up after a crash, no path another user could open); and
when either process dies, the kernel closes its end, so the other reads end-of-file at once:
that is how a parent notices a dead runner within a second, and how a runner whose parent
died stops. (The runner also asks for SIGKILL at its parent's death, PR_SET_PDEATHSIG.)

A message is a frame: 4 bytes of length (big-endian), then a pickle of a Message. Pickle
carries the engine records (Chunk, SamplingParams, ModelInfo, ...) as they are, at about
10 us a chunk; it is safe here because both ends are the same installed assay, started by
one another, and the socket pair is reachable by no other process. The first message each
way is the hello, which carries PROTOCOL_VERSION: a runner from another assay is refused.

Requests carry an id (`rid`) chosen by the parent; every answer names the request it
answers, so several generations (a batched model's slots) share the channel.
"""

from __future__ import annotations

import contextlib
import pickle
import socket
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from assay.engines.base import (
    Chunk,
    EmbeddingInput,
    Embeddings,
    LoadOptions,
    Message,
    ModelInfo,
    SamplingParams,
)
from assay.engines.factories import EngineContext
from assay.errors import (
    AssayError,
    ContextOverflowError,
    EngineError,
    ModelFileError,
)

PROTOCOL_VERSION = 1
_LENGTH = struct.Struct(">I")
MAX_FRAME = 1 << 30


# The parent's requests.


@dataclass(frozen=True)
class Hello:
    """The first message each way: the protocol spoken, and the sender's pid."""

    version: int
    pid: int


@dataclass(frozen=True)
class Load:
    """Load one model: the engine by name, built for this context (its token counter is
    rebuilt in the runner from `counter_model`), the file, the options."""

    engine: str
    context: EngineContext
    path: Path
    options: LoadOptions
    counter_model: Path | None = None
    # The parent's import path, so an adapter the parent can import, the runner can too.
    sys_path: tuple[str, ...] = ()


@dataclass(frozen=True)
class Generate:
    rid: int
    kind: Literal["chat", "complete"]
    params: SamplingParams
    messages: tuple[Message, ...] = ()
    prompt: str = ""


@dataclass(frozen=True)
class Cancel:
    rid: int


@dataclass(frozen=True)
class CountTokens:
    rid: int
    text: str


@dataclass(frozen=True)
class Tokenize:
    """The token ids of text (LoadedModel.tokenize); the Result's value is a list of them."""

    rid: int
    text: str


@dataclass(frozen=True)
class Detokenize:
    """The text of token ids (LoadedModel.detokenize); the Result's value is a str."""

    rid: int
    tokens: tuple[int, ...]


@dataclass(frozen=True)
class Embed:
    rid: int
    inputs: tuple[EmbeddingInput, ...]


@dataclass(frozen=True)
class StatsRequest:
    rid: int


@dataclass(frozen=True)
class Observe:
    """From now on, send a Step at every decode step of the model's batches; the Result
    says whether the model decodes batches at all."""

    rid: int


@dataclass(frozen=True)
class Unload:
    """Free the model and exit."""


# The runner's answers.


@dataclass(frozen=True)
class Capabilities:
    parallel: int
    grammar: bool
    json_schema: bool
    logprobs: bool
    min_tokens: bool
    tools: bool
    embeddings: bool
    token_ids: bool


@dataclass(frozen=True)
class Loaded:
    info: ModelInfo
    capabilities: Capabilities
    # ThreadPolicy.describe() of an adaptive model; None: info.threads, fixed.
    threads: str | None


@dataclass(frozen=True)
class Started:
    """The generation passed the engine's checks (the prompt fits, the grammar parses) and
    runs: engines refuse a request when it is made, before its first chunk, and so does a
    runner's model."""

    rid: int


@dataclass(frozen=True)
class ChunkOut:
    rid: int
    chunk: Chunk
    # Only on a final chunk: the thread count the model uses now (adaptive models).
    threads: str | None = None
    # The batch steps (active, tokens) since the last message (Observe): they ride with a
    # chunk rather than wake the parent a second time per token.
    steps: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Result:
    rid: int
    value: int | bool | list[int] | str | Embeddings | RunnerStats


@dataclass(frozen=True)
class Failed:
    """A request (rid) or the load (rid None) failed with an AssayError of this kind."""

    rid: int | None
    kind: str
    message: str


@dataclass(frozen=True)
class Step:
    """Batch steps (active, tokens) that no chunk carried (Observe)."""

    steps: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class RunnerStats:
    """The runner process's own figures: what the model costs, apart from its parent."""

    pid: int
    rss_bytes: int
    peak_rss_bytes: int
    cpu_seconds: float
    active: int
    slots: int
    threads: str | None = None


Message_ = (
    Hello
    | Load
    | Generate
    | Cancel
    | CountTokens
    | Tokenize
    | Detokenize
    | Embed
    | StatsRequest
    | Observe
    | Unload
    | Loaded
    | Started
    | ChunkOut
    | Result
    | Failed
    | Step
)

# The errors that cross the channel keep their kind; any other is an EngineError.
_ERRORS: dict[str, type[AssayError]] = {
    cls.__name__: cls for cls in (AssayError, ContextOverflowError, EngineError, ModelFileError)
}


def error_kind(exc: AssayError) -> str:
    name = type(exc).__name__
    return name if name in _ERRORS else "EngineError"


def rebuild_error(kind: str, message: str) -> AssayError:
    return _ERRORS.get(kind, EngineError)(message)


def split_frames(buffer: bytearray) -> list[Message_]:
    """The whole frames at the start of buffer, removed from it (the rest waits for more)."""
    messages: list[Message_] = []
    offset = 0
    while len(buffer) - offset >= _LENGTH.size:
        (length,) = _LENGTH.unpack_from(buffer, offset)
        end = offset + _LENGTH.size + length
        if len(buffer) < end:
            break
        messages.append(pickle.loads(buffer[offset + _LENGTH.size : end]))
        offset = end
    del buffer[:offset]
    return messages


class ChannelClosed(Exception):
    """The other end is gone (it exited, or was killed)."""


@dataclass
class Channel:
    """Frames over one end of the socket pair: `send` from any thread, `receive` from one."""

    sock: socket.socket
    _send_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._reader = self.sock.makefile("rb", buffering=1 << 16)

    def send(self, message: Message_) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            with self._send_lock:
                self.sock.sendall(_LENGTH.pack(len(data)) + data)
        except OSError as exc:
            raise ChannelClosed(str(exc)) from None

    def receive(self) -> Message_:
        try:
            head = self._reader.read(_LENGTH.size)
            if len(head) < _LENGTH.size:
                raise ChannelClosed("end of file")
            (length,) = _LENGTH.unpack(head)
            if length > MAX_FRAME:
                raise ChannelClosed(f"a frame of {length} bytes: the stream is corrupt")
            data = self._reader.read(length)
        except OSError as exc:
            raise ChannelClosed(str(exc)) from None
        if len(data) < length:
            raise ChannelClosed("end of file inside a frame")
        message: Message_ = pickle.loads(data)
        return message

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self._reader.close()
        self.sock.close()
