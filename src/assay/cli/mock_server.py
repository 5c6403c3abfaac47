"""`assay mock-server`: a mock OpenAI server with exact timing, to check a benchmark client."""

from __future__ import annotations

import sys
from typing import Annotated

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
) -> None:
    """Serve /v1/chat/completions and /v1/completions with configured timing."""
    config = MockConfig(
        ttft_ms=ttft_ms,
        itl_ms=itl_ms,
        tokens_per_chunk=tokens_per_chunk,
        output_tokens=output_tokens,
        role_chunk=role_chunk,
        failure_rate=failure_rate,
        seed=seed,
    )
    print(f"mock OpenAI server on http://{host}:{port}/v1", file=sys.stderr)
    run_mock_server(config, host, port)
