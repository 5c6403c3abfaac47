"""The model catalog: built-in entries, the user's models.json, and name resolution."""

from assay.catalog.loader import Catalog, load_catalog
from assay.catalog.resolve import Resolved, resolve
from assay.catalog.schema import ModelEntry, Variant

__all__ = ["Catalog", "ModelEntry", "Resolved", "Variant", "load_catalog", "resolve"]
