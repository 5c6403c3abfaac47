"""The example notebook runs headless, top to bottom, on the bundled models."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "benchmark_models.ipynb"


def test_the_notebook_executes_without_a_cell_error(tmp_path: Path) -> None:
    # nbformat ships py.typed but leaves read() unannotated.
    notebook = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError on any failing cell
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {})) for o in outputs)
    assert "smollm2-135m" in text and "Recommended:" in text
    assert "<svg" in text  # the charts are shown inline
    assert list((tmp_path / "runs").iterdir())
