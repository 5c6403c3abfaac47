"""Human-readable numbers for tables (decimal units, as disk vendors and the hub use)."""

from __future__ import annotations

import re

_UNITS_S = {"ms": 1e-3, "s": 1.0, "": 1.0}


def parse_seconds(text: str) -> float:
    """Seconds from '2s', '500ms' or '1.5'; a ValueError naming the text otherwise."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*(ms|s|)\s*", text.lower())
    if not match:
        raise ValueError(f"bad duration '{text}'; write e.g. 2s or 500ms")
    try:
        return float(match.group(1)) * _UNITS_S[match.group(2)]
    except ValueError:
        raise ValueError(f"bad duration '{text}'; write e.g. 2s or 500ms") from None


def format_bytes(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def format_count(count: int | None) -> str:
    if count is None:
        return "-"
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f}{unit}".replace(".0" + unit, unit)
    return str(count)


def format_seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def format_millis(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


def format_number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
