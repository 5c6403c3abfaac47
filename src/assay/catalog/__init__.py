"""The model catalog: built-in entries, the user's models.json, and name resolution."""

from assay.catalog.loader import Catalog, load_catalog
from assay.catalog.resolve import Resolved, resolve
from assay.catalog.schema import (
    AdapterSource,
    BundledSource,
    DerivedSource,
    EndpointSource,
    FakeSource,
    HubSource,
    LocalSource,
    ModelEntry,
    ModelSource,
    Variant,
)

__all__ = [
    "AdapterSource",
    "BundledSource",
    "Catalog",
    "DerivedSource",
    "EndpointSource",
    "FakeSource",
    "HubSource",
    "LocalSource",
    "ModelEntry",
    "ModelSource",
    "Resolved",
    "Variant",
    "load_catalog",
    "resolve",
]
