"""`assay cache import`: register a GGUF file you already have under an alias of your own.

The file is checked by llama.cpp (header read, vocab only) and hashed; the alias goes into
the user's models.json with the file's path, so it resolves, lists and runs like a catalog
model. With copy, the file is first copied into `<models_dir>/<alias>/<variant>/`.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from assay.catalog.loader import Catalog
from assay.catalog.schema import UserModelEntry, check_name
from assay.config import Settings
from assay.engines.quantizer import type_of_file
from assay.errors import AssayError, ModelFileError
from assay.store.integrity import sha256_file, write_verified
from assay.store.records import StoreRecord, now, write_record
from assay.store.safety import check_segment, contained
from assay.store.user_catalog import add_entry


@dataclass(frozen=True)
class ImportRequest:
    file: Path
    alias: str
    license: str | None = None
    capabilities: tuple[str, ...] | None = None
    copy: bool = False


@dataclass(frozen=True)
class ImportResult:
    alias: str
    variant: str
    path: Path
    copied: bool
    size: int
    quantization: str | None
    architecture: str
    capabilities: tuple[str, ...]


def import_gguf(settings: Settings, catalog: Catalog, request: ImportRequest) -> ImportResult:
    from assay.engines.llamacpp import read_gguf_info

    alias = _check_alias(request.alias, catalog)
    source = request.file.expanduser().resolve()
    if not source.is_file():
        raise ModelFileError(f"{request.file} is not a file")
    info = read_gguf_info(source)  # refuses anything llama.cpp cannot read as GGUF
    quant = type_of_file(info.metadata.get("general.file_type"))
    variant = quant.name if quant else "user"
    capabilities = request.capabilities or (
        ("chat", "completion") if info.has_chat_template else ("completion",)
    )
    digest = sha256_file(source)
    path = _copy_in(settings, alias, variant, source, digest) if request.copy else source
    fields: dict[str, Any] = {
        "path": str(path),
        "variant": variant,
        "quantization": quant.label if quant else None,
        "license": request.license,
        "capabilities": list(capabilities),
        "size_mb": round(source.stat().st_size / 1e6, 3),
        "sha256": digest,
        "context_length": info.context_length or None,
        "display_name": info.metadata.get("general.name"),
    }
    fields = {key: value for key, value in fields.items() if value is not None}
    try:
        UserModelEntry(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise AssayError(
            f"cannot import {source.name}: {first['loc'][0]}: {first['msg']}"
        ) from None
    add_entry(settings.user_catalog_path, alias, fields)
    return ImportResult(
        alias=alias,
        variant=variant,
        path=path,
        copied=request.copy,
        size=source.stat().st_size,
        quantization=quant.label if quant else None,
        architecture=info.architecture,
        capabilities=tuple(capabilities),
    )


def _check_alias(alias: str, catalog: Catalog) -> str:
    try:
        check_name(alias, "alias")
    except ValueError as exc:
        raise AssayError(str(exc)) from None
    if alias in catalog:
        raise AssayError(f"'{alias}' is already in the catalog; choose another --alias")
    return alias


def _copy_in(settings: Settings, alias: str, variant: str, source: Path, digest: str) -> Path:
    """Copy into the cache through a temporary name, so a half copy is never registered."""
    folder = settings.models_dir / alias / variant
    target = contained(settings.models_dir, folder / check_segment(source.name, "file name"))
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{target.name}.{uuid.uuid4().hex[:8]}.incomplete"
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    write_verified(target, digest)
    size = target.stat().st_size
    write_record(
        folder,
        StoreRecord(kind="copied", file=target.name, size=size, sha256=digest, created=now()),
    )
    return target
