"""`assay serve`: an OpenAI-compatible server for the cached models.

Its options are ServerSettings' fields (names, types, defaults, bounds and help), generated
below: a new server setting is a new option without a second list to keep in step.
"""

from __future__ import annotations

import inspect
import os
import sys
from typing import Annotated, Any, Union, get_origin

import typer
from pydantic.fields import FieldInfo

from assay.config import Settings, available_cores
from assay.registry import ModelRegistry
from assay.server.settings import ServerSettings, default_parallel
from assay.server.state import ServerState, remove_state, write_state

# Option names where the command line's differs from the field's (repeatable ones singular).
_OPTION_NAMES = {
    "context_size": "--ctx",
    "memory_budget_bytes": "--memory-budget",
    "cors_origins": "--cors-origin",
    "allowed_hosts": "--allowed-host",
}


def _option(name: str, field: FieldInfo) -> inspect.Parameter:
    """One typer option from one ServerSettings field."""
    bounds: dict[str, Any] = {}
    for rule in field.metadata:  # annotated_types' Ge and Le, as pydantic keeps them
        if hasattr(rule, "ge"):
            bounds["min"] = rule.ge
        elif hasattr(rule, "le"):
            bounds["max"] = rule.le
    flag = _OPTION_NAMES.get(name, "--" + name.replace("_", "-"))
    kind: Any = field.annotation
    default: Any = field.default
    if get_origin(kind) is tuple:  # repeatable, and each value may hold a comma list
        kind, default = Union[list[str], None], None  # noqa: UP007 (a runtime type object)
    option = typer.Option(
        flag, help=field.description or "", show_default=default is not None, **bounds
    )
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[kind, option], default=default
    )


def _signature() -> inspect.Signature:
    options = [_option(name, field) for name, field in ServerSettings.model_fields.items()]
    log = typer.Option(help="Log every request (access log).")
    options.append(
        inspect.Parameter(
            "log_requests",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[bool, log],
            default=False,
        )
    )
    return inspect.Signature(options, return_annotation=None)


def _server_settings(options: dict[str, Any], app_settings: Settings) -> ServerSettings:
    values: dict[str, Any] = {}
    for name, value in options.items():
        if get_origin(ServerSettings.model_fields[name].annotation) is tuple:
            value = tuple(p.strip() for item in value or () for p in item.split(",") if p.strip())
        values[name] = value
    values["api_key"] = values["api_key"] or app_settings.api_key or None
    return ServerSettings(**values)


def serve(**options: Any) -> None:
    """Serve models behind an OpenAI-compatible API (http://127.0.0.1:5273/v1 by default)."""
    import uvicorn

    from assay.server.app import create_app

    log_requests = bool(options.pop("log_requests"))
    app_settings = Settings()  # once: the registry below and the API key come from it
    settings = _server_settings(options, app_settings)
    host, port = settings.host, settings.port
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


serve.__signature__ = _signature()  # type: ignore[attr-defined]


def _parallel_line(settings: ServerSettings) -> str:
    if settings.parallel is not None:
        return f"{settings.parallel} slots per llama.cpp model (--parallel)"
    cores = available_cores()
    return (
        f"{default_parallel(cores)} slots per llama.cpp model (from {cores} cores; fewer for a "
        "model whose KV cache would not fit in RAM; set it with --parallel)"
    )
