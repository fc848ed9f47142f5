"""Small numeric helpers shared by every layer."""

from __future__ import annotations

import math
from typing import Any


def finite_or_none(value: Any) -> float | None:
    """`value` as a finite float, or None when it is missing, not a number, NaN or infinite (metric libraries
    and JSON round trips hand back all of these)."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None
