"""`assay pull`: download a model variant into assay's cache."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from assay.cli.output import make_console
from assay.cli.progress import byte_progress, tqdm_class
from assay.config import Settings
from assay.registry import ModelRegistry
from assay.units import format_bytes


def pull(model: Annotated[str, typer.Argument(help="ALIAS or ALIAS:VARIANT")]) -> None:
    """Download a model from the Hugging Face hub (HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE)."""
    from huggingface_hub.utils import logging as hf_logging

    from assay.store.download import PullOptions, pull

    hf_logging.set_verbosity(logging.ERROR)  # assay reports retries and errors itself, in one line
    registry = ModelRegistry(Settings())
    resolved = registry.resolve(model)
    err = make_console(stderr=True)
    with byte_progress(err) as progress:
        options = PullOptions(
            progress=tqdm_class(progress, resolved.name),
            notify=lambda message: progress.console.print(message, highlight=False),
        )
        try:
            result = pull(registry.settings, resolved, options)
        except KeyboardInterrupt:
            progress.stop()
            print(
                f"interrupted; 'assay pull {resolved.name}' resumes the download", file=sys.stderr
            )
            raise typer.Exit(130) from None
    if result.already_cached and result.path == Path():
        print(f"{result.name} needs no download: it has no model file (an endpoint, a fake model)")
        return
    if result.already_cached:
        print(f"{result.name} is already in the cache ({format_bytes(result.size)}): {result.path}")
        return
    rate = result.downloaded / result.seconds / 1e6 if result.seconds > 0 else 0.0
    resumed = f", resumed from {format_bytes(result.resumed_from)}" if result.resumed_from else ""
    check = (
        f"sha256 matches {result.verified_against}"
        if result.verified_against
        else "no sha256 to check against"
    )
    print(
        f"pulled {result.name}: {format_bytes(result.size)} in {result.seconds:.1f} s "
        f"({rate:.1f} MB/s{resumed}); {check}"
    )
    print(f"  {result.path}")
