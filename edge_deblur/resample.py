"""Resizing photos and corrections with Pillow in row strips (numpy and Pillow only: runs on the device).

A strip of output rows is resized from only the source rows it needs (Pillow's `box`), so a uint8 photo is never
held as float whole and the work arrays stay a few MB; for a 12 MP photo this is also 2-3x faster than resizing
each channel whole (`benchmarks/results/photo_steps.json`). Box filter when shrinking, bilinear when enlarging;
strip by strip the result is that of resizing the whole channel, to float rounding of the filter positions: a source
row centred exactly on a box filter's edge (683 -> 342 rows: row 341) can land in the neighbouring output row.
"""

from __future__ import annotations

import math

import numpy as np

STRIP_ROWS = 128  # output rows per strip
_MARGIN = 2  # source rows read beyond a strip's box: the bilinear filter reaches one row past it, the box filter none


def resize_rows(channel: np.ndarray, height: int, width: int, shrink: bool, y0: int, y1: int) -> np.ndarray:
    """Rows `y0:y1` of a 2-D channel (uint8, read as /255, or float) resized to `height` x `width`; float32.

    Only the source rows those output rows draw on are read (and converted to float).
    """
    from PIL import Image

    from edge_deblur.images import to_float

    h, w = channel.shape
    sy = h / height
    top, bottom = y0 * sy, min(float(h), y1 * sy)  # the strip's source rows (the last never past the edge)
    a, b = max(0, math.floor(top) - _MARGIN), min(h, math.ceil(bottom) + _MARGIN)
    src = Image.fromarray(np.ascontiguousarray(to_float(channel[a:b]), dtype=np.float32), mode="F")
    method = Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR
    return np.asarray(src.resize((width, y1 - y0), method, box=(0, top - a, w, bottom - a)), dtype=np.float32)


def strips(height: int, rows: int = STRIP_ROWS):
    """(y0, y1) of each strip of `rows` rows down an image `height` rows tall."""
    return ((y, min(height, y + rows)) for y in range(0, height, rows))


def resize_float(image: np.ndarray, height: int, width: int, shrink: bool) -> np.ndarray:
    """Resize a float32 (or uint8, read as /255) HxWxC image to `height` x `width`: box filter when shrinking,
    bilinear when enlarging; float32 out. In strips: a uint8 photo is never copied to float whole."""
    out = np.empty((height, width, image.shape[2]), np.float32)
    for c in range(image.shape[2]):
        for y0, y1 in strips(height):
            out[y0:y1, :, c] = resize_rows(image[..., c], height, width, shrink, y0, y1)
    return out


def resize_channel(channel: np.ndarray, height: int, width: int, shrink: bool) -> np.ndarray:
    """A 2-D float array resized whole to `height` x `width` (box filter shrinking, bilinear enlarging): one strip
    of all the rows; for small arrays, where strips gain nothing."""
    return resize_rows(channel, height, width, shrink, 0, height)
