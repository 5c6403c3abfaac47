"""License classes for the selection constraint `--license permissive|any`."""

from __future__ import annotations

from typing import Literal

LicenseClass = Literal["permissive", "restricted", "unknown"]

_PERMISSIVE = ("apache-2.0", "mit", "bsd-2-clause", "bsd-3-clause", "isc", "unlicense", "cc0-1.0")
_RESTRICTED_PREFIXES = ("gemma", "llama", "qwen-research", "cc-by-nc", "openrail", "other")


def license_class(license_id: str | None) -> LicenseClass:
    """Permissive (Apache-2.0, MIT, BSD…), restricted (Gemma terms, Llama community…), or
    unknown when nothing is known."""
    if not license_id:
        return "unknown"
    key = license_id.strip().lower()
    if key in _PERMISSIVE:
        return "permissive"
    if key.startswith(_RESTRICTED_PREFIXES):
        return "restricted"
    return "unknown"
