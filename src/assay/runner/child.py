"""The runner process: loads one model and serves its parent's requests until told to unload
or until the parent is gone.

One thread reads the channel. A generation runs on a thread of its own (the parent sends no
more at once than the model's `parallel`), sending each chunk as it comes; a cancel sets that
generation's CancelToken. Short requests (count tokens, embed, stats) run on threads too, so
a long embedding never holds up a cancel.

Started as `python -m assay.runner --fd N` by runner/client.py, never by hand.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import importlib
import os
import resource
import signal
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from assay.crash_context import die_with_parent
from assay.engines.base import CancelToken, LoadedModel
from assay.engines.factories import engine_for
from assay.errors import AssayError
from assay.runner.protocol import (
    PROTOCOL_VERSION,
    Cancel,
    Capabilities,
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
    Started,
    StatsRequest,
    Step,
    Tokenize,
    Unload,
    error_kind,
)


def _counter(load: Load) -> Callable[[str], int]:
    """The token counter for engines that report no usage: the bundled tokenizer, read on
    first use (most engines never ask)."""
    if load.counter_model is None:
        return load.context.count_tokens
    path = load.counter_model
    counter: list[Callable[[str], int]] = []

    def count(text: str) -> int:
        if not counter:
            from assay.engines.llamacpp import vocab_counter

            counter.append(vocab_counter(path))
        return counter[0](text)

    return count


class Runner:
    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.model: LoadedModel | None = None
        self._cancels: dict[int, CancelToken] = {}
        self._lock = threading.Lock()
        self._steps: list[tuple[int, int]] = []  # batch steps not sent yet (Observe)
        self._order = threading.Lock()

    def serve(self) -> None:
        self.channel.send(Hello(PROTOCOL_VERSION, os.getpid()))
        hello = self.channel.receive()
        if not isinstance(hello, Hello) or hello.version != PROTOCOL_VERSION:
            return
        load = self.channel.receive()
        if not isinstance(load, Load) or not self._load(load):
            return
        while True:
            message = self.channel.receive()
            if isinstance(message, Unload):
                return
            self._dispatch(message)

    def _load(self, load: Load) -> bool:
        for entry in load.sys_path:
            if entry not in sys.path:
                sys.path.append(entry)
        try:
            context = replace(load.context, count_tokens=_counter(load))
            model = engine_for(load.engine, context).load(load.path, load.options)
        except AssayError as exc:
            self.channel.send(Failed(None, error_kind(exc), exc.message))
            return False
        except Exception as exc:  # an engine's or an adapter's bug: one line, not a trace
            self.channel.send(Failed(None, "EngineError", f"{type(exc).__name__}: {exc}"))
            return False
        self.model = model
        capabilities = Capabilities(
            parallel=model.parallel,
            grammar=model.grammar,
            json_schema=model.json_schema,
            logprobs=model.logprobs,
            min_tokens=model.min_tokens,
            tools=model.tools,
            embeddings=model.embeddings,
            token_ids=model.token_ids,
        )
        self.channel.send(Loaded(model.info, capabilities, self._threads()))
        return True

    def _threads(self) -> str | None:
        assert self.model is not None
        policy = self.model.threads
        return policy.describe() if policy is not None else None

    def _dispatch(self, message: Any) -> None:
        if isinstance(message, Generate):
            cancel = CancelToken()
            with self._lock:
                self._cancels[message.rid] = cancel
            self._spawn(self._generate, message, cancel)
        elif isinstance(message, Cancel):
            with self._lock:
                token = self._cancels.get(message.rid)
            if token is not None:
                token.cancel()
        elif isinstance(message, CountTokens | Tokenize | Detokenize | Embed | StatsRequest):
            self._spawn(self._answer, message)
        elif isinstance(message, Observe):
            assert self.model is not None
            batched = self.model.observe(self._step)
            self._send(Result(message.rid, batched))

    def _step(self, active: int, tokens: int) -> None:
        with self._lock:
            self._steps.append((active, tokens))
        if active == 0:  # idle: no chunk may follow to carry them
            with self._order:
                steps = self._taken_steps()
                if steps:
                    self._send(Step(steps))

    def _taken_steps(self) -> tuple[tuple[int, int], ...]:
        with self._lock:
            steps, self._steps = tuple(self._steps), []
        return steps

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        threading.Thread(target=target, args=args, daemon=True).start()

    def _send(self, message: Any) -> None:
        with contextlib.suppress(ChannelClosed):  # the parent is gone: the reader ends us
            self.channel.send(message)

    def _generate(self, request: Generate, cancel: CancelToken) -> None:
        model = self.model
        assert model is not None
        try:
            if request.kind == "chat":
                chunks = model.chat(request.messages, request.params, cancel)
            else:
                chunks = model.complete(request.prompt, request.params, cancel)
            self._send(Started(request.rid))
            for chunk in chunks:
                final = chunk.finish_reason is not None
                threads = self._threads() if final else None
                with self._order:  # steps taken and sent in one go keep their order
                    self._send(ChunkOut(request.rid, chunk, threads, self._taken_steps()))
        except AssayError as exc:
            self._send(Failed(request.rid, error_kind(exc), exc.message))
        except Exception as exc:  # an engine bug fails this request, not the runner
            message = f"generation failed: {type(exc).__name__}: {exc}"
            self._send(Failed(request.rid, "EngineError", message))
        finally:
            with self._lock:
                self._cancels.pop(request.rid, None)
            with self._order:
                steps = self._taken_steps()
                if steps:  # the last ones, that no chunk carried
                    self._send(Step(steps))

    def _answer(self, request: CountTokens | Tokenize | Detokenize | Embed | StatsRequest) -> None:
        model = self.model
        assert model is not None
        try:
            value: Any
            if isinstance(request, CountTokens):
                value = model.count_tokens(request.text)
            elif isinstance(request, Tokenize):
                value = model.tokenize(request.text)
            elif isinstance(request, Detokenize):
                value = model.detokenize(request.tokens)
            elif isinstance(request, Embed):
                value = model.embed(request.inputs)
            else:
                value = self.stats()
            self._send(Result(request.rid, value))
        except AssayError as exc:
            self._send(Failed(request.rid, error_kind(exc), exc.message))
        except Exception as exc:
            self._send(Failed(request.rid, "EngineError", f"{type(exc).__name__}: {exc}"))

    def stats(self) -> RunnerStats:
        assert self.model is not None
        usage = resource.getrusage(resource.RUSAGE_SELF)
        times = os.times()
        with self._lock:
            active = len(self._cancels)
        rss = _rss_bytes()
        return RunnerStats(
            pid=os.getpid(),
            rss_bytes=rss,
            peak_rss_bytes=max(rss, usage.ru_maxrss * 1024),  # kilobytes on Linux
            cpu_seconds=times.user + times.system,
            active=active,
            slots=self.model.parallel,
            threads=self._threads(),
        )

    def close(self) -> None:
        if self.model is not None:
            with contextlib.suppress(Exception):
                self.model.close()


# What loading a model of each engine imports first (llama_cpp alone takes ~0.3 s).
_WARM_MODULES = {
    "llamacpp": ("assay.engines.llamacpp", "llama_cpp"),
    "onnx": ("assay.engines.onnx_genai", "onnxruntime_genai"),
    "foundry": ("assay.engines.foundry",),
    "adapter": ("assay.engines.adapter",),
    "fake": ("assay.engines.fake",),
}


def _warm(engine: str) -> None:
    """A spare runner imports its engine's modules while nobody waits for it."""
    for module in _WARM_MODULES.get(engine, ()):
        with contextlib.suppress(Exception):  # the load reports any failure in one line
            importlib.import_module(module)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m assay.runner")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--crash-log", required=True)
    parser.add_argument("--warm", help="import this engine's modules before saying hello")
    args = parser.parse_args(argv)
    die_with_parent()
    # The parent's Ctrl-C is the parent's to handle: it unloads this runner in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A native crash leaves the stacks of every thread here; the parent names the file.
    crash_log = open(args.crash_log, "w")  # noqa: SIM115 - open until the process ends
    faulthandler.enable(file=crash_log, all_threads=True)
    runner = Runner(Channel(socket.socket(fileno=args.fd)))
    if args.warm:
        _warm(args.warm)
    try:
        runner.serve()
    except ChannelClosed:
        pass
    finally:
        runner.close()
    # Engines' native threads can make an orderly interpreter exit hang; the model is freed.
    os._exit(0)
