"""Turn a user's model name (`alias` or `alias:variant`) into a catalog entry and variant."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from assay.catalog.schema import ModelEntry, Variant
from assay.errors import UnknownModelError


@dataclass(frozen=True)
class Resolved:
    entry: ModelEntry
    variant: Variant

    @property
    def name(self) -> str:
        return f"{self.entry.alias}:{self.variant.name}"


def resolve(
    catalog: dict[str, ModelEntry],
    name: str,
    *,
    gpu_usable: bool = False,
    is_cached: Callable[[ModelEntry, Variant], bool] | None = None,
) -> Resolved:
    """`alias:variant` picks that variant; `alias` picks the best one for this machine.

    Best: a variant this machine can run on its preferred device (GPU variants only when
    a GPU is usable), one already in the cache before one that needs a download, then the
    catalog's order.
    """
    alias, _, variant_name = name.strip().partition(":")
    entry = catalog.get(alias)
    if entry is None:
        raise UnknownModelError(_unknown_message(catalog, name))
    if variant_name:
        variant = entry.variant(variant_name)
        if variant is None:
            names = ", ".join(v.name for v in entry.variants)
            raise UnknownModelError(
                f"unknown variant '{variant_name}' of '{alias}'; its variants are: {names}"
            )
        return Resolved(entry, variant)
    return Resolved(entry, best_variant(entry, gpu_usable=gpu_usable, is_cached=is_cached))


def best_variant(
    entry: ModelEntry,
    *,
    gpu_usable: bool,
    is_cached: Callable[[ModelEntry, Variant], bool] | None = None,
) -> Variant:
    order = {v.name: i for i, v in enumerate(entry.variants)}

    def rank(v: Variant) -> tuple[int, int, int]:
        device_rank = 0 if (v.device == "gpu") == gpu_usable else 1
        cached_rank = 0 if is_cached is not None and is_cached(entry, v) else 1
        return (device_rank, cached_rank, order[v.name])

    return min(entry.variants, key=rank)


def _unknown_message(catalog: dict[str, ModelEntry], name: str) -> str:
    candidates = list(catalog)
    for entry in catalog.values():
        candidates.extend(f"{entry.alias}:{v.name}" for v in entry.variants)
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.5)
    hint = f"did you mean '{close[0]}'?" if close else "run 'assay models list' to see them"
    return f"unknown model '{name}'; {hint}"
