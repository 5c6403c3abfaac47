"""The parent's side of a runner: an Engine whose `load` starts a runner process, and the
LoadedModel that stands for the model inside it.

The layers above (serve, bench, run, the judge) see a LoadedModel like any other. What is
new is what happens when the runner dies: every open generation ends with a
ModelCrashedError that says how ("the runner for smollm2-135m:q4_1 died: SIGSEGV
(segmentation fault)"), at once (the kernel closes the runner's end of the socket pair, and
the reader thread here reads end-of-file), and `on_crash` observers hear of it. A runner
that sends nothing to a waiting request for `stall_s` seconds is taken to hang: it is
killed, and the same happens. Nothing is restarted here: the server loads the model again
on its next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import queue
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from assay.crash_context import ENGINE_FIX, OOM_FIX, signal_name
from assay.engines.base import (
    CancelToken,
    Chunk,
    CrashObserver,
    EmbeddingInput,
    Embeddings,
    LoadedModelBase,
    LoadOptions,
    Message,
    SamplingParams,
    StepObserver,
)
from assay.engines.factories import EngineContext, engine_for, whitespace_tokens
from assay.engines.threads import PARENT_ENV
from assay.errors import AssayError, EngineError, ModelCrashedError
from assay.runner.protocol import (
    PROTOCOL_VERSION,
    Cancel,
    Channel,
    ChannelClosed,
    ChunkOut,
    CountTokens,
    Detokenize,
    Embed,
    Failed,
    Generate,
    Hello,
    Load,
    Loaded,
    Observe,
    Result,
    RunnerStats,
    StatsRequest,
    Step,
    Tokenize,
    Unload,
    rebuild_error,
    split_frames,
)

# How long a runner may take to start and say hello (an interpreter and assay's imports).
HELLO_TIMEOUT_S = 60.0
# How long an unloading runner may take to free its model before it is killed.
UNLOAD_TIMEOUT_S = 10.0
DEFAULT_STALL_S = 300.0


def describe_exit(returncode: int | None) -> str:
    """'SIGSEGV (segmentation fault)' for -11, 'exit code 1' for 1."""
    if returncode is None:
        return "it stopped answering"
    return signal_name(returncode) if returncode < 0 else f"exit code {returncode}"


_ENGINE_FAULTS = {signal.SIGILL, signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGABRT}


def crash_error(
    label: str, returncode: int | None, crash_log: Path, hung: str | None = None, when: str = ""
) -> ModelCrashedError:
    """The one-line error of a runner that died (or was killed for hanging): the cause, the
    file with its native stack and the innermost frame, and what to do."""
    cause = hung or describe_exit(returncode)
    number = -returncode if returncode is not None and returncode < 0 and not hung else None
    stack = _kept_stack(crash_log)
    where = ""
    if stack is not None:
        frames = [line.strip() for line in stack.read_text(errors="replace").splitlines()]
        frame = next((f for f in frames if f.startswith("File ")), "")
        where = f"; native stack: {stack}" + (f" ({frame})" if frame else "")
    if hung:
        fix = "the next request starts it afresh (raise ASSAY_RUNNER_STALL_S if it was working)"
    elif number == signal.SIGKILL:
        fix = OOM_FIX
    elif number in _ENGINE_FAULTS:
        fix = ENGINE_FIX
    else:
        fix = "the next request starts it afresh"
    how = "hung" if hung else "died"
    return ModelCrashedError(
        f"the runner for {label} {how}{when}: {cause}{where}; {fix}",
        cause,
        signal=number,
        stack=str(stack) if stack is not None else None,
    )


def _kept_stack(crash_log: Path) -> Path | None:
    """The crash log if faulthandler wrote to it, else None (and the empty file goes)."""
    try:
        if crash_log.stat().st_size > 0:
            return crash_log
        crash_log.unlink()
    except OSError:
        pass
    return None


@dataclass(frozen=True)
class RunnerSpec:
    """What a runner needs to build its engine: the engine's name and context, with the
    bundled tokenizer's file in place of the parent's token counter (a function of the
    parent's registry, which does not cross processes)."""

    engine: str
    context: EngineContext
    label: str
    counter_model: Path | None = None
    stall_s: float = DEFAULT_STALL_S
    # A server's event loop: it reads the runner's messages itself and hands a pushed
    # stream's chunks to their requests there, so no other thread of the server wakes per
    # token (on a busy CPU each wake preempts an engine thread). None: a reader thread.
    loop: asyncio.AbstractEventLoop | None = None


class RunnerEngine:
    """An Engine that loads each model in a runner process of its own."""

    def __init__(self, spec: RunnerSpec) -> None:
        self.spec = spec
        self.name = spec.engine

    def estimate_load_bytes(self, path: Path, options: LoadOptions) -> int:
        """The engine's own estimate, made here (it reads file headers, loads nothing)."""
        return engine_for(self.spec.engine, self.spec.context).estimate_load_bytes(path, options)

    def load(self, path: Path, options: LoadOptions) -> RunnerModel:
        return start_runner(self.spec, path, options)


@dataclass
class _Spawned:
    """A runner process that has not loaded a model yet."""

    process: subprocess.Popen[bytes]
    channel: Channel
    crash_log: Path
    started: float
    environment: int  # a hash of the environment it was started with

    def discard(self) -> None:
        self.channel.close()  # it reads end-of-file and exits
        _reap(self.process)
        _kept_stack(self.crash_log)


def _environment() -> int:
    return hash(tuple(sorted(os.environ.items())))


def _spawn(warm: str | None = None) -> _Spawned:
    """Start a runner; `warm` names the engine whose modules it imports before it says
    hello (a spare, ready for the next load of that engine)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    started = time.perf_counter()
    handle, name = tempfile.mkstemp(prefix="assay-runner-", suffix=".crash.log")
    os.close(handle)
    command = [sys.executable, "-m", "assay.runner", "--fd", str(theirs.fileno())]
    command += ["--crash-log", name, *(["--warm", warm] if warm else [])]
    try:
        process = subprocess.Popen(
            command,
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,  # stderr is ours: an engine's or an adapter's own log
            env={**os.environ, PARENT_ENV: str(os.getpid())},
        )
    finally:
        theirs.close()
    return _Spawned(process, Channel(ours), Path(name), started, _environment())


class _Spares:
    """Runners started ahead, one per engine, their interpreter up and the engine's modules
    imported: a load of that engine takes one and skips those ~0.35 s. A server starts them
    when it starts (and waits for them, so that their imports do not compete with its first
    requests) and again when it unloads a model. A spare started with other environment
    variables than the load's is not used."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready: dict[str, _Spawned] = {}

    def take(self, engine: str) -> _Spawned | None:
        with self._lock:
            spare = self._ready.pop(engine, None)
        if spare is None:
            return None
        if spare.process.poll() is not None or spare.environment != _environment():
            spare.discard()
            return None
        spare.started = time.perf_counter()
        return spare

    def refill(self, engine: str) -> None:
        """Start a spare for this engine in the background, unless one waits already."""
        with self._lock:
            if engine in self._ready:
                return
        threading.Thread(target=self._start, args=(engine,), daemon=True).start()

    def warm(self, engines: set[str], timeout: float = 10.0) -> None:
        """Start a spare for each engine that has none, and wait until each is ready (its
        imports done) or the time is up."""
        for engine in engines:
            with self._lock:
                if engine in self._ready:
                    continue
            self._start(engine)
        with self._lock:
            waiting = [self._ready[e].channel.sock for e in engines if e in self._ready]
        deadline = time.monotonic() + timeout
        while waiting and time.monotonic() < deadline:
            ready, _, _ = select.select(waiting, [], [], deadline - time.monotonic())
            waiting = [sock for sock in waiting if sock not in ready]  # its hello is there

    def _start(self, engine: str) -> None:
        spare = _spawn(warm=engine)
        with self._lock:
            if engine not in self._ready:
                self._ready[engine] = spare
                return
        spare.discard()

    def pids(self) -> set[int]:
        with self._lock:
            return {spare.process.pid for spare in self._ready.values()}

    def clear(self) -> None:
        with self._lock:
            spares, self._ready = list(self._ready.values()), {}
        for spare in spares:
            spare.discard()


SPARES = _Spares()


def start_runner(spec: RunnerSpec, path: Path, options: LoadOptions) -> RunnerModel:
    """Start a runner (a spare one when there is one), load the model in it, and return the
    model; a load that fails (or a runner that dies while loading) is an AssayError, and
    leaves no process behind."""
    runner = SPARES.take(spec.engine) or _spawn()
    channel, process, crash_log = runner.channel, runner.process, runner.crash_log
    context = replace(spec.context, count_tokens=whitespace_tokens)
    load = Load(spec.engine, context, path, options, spec.counter_model, tuple(sys.path))
    try:
        channel.sock.settimeout(HELLO_TIMEOUT_S)
        hello = channel.receive()
        if not isinstance(hello, Hello) or hello.version != PROTOCOL_VERSION:
            raise EngineError(f"the runner for {spec.label} speaks another protocol: {hello}")
        channel.sock.settimeout(None)
        channel.send(Hello(PROTOCOL_VERSION, os.getpid()))
        channel.send(load)
        answer = channel.receive()
    except (ChannelClosed, TimeoutError, EngineError) as exc:
        runner.discard()
        if isinstance(exc, EngineError):
            raise
        raise crash_error(
            spec.label, process.returncode, crash_log, when=" while loading"
        ) from None
    if isinstance(answer, Failed):
        runner.discard()
        raise rebuild_error(answer.kind, answer.message)
    assert isinstance(answer, Loaded)
    spawn_s = time.perf_counter() - runner.started - answer.info.load_seconds
    return RunnerModel(spec, process, channel, answer, spawn_s, crash_log)


def _reap(process: subprocess.Popen[bytes], timeout: float = UNLOAD_TIMEOUT_S) -> None:
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class _Threads:
    """A ThreadsView of the runner's policy: its words as of the last generation's end."""

    def __init__(self, text: str) -> None:
        self.text = text

    def describe(self) -> str:
        return self.text


_DEAD = object()


class _Stream(Iterator[Chunk]):
    """One generation's chunks as they come from the runner. Closed (or dropped) before its
    final chunk, it tells the runner to stop generating."""

    def __init__(self, model: RunnerModel, rid: int, inbox: queue.SimpleQueue[Any]) -> None:
        self._model = model
        self._rid = rid
        self._inbox = inbox
        self._done = False

    def __next__(self) -> Chunk:
        if self._done:
            raise StopIteration
        try:
            item = self._model._next(self._inbox)
        except BaseException:  # Ctrl-C, a hang: the runner stops generating too
            self.close()
            raise
        chunk = self._chunk(item)
        if isinstance(chunk, AssayError):
            raise chunk
        return chunk

    def _chunk(self, item: Any) -> Chunk | AssayError:
        """A message for this stream as its consumer takes it; the stream ends with a final
        chunk or an error."""
        if item is _DEAD:
            self._finish()
            assert self._model.failure is not None
            return self._model.failure
        if isinstance(item, Failed):
            self._finish()
            return rebuild_error(item.kind, item.message)
        assert isinstance(item, ChunkOut)
        if item.chunk.finish_reason is not None:
            self._finish()
            threads = self._model.threads
            if item.threads is not None and threads is not None:
                threads.text = item.threads
        return item.chunk

    def push(self, deliver: Callable[[Chunk | AssayError], None]) -> None:
        """Hand every further chunk (or the AssayError that ends the stream) to deliver, on
        the thread that reads the runner, and block until the stream has ended. A server's
        worker thread then sleeps through the generation: one thread less to wake per
        token, on cores that the engine keeps busy."""
        if self._done:
            return
        pusher = _Pusher(self, deliver)
        self._model._hand_over(self._rid, self._inbox, pusher)
        limit = self._model.spec.stall_s
        while not pusher.done.wait(1.0):
            if time.monotonic() - pusher.last > limit:  # the runner hangs: as _next does
                self._model._kill_hung(limit)

    def cancel(self) -> None:
        if not self._done:
            self._model._send_quietly(Cancel(self._rid))

    def close(self) -> None:
        if not self._done:
            self.cancel()
            self._finish()

    def __del__(self) -> None:
        self.close()

    def _finish(self) -> None:
        self._done = True
        self._model._forget(self._rid)


class _Pusher:
    """Takes a pushed stream's messages from the reading thread (as its inbox would)."""

    def __init__(self, stream: _Stream, deliver: Callable[[Chunk | AssayError], None]) -> None:
        self.stream = stream
        self.deliver = deliver
        self.done = threading.Event()
        self.last = time.monotonic()

    def put(self, item: Any) -> None:
        self.last = time.monotonic()
        chunk = self.stream._chunk(item)
        self.deliver(chunk)
        if isinstance(chunk, AssayError) or chunk.finish_reason is not None:
            self.done.set()


class RunnerModel(LoadedModelBase):
    """A model loaded in a runner process, behind the LoadedModel protocol."""

    def __init__(
        self,
        spec: RunnerSpec,
        process: subprocess.Popen[bytes],
        channel: Channel,
        loaded: Loaded,
        spawn_seconds: float,
        crash_log: Path,
    ) -> None:
        self.spec = spec
        self.info = loaded.info
        caps = loaded.capabilities
        self.parallel = caps.parallel
        self.grammar = caps.grammar
        self.json_schema = caps.json_schema
        self.logprobs = caps.logprobs
        self.min_tokens = caps.min_tokens
        self.tools = caps.tools
        self.embeddings = caps.embeddings
        self.token_ids = caps.token_ids
        self.pid = process.pid
        # What starting the process cost on top of the engine's load (interpreter, imports).
        self.spawn_seconds = spawn_seconds
        self._threads = _Threads(loaded.threads) if loaded.threads is not None else None
        self._process = process
        self._channel = channel
        self._crash_log = crash_log
        self._ids = itertools.count(1)
        self._lock = threading.RLock()  # a pushed stream's delivery runs under it
        self._waiting: dict[int, queue.SimpleQueue[Any] | _Pusher] = {}
        self._step_observer: StepObserver | None = None
        self._crash_observers: list[CrashObserver] = []
        self._closing = False
        self._hung: str | None = None
        self.failure: ModelCrashedError | None = None
        self._ended_event = threading.Event()
        self._reader: threading.Thread | None = None
        self._loop_stopped = threading.Event()  # set when the loop has stopped reading
        self._buffer = bytearray()
        if spec.loop is None:
            self._reader = threading.Thread(
                target=self._read, name=f"assay-runner-{process.pid}", daemon=True
            )
            self._reader.start()
        else:
            spec.loop.call_soon_threadsafe(
                spec.loop.add_reader, channel.sock.fileno(), self._on_readable
            )

    # -- what the LoadedModel protocol asks for

    @property
    def threads(self) -> _Threads | None:
        return self._threads

    def chat(
        self, messages: Sequence[Message], params: SamplingParams, cancel: CancelToken | None = None
    ) -> Iterator[Chunk]:
        return self._generate(Generate(0, "chat", params, messages=tuple(messages)), cancel)

    def complete(
        self, prompt: str, params: SamplingParams, cancel: CancelToken | None = None
    ) -> Iterator[Chunk]:
        return self._generate(Generate(0, "complete", params, prompt=prompt), cancel)

    def count_tokens(self, text: str) -> int:
        value = self._call(lambda rid: CountTokens(rid, text))
        assert isinstance(value, int)
        return value

    def tokenize(self, text: str) -> list[int]:
        value = self._call(lambda rid: Tokenize(rid, text))
        assert isinstance(value, list)
        return value

    def detokenize(self, tokens: Sequence[int]) -> str:
        value = self._call(lambda rid: Detokenize(rid, tuple(tokens)))
        assert isinstance(value, str)
        return value

    def embed(self, inputs: Sequence[EmbeddingInput]) -> Embeddings:
        # Asked even when it gives none: the engine's refusal says what would.
        value = self._call(lambda rid: Embed(rid, tuple(inputs)))
        assert isinstance(value, Embeddings)
        return value

    def stats(self) -> RunnerStats:
        """The runner's memory, peak memory, CPU time and busy slots, as it measures them."""
        value = self._call(StatsRequest, timeout=5.0)
        assert isinstance(value, RunnerStats)
        return value

    def observe(self, observer: StepObserver) -> bool:
        self._step_observer = observer
        if self.spec.loop is not None:
            # Asked on the loop, which cannot wait for its own reading: a runner's model
            # with slots decodes batches (the engines that do not, never run in one).
            self._send(Observe(next(self._ids)))
            return self.parallel > 1
        value = self._call(Observe)
        return bool(value)

    def on_crash(self, observer: CrashObserver) -> bool:
        with self._lock:
            failure = self.failure
            if failure is None:
                self._crash_observers.append(observer)
        if failure is not None:
            observer(failure)
        return True

    def close(self) -> None:
        """Unload: the runner frees the model and exits; its memory goes back with it."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
        with contextlib.suppress(ChannelClosed):
            self._channel.send(Unload())
        _reap(self._process)
        if self._reader is not None:
            self._reader.join(UNLOAD_TIMEOUT_S)
        elif not self._loop_stopped.wait(5.0):  # the loop is gone: leave the socket to it
            return
        self._channel.close()
        _kept_stack(self._crash_log)  # an orderly exit leaves it empty, and it goes

    def kill(self) -> None:
        """SIGKILL the runner (what the OOM killer would do); its requests fail at once."""
        with contextlib.suppress(ProcessLookupError):
            self._process.kill()

    # -- the channel

    def _register(self) -> tuple[int, queue.SimpleQueue[Any]]:
        rid = next(self._ids)
        inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        with self._lock:
            failure = self.failure
            if failure is None:
                self._waiting[rid] = inbox
        if failure is not None:
            raise failure
        return rid, inbox

    def _forget(self, rid: int) -> None:
        with self._lock:
            self._waiting.pop(rid, None)

    def _generate(self, request: Generate, cancel: CancelToken | None) -> Iterator[Chunk]:
        """Start a generation and return its chunks; a request the engine refuses (a prompt
        over the context, a bad grammar) raises here, as it does in this process."""
        rid, inbox = self._register()
        try:
            self._send(replace(request, rid=rid))
            first = self._next(inbox)
        except BaseException:
            self._forget(rid)
            raise
        if isinstance(first, Failed):
            self._forget(rid)
            raise rebuild_error(first.kind, first.message)
        stream = _Stream(self, rid, inbox)
        if cancel is not None:
            cancel.on_cancel(stream.cancel)
        return stream

    def _call(self, make: Any, timeout: float | None = None) -> Any:
        rid, inbox = self._register()
        try:
            self._send(make(rid))
            item = self._next(inbox, timeout)
        finally:
            self._forget(rid)
        if isinstance(item, Failed):
            raise rebuild_error(item.kind, item.message)
        assert isinstance(item, Result)
        return item.value

    def _next(self, inbox: queue.SimpleQueue[Any], timeout: float | None = None) -> Any:
        """The next answer; a dead runner's failure; a runner silent past stall_s is killed."""
        limit = self.spec.stall_s if timeout is None else timeout
        deadline = time.monotonic() + limit
        while True:
            try:
                item = inbox.get(timeout=max(0.0, min(1.0, deadline - time.monotonic())))
            except queue.Empty:
                if time.monotonic() < deadline:
                    continue
                if timeout is not None:
                    raise EngineError(
                        f"the runner for {self.spec.label} did not answer in {timeout:g} s"
                    ) from None
                self._kill_hung(limit)
                continue
            if item is _DEAD:
                assert self.failure is not None
                raise self.failure
            return item

    def _send(self, message: Any) -> None:
        try:
            self._channel.send(message)
        except ChannelClosed:
            self._ended_event.wait(5.0)  # the reader sees the end and names the cause
            if self.failure is not None:
                raise self.failure from None
            raise EngineError(f"the runner for {self.spec.label} is gone") from None

    def _send_quietly(self, message: Any) -> None:
        with contextlib.suppress(ChannelClosed):
            self._channel.send(message)

    def _read(self) -> None:
        while True:
            try:
                message = self._channel.receive()
            except (ChannelClosed, ValueError, OSError):
                break
            self._route(message)
        self._ended()

    def _on_readable(self) -> None:
        """On the server's loop: the runner's socket has data (or its end closed)."""
        loop = self.spec.loop
        assert loop is not None
        try:
            data = self._channel.sock.recv(1 << 16, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(self._channel.sock.fileno())
            self._loop_stopped.set()
            threading.Thread(target=self._ended, daemon=True).start()  # it waits for exit
            return
        self._buffer += data
        for message in split_frames(self._buffer):
            self._route(message)

    def _route(self, message: Any) -> None:
        if isinstance(message, Step | ChunkOut) and message.steps:
            observer = self._step_observer
            if observer is not None:
                for active, tokens in message.steps:
                    observer(active, tokens)
        if isinstance(message, Step):
            return
        with self._lock:  # held while it puts: a hand-over keeps the order
            inbox = self._waiting.get(getattr(message, "rid", -1))
            if inbox is not None:
                inbox.put(message)

    def _hand_over(self, rid: int, inbox: queue.SimpleQueue[Any], pusher: _Pusher) -> None:
        """From now on the reader gives rid's messages to pusher, the ones that wait first."""
        with self._lock:
            if self.failure is not None and rid not in self._waiting:
                pusher.put(_DEAD)
                return
            self._waiting[rid] = pusher
            while True:
                try:
                    item = inbox.get_nowait()
                except queue.Empty:
                    break
                pusher.put(item)

    def _kill_hung(self, limit: float) -> None:
        self._hung = f"no output for {limit:g} s"
        self.kill()

    def _ended(self) -> None:
        """The runner's end of the channel closed: an unload, or a death to report."""
        try:
            self._process.wait(2.0)
        except subprocess.TimeoutExpired:
            self._process.kill()  # it closed the channel but will not exit
            self._process.wait()
        try:
            self._report_end()
        finally:
            self._ended_event.set()

    def _report_end(self) -> None:
        with self._lock:
            if self._closing and self._hung is None:
                return
            failure = crash_error(
                self.spec.label, self._process.returncode, self._crash_log, self._hung
            )
            self.failure = failure
            waiting = list(self._waiting.values())
            observers, self._crash_observers = self._crash_observers, []
        for inbox in waiting:
            inbox.put(_DEAD)
        for observer in observers:
            with contextlib.suppress(Exception):
                observer(failure)
