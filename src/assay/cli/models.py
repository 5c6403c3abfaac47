"""`assay models list|show`: the catalog as this machine sees it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from assay.catalog import ModelEntry, Variant
from assay.cli.output import make_console
from assay.config import Settings
from assay.errors import AssayError, EngineError, ModelFileError, UnknownModelError
from assay.registry import ModelRegistry
from assay.store.locate import FOLDER_ENGINES
from assay.units import format_bytes, format_count

app = typer.Typer(
    help="List and inspect the model catalog.", no_args_is_help=True, add_completion=False
)

_FILTER_KEYS = ("alias", "variant", "engine", "device", "license", "capability", "cached", "family")


def _rows(registry: ModelRegistry) -> list[dict[str, Any]]:
    rows = []
    for entry in registry.catalog.values():
        for variant in entry.variants:
            rows.append(_row(registry, entry, variant))
    return rows


def _row(registry: ModelRegistry, entry: ModelEntry, variant: Variant) -> dict[str, Any]:
    return {
        "alias": entry.alias,
        "variant": variant.name,
        "engine": variant.engine,
        "device": variant.device,
        "size_bytes": variant.size_bytes,
        "parameters": entry.parameters,
        "license": entry.license,
        "capabilities": list(entry.capabilities),
        "cached": registry.is_cached(entry, variant),
        "family": entry.family,
        "source": variant.source,
    }


def _parse_filters(filters: list[str]) -> list[tuple[str, str]]:
    parsed = []
    for item in filters:
        key, sep, value = item.partition("=")
        key = key.strip().lower().removesuffix("s") if key.strip() != "alias" else "alias"
        if not sep or key not in _FILTER_KEYS:
            raise AssayError(
                f"bad filter '{item}'; use key=value with key one of {', '.join(_FILTER_KEYS)}"
            )
        parsed.append((key, value.strip().lower()))
    return parsed


def _matches(row: dict[str, Any], filters: list[tuple[str, str]]) -> bool:
    for key, value in filters:
        if key == "capability":
            if value not in [c.lower() for c in row["capabilities"]]:
                return False
        elif key == "cached":
            if str(row["cached"]).lower() != {"yes": "true", "no": "false"}.get(value, value):
                return False
        elif value not in str(row[key] or "").lower():
            return False
    return True


@app.command("list")
def list_models(
    filter_: Annotated[
        list[str] | None,
        typer.Option("--filter", help="key=value (alias, device, license, capability, cached…)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List every model variant in the catalog."""
    registry = ModelRegistry(Settings())
    filters = _parse_filters(filter_ or [])
    rows = [row for row in _rows(registry) if _matches(row, filters)]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("Alias", "Variant", "Engine", "Device", "Size", "Params", "License"):
        table.add_column(column, justify="right" if column in ("Size", "Params") else "left")
    table.add_column("Capabilities")
    table.add_column("Cached")
    for row in rows:
        table.add_row(
            row["alias"],
            row["variant"],
            row["engine"],
            row["device"],
            format_bytes(row["size_bytes"]),
            format_count(row["parameters"]),
            row["license"],
            ",".join(row["capabilities"]),
            "yes" if row["cached"] else "no",
        )
    make_console().print(table)


@app.command("show")
def show(name: Annotated[str, typer.Argument(help="ALIAS or ALIAS:VARIANT")]) -> None:
    """Everything known about a model, including where its chat template comes from."""
    registry = ModelRegistry(Settings())
    variant_name = name.partition(":")[2]
    resolved = registry.resolve(name)
    entry = resolved.entry
    console = make_console()
    console.print(f"[bold]{entry.alias}[/bold]  {entry.display_name or ''}")
    fields = {
        "family": entry.family,
        "publisher": entry.publisher,
        "license": entry.license,
        "parameters": format_count(entry.parameters),
        "context length": entry.context_length,
        "capabilities": ", ".join(entry.capabilities),
        "catalog": entry.origin,
        "default variant here": resolved.variant.name,
        "description": entry.description,
    }
    for key, value in fields.items():
        if value is not None:
            console.print(f"  {key + ':':<22}{value}", highlight=False)
    variants = [resolved.variant] if variant_name else list(entry.variants)
    for variant in variants:
        _show_variant(console, registry, entry, variant)


def _show_variant(
    console: Console, registry: ModelRegistry, entry: ModelEntry, variant: Variant
) -> None:
    console.print(f"\n  [bold]variant {variant.name}[/bold]")
    cached = registry.is_cached(entry, variant)
    fields = {
        "engine": variant.engine,
        "device": variant.device,
        "quantization": variant.quantization,
        "size": format_bytes(variant.size_bytes),
        "sha256": variant.sha256,
        "source": variant.source,
        "gated": "yes (needs HF_TOKEN)" if variant.gated else None,
        "cached": "yes" if cached else "no",
        "path": None,
        "chat template": None,
    }
    if cached:
        fields["path"], fields["chat template"] = _local_details(registry, entry, variant)
    else:
        fields["chat template"] = "unknown until the file is pulled"
    for key, value in fields.items():
        if value is not None:
            console.print(f"    {key + ':':<20}{value}", highlight=False)


def _local_details(registry: ModelRegistry, entry: ModelEntry, variant: Variant) -> tuple[str, str]:
    from assay.catalog import Resolved
    from assay.engines.chat_format import fallback_name
    from assay.engines.llamacpp import read_gguf_info

    try:
        path = registry.path(Resolved(entry, variant))
        if variant.engine in FOLDER_ENGINES:
            return str(path), _folder_template(path)
        info = read_gguf_info(path)
    except (ModelFileError, UnknownModelError, EngineError) as exc:
        return "-", f"unreadable: {exc.message}"
    if info.has_chat_template:
        return str(path), "from the GGUF metadata (rendered in a Jinja sandbox)"
    fallback = fallback_name(info.architecture)
    return str(path), f"none in the file; falls back to the {fallback} format"


def _folder_template(path: Path) -> str:
    from assay.engines.onnx_genai import read_genai_folder

    chat_format = read_genai_folder(path).chat_format()
    if chat_format.source.startswith("fallback"):
        return f"none in the folder; {chat_format.source}"
    return f"from {chat_format.source} (rendered in a Jinja sandbox)"
