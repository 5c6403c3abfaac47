"""`assay convert`: make an ONNX Runtime GenAI variant of a cached GGUF model."""

from __future__ import annotations

from typing import Annotated

import typer

from assay.cli.progress import run_with_spinner
from assay.config import Settings
from assay.registry import ModelRegistry
from assay.units import format_bytes


def convert(
    model: Annotated[str, typer.Argument(help="ALIAS or ALIAS:VARIANT (a GGUF) to start from.")],
    to: Annotated[str, typer.Option("--to", help="Target runtime: onnx (ONNX Runtime GenAI).")] = (
        "onnx"
    ),
    precision: Annotated[
        str, typer.Option("--precision", "-p", help="int4 (default), int8 or fp32.")
    ] = "int4",
    name: Annotated[
        str | None, typer.Option(help="Name of the new variant; default: onnx-PRECISION.")
    ] = None,
) -> None:
    """Convert a cached GGUF model into a new variant ALIAS:onnx-PRECISION that runs on ONNX
    Runtime GenAI (Foundry Local's runtime); needs assay\\[convert]."""
    # The backslash keeps rich's markup from eating "[convert]" in --help.
    from assay.errors import AssayError
    from assay.variants import convert as converter

    if to != "onnx":
        raise AssayError(f"unknown target '{to}'; assay converts to: onnx")
    settings = Settings()
    job = converter.plan(settings, ModelRegistry(settings).resolve(model), precision, name)
    result = run_with_spinner(
        f"converting {job.source.name} to ONNX ({job.precision})", lambda: converter.run(job)
    )
    print(
        f"made {result.name} (onnx, {result.precision}) from {result.source_name}: "
        f"{format_bytes(result.size)} in {result.seconds:.1f} s"
    )
    print(f"  {result.path}")
    print(f'  run it: assay run {result.name} --prompt "…"')
