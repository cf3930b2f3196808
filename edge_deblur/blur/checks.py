"""Range checks of blur settings: a bad value is a one-line `DataError` naming the setting (or the option) and the
value, raised before any pair is rendered (numpy's `uniform` would silently draw from a reversed range)."""

from __future__ import annotations

import math

from edge_deblur.errors import DataError


def _bounds(low: float, high: float, low_open: bool, high_open: bool) -> str:
    """'[0, 64]', '(0, 1]', '[0, inf)'."""
    return f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open or math.isinf(high) else ']'}"


def check_range(name: str, values, low: float, high: float, low_open: bool = False,
                high_open: bool = False) -> tuple[float, float]:
    """`values` as a (min, max) pair of finite numbers with min <= max, both within the bounds.

    Args:
        name: what the message calls the setting, e.g. "--radius" or "BlurConfig.radius".
        values: the (min, max) pair.
        low, high: the allowed bounds, inclusive unless `low_open` / `high_open`.

    Returns:
        (min, max) as floats.

    Raises:
        DataError: not a pair of numbers, not finite, min > max or outside the bounds (names `name` and the values).
    """
    try:
        lo, hi = (float(v) for v in values)
    except (TypeError, ValueError):
        raise DataError(f"{name} {values!r}: expected a MIN,MAX pair of numbers") from None

    def inside(v: float) -> bool:
        return math.isfinite(v) and (low < v if low_open else low <= v) and (v < high if high_open else v <= high)

    if not (inside(lo) and inside(hi) and lo <= hi):
        raise DataError(f"{name} {lo:g},{hi:g}: need MIN <= MAX, both in {_bounds(low, high, low_open, high_open)}")
    return lo, hi


def check_probability(name: str, p: float) -> float:
    """`p` as a float in [0, 1].

    Raises:
        DataError: not a number in [0, 1] (names `name` and the value).
    """
    try:
        value = float(p)
    except (TypeError, ValueError):
        raise DataError(f"{name} {p!r}: a probability must be a number in [0, 1]") from None
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise DataError(f"{name} {value:g}: a probability must be in [0, 1]")
    return value
