"""`assay cache list|location|rm|verify|import`: what is on disk, and what it costs."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from assay.cli.output import make_console
from assay.cli.progress import spinner
from assay.config import Settings
from assay.errors import AssayError, CorruptCacheError
from assay.registry import ModelRegistry
from assay.store.cache import CacheEntry, scan
from assay.units import format_bytes

app = typer.Typer(
    help="See, check and clean assay's model cache.", no_args_is_help=True, add_completion=False
)


@app.command("list")
def list_cache(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Every model that runs without a download: size on disk, path, last use, verification."""
    registry = ModelRegistry(Settings())
    result = scan(registry.settings, registry.catalog)
    if as_json:
        typer.echo(json.dumps([_json_row(e) for e in result.entries], indent=2))
        return
    console = make_console()
    table = Table(show_edge=False, pad_edge=False, show_footer=True)
    table.add_column("Alias", footer="total")
    table.add_column("Variant")
    table.add_column("Source")
    table.add_column("Size", justify="right", footer=format_bytes(result.total_bytes))
    table.add_column("Last used")
    table.add_column("Verified")
    table.add_column("Path")
    for entry in result.entries:
        table.add_row(
            entry.alias,
            entry.variant,
            entry.source,
            format_bytes(entry.size),
            _when(entry.last_used),
            _verified(entry),
            str(entry.path),
        )
    console.print(table)
    console.print(
        f"\n{format_bytes(result.disk_bytes)} in assay's cache at {result.models_dir}",
        highlight=False,
    )
    for warning in result.warnings:
        console.print(f"note: {warning}", highlight=False)


@app.command("location")
def location() -> None:
    """Print the folder that holds assay's model files (set ASSAY_HOME to move it)."""
    typer.echo(str(Settings().models_dir))


@app.command("rm")
def remove(
    name: Annotated[str | None, typer.Argument(help="ALIAS or ALIAS:VARIANT")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Remove everything in the cache.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove models from the cache (after showing what goes and asking)."""
    from assay.store import remove as removal

    if (name is None) == (not all_):
        raise AssayError("name one model (ALIAS or ALIAS:VARIANT) or pass --all, not both")
    registry = ModelRegistry(Settings())
    settings = registry.settings
    if all_:
        plan = removal.plan_all(settings, registry.catalog)
    else:
        assert name is not None
        plan = removal.plan(settings, registry.catalog, name)
    for item in plan.removals:
        typer.echo(f"  {item.label:<32} {format_bytes(item.size):>9}  {item.path}")
    for alias in plan.catalog_aliases:
        typer.echo(f"  and the entry '{alias}' in {settings.user_catalog_path}")
    for note in plan.kept:
        typer.echo(f"  kept: {note}")
    if not plan.removals and not plan.catalog_aliases:
        typer.echo("nothing to remove")
        return
    if not yes:
        typer.confirm(
            f"Remove {len(plan.removals)} item(s), {format_bytes(plan.size)}?", abort=True
        )
    removal.execute(settings, plan)
    typer.echo(f"removed {len(plan.removals)} item(s), freed {format_bytes(plan.size)}")


@app.command("verify")
def verify_cache() -> None:
    """Re-hash every cached file; list the corrupt ones (exit 1 if any)."""
    from assay.store.verify import verify

    registry = ModelRegistry(Settings())
    result = scan(registry.settings, registry.catalog)
    with spinner(make_console(stderr=True)) as progress:
        task = progress.add_task("hashing", total=None)
        verdicts = verify(result, lambda e: progress.update(task, description=f"hashing {e.name}"))
    table = Table(show_edge=False, pad_edge=False)
    for column in ("Alias", "Variant", "Size", "Status", "sha256"):
        table.add_column(column, justify="right" if column == "Size" else "left")
    for verdict in verdicts:
        entry = verdict.entry
        status = {"ok": "ok", "corrupt": "CORRUPT", "recorded": "no reference; hash recorded"}
        table.add_row(
            entry.alias,
            entry.variant,
            format_bytes(entry.size),
            status[verdict.status],
            verdict.sha256[:16] + "…",
        )
    make_console().print(table)
    corrupt = [v.entry.name for v in verdicts if v.status == "corrupt"]
    if corrupt:
        raise CorruptCacheError(
            f"{len(corrupt)} corrupt: {', '.join(corrupt)}; remove with 'assay cache rm NAME' "
            "and pull or quantize again"
        )


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="A GGUF file.")],
    alias: Annotated[str, typer.Option(help="The name to run it by.")],
    license: Annotated[str | None, typer.Option(help="Licence id, e.g. Apache-2.0.")] = None,
    capabilities: Annotated[
        str | None, typer.Option(help="Comma-separated, e.g. chat,completion,tools.")
    ] = None,
    copy: Annotated[bool, typer.Option("--copy", help="Copy it into assay's cache.")] = False,
) -> None:
    """Register a local GGUF file in your models.json (checked by llama.cpp first)."""
    from assay.variants.importer import ImportRequest, import_gguf

    registry = ModelRegistry(Settings())
    caps = tuple(c.strip() for c in capabilities.split(",") if c.strip()) if capabilities else None
    request = ImportRequest(file, alias, license, caps, copy)
    result = import_gguf(registry.settings, registry.catalog, request)
    how = "copied into the cache" if result.copied else "used in place (not copied)"
    quant = result.quantization or "unknown type"
    typer.echo(
        f"imported {result.alias}:{result.variant} ({result.architecture}, {quant}, "
        f"{format_bytes(result.size)}; {', '.join(result.capabilities)}), {how}: {result.path}"
    )
    typer.echo(f'  run it: assay run {result.alias} --prompt "…"')


def _when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment else "never"


def _verified(entry: CacheEntry) -> str:
    if entry.reference_sha256 is None:
        return "no hash"
    return "yes" if entry.verified else "unchecked"


def _json_row(entry: CacheEntry) -> dict[str, object]:
    return {
        "alias": entry.alias,
        "variant": entry.variant,
        "source": entry.source,
        "size_bytes": entry.size,
        "path": str(entry.path),
        "in_cache": entry.in_cache,
        "last_used": entry.last_used.isoformat() if entry.last_used else None,
        "verified": entry.verified,
    }
