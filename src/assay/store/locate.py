"""Where a catalog variant's file is on this machine, and whether it is there yet."""

from __future__ import annotations

from pathlib import Path

from assay.catalog.schema import ModelEntry, Variant
from assay.config import Settings
from assay.errors import ModelFileError
from assay.store.bundled import bundled_model_path, locate_bundled_parts


def cache_dir_for(settings: Settings, entry: ModelEntry, variant: Variant) -> Path:
    return settings.models_dir / entry.alias / variant.name


def model_path(settings: Settings, entry: ModelEntry, variant: Variant) -> Path:
    """The local file to load for this variant; raises ModelFileError when it is not here."""
    if variant.path is not None:
        if not variant.path.is_file():
            raise ModelFileError(
                f"model file {variant.path} for '{entry.alias}' does not exist; "
                "fix 'path' in your models.json"
            )
        return variant.path
    if variant.bundled is not None:
        target = cache_dir_for(settings, entry, variant) / (variant.file or "model.gguf")
        return bundled_model_path(variant.bundled, target, variant.sha256)
    cached = cache_dir_for(settings, entry, variant) / (variant.file or "")
    if variant.file and cached.is_file():
        return cached
    raise ModelFileError(
        f"'{entry.alias}:{variant.name}' is not in the cache; run 'assay pull {entry.alias}:"
        f"{variant.name}' first"
    )


def is_cached(settings: Settings, entry: ModelEntry, variant: Variant) -> bool:
    """True when the variant can load without a download (bundled packages count)."""
    if variant.path is not None:
        return variant.path.is_file()
    if variant.bundled is not None:
        try:
            locate_bundled_parts(variant.bundled)
        except ModelFileError:
            return False
        return True
    if variant.file is None:
        return False
    return (cache_dir_for(settings, entry, variant) / variant.file).is_file()
