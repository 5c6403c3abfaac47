"""Energy and cost per output token: an estimate, always labelled with its method."""

from __future__ import annotations

from pydantic import BaseModel

DEFAULT_WATTS_PER_CORE = 12.0
DEFAULT_KWH_PRICE = 0.30
_JOULES_PER_KWH = 3.6e6


class EnergyEstimate(BaseModel):
    joules_per_output_token: float
    cost_per_million_tokens: float
    kwh_price: float
    method: str


def estimate_energy(
    output_tokens: int,
    cpu_seconds: float | None,
    rapl_joules: float | None,
    watts_per_core: float = DEFAULT_WATTS_PER_CORE,
    kwh_price: float = DEFAULT_KWH_PRICE,
) -> EnergyEstimate | None:
    """RAPL package energy when the machine exposes it, else CPU time x a per-core power."""
    if output_tokens <= 0:
        return None
    if rapl_joules is not None and rapl_joules > 0:
        joules = rapl_joules
        method = "estimate: RAPL CPU-package energy over the model's run (whole package)"
    elif cpu_seconds is not None and cpu_seconds > 0:
        joules = cpu_seconds * watts_per_core
        method = f"estimate: CPU time x {watts_per_core:g} W per busy core"
    else:
        return None
    per_token = joules / output_tokens
    return EnergyEstimate(
        joules_per_output_token=per_token,
        cost_per_million_tokens=per_token * 1e6 / _JOULES_PER_KWH * kwh_price,
        kwh_price=kwh_price,
        method=method,
    )
