"""`assay convert`: an ONNX Runtime GenAI variant of a cached GGUF model.

The result lives at `<models_dir>/<alias>/<new variant>/model/` (genai_config.json, the
ONNX decoder and its weights, tokenizer, chat template) with a `variant.json` record (kind
"converted", engine "onnx", derived_from); `records.with_store_variants` turns the record
into a catalog variant, so `alias:onnx-int4` resolves and runs on the onnx engine.
"""

from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from assay.catalog import Resolved
from assay.config import Settings
from assay.engines.onnx_export import BITS, PRECISIONS, check_tools, export
from assay.engines.quantizer import type_of_file
from assay.errors import AssayError, ModelFileError
from assay.store.cache import du
from assay.store.locate import model_path
from assay.store.records import StoreRecord, now, write_record
from assay.store.safety import contained
from assay.units import format_bytes
from assay.variants.quantize import existing_parent, variant_name

MODEL_FOLDER = "model"


@dataclass(frozen=True)
class ConvertJob:
    source: Resolved
    source_path: Path
    precision: str
    variant: str
    target: Path
    estimated_bytes: int

    @property
    def name(self) -> str:
        return f"{self.source.entry.alias}:{self.variant}"


@dataclass(frozen=True)
class ConvertResult:
    name: str
    source_name: str
    path: Path
    size: int
    seconds: float
    precision: str


def plan(settings: Settings, source: Resolved, precision: str, new_name: str | None) -> ConvertJob:
    """Check the request (precision, tools, GGUF source in the cache, name, disk space)."""
    from assay.engines.llamacpp import read_gguf_info

    if precision not in PRECISIONS:
        raise AssayError(f"unknown precision '{precision}'; choose one of: {', '.join(PRECISIONS)}")
    check_tools()
    entry, variant = source.entry, source.variant
    if variant.engine != "llamacpp":
        raise AssayError(f"'{source.name}' is not a GGUF model; only GGUF files can be converted")
    source_path = model_path(settings, entry, variant)
    current = type_of_file(read_gguf_info(source_path).metadata.get("general.file_type"))
    name = variant_name(entry, new_name or f"onnx-{precision}", "converted")
    folder = settings.models_dir / entry.alias / name
    target = contained(settings.models_dir, folder / MODEL_FOLDER)
    # The Hugging Face folder in between holds fp32 weights; the result, `precision` ones.
    fp32 = int(source_path.stat().st_size * 32 / (current.bits if current else 16))
    estimate = fp32 + int(fp32 * BITS[precision] / 32)
    free = shutil.disk_usage(existing_parent(folder)).free
    if estimate > free:
        raise AssayError(
            f"not enough disk space to convert {source.name}: needs about "
            f"{format_bytes(estimate)}, {format_bytes(free)} free"
        )
    return ConvertJob(source, source_path, precision, name, target, estimate)


def run(job: ConvertJob) -> ConvertResult:
    """Convert in a scratch folder beside the target, check it loads, move it into place."""
    folder = job.target.parent
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with FileLock(str(folder / ".convert.lock")):
        for stale in folder.glob(".*.incomplete"):
            shutil.rmtree(stale, ignore_errors=True)  # left by an interrupted convert
        work = folder / f".convert-{uuid.uuid4().hex[:8]}.incomplete"
        work.mkdir()
        try:
            built = work / MODEL_FOLDER
            export(job.source_path, built, job.precision, work)
            _check_loadable(built)
            if job.target.exists():
                shutil.rmtree(job.target)
            built.replace(job.target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        size = du(job.target)
        record = StoreRecord(
            kind="converted",
            file=MODEL_FOLDER,
            engine="onnx",
            size=size,
            created=now(),
            quantization=job.precision,
            derived_from=job.source.name,
        )
        write_record(folder, record)
    return ConvertResult(
        name=job.name,
        source_name=job.source.name,
        path=job.target,
        size=size,
        seconds=time.perf_counter() - started,
        precision=job.precision,
    )


def _check_loadable(folder: Path) -> None:
    from assay.engines.onnx_genai import read_genai_folder

    try:
        read_genai_folder(folder).chat_format()
    except ModelFileError as exc:
        raise ModelFileError(f"the builder's output does not load: {exc}") from None
