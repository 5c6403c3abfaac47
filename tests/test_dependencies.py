"""Every library that assay's modules import is installed by `pip install assay` (or by the
extra that the module belongs to): a lean install must not fail on an ImportError."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
# Modules whose imports come from an extra, not from the base install.
EXTRA_MODULES = {
    "engines/onnx_genai.py": "onnx",
    "engines/foundry.py": "foundry",
    "engines/onnx_export.py": "convert",
}


def _closure(requirements: list[str]) -> set[str]:
    """Distributions installed by these requirements, their extras and dependencies."""
    seen: set[str] = set()
    todo: list[tuple[Requirement, set[str]]] = [(Requirement(r), set()) for r in requirements]
    while todo:
        req, _ = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = req.name.lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            sub = Requirement(text)
            wanted = sub.marker is None or any(
                sub.marker.evaluate({"extra": extra}) for extra in [*req.extras, ""]
            )
            if wanted:
                sub.marker = None
                todo.append((sub, set()))
    return seen


def _third_party_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "assay"}


def test_base_modules_import_only_what_the_base_install_brings() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = _closure(project["dependencies"])
    providers = metadata.packages_distributions()
    missing: list[str] = []
    for path in sorted((ROOT / "src" / "assay").rglob("*.py")):
        if path.relative_to(ROOT / "src" / "assay").as_posix() in EXTRA_MODULES:
            continue
        for module in _third_party_imports(path):
            dists = {d.lower().replace("_", "-") for d in providers.get(module, [])}
            if not dists & base:
                missing.append(f"{path.relative_to(ROOT)} imports {module} ({dists or '?'})")
    assert not missing, "not in [project].dependencies: " + "; ".join(missing)
