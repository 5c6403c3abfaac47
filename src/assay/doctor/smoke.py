"""A tiny generation in a child process: whether this engine build runs on this CPU.

A native build can compile instructions that this CPU lacks or that fault here (ggml's AMX
kernels: SIGILL). Run in a child, such a crash becomes a signal that the parent names in one
line, instead of killing a benchmark ten minutes later.

    python -m assay.doctor.smoke MODEL.gguf   (prints "ok <tokens> <seconds>")
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from assay.crash_context import signal_name

__all__ = ["SmokeResult", "run_smoke", "signal_name"]

# Long enough that prompt processing takes the batched matrix kernels, not only the
# one-token ones: the AMX crash came from the batched path.
_PROMPT = " ".join(["The quick brown fox jumps over the lazy dog."] * 8)


@dataclass(frozen=True)
class SmokeResult:
    ok: bool
    detail: str
    signal: str | None = None


def run_smoke(model: Path, threads: int = 2, timeout_s: float = 120) -> SmokeResult:
    """Run the generation in a child; name the signal if it dies of one."""
    cmd = [sys.executable, "-m", "assay.doctor.smoke", str(model), str(threads)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return SmokeResult(False, f"the test generation hung for {timeout_s:.0f} s")
    if done.returncode < 0:
        name = signal_name(done.returncode)
        return SmokeResult(False, f"the test generation crashed: {name}", name)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines or not lines[-1].startswith("ok "):
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return SmokeResult(False, f"the test generation failed: {tail}")
    _, tokens, seconds = lines[-1].split()
    return SmokeResult(True, f"{tokens} tokens in {float(seconds):.2f} s on {threads} threads")


def _generate(model: str, threads: int) -> None:
    import llama_cpp

    started = time.perf_counter()
    llm = llama_cpp.Llama(
        model, n_ctx=256, n_threads=threads, n_threads_batch=threads, verbose=False
    )
    out = llm.create_completion(_PROMPT, max_tokens=8, temperature=0.0, stream=False)
    assert isinstance(out, dict)
    tokens = out["usage"]["completion_tokens"]
    print(f"ok {tokens} {time.perf_counter() - started:.3f}", flush=True)


if __name__ == "__main__":
    _generate(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2)
