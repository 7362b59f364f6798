"""How a measured value is written for people: one format for tables, history, compare, sweeps and triage."""
from __future__ import annotations

from typing import Any


def format_value(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        text = f"{value:.4g}" if abs(value) < 1e6 else f"{value:.3e}"
    else:
        text = str(value)
    return f"{text} {unit}".strip() if unit and unit != "count" else text
