"""The server's memory after models are unloaded: with runners, and with ASSAY_RUNNERS=0.

`assay serve` runs in this process (uvicorn in a thread); SmolLM2 and Gemma 3 are loaded and
unloaded once to warm the imports, then the server's RSS is read before, with both loaded,
and after three rounds of loading and unloading both. Goal: within 20 MB of before.

    .venv/bin/python benchmarks/runner_memory.py
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import httpx
import psutil
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.server.conftest import running_server

from assay.config import Settings
from assay.registry import ModelRegistry

MODELS = ("smollm2-135m", "gemma3-270m")


def rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


def measure(runners: bool) -> tuple[int, int, int, list[int]]:
    with running_server(ModelRegistry(Settings(runners=runners))) as server:

        def post(path: str) -> None:
            httpx.post(f"{server.base_url}{path}", timeout=120).raise_for_status()

        for name in MODELS:
            post(f"/models/{name}/load")
            post(f"/models/{name}/unload")
        before, peak, held = rss(), 0, []
        for _ in range(3):
            for name in MODELS:
                post(f"/models/{name}/load")
            loaded = httpx.get(f"{server.base_url}/models/loaded", timeout=10).json()["data"]
            held = [m["rss_bytes"] or 0 for m in loaded]
            peak = max(peak, rss())
            for name in MODELS:
                post(f"/models/{name}/unload")
        return before, peak, rss(), held


def main() -> None:
    table = Table(title="the server's RSS, MB")
    for column in ("models", "before", "both loaded", "after 3 rounds", "kept", "runners held"):
        table.add_column(column, justify="left" if column == "models" else "right")
    for runners, name in ((True, "in runners"), (False, "in the server (ASSAY_RUNNERS=0)")):
        before, peak, after, held = measure(runners)
        table.add_row(
            name,
            f"{before / 1e6:.1f}",
            f"{peak / 1e6:.1f}",
            f"{after / 1e6:.1f}",
            f"{(after - before) / 1e6:+.1f}",
            ", ".join(f"{h / 1e6:.0f}" for h in held) if any(held) else "-",
        )
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
