"""`assay cache rm`: what would be removed (a plan the user confirms), then removing it.

Only folders under models_dir are ever deleted, and a symlink is unlinked, never followed.
Files assay does not own (a bundled package's model, a file imported without --copy) are
named in the plan as kept.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from assay.catalog.loader import Catalog
from assay.catalog.schema import BundledSource, check_name
from assay.config import Settings
from assay.errors import AssayError, UnknownModelError
from assay.store.cache import du
from assay.store.safety import contained
from assay.store.user_catalog import remove_entries


@dataclass(frozen=True)
class Removal:
    label: str
    path: Path
    size: int


@dataclass(frozen=True)
class RemovalPlan:
    removals: tuple[Removal, ...]
    catalog_aliases: tuple[str, ...]  # user-catalog entries whose file was copied in
    kept: tuple[str, ...]

    @property
    def size(self) -> int:
        return sum(r.size for r in self.removals)


def plan_all(settings: Settings, catalog: Catalog) -> RemovalPlan:
    root = settings.models_dir
    folders = sorted(p for p in root.iterdir()) if root.is_dir() else []
    removals = tuple(Removal(p.name, p, du(p)) for p in folders)
    copied = tuple(
        alias
        for alias, entry in catalog.items()
        if entry.origin == "user"
        and any(_copied_in(v.location.user_file, root) for v in entry.variants)
    )
    return RemovalPlan(removals, copied, ())


def plan(settings: Settings, catalog: Catalog, name: str) -> RemovalPlan:
    """Removals for `alias` (all its variants) or `alias:variant`."""
    alias, _, variant_name = name.strip().partition(":")
    try:
        check_name(alias, "alias")
        if variant_name:
            check_name(variant_name, "variant name")
    except ValueError as exc:
        raise AssayError(str(exc)) from None
    entry = catalog.get(alias)
    folder = settings.models_dir / alias
    if variant_name:
        names = [variant_name]
    elif entry is not None:
        names = sorted({v.name for v in entry.variants} | _children(folder))
    else:
        names = sorted(_children(folder))
    removals, kept, copied = [], [], []
    for variant_name in names:
        path = folder / variant_name
        variant = entry.variant(variant_name) if entry else None
        source = variant.location if variant is not None else None
        user_file = source.user_file if source is not None else None
        if user_file is not None:
            if _copied_in(user_file, settings.models_dir):
                copied.append(alias)
            else:
                kept.append(f"{alias}:{variant_name} is your file {user_file}; it stays")
        label = f"{alias}:{variant_name}"
        if isinstance(source, BundledSource) and len(source.files) == 1:
            kept.append(
                f"{label} ships in the package {source.distribution}; "
                f"'pip uninstall {source.distribution}' removes it"
            )
            label += " (assay's records of it)"
        if path.exists() or path.is_symlink():
            removals.append(Removal(label, path, du(path)))
    if not removals and not kept:
        raise UnknownModelError(f"nothing in the cache for '{name}'")
    return RemovalPlan(tuple(removals), tuple(sorted(set(copied))), tuple(kept))


def execute(settings: Settings, plan: RemovalPlan) -> None:
    root = settings.models_dir
    for removal in plan.removals:
        path = removal.path
        if path.is_symlink():
            path.unlink()
            continue
        contained(root, path)
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        parent = path.parent
        if parent != root and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
    remove_entries(settings.user_catalog_path, set(plan.catalog_aliases))


def _children(folder: Path) -> set[str]:
    if not folder.is_dir() or folder.is_symlink():
        return set()
    return {p.name for p in folder.iterdir()}


def _copied_in(path: Path | None, root: Path) -> bool:
    if path is None:
        return False
    resolved, base = path.resolve(), root.resolve()
    return base in resolved.parents
