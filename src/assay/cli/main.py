"""`assay`: the entry point. Errors become one line on stderr and an exit code.

Commands load on first use: `assay --help` lists them from the table below and imports none
of their modules (each pulls in pydantic, the registry or the bench), so it answers quickly.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from assay.errors import AssayError

# name: (module:attribute, the one-line help `assay --help` lists). The attribute is a command
# function or a Typer app; tests/cli/test_cli.py checks each line against the command's own help.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": (
        "assay.cli.run:run",
        "Chat with a model: stream one answer, or start an interactive chat.",
    ),
    "pull": (
        "assay.cli.pull:pull",
        "Download a model from the Hugging Face hub (HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE).",
    ),
    "quantize": (
        "assay.cli.quantize:quantize",
        "Quantize a cached model into a new variant ALIAS:TYPE, then run it like any other.",
    ),
    "convert": (
        "assay.cli.convert:convert",
        "Convert a cached GGUF model into a new variant ALIAS:onnx-PRECISION that runs on ONNX "
        "Runtime GenAI (Foundry Local's runtime); needs assay\\[convert].",
    ),
    "serve": (
        "assay.cli.serve:serve",
        "Serve models behind an OpenAI-compatible API (http://127.0.0.1:5273/v1 by default).",
    ),
    "bench": (
        "assay.cli.bench:bench",
        "Benchmark models in-process or at an OpenAI-compatible endpoint.",
    ),
    "mock-server": (
        "assay.cli.mock_server:mock_server",
        "Serve /v1/chat/completions and /v1/completions with configured timing.",
    ),
    "score": (
        "assay.cli.score:score",
        "Score a bench run's outputs, then show mean, 95% CI and n per model and source.",
    ),
    "report": (
        "assay.cli.report:report",
        "Render a run's report (Markdown, CSV, JSON, self-contained HTML with charts, AIPerf's "
        "JSON), or turn an AIPerf or GuideLLM export into one that compare and select read.",
    ),
    "compare": (
        "assay.cli.report:compare",
        "Compare two runs; exit 1 when a significant regression is found (a CI gate).",
    ),
    "select": (
        "assay.cli.report:select",
        "Recommend a model under constraints, with the Pareto front and a rationale.",
    ),
    "doctor": (
        "assay.cli.doctor:doctor",
        "Check the engine build, a test generation, GPU, threads, load, memory, disk and "
        "versions. Exits 1 when something would make a benchmark crash or lie.",
    ),
    "models": ("assay.cli.models:app", "List and inspect the model catalog."),
    "cache": ("assay.cli.cache:app", "See, check and clean assay's model cache."),
}


def load_command(name: str) -> Any:
    """The real click command behind NAME: its module imported, its parameters built."""
    module, _, attribute = COMMANDS[name][0].partition(":")
    target = getattr(importlib.import_module(module), attribute)
    if not isinstance(target, typer.Typer):
        single = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
        single.command(name=name)(target)
        target = single
    command = typer.main.get_command(target)
    command.name = name
    return command


class _LazyGroup(TyperGroup):
    """Lists commands from COMMANDS; builds one only when it is the one being run."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Stand-ins that carry the listing's line (and feed "did you mean"); resolve_command
        # swaps in the real command.
        self.commands = {
            name: TyperCommand(name=name, short_help=line, help="")
            for name, (_, line) in COMMANDS.items()
        }

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name, command, rest = super().resolve_command(ctx, args)
        if name in COMMANDS:
            command = load_command(name)
        return name, command, rest


app = typer.Typer(
    name="assay",
    cls=_LazyGroup,
    help="Run, benchmark and choose open-source language models on your own machine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Run, benchmark and choose open-source language models on your own machine."""


def main() -> None:
    # Typer handles usage errors (exit 2) and Ctrl-C itself; assay's own errors surface here.
    from assay.cli import supervise

    supervise.as_child()
    try:
        app()
    except AssayError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except Exception as exc:
        from pydantic import ValidationError

        from assay.config import settings_error

        if not isinstance(exc, ValidationError) or exc.title != "Settings":
            raise
        print(f"error: {settings_error(exc)}", file=sys.stderr)  # a bad ASSAY_* variable
        sys.exit(2)
