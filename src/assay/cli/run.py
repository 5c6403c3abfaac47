"""`assay run`: one answer streamed to stdout, or an interactive chat."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from assay.config import Settings
from assay.crash_context import note_running
from assay.engines import Chunk, LoadedModel, Message, SamplingParams
from assay.engines.threads import threads_of
from assay.engines.timing import StreamTimer
from assay.errors import AssayError
from assay.registry import ModelRegistry

_HELP = "/exit leaves, /reset clears the history, Ctrl-C stops an answer, Ctrl-D leaves."


def run(
    model: Annotated[str, typer.Argument(help="ALIAS or ALIAS:VARIANT")],
    prompt: Annotated[
        str | None, typer.Option("--prompt", "-p", help="Prompt; else stdin, else a chat.")
    ] = None,
    system: Annotated[str | None, typer.Option(help="System message.")] = None,
    temperature: Annotated[float, typer.Option(min=0.0, max=2.0)] = 0.8,
    seed: Annotated[int | None, typer.Option(help="Sampling seed (fixed: repeatable).")] = None,
    max_tokens: Annotated[int, typer.Option(min=1, help="Most tokens to generate.")] = 512,
    threads: Annotated[
        int | None, typer.Option(min=1, help="Default: adaptive, up to the cores available.")
    ] = None,
    ctx: Annotated[int | None, typer.Option(min=64, help="Context window in tokens.")] = None,
    gpu_layers: Annotated[
        int | None, typer.Option(min=-1, help="Layers to offload to a GPU; -1 all.")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, or gpu (an error without one).")] = "auto",
    raw: Annotated[
        bool, typer.Option("--raw", help="Complete the prompt as is, without a chat template.")
    ] = False,
    json_schema: Annotated[
        Path | None,
        typer.Option(
            "--json-schema",
            help="Answer with JSON matching this JSON schema file, enforced while decoding.",
        ),
    ] = None,
) -> None:
    """Chat with a model: stream one answer, or start an interactive chat."""
    schema = _schema_text(json_schema) if json_schema is not None else None
    settings = Settings()
    registry = ModelRegistry(settings)
    options = registry.load_options(
        threads=threads, context_size=ctx, gpu_layers=gpu_layers, device=device
    )
    if prompt is None and not sys.stdin.isatty():
        prompt = sys.stdin.read()
    if prompt is not None and not prompt.strip():
        raise AssayError("the prompt is empty; pass --prompt TEXT or pipe text on stdin")
    note_running(command="run", model=model)  # named if the engine crashes the process
    loaded = registry.load(model, options)
    if schema is not None and not loaded.model.json_schema:
        loaded.model.close()
        raise AssayError(
            f"--json-schema needs a model that constrains its output; {loaded.resolved.name} "
            f"runs on the {loaded.model.info.engine} engine, which cannot: use a llama.cpp model"
        )
    params = SamplingParams(
        temperature=temperature, seed=seed, max_tokens=max_tokens, json_schema=schema
    )
    try:
        if prompt is not None:
            _answer_once(loaded.model, prompt, system, params, raw)
        else:
            _chat(loaded.model, loaded.resolved.name, system, params)
    finally:
        loaded.model.close()


def _schema_text(path: Path) -> str:
    """The schema of --json-schema as JSON text, checked now (before the model loads)."""
    from assay.engines.json_schema import grammar_for_schema_json, read_schema_file

    schema = json.dumps(read_schema_file(path))
    grammar_for_schema_json(schema)
    return schema


def _answer_once(
    model: LoadedModel, prompt: str, system: str | None, params: SamplingParams, raw: bool
) -> None:
    if raw:
        stream = model.complete(prompt, params)
    else:
        stream = model.chat(_messages(system, [Message("user", prompt)]), params)
    timer = StreamTimer()
    _print_stream(timer.watch(stream))
    _print_timing(model, timer)


def _chat(model: LoadedModel, name: str, system: str | None, params: SamplingParams) -> None:
    print(f"chatting with {name}. {_HELP}", file=sys.stderr)
    history: list[Message] = []
    while True:
        try:
            line = input(">>> ")
        except EOFError:
            print(file=sys.stderr)
            return
        except KeyboardInterrupt:
            print(file=sys.stderr)
            continue
        command = line.strip()
        if command in ("/exit", "/bye", "/quit"):
            return
        if command == "/reset":
            history.clear()
            print("history cleared", file=sys.stderr)
            continue
        if command in ("/help", "/?"):
            print(_HELP, file=sys.stderr)
            continue
        if not command:
            continue
        reply = _chat_turn(model, _messages(system, [*history, Message("user", line)]), params)
        if reply is not None:
            history += [Message("user", line), Message("assistant", reply)]


def _chat_turn(model: LoadedModel, messages: list[Message], params: SamplingParams) -> str | None:
    """One answer; None when it was interrupted or failed (history is then left as it was)."""
    timer = StreamTimer()
    stream = None
    try:
        stream = timer.watch(model.chat(messages, params))
        text = _print_stream(stream)
    except KeyboardInterrupt:
        if stream is not None:
            stream.close()
        print("\n[stopped]", file=sys.stderr)
        return None
    except AssayError as exc:
        print(f"error: {exc.message} (/reset clears the history)", file=sys.stderr)
        return None
    _print_timing(model, timer)
    return text


def _messages(system: str | None, turns: list[Message]) -> list[Message]:
    return [Message("system", system), *turns] if system else turns


def _print_stream(stream: Iterator[Chunk]) -> str:
    parts = []
    for chunk in stream:
        if chunk.text:
            sys.stdout.write(chunk.text)
            sys.stdout.flush()
            parts.append(chunk.text)
    sys.stdout.write("\n")
    sys.stdout.flush()
    return "".join(parts)


def _print_timing(model: LoadedModel, timer: StreamTimer) -> None:
    final = timer.final
    usage = final.usage if final else None
    ttft = f"{timer.ttft_seconds:.3f} s" if timer.ttft_seconds is not None else "-"
    rate = timer.decode_tokens_per_second
    decode = f"{rate:.1f} tok/s" if rate is not None else "-"
    tokens = f"{usage.completion_tokens} tokens (prompt {usage.prompt_tokens})" if usage else "-"
    finish = final.finish_reason if final else "-"
    print(
        f"ttft {ttft} · decode {decode} · {tokens} · finish {finish} · "
        f"threads {threads_of(model)} · load {model.info.load_seconds:.2f} s",
        file=sys.stderr,
    )
