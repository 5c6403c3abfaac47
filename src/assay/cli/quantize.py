"""`assay quantize`: make a new variant of a cached model with llama.cpp's quantizer."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from assay.cli.progress import run_with_spinner
from assay.config import Settings
from assay.registry import ModelRegistry
from assay.units import format_bytes


def quantize(
    model: Annotated[str, typer.Argument(help="ALIAS or ALIAS:VARIANT to start from.")],
    type_: Annotated[str, typer.Option("--type", "-t", help="q8_0, q4_k_m, f16, … (see docs)")],
    name: Annotated[
        str | None, typer.Option(help="Name of the new variant; default: the type.")
    ] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="Default: cores available.")] = None,
) -> None:
    """Quantize a cached model into a new variant ALIAS:TYPE, then run it like any other."""
    from assay.variants import quantize as quantizer

    settings = Settings()
    registry = ModelRegistry(settings)
    quantizer.parse_type(type_)  # an unknown type is refused before anything is read
    job = quantizer.plan(settings, registry.resolve(model), type_, name)
    if job.warning:
        print(f"warning: {job.warning}", file=sys.stderr)
    # llama.cpp's quantizer reports no progress: a spinner with the elapsed time instead.
    result = run_with_spinner(
        f"quantizing {job.source.name} to {job.quant.label}",
        lambda: quantizer.run(job, threads or settings.effective_threads()),
    )
    print(
        f"made {result.name} ({result.quant.label}) from {result.source_name}: "
        f"{format_bytes(result.size)} (source {format_bytes(result.source_size)}) "
        f"in {result.seconds:.1f} s"
    )
    print(f"  {result.path}")
    print(f'  run it: assay run {result.name} --prompt "…"')
