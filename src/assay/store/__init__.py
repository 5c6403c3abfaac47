"""The model store: where model files live, bundled models, verification."""

from assay.store.locate import is_cached, model_path

__all__ = ["is_cached", "model_path"]
