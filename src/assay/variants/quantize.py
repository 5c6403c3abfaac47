"""`assay quantize`: a new variant of a cached model, made by llama.cpp's quantizer.

The result lives at `<models_dir>/<alias>/<new variant>/<alias>-<TYPE>.gguf` with a
`variant.json` record (kind "quantized", derived_from, sha256); `records.with_store_variants`
turns that record into a catalog variant, so `alias:q8_0` resolves and runs like any other.
Nothing is written to the user's models.json.
"""

from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from assay.catalog import Resolved
from assay.catalog.schema import DerivedSource, ModelEntry, check_name
from assay.config import Settings
from assay.engines.quantizer import QUANT_TYPES, QuantType, quantize_file, type_of_file
from assay.errors import AssayError, ModelFileError
from assay.store.integrity import sha256_file, write_verified
from assay.store.locate import model_path
from assay.store.records import StoreRecord, now, write_record
from assay.store.safety import contained
from assay.units import format_bytes


@dataclass(frozen=True)
class QuantizeJob:
    """A checked request: everything needed to run it, and what to warn about first."""

    source: Resolved
    source_path: Path
    quant: QuantType
    variant: str
    target: Path
    estimated_bytes: int
    warning: str | None

    @property
    def name(self) -> str:
        return f"{self.source.entry.alias}:{self.variant}"


@dataclass(frozen=True)
class QuantizeResult:
    name: str
    source_name: str
    path: Path
    size: int
    source_size: int
    seconds: float
    quant: QuantType


def parse_type(name: str) -> QuantType:
    quant = QUANT_TYPES.get(name.strip().lower())
    if quant is None:
        raise AssayError(
            f"unknown quantization type '{name}'; choose one of: {', '.join(QUANT_TYPES)}"
        )
    return quant


def plan(settings: Settings, source: Resolved, type_name: str, new_name: str | None) -> QuantizeJob:
    """Check the request (type, source in the cache, name free, disk space) without writing."""
    from assay.engines.llamacpp import read_gguf_info

    quant = parse_type(type_name)
    entry, variant = source.entry, source.variant
    if variant.engine != "llamacpp":
        raise AssayError(f"'{source.name}' is not a GGUF model; only GGUF files can be quantized")
    source_path = model_path(settings, entry, variant)
    current = type_of_file(read_gguf_info(source_path).metadata.get("general.file_type"))
    if current is not None and current.ftype == quant.ftype:
        raise AssayError(f"'{source.name}' is already {quant.label}; choose another --type")
    name = variant_name(entry, new_name or quant.name, "quantized")
    folder = settings.models_dir / entry.alias / name
    target = contained(settings.models_dir, folder / f"{entry.alias}-{quant.label}.gguf")
    size = source_path.stat().st_size
    estimate = int(size * quant.bits / current.bits) if current else size
    free = shutil.disk_usage(existing_parent(folder)).free
    if estimate > free:
        raise AssayError(
            f"not enough disk space to quantize {source.name}: needs about "
            f"{format_bytes(estimate)}, {format_bytes(free)} free"
        )
    return QuantizeJob(source, source_path, quant, name, target, estimate, _warning(current, quant))


def run(job: QuantizeJob, threads: int) -> QuantizeResult:
    """Quantize into a temporary file, then move it into place and record the new variant."""
    folder = job.target.parent
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with FileLock(str(job.target) + ".lock"):
        for stale in folder.glob(".*.incomplete"):
            stale.unlink(missing_ok=True)  # left by an interrupted quantize
        tmp = folder / f".{job.target.name}.{uuid.uuid4().hex[:8]}.incomplete"
        try:
            quantize_file(job.source_path, tmp, job.quant, threads)
            _check_readable(tmp, job.target.name)
            digest = sha256_file(tmp)
            tmp.replace(job.target)
        finally:
            tmp.unlink(missing_ok=True)
        write_verified(job.target, digest)
        size = job.target.stat().st_size
        record = StoreRecord(
            kind="quantized",
            file=job.target.name,
            size=size,
            sha256=digest,
            created=now(),
            quantization=job.quant.label,
            derived_from=job.source.name,
        )
        write_record(folder, record)
    return QuantizeResult(
        name=job.name,
        source_name=job.source.name,
        path=job.target,
        size=size,
        source_size=job.source_path.stat().st_size,
        seconds=time.perf_counter() - started,
        quant=job.quant,
    )


def variant_name(entry: ModelEntry, name: str, made: str) -> str:
    """name, checked: a safe variant name that no catalog or store variant has yet."""
    try:
        check_name(name, "variant name")
    except ValueError as exc:
        raise AssayError(str(exc)) from None
    existing = entry.variant(name)
    if existing is None:
        return name
    source = existing.location
    if isinstance(source, DerivedSource) and source.derived_from is not None:
        raise AssayError(
            f"'{entry.alias}:{name}' already exists ({made} from {source.derived_from}); "
            f"remove it with 'assay cache rm {entry.alias}:{name}' or pass --name"
        )
    raise AssayError(
        f"'{entry.alias}' already has a variant '{name}' in the catalog; "
        f"pass --name to call the {made} one something else, e.g. {name}-local"
    )


def _warning(current: QuantType | None, quant: QuantType) -> str | None:
    if current is None or current.is_float:
        return None
    if quant.bits > current.bits:
        return (
            f"the source is already {current.label}: {quant.label} makes a larger file but "
            "cannot restore the precision it lost"
        )
    return (
        f"the source is already {current.label}: requantizing it to {quant.label} loses more "
        "than quantizing the original F16 weights would"
    )


def _check_readable(path: Path, name: str) -> None:
    from assay.engines.llamacpp import read_gguf_info

    try:
        read_gguf_info(path)
    except ModelFileError:
        raise ModelFileError(f"llama.cpp wrote {name} but cannot read it back") from None


def existing_parent(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path
