"""Where a catalog variant's file is on this machine, and whether it is there yet.

Layout: `<models_dir>/<alias>/<variant>/<file name>` for everything assay puts in its cache
(pulled, quantized, assembled from bundled chunks, imported with --copy). Aliases and
variant names are checked by the catalog schema, file names by `store.safety`, and the
final path is resolved and must stay inside `models_dir`.
"""

from __future__ import annotations

from pathlib import Path

from assay.catalog.schema import ModelEntry, Variant
from assay.config import Settings
from assay.errors import ModelFileError, UnsafePathError
from assay.store.bundled import bundled_model_path, locate_bundled_parts
from assay.store.safety import contained, local_file_name

# Engines whose model is a folder (genai_config.json, ONNX files, tokenizer), not one file.
FOLDER_ENGINES = frozenset({"onnx", "foundry"})


def is_present(path: Path, variant: Variant) -> bool:
    return path.is_dir() if variant.engine in FOLDER_ENGINES else path.is_file()


def cache_dir_for(settings: Settings, entry: ModelEntry, variant: Variant) -> Path:
    return settings.models_dir / entry.alias / variant.name


def cached_file(settings: Settings, entry: ModelEntry, variant: Variant) -> Path:
    """Where this variant's file lives in assay's cache (whether or not it is there yet)."""
    name = local_file_name(variant.file) if variant.file else "model.gguf"
    return contained(settings.models_dir, cache_dir_for(settings, entry, variant) / name)


def model_path(settings: Settings, entry: ModelEntry, variant: Variant) -> Path:
    """The local file to load for this variant; raises ModelFileError when it is not here."""
    if variant.adapter is not None:
        return _adapter_weights(entry, variant)
    if variant.endpoint is not None:
        return Path()  # nothing local: the upstream server holds the model
    if variant.path is not None:
        if not is_present(variant.path, variant):
            what = "folder" if variant.engine in FOLDER_ENGINES else "file"
            raise ModelFileError(
                f"model {what} {variant.path} for '{entry.alias}' does not exist; "
                "fix 'path' in your models.json"
            )
        return variant.path
    if variant.bundled is not None:
        target = cached_file(settings, entry, variant)
        return bundled_model_path(variant.bundled, target, variant.sha256)
    if variant.file:
        cached = cached_file(settings, entry, variant)
        if is_present(cached, variant):
            return cached
    made_by = "convert" if variant.engine in FOLDER_ENGINES else "quantize"
    how = (
        f"it was made from {variant.derived_from} by 'assay {made_by}': run that again"
        if variant.derived_from
        else f"run 'assay pull {entry.alias}:{variant.name}' first"
    )
    raise ModelFileError(f"'{entry.alias}:{variant.name}' is not in the cache; {how}")


def _adapter_weights(entry: ModelEntry, variant: Variant) -> Path:
    """An adapter's weights: a file or a folder, or none at all (the class knows)."""
    if variant.path is None:
        return Path()
    if not variant.path.exists():
        raise ModelFileError(
            f"weights {variant.path} for '{entry.alias}' do not exist; fix 'weights' in your "
            "models.json"
        )
    return variant.path


def is_cached(settings: Settings, entry: ModelEntry, variant: Variant) -> bool:
    """True when the variant can load without a download (bundled packages count)."""
    if variant.adapter is not None:
        return variant.path is None or variant.path.exists()
    if variant.endpoint is not None:
        return True
    if variant.path is not None:
        return is_present(variant.path, variant)
    if variant.bundled is not None:
        try:
            locate_bundled_parts(variant.bundled)
        except ModelFileError:
            return False
        return True
    if variant.file is None:
        return False
    try:
        return is_present(cached_file(settings, entry, variant), variant)
    except UnsafePathError:
        return False
