"""`assay mock-server`: a mock OpenAI server with exact timing, to check a benchmark client."""

from __future__ import annotations

import sys
from typing import Annotated, Literal

import typer

from assay.bench.mock_server import MockConfig, run_mock_server


def mock_server(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 5274,
    ttft_ms: Annotated[float, typer.Option(min=0, help="Time to first token.")] = 50.0,
    itl_ms: Annotated[float, typer.Option(min=0, help="Delay between tokens.")] = 10.0,
    tokens_per_chunk: Annotated[int, typer.Option(min=1)] = 1,
    output_tokens: Annotated[
        int, typer.Option(min=1, help="Tokens per reply (max_tokens caps it).")
    ] = 64,
    role_chunk: Annotated[
        bool,
        typer.Option("--role-chunk/--no-role-chunk", help="Send a role-only chunk first (chat)."),
    ] = True,
    failure_rate: Annotated[
        float, typer.Option(min=0, max=1, help="Share of requests answered 500.")
    ] = 0.0,
    seed: Annotated[int, typer.Option()] = 0,
    reasoning_tokens: Annotated[
        int, typer.Option(min=0, help="Tokens of reasoning before the output tokens.")
    ] = 0,
    reasoning_format: Annotated[
        str,
        typer.Option(
            help="Reasoning in a reasoning_content field (chat), or inside <think>...</think> "
            "in the content: field or think."
        ),
    ] = "field",
    reasoning_usage: Annotated[
        bool,
        typer.Option(
            "--reasoning-usage/--no-reasoning-usage",
            help="Count the reasoning in usage.completion_tokens_details.reasoning_tokens.",
        ),
    ] = True,
) -> None:
    """Serve /v1/chat/completions and /v1/completions with configured timing."""
    if reasoning_format not in ("field", "think"):
        raise typer.BadParameter(
            f"'{reasoning_format}' is not field or think", param_hint="--reasoning-format"
        )
    form: Literal["field", "think"] = "think" if reasoning_format == "think" else "field"
    config = MockConfig(
        ttft_ms=ttft_ms,
        itl_ms=itl_ms,
        tokens_per_chunk=tokens_per_chunk,
        output_tokens=output_tokens,
        role_chunk=role_chunk,
        failure_rate=failure_rate,
        seed=seed,
        reasoning_tokens=reasoning_tokens,
        reasoning_format=form,
        reasoning_usage=reasoning_usage,
    )
    print(f"mock OpenAI server on http://{host}:{port}/v1", file=sys.stderr)
    run_mock_server(config, host, port)
