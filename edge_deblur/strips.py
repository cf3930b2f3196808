"""Whole photos through a resized interpreter: large windows with a halo, written straight into the output.

The exported graphs are fully convolutional, so the interpreter's input can be resized (once per photo size) to a
window much larger than the export tile. A photo is cut into windows of one shape whose origins are multiples of
the model's stride (the strided network sees the same pixel grid as on the whole image); neighbouring windows share
at least `2 * halo` pixels, and each output pixel is taken from the window where it lies at least `halo` pixels
from an inner edge, so no blending is needed. Pixels past the bottom/right edge are reflections, read by index:
no padded copy of the photo is ever made. Beyond the input and output arrays, memory is one window (the
interpreter's buffers for `window_pixels` pixels and one float32 copy), whatever the photo size.

Example:
    >>> plan = window_plan(3000, 4000, stride=8, halo=48)
    >>> plan.shape, len(plan.rows) * len(plan.cols)   # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

WINDOW_PIXELS = 1 << 20  # window_plan's default bound; the runtime's comes from a memory budget and the bytes a
# window pixel costs its interpreter (edge_deblur.window_runner)
HALO = 16  # px of context on each inner window edge: on a 12 MP photo the bundled float16 file stays 60 dB from its
# whole-image pass (70 dB at 32 px, which computes ~13% more pixels)


@dataclass(frozen=True)
class Span:
    """One window along one axis: input rows/cols [start, start + size), output taken from [lo, hi)."""

    start: int
    lo: int
    hi: int


@dataclass(frozen=True)
class WindowPlan:
    """Windows of one shape covering a padded photo: `shape` (h, w), the spans along rows and along columns."""

    shape: tuple[int, int]
    rows: tuple[Span, ...]
    cols: tuple[Span, ...]

    @property
    def computed_pixels(self) -> int:
        """Pixels the model computes for the whole photo (halos included)."""
        return self.shape[0] * self.shape[1] * len(self.rows) * len(self.cols)


def spans(length: int, window: int, halo: int) -> tuple[Span, ...]:
    """Windows of `window` along an axis of `length` (both multiples of the stride, as is `halo`)."""
    if length <= window:
        return (Span(0, 0, length),)
    step = window - 2 * halo
    n = math.ceil((length - window) / step) + 1
    starts = [min(k * step, length - window) for k in range(n)]
    cuts = [0] + [(b + a + window) // 2 for a, b in zip(starts, starts[1:])] + [length]
    return tuple(Span(s, lo, hi) for s, lo, hi in zip(starts, cuts, cuts[1:]))


def _round_up(n: int, m: int) -> int:
    return -(-n // m) * m


def _count(length: int, window: int, halo: int) -> int:
    """How many windows `spans` cuts an axis into."""
    return 1 if length <= window else math.ceil((length - window) / (window - 2 * halo)) + 1


def _shortest(length: int, window: int, halo: int, stride: int, smallest: int) -> int:
    """The shortest window (a multiple of `stride`, at least `smallest`) that covers `length` in as few windows as
    `window` does: the same number of windows computes fewer pixels."""
    n = _count(length, window, halo)
    if n == 1:
        return window
    short = max(smallest, _round_up(math.ceil((length - 2 * halo) / n) + 2 * halo, stride))
    while short < window and _count(length, short, halo) > n:  # the estimate is off by a stride at most
        short += stride
    return min(short, window)


def window_plan(height: int, width: int, stride: int, halo: int = HALO, window_pixels: int = WINDOW_PIXELS,
                min_size: tuple[int, int] = (16, 16)) -> WindowPlan:
    """The window shape (and spans) that computes the fewest pixels for a photo within `window_pixels` a window.

    Args:
        height, width: the photo's size.
        stride: the model's stride; window sizes, origins and the halo are multiples of it.
        halo: context pixels kept on each inner window edge (rounded up to the stride).
        window_pixels: upper bound of a window's pixels (the memory bound), unless one window of the smallest
            useful size (`4 * halo` plus a stride, or the photo's padded side) already exceeds it.
        min_size: the smallest window (the export tile: small photos are padded to it, as before).

    Returns:
        A `WindowPlan`; a photo that fits in one window gets a single window of its padded size. Among shapes
        that compute as few pixels, the smallest; a larger bound never gives a plan that computes more.
    """
    halo = _round_up(max(halo, 0), stride)
    hp = max(_round_up(height, stride), _round_up(min_size[0], stride))
    wp = max(_round_up(width, stride), _round_up(min_size[1], stride))
    if hp * wp <= window_pixels:
        return WindowPlan((hp, wp), spans(hp, hp, halo), spans(wp, wp, halo))
    smallest = (min(4 * halo + stride, hp), min(4 * halo + stride, wp))
    best, shape = None, smallest  # not even the smallest window may fit the bound: then it is used anyway
    for tw in range(smallest[1], wp + 1, stride):
        th = min(hp, window_pixels // tw // stride * stride)
        if th < smallest[0]:
            break
        th = _shortest(hp, th, halo, stride, smallest[0])
        key = (th * tw * _count(hp, th, halo) * _count(wp, tw, halo), th * tw)
        if best is None or key < best:
            best, shape = key, (th, tw)
    return WindowPlan(shape, spans(hp, shape[0], halo), spans(wp, shape[1], halo))


def reflect_index(idx: np.ndarray, n: int) -> np.ndarray:
    """Indices past [0, n) mirrored as numpy's repeated 'reflect' padding does ('edge' for n == 1)."""
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * (n - 1)
    i = np.mod(idx, period)
    return np.where(i < n, i, period - i)


def _scaled(block: np.ndarray, out: np.ndarray) -> None:
    """out[...] = block as float32, uint8 divided by 255 in the same pass."""
    if block.dtype == np.uint8:
        np.divide(block, np.float32(255.0), out=out)
    else:
        out[...] = block


def gather(src: np.ndarray, y0: int, x0: int, out: np.ndarray) -> None:
    """Copy src[y0:, x0:] into `out` (float32), reflecting rows/cols past the edges; uint8 becomes [0, 1].

    The part inside the image is a plain slice (one pass); only the rows and columns past its edges go through
    index arrays, so an edge window costs about what an inner one does.
    """
    th, tw = out.shape[:2]
    h, w = src.shape[:2]
    ih, iw = min(th, h - y0), min(tw, w - x0)
    if ih <= 0 or iw <= 0:  # a window starting past the image (tiny photos padded to the tile): all reflected
        ih, iw = 0, 0
    _scaled(src[y0:y0 + ih, x0:x0 + iw], out[:ih, :iw])
    if ih == th and iw == tw:  # an inner window
        return
    rows = reflect_index(np.arange(y0, y0 + th), h)
    if ih < th:
        _scaled(src[rows[ih:, None], np.arange(x0, x0 + iw)[None, :]], out[ih:, :iw])
    if iw < tw:
        cols = reflect_index(np.arange(x0 + iw, x0 + tw), w)
        _scaled(src[rows[:, None], cols[None, :]], out[:, iw:])


def put(dest: np.ndarray, y: np.ndarray, oy: int, ox: int) -> None:
    """Write float model output `y` (any values) into dest[oy:, ox:] clipped to [0, 1]; uint8 dest is rounded."""
    region = dest[oy:oy + y.shape[0], ox:ox + y.shape[1]]
    if dest.dtype == np.uint8:
        np.multiply(y, 255.0, out=y)
        y += 0.5
        region[...] = np.clip(y, 0.5, 255.5, out=y)  # == clip(y, 0, 1) * 255 + 0.5, truncated by the cast
    else:
        region[...] = np.clip(y, 0.0, 1.0, out=y)


def apply_windows(image: np.ndarray, run: Callable[[np.ndarray], np.ndarray], plan: WindowPlan,
                  out: np.ndarray | None = None) -> np.ndarray:
    """Run `run` on every window of `plan` and assemble the result at the image's size.

    Args:
        image: (H, W, 3) uint8, or float in [0, 1].
        run: maps a float32 (1, h, w, 3) window (a reused buffer it may use as scratch) to a float32 (h, w, 3)
            array it may overwrite.
        plan: `window_plan(H, W, ...)`.
        out: where to write (same shape as `image`); default a new array of the image's dtype.

    Returns:
        `out`: uint8 for uint8 input (rounded), otherwise the input's dtype, values in [0, 1].
    """
    h, w = image.shape[:2]
    out = np.empty_like(image) if out is None else out
    buf = np.empty((1, *plan.shape, 3), np.float32)
    for r in plan.rows:
        if r.lo >= h:
            break
        for c in plan.cols:
            if c.lo >= w:
                break
            gather(image, r.start, c.start, buf[0])
            y = run(buf)
            put(out, y[r.lo - r.start:min(r.hi, h) - r.start, c.lo - c.start:min(c.hi, w) - c.start], r.lo, c.lo)
    return out
