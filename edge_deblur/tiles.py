"""The legacy way to run a fixed-size model on any image: overlapping tiles at the export size, blended.

`Deblurrer(strategy="tiles")` still uses it (and export's verification through Keras tiles does); the default
runs photos in large resized windows instead (`edge_deblur.strips`). Kept callable so "before" can be measured
against "after" in one process (`benchmarks/photo_latency.py`).
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np


def _pad_reflect(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pad bottom/right by reflection up to (height, width), repeating the reflection for very small images."""
    for axis, target in ((0, height), (1, width)):
        while img.shape[axis] < target:
            n = img.shape[axis]
            pad = [(0, 0)] * 3
            pad[axis] = (0, min(target - n, n - 1) or target - n)
            img = np.pad(img, pad, mode="reflect" if n > 1 else "edge")
    return img


def _tile_starts(length: int, tile: int, stride: int, overlap: int) -> list[int]:
    """Tile origins on one axis: multiples of `stride`, first 0, last length - tile, neighbours sharing >= overlap."""
    if length <= tile:
        return [0]
    n = max(2, math.ceil((length - overlap) / max(tile - overlap, 1)))
    while True:
        starts = sorted({int(s // stride) * stride for s in np.linspace(0, length - tile, n)[:-1]}
                        | {length - tile})
        if all(b - a <= tile - overlap for a, b in zip(starts, starts[1:])) or n > length:
            return starts
        n += 1


def _axis_weights(starts: list[int], tile: int) -> list[np.ndarray]:
    """Blend weights of each tile along one axis: 0 on the outer quarter of an overlap, a linear rise, then 1.

    Sides without a neighbour keep weight 1; a 1e-6 floor keeps every pixel's total weight positive.
    """
    pos = np.arange(tile, dtype=np.float32) + 0.5

    def rise(ov: int) -> np.ndarray:
        return np.clip((pos - ov / 4) / (ov / 2), 0.0, 1.0) if ov > 0 else np.ones(tile, np.float32)

    weights = []
    for k, s in enumerate(starts):
        w = np.ones(tile, dtype=np.float32)
        if k:
            w = np.minimum(w, rise(starts[k - 1] + tile - s))
        if k + 1 < len(starts):
            w = np.minimum(w, rise(s + tile - starts[k + 1])[::-1])
        weights.append(np.maximum(w, 1e-6))
    return weights


def tile_apply(image: np.ndarray, fn: Callable[[np.ndarray], np.ndarray], tile_size: Sequence[int],
               stride: int = 1, overlap: int = 32) -> np.ndarray:
    """Apply a fixed-size tile function to a float32 HxWx3 image of any size.

    The image is reflection-padded (bottom/right) to at least the tile size and to a multiple of `stride`, cut into
    tiles whose origins are multiples of `stride` (so a strided network sees the same pixel grid as on the whole
    image), and the outputs are blended with weights that fade out towards tile edges shared with a neighbour.

    Args:
        image: float32 (H, W, 3).
        fn: maps a float32 (th, tw, 3) tile to a float32 (th, tw, 3) result.
        tile_size: (th, tw).
        stride: the model's stride (tile origins are multiples of it).
        overlap: minimum pixels shared by neighbouring tiles; clamped to half the tile.

    Returns:
        float32 (H, W, 3).
    """
    th, tw = int(tile_size[0]), int(tile_size[1])
    h, w = image.shape[:2]
    hp = max(th, -(-h // stride) * stride)
    wp = max(tw, -(-w // stride) * stride)
    padded = _pad_reflect(image, hp, wp)
    ys = _tile_starts(hp, th, stride, min(overlap, th // 2))
    xs = _tile_starts(wp, tw, stride, min(overlap, tw // 2))
    if len(ys) == 1 and len(xs) == 1:
        return fn(np.ascontiguousarray(padded[:th, :tw]))[:h, :w]
    acc = np.zeros((hp, wp, 3), dtype=np.float32)
    weight = np.zeros((hp, wp, 1), dtype=np.float32)
    for y0, wy in zip(ys, _axis_weights(ys, th)):
        for x0, wx in zip(xs, _axis_weights(xs, tw)):
            out = fn(np.ascontiguousarray(padded[y0:y0 + th, x0:x0 + tw]))
            wgt = (wy[:, None] * wx[None, :])[..., None]
            acc[y0:y0 + th, x0:x0 + tw] += out * wgt
            weight[y0:y0 + th, x0:x0 + tw] += wgt
    return (acc / weight)[:h, :w]
