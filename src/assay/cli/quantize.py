"""`assay quantize`: make a new variant of a cached model with llama.cpp's quantizer."""

from __future__ import annotations

import sys
import threading
from typing import Annotated

import typer

from assay.cli.output import make_console
from assay.cli.progress import spinner
from assay.config import Settings
from assay.errors import AssayError
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
    from assay.store import quantize as quantizer

    settings = Settings()
    registry = ModelRegistry(settings)
    quantizer.parse_type(type_)  # an unknown type is refused before anything is read
    job = quantizer.plan(settings, registry.resolve(model), type_, name)
    if job.warning:
        print(f"warning: {job.warning}", file=sys.stderr)
    outcome: list[quantizer.QuantizeResult | BaseException] = []

    def work() -> None:
        try:
            outcome.append(quantizer.run(job, threads or settings.effective_threads()))
        except BaseException as exc:
            outcome.append(exc)

    # llama.cpp's quantizer reports no progress: a spinner with the elapsed time instead.
    worker = threading.Thread(target=work, daemon=True, name="assay-quantize")
    label = f"quantizing {job.source.name} to {job.quant.label}"
    with spinner(make_console(stderr=True)) as progress:
        progress.add_task(label, total=None)
        worker.start()
        while worker.is_alive():
            worker.join(0.1)
    result = outcome[0]
    if isinstance(result, BaseException):
        if isinstance(result, AssayError):
            raise result
        raise AssayError(f"quantizing failed: {result}") from None
    print(
        f"made {result.name} ({result.quant.label}) from {result.source_name}: "
        f"{format_bytes(result.size)} (source {format_bytes(result.source_size)}) "
        f"in {result.seconds:.1f} s"
    )
    print(f"  {result.path}")
    print(f'  run it: assay run {result.name} --prompt "…"')
