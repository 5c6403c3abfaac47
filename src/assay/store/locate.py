"""Where a catalog variant's file is on this machine, and whether it is there yet.

Layout: `<models_dir>/<alias>/<variant>/<file name>` for everything assay puts in its cache
(pulled, quantized, assembled from bundled chunks, imported with --copy). Aliases and
variant names are checked by the catalog schema, file names by `store.safety`, and the
final path is resolved and must stay inside `models_dir`.

`find` is the one place that reads a variant's source (`Variant.location`) for the store:
loading (`model_path`), `is_cached` and the cache scan all start from what it found.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from assay.catalog.schema import (
    AdapterSource,
    BundledSource,
    DerivedSource,
    EndpointSource,
    FakeSource,
    HubSource,
    LocalSource,
    ModelEntry,
    Variant,
)
from assay.config import Settings
from assay.errors import ModelFileError, UnsafePathError
from assay.store.bundled import assemble, locate_bundled_parts
from assay.store.safety import contained, local_file_name

# Engines whose model is a folder (genai_config.json, ONNX files, tokenizer), not one file.
FOLDER_ENGINES = frozenset({"onnx", "foundry"})


@dataclass(frozen=True)
class Found:
    """Where a variant's model is on this machine, read from its source once (`find`)."""

    # The file or folder that loads; None: nothing local (an upstream, a weightless adapter,
    # a fake).
    path: Path | None
    # How it got there: pulled, quantized, converted, bundled, imported, local file, ...
    how: str
    # Under models_dir, so `assay cache rm` deletes it.
    in_cache: bool
    # Why it cannot load yet (the ModelFileError's message); None: it can, without a download.
    missing: str | None = None
    # A bundled model's chunks, assembled at `path` on its first load.
    parts: tuple[Path, ...] = ()


def is_present(path: Path, variant: Variant) -> bool:
    return path.is_dir() if variant.engine in FOLDER_ENGINES else path.is_file()


def cache_dir_for(settings: Settings, entry: ModelEntry, variant: Variant) -> Path:
    return settings.models_dir / entry.alias / variant.name


def cached_file(settings: Settings, entry: ModelEntry, variant: Variant) -> Path:
    """Where this variant's file lives in assay's cache (whether or not it is there yet)."""
    file = variant.location.cache_file
    name = local_file_name(file) if file else "model.gguf"
    return contained(settings.models_dir, cache_dir_for(settings, entry, variant) / name)


def find(settings: Settings, entry: ModelEntry, variant: Variant) -> Found:
    """Where the variant's model is, or why it is not here: the one place that reads a
    variant's source for the store. Raises UnsafePathError for a cache name that escapes."""
    match variant.location:
        case EndpointSource():
            return Found(None, "upstream", in_cache=False)
        case FakeSource():
            return Found(None, "fake", in_cache=False)
        case AdapterSource(weights=None):
            return Found(None, "adapter", in_cache=False)
        case AdapterSource(weights=Path() as weights):
            gone = (
                f"weights {weights} for '{entry.alias}' do not exist; fix 'weights' in your "
                "models.json"
            )
            return _user_file(settings, weights, None if weights.exists() else gone)
        case LocalSource(path=path):
            what = "folder" if variant.engine in FOLDER_ENGINES else "file"
            gone = (
                f"model {what} {path} for '{entry.alias}' does not exist; "
                "fix 'path' in your models.json"
            )
            return _user_file(settings, path, None if is_present(path, variant) else gone)
        case BundledSource() as source:
            return _bundled(settings, entry, variant, source)
        case HubSource() | DerivedSource() as source:
            cached = cached_file(settings, entry, variant)
            how = source.made_by if isinstance(source, DerivedSource) else "pulled"
            missing = None if is_present(cached, variant) else _not_made(entry, variant)
            return Found(cached, how, in_cache=True, missing=missing)
    raise AssertionError(f"unknown source {variant.location!r}")


def _user_file(settings: Settings, path: Path, missing: str | None) -> Found:
    inside = _inside(path, settings.models_dir)
    return Found(path, "imported" if inside else "local file", inside, missing)


def _bundled(
    settings: Settings, entry: ModelEntry, variant: Variant, source: BundledSource
) -> Found:
    try:
        parts = locate_bundled_parts(source)
    except ModelFileError as exc:
        return Found(None, "bundled", in_cache=False, missing=exc.message)
    if len(parts) == 1:
        return Found(parts[0], "bundled", in_cache=False)
    assembled = cached_file(settings, entry, variant)
    return Found(assembled, "bundled", assembled.is_file(), parts=tuple(parts))


def _not_made(entry: ModelEntry, variant: Variant) -> str:
    source = variant.location
    if isinstance(source, DerivedSource) and source.derived_from:
        command = "quantize" if source.made_by == "quantized" else "convert"
        how = f"it was made from {source.derived_from} by 'assay {command}': run that again"
    else:
        how = f"run 'assay pull {entry.alias}:{variant.name}' first"
    return f"'{entry.alias}:{variant.name}' is not in the cache; {how}"


def _inside(path: Path, models_dir: Path) -> bool:
    root = models_dir.resolve()
    resolved = path.resolve()
    return resolved == root or root in resolved.parents


def model_path(settings: Settings, entry: ModelEntry, variant: Variant) -> Path:
    """The local file to load for this variant (Path() when there is none: an upstream, an
    adapter without weights, a fake); raises ModelFileError when it is not here."""
    found = find(settings, entry, variant)
    if found.missing is not None:
        raise ModelFileError(found.missing)
    if found.path is None:
        return Path()
    if found.parts:
        return assemble(list(found.parts), found.path, variant.sha256)
    return found.path


def is_cached(settings: Settings, entry: ModelEntry, variant: Variant) -> bool:
    """True when the variant can load without a download (bundled packages count)."""
    try:
        return find(settings, entry, variant).missing is None
    except UnsafePathError:
        return False
