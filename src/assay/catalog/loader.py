"""Load the built-in catalog and merge the user's models.json over it."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from assay.catalog.schema import ModelEntry, UserModelEntry, check_name
from assay.errors import CatalogError

Catalog = dict[str, ModelEntry]


def load_catalog(user_file: Path | None = None) -> Catalog:
    """The built-in catalog, with the user's file (when it exists) merged over it."""
    catalog = load_builtin()
    if user_file is not None and user_file.exists():
        catalog = merge_user_entries(catalog, read_user_file(user_file), user_file)
    return catalog


def load_builtin() -> Catalog:
    text = resources.files("assay.catalog").joinpath("builtin.json").read_text("utf-8")
    data = json.loads(text)
    catalog: Catalog = {}
    for alias, fields in data["models"].items():
        catalog[alias] = ModelEntry(alias=alias, **fields)
    return catalog


def read_user_json(path: Path) -> dict[str, Any]:
    """The user catalog's raw {alias: entry} object, or a one-line error naming the file."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{path}: not valid JSON (line {exc.lineno}): {exc.msg}") from None
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read the user catalog: {exc.strerror}") from None
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: expected an object of {{alias: entry}}")
    return data


def read_user_file(path: Path) -> dict[str, UserModelEntry]:
    data = read_user_json(path)
    return {alias: _parse_user_entry(path, alias, fields) for alias, fields in data.items()}


def _parse_user_entry(path: Path, alias: str, fields: Any) -> UserModelEntry:
    try:
        check_name(alias, "alias")
    except ValueError as exc:
        raise CatalogError(f"{path}: {exc}") from None
    if not isinstance(fields, dict):
        raise CatalogError(f"{path}: model '{alias}': expected an object")
    try:
        return UserModelEntry(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(entry)"
        raise CatalogError(f"{path}: model '{alias}', field '{field}': {first['msg']}") from None


def merge_user_entries(catalog: Catalog, entries: dict[str, UserModelEntry], path: Path) -> Catalog:
    """User entries update a built-in alias's metadata, or add a variant (preferred first)."""
    merged = dict(catalog)
    for alias, user in entries.items():
        base = merged.get(alias)
        if base is None:
            if not user.has_source:
                raise CatalogError(
                    f"{path}: model '{alias}', field 'path': a new alias needs 'path' "
                    "(a local file) or 'repo' and 'file'"
                )
            merged[alias] = _new_entry(alias, user)
        else:
            merged[alias] = _update_entry(base, user)
    return merged


def _metadata(user: UserModelEntry) -> dict[str, Any]:
    fields = {
        "capabilities": user.capabilities,
        "license": user.license,
        "display_name": user.display_name,
        "description": user.description,
        "context_length": user.context_length,
        "parameters": user.parameters,
    }
    return {key: value for key, value in fields.items() if value is not None}


def _new_entry(alias: str, user: UserModelEntry) -> ModelEntry:
    return ModelEntry(alias=alias, origin="user", variants=(user.to_variant(),), **_metadata(user))


def _update_entry(base: ModelEntry, user: UserModelEntry) -> ModelEntry:
    update: dict[str, Any] = _metadata(user)
    if user.has_source:
        new = user.to_variant()
        rest = tuple(v for v in base.variants if v.name != new.name)
        update["variants"] = (new, *rest)
    return base.model_copy(update=update)
