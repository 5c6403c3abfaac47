"""The same SmolLM2 weights on three runtimes, in one `assay bench` run: llama.cpp (the
bundled Q4_1 GGUF), ONNX Runtime GenAI (the GGUF converted by `assay convert`) and Foundry
Local's runtime (foundry-local-sdk on that same ONNX folder). Converts first if needed.

    .venv/bin/python benchmarks/runtimes.py [--rounds 3] [--max-tokens 128] [--fp32]

Prints a table from the run's summary.json; the run directory is kept for `assay report`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from assay.config import Settings
from assay.registry import ModelRegistry
from assay.units import format_bytes

ASSAY = [sys.executable, "-m", "assay"]


def converted(registry: ModelRegistry, precision: str) -> Path:
    name = f"smollm2-135m:onnx-{precision}"
    try:
        return registry.path(registry.resolve(name))
    except Exception:
        subprocess.run([*ASSAY, "convert", "smollm2-135m", "--precision", precision], check=True)
        return ModelRegistry(Settings()).path(ModelRegistry(Settings()).resolve(name))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--fp32", action="store_true", help="also the fp32 ONNX conversion")
    parser.add_argument("--show", type=Path, help="print the table of an earlier run only")
    args = parser.parse_args()
    if args.show:
        show(args.show)
        return
    registry = ModelRegistry(Settings())
    int4 = converted(registry, "int4")
    models = ["smollm2-135m", "smollm2-135m:onnx-int4", "smol-foundry"]
    if args.fp32:
        converted(registry, "fp32")
        models.insert(2, "smollm2-135m:onnx-fp32")
    work = Path(tempfile.mkdtemp(prefix="assay-runtimes-"))
    catalog = work / "models.json"
    catalog.write_text(json.dumps({"smol-foundry": {"engine": "foundry", "path": str(int4)}}))
    out = work / "runs"
    # fmt: off
    command = [*ASSAY, "bench", "--models", ",".join(models), "--rounds", str(args.rounds),
               "--warmup", "1", "--max-tokens", str(args.max_tokens), "--out", str(out)]
    # fmt: on
    env = os.environ | {"ASSAY_MODELS_FILE": str(catalog)}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    (run,) = out.iterdir()
    show(run)


def show(run: Path) -> None:
    summary = json.loads((run / "summary.json").read_text())
    table = Table(title=f"SmolLM2-135M on three runtimes, one bench run ({run})")
    for column in ("model", "engine", "decode tok/s", "TTFT p50 ms", "e2e mean s", "peak RSS",
                   "load s", "on disk"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("model", "engine") else "right")
    for model in summary["models"]:
        level, info = model["levels"][0], model["info"]
        table.add_row(
            model["model"],
            info["engine_version"],
            f"{level['decode_tokens_per_second']['mean']:.1f}",
            f"{level['ttft_s']['p50'] * 1000:.1f}",
            f"{level['e2e_s']['mean']:.2f}",
            format_bytes(model["memory"]["peak_rss_bytes"]),
            f"{info['load_seconds']:.2f}",
            format_bytes(info["disk_bytes"]),
        )
    Console(width=170).print(table)


if __name__ == "__main__":
    main()
