"""GGUF to ONNX Runtime GenAI, offline: transformers' GGUF loader writes a Hugging Face
folder (dequantized weights, tokenizer and chat template from the GGUF metadata), then
onnxruntime-genai's model builder turns that folder into a GenAI model folder.

Each step runs in a child process: torch takes a few GB while it works, and the parent
(`assay convert`) should not keep it. `python -m assay.engines.onnx_export SRC.gguf OUT`
is the first step on its own.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from assay.errors import AssayError

# Precision -> extra builder options. int8 shares no embedding table with the output layer:
# shared int8 embeddings lost too much accuracy (shared/notes/onnx-from-gguf.md).
PRECISIONS: dict[str, tuple[str, ...]] = {
    "int4": (),
    "int8": ("--extra_options", "shared_embeddings=false"),
    "fp32": (),
}
BITS = {"int4": 4.5, "int8": 8.5, "fp32": 32.0}
REQUIRED = ("torch", "transformers", "accelerate", "gguf", "onnx", "onnx_ir", "onnxruntime_genai")
INSTALL_HINT = (
    "pip install 'assay[convert]' (a CPU-only torch is enough: "
    "pip install torch --index-url https://download.pytorch.org/whl/cpu)"
)


def check_tools() -> None:
    """Fail at once, in one line, when the conversion's libraries are not installed."""
    missing = [name for name in REQUIRED if importlib.util.find_spec(name) is None]
    if missing:
        raise AssayError(f"assay convert needs {', '.join(missing)}; {INSTALL_HINT}")


def export(gguf: Path, out: Path, precision: str, work: Path) -> None:
    """Write an ONNX GenAI model folder at `out` (which must not exist) from a GGUF file."""
    hf = work / "hf"
    _run([sys.executable, "-m", __name__, str(gguf), str(hf)], "reading the GGUF", work)
    builder = [
        sys.executable,
        "-m",
        "onnxruntime_genai.models.builder",
        "-i",
        str(hf),
        "-o",
        str(out),
        "-p",
        precision,
        "-e",
        "cpu",
        "-c",
        str(work / "builder-cache"),
        *PRECISIONS[precision],
    ]
    _run(builder, "building the ONNX model", work)


def _run(command: list[str], step: str, work: Path) -> None:
    log = work / "convert.log"
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with log.open("ab") as sink:
        result = subprocess.run(command, stdout=sink, stderr=sink, env=env, check=False)
    if result.returncode != 0:
        raise AssayError(f"{step} failed: {_last_error(log)}")


def _last_error(log: Path) -> str:
    """The last meaningful line a failed step printed (its exception, usually)."""
    lines = log.read_text("utf-8", errors="replace").replace("\r", "\n").splitlines()
    useful = [line.strip() for line in lines if line.strip() and "%|" not in line]
    return useful[-1][:300] if useful else "no message"


def gguf_to_hf(gguf: Path, out: Path) -> None:
    """A plain Hugging Face folder (fp32 safetensors, tokenizer, template) from a GGUF file."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    out.mkdir(parents=True, exist_ok=True)
    config = model.config.to_dict()
    # The loaded config still says "GGUF-quantized"; the builder must see plain fp32 weights.
    config.pop("quantization_config", None)
    config.pop("_name_or_path", None)
    config["architectures"] = [type(model).__name__]
    (out / "config.json").write_text(json.dumps(config, indent=2), "utf-8")
    AutoConfig.from_pretrained(out)  # fails here, not in the builder, if it does not round-trip
    # save_pretrained refuses GGUF-loaded models; a tied lm_head would be a shared tensor,
    # which safetensors rejects, and the builder re-ties it from the config.
    tied = bool(config.get("tie_word_embeddings", False))
    state = {
        key: value.detach().contiguous()
        for key, value in model.state_dict().items()
        if not (tied and key == "lm_head.weight")
    }
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    model.generation_config.save_pretrained(out)
    tokenizer.save_pretrained(out)


if __name__ == "__main__":
    gguf_to_hf(Path(sys.argv[1]), Path(sys.argv[2]))
