"""Option text of the command line turned into values, each bad value a one-line `EdgeDeblurError` naming the
option (the commands' `_user_errors` prints it and exits 2)."""

from __future__ import annotations

from typing import Optional

from edge_deblur.errors import EdgeDeblurError, parsed


def _parse_size(text: Optional[str]) -> Optional[tuple[int, int]]:
    """'224', '224x320' or '224,320' -> (h, w)."""
    if text is None:
        return None
    parts = text.lower().replace(",", "x").split("x")
    try:
        nums = [int(p) for p in parts]
    except ValueError:
        raise EdgeDeblurError(f"--size: expected N or HxW, got '{text}'") from None
    if len(nums) == 1:
        nums = nums * 2
    if len(nums) != 2 or min(nums) <= 0:
        raise EdgeDeblurError(f"--size: expected N or HxW with positive numbers, got '{text}'")
    return nums[0], nums[1]


def _parse_scale(text: Optional[str]) -> float | str | None:
    """--scale: 'auto', None (native) or a number in (0, 1], as `edge_deblur.multiscale.parse_scale` takes it."""
    from edge_deblur.multiscale import parse_scale

    return parsed(parse_scale, text, "--scale: ")


def _parse_views(value: int) -> int:
    """--views: 1, 2, 4 or 8, as `edge_deblur.views.parse_views` takes it."""
    from edge_deblur.views import parse_views

    return parsed(parse_views, value, "--")  # "--views must be one of ..."


def _parse_range(text: str, option: str) -> tuple[float, float]:
    """'MIN,MAX' -> (min, max) floats."""
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise EdgeDeblurError(f"{option}: expected MIN,MAX, got '{text}'") from None
    return lo, hi
