"""llama.cpp's quantizer, through llama-cpp-python's `llama_model_quantize`.

The type numbers are llama.cpp's `llama_ftype` enum; they are written into every GGUF as
`general.file_type`, so they are stable and can be listed without importing llama_cpp.
Types that need an importance matrix (the IQ1/IQ2/IQ3 family) are left out.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path

from assay.errors import EngineError


@dataclass(frozen=True)
class QuantType:
    name: str  # as users type it: q8_0
    ftype: int  # llama_ftype
    bits: float  # approximate bits per weight, for size estimates and precision warnings

    @property
    def label(self) -> str:
        return self.name.upper()

    @property
    def is_float(self) -> bool:
        return self.bits >= 16


QUANT_TYPES: dict[str, QuantType] = {
    t.name: t
    for t in (
        QuantType("f32", 0, 32.0),
        QuantType("f16", 1, 16.0),
        QuantType("bf16", 32, 16.0),
        QuantType("q8_0", 7, 8.5),
        QuantType("q6_k", 18, 6.6),
        QuantType("q5_k_m", 17, 5.7),
        QuantType("q5_k_s", 16, 5.5),
        QuantType("q5_1", 9, 6.0),
        QuantType("q5_0", 8, 5.5),
        QuantType("q4_k_m", 15, 4.9),
        QuantType("q4_k_s", 14, 4.6),
        QuantType("q4_1", 3, 5.0),
        QuantType("q4_0", 2, 4.5),
        QuantType("q3_k_l", 13, 4.3),
        QuantType("q3_k_m", 12, 3.9),
        QuantType("q3_k_s", 11, 3.5),
        QuantType("q2_k", 10, 3.0),
    )
}


def type_of_file(file_type: str | None) -> QuantType | None:
    """The QuantType of a GGUF's `general.file_type` metadata value, when it is one of ours."""
    try:
        number = int(file_type or "")
    except ValueError:
        return None
    return next((t for t in QUANT_TYPES.values() if t.ftype == number), None)


def quantize_file(source: Path, target: Path, quant: QuantType, threads: int) -> None:
    """Write source quantized to quant at target. Blocking; llama.cpp reports no progress."""
    from assay.engines.llamacpp import _llama_cpp  # the log-silenced llama_cpp module

    llama_cpp = _llama_cpp()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = quant.ftype
    params.nthread = threads
    params.allow_requantize = True  # sources are often already quantized (Q4_1 -> Q8_0)
    result = llama_cpp.llama_model_quantize(
        str(source).encode(), str(target).encode(), ctypes.byref(params)
    )
    if result != 0:
        raise EngineError(
            f"llama.cpp could not quantize {source.name} to {quant.label} (it returned {result})"
        )
