"""assay: run, benchmark and choose open-source language models on your own machine.

The public API (everything else lives in modules that may change):

    from assay import Manager, bench, report, compare, select
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from assay.errors import AssayError

__all__ = [
    "AssayError",
    "BenchHooks",
    "Manager",
    "ModelInfo",
    "ScoreResult",
    "__version__",
    "bench",
    "charts",
    "compare",
    "load_report",
    "report",
    "resume",
    "score",
    "select",
]

# Imported on first use, so that `import assay` (and `assay --help`) stays fast.
_LAZY = {
    "Manager": "assay.manager",
    "ModelInfo": "assay.manager",
    "BenchHooks": "assay.api",
    "ScoreResult": "assay.api",
    "bench": "assay.api",
    "charts": "assay.api",
    "compare": "assay.api",
    "load_report": "assay.api",
    "report": "assay.api",
    "resume": "assay.api",
    "score": "assay.api",
    "select": "assay.api",
}

if TYPE_CHECKING:
    __version__: str
    from assay.api import (
        BenchHooks,
        ScoreResult,
        bench,
        charts,
        compare,
        load_report,
        report,
        resume,
        score,
        select,
    )
    from assay.manager import Manager, ModelInfo


class _Package(types.ModuleType):
    """`assay.bench` is a function and `assay/bench/` a package. Importing a submodule sets
    the package as an attribute of its parent, which would hide the function: after one
    benchmark, `assay.bench(...)` failed with "'module' object is not callable". Submodules
    stay reachable through imports (`from assay.bench.spec import BenchSpec`)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    if name == "__version__":  # package metadata takes tens of milliseconds to read
        from assay.version import version

        return version()
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'assay' has no attribute {name!r}")
