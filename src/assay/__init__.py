"""assay: run, benchmark and choose open-source language models on your own machine."""

from assay.errors import AssayError

__version__ = "0.1.0"

__all__ = ["AssayError", "__version__"]
