"""`assay serve`: an OpenAI-compatible server for the cached models."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from assay.config import Settings, available_cores
from assay.registry import ModelRegistry
from assay.server.settings import Device, ServerSettings, default_parallel
from assay.server.state import ServerState, remove_state, write_state

_FIELDS = ServerSettings.model_fields


def _help(name: str) -> str:
    return _FIELDS[name].description or ""


def serve(
    host: Annotated[str, typer.Option(help=_help("host"))] = "127.0.0.1",
    port: Annotated[int, typer.Option(help=_help("port"))] = 5273,
    models: Annotated[str | None, typer.Option(help=_help("models") + " Comma-separated.")] = None,
    preload: Annotated[bool, typer.Option("--preload", help=_help("preload"))] = False,
    threads: Annotated[int | None, typer.Option(min=1, help=_help("threads"))] = None,
    ctx: Annotated[int | None, typer.Option(min=64, help=_help("context_size"))] = None,
    gpu_layers: Annotated[int | None, typer.Option(min=-1, help=_help("gpu_layers"))] = None,
    device: Annotated[Device, typer.Option(help=_help("device"))] = "auto",
    parallel: Annotated[int | None, typer.Option(min=1, max=64, help=_help("parallel"))] = None,
    ttl: Annotated[float, typer.Option(min=0, help=_help("ttl"))] = 600.0,
    max_loaded: Annotated[int, typer.Option(min=1, help=_help("max_loaded"))] = 2,
    max_queue: Annotated[int, typer.Option(min=0, help=_help("max_queue"))] = 64,
    api_key: Annotated[
        str | None, typer.Option(help=_help("api_key") + " Or ASSAY_API_KEY.")
    ] = None,
    cors_origin: Annotated[list[str] | None, typer.Option(help=_help("cors_origins"))] = None,
    allowed_host: Annotated[list[str] | None, typer.Option(help=_help("allowed_hosts"))] = None,
    memory_budget: Annotated[
        int | None, typer.Option(help=_help("memory_budget_bytes") + " In bytes.")
    ] = None,
    log_requests: Annotated[bool, typer.Option(help="Log every request (access log).")] = False,
) -> None:
    """Serve models behind an OpenAI-compatible API (http://127.0.0.1:5273/v1 by default)."""
    import uvicorn

    from assay.server.app import create_app

    app_settings = Settings()  # once: the registry below and the API key come from it
    settings = ServerSettings(
        host=host,
        port=port,
        models=tuple(m.strip() for m in (models or "").split(",") if m.strip()),
        preload=preload,
        threads=threads,
        context_size=ctx,
        gpu_layers=gpu_layers,
        device=device,
        parallel=parallel,
        ttl=ttl,
        max_loaded=max_loaded,
        max_queue=max_queue,
        api_key=api_key or app_settings.api_key or None,
        cors_origins=tuple(cors_origin or ()),
        allowed_hosts=tuple(allowed_host or ()),
        memory_budget_bytes=memory_budget,
    )
    registry = ModelRegistry(app_settings)
    for name in settings.models:
        registry.resolve(name)  # an unknown name fails now, not on the first request
    registry.load_options(device=settings.device)  # --device gpu without a GPU fails now
    if not settings.is_loopback and not settings.api_key:
        print(
            f"warning: serving on {host} without an API key: anyone who can reach this "
            "machine can use it; pass --api-key or set ASSAY_API_KEY",
            file=sys.stderr,
        )
    home = registry.settings.home
    # Removed at shutdown by the app itself: uvicorn re-raises SIGTERM once it has stopped.
    app = create_app(settings, registry, on_shutdown=lambda: remove_state(home))
    state = ServerState(
        pid=os.getpid(), host=host, port=port, api_key_required=settings.api_key is not None
    )
    write_state(home, state)
    print(f"assay serving on http://{host}:{port}/v1 (Ctrl-C stops)", file=sys.stderr)
    print(f"parallel: {_parallel_line(settings)}", file=sys.stderr)
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=log_requests,
            timeout_graceful_shutdown=5,
        )
    finally:
        remove_state(home)


def _parallel_line(settings: ServerSettings) -> str:
    if settings.parallel is not None:
        return f"{settings.parallel} slots per llama.cpp model (--parallel)"
    cores = available_cores()
    return (
        f"{default_parallel(cores)} slots per llama.cpp model (from {cores} cores; fewer for a "
        "model whose KV cache would not fit in RAM; set it with --parallel)"
    )
