"""Restoring a large photo at the scale its blur was trained for (numpy and Pillow only: runs on the device).

Defocus blur grows with the photo's resolution: a 12 MP phone shot has blur discs several times wider than the
same scene at 1 MP, far outside what a small model has learned. Instead of running the model at full size, the
photo is shrunk so that its long side is about `TARGET_LONG_SIDE` pixels, restored there, and only the model's
*correction* (restored minus input, at the small size) is enlarged and added to the full-resolution input. Fine
detail and noise of the original are left exactly as they were: where the model changes nothing (in-focus
regions) the output equals the input, and no model grain is enlarged into the photo.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

# Long side (px) at which the release model is trained to see defocus: the dpdd_dev pairs are 1024x683 and are
# trained at 0.5x-1x; 1024 px keeps a 12 MP photo's blur near that range.
TARGET_LONG_SIDE = 1024


def auto_scale(height: int, width: int, target: int = TARGET_LONG_SIDE) -> float:
    """The processing scale for an image: shrink so its long side is `target` px, never enlarge."""
    return min(1.0, target / max(height, width, 1))


def resolve_scale(scale: float | str | None, height: int, width: int) -> float:
    """The number a scale setting means for an image: 'auto' -> `auto_scale`, None -> 1 (native), else itself."""
    return auto_scale(height, width) if scale == "auto" else float(scale or 1.0)


def parse_scale(value: str | float | None) -> float | str | None:
    """'auto', None or a number in (0, 1] -> what `restore_scaled` takes.

    Raises:
        ValueError: anything else (the message says what is allowed).
    """
    if value is None or value == "auto":
        return value
    try:
        s = float(value)
    except (TypeError, ValueError):
        s = float("nan")
    if not 0 < s <= 1:
        raise ValueError(f"scale must be 'auto' or a number in (0, 1], got {value!r}")
    return s


def resize_float(image: np.ndarray, height: int, width: int, shrink: bool) -> np.ndarray:
    """Resize a float32 HxWxC image per channel with Pillow: box filter when shrinking, bilinear when enlarging."""
    from PIL import Image

    method = Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR
    out = np.empty((height, width, image.shape[2]), np.float32)
    for c in range(image.shape[2]):
        chan = Image.fromarray(np.ascontiguousarray(image[..., c], dtype=np.float32), mode="F")
        out[..., c] = np.asarray(chan.resize((width, height), method), dtype=np.float32)
    return out


def restore_scaled(image: np.ndarray, restore: Callable[[np.ndarray], np.ndarray], scale: float) -> np.ndarray:
    """Run `restore` at `scale` and add its enlarged correction to the full-size float image.

    Args:
        image: float32 HxWx3 in [0, 1].
        restore: maps a float32 HxWx3 image to its restored version of the same shape.
        scale: in (0, 1]; 1 calls `restore` on the image itself.

    Returns:
        float32 HxWx3 in [0, 1].
    """
    h, w = image.shape[:2]
    sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
    if scale >= 1 or (sh, sw) == (h, w):
        return restore(image)
    small = resize_float(image, sh, sw, shrink=True)
    correction = restore(small) - small
    del small
    out = resize_float(correction, h, w, shrink=False)
    out += image
    return np.clip(out, 0.0, 1.0, out=out)
