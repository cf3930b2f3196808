"""Restoring a large photo at the scale its blur was trained for (numpy and Pillow only: runs on the device).

Defocus blur grows with the photo's resolution: a 12 MP phone shot has blur discs several times wider than the
same scene at 1 MP, far outside what a small model has learned. Instead of running the model at full size, the
photo is shrunk so that its long side is about `TARGET_LONG_SIDE` pixels, restored there, and only the model's
*correction* (restored minus input, at the small size) is enlarged and added to the full-resolution input. Fine
detail and noise of the original are left exactly as they were: where the model changes nothing (in-focus
regions) the output equals the input, and no model grain is enlarged into the photo.

With `passes=2` the model also restores the image at half the processing scale, where large blur shrinks into the
range it handles best, and that coarse correction is blended into the first pass's one. How much depends on the
first pass itself (`coarse_weight`): a correction made mostly of fine detail (small blur) keeps the single-pass
result and skips the second pass; one whose energy lies mostly in the coarse band (large blur) is averaged with
the coarse pass. The half scale, the even mean and the thresholds were chosen by measurement with the bundled
model on dpdd_dev (training and validation scenes), the aligned kwentar pairs and small synthetic Kodak blur (see
the README); benchmarks/results holds real-dpdd-val and kwentar-aligned with 1 and 2 passes.

Flat areas keep the input: there the correction is left out (`guard_flat`, see GUARD_*). Bright flat ones (a white
wall, an overcast sky), since the release model lifts clean near-white areas by several levels; and still ones of
any brightness (no noise at all: graphics, a clipped or synthetic area), where an int8 file's rounding is the same
at every pixel and can shift the whole area by several levels.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from edge_deblur.integrity import MIN_TILE as MIN_SCALED_SIDE  # the least a scale may leave of a side
from edge_deblur.resample import resize_channel, resize_float, resize_rows, strips

# Long side (px) at which the release model is trained to see defocus: the dpdd_dev pairs are 1024x683 and are
# trained at 0.5x-1x; 1024 px keeps a 12 MP photo's blur near that range.
TARGET_LONG_SIDE = 1024
PASSES = (1, 2)
COARSE_FACTOR = 0.5  # the second pass runs at this fraction of the processing scale
# The coarse pass's weight rises from 0 where the first correction's coarse-band energy share is COARSE_SHARE[0]
# to COARSE_MAX_WEIGHT at COARSE_SHARE[1]. Median shares with the bundled int8 model: 0.63 on defocus-kodak24 (disc
# radius 2-4 px, where the coarse pass costs PSNR), 0.85 / 0.89 on the dpdd_dev training / validation scenes.
COARSE_SHARE = (0.7, 0.9)
COARSE_MAX_WEIGHT = 0.5
# A bright, flat area (a white wall, an overcast sky) has nothing to deblur, yet the release model lifts it by 4-7
# levels of 255 (README, "flat content"). Where the image at the processing scale is flat (local standard deviation
# over GUARD_WINDOW px below GUARD_FLAT[0], fading out by GUARD_FLAT[1]) and bright (local mean of R, G and B above
# GUARD_BRIGHT[1], fading in from GUARD_BRIGHT[0]), the correction is left out. Measured with the bundled int8 file
# as `deblur` runs photos: real-dpdd-val -0.001 dB, the dpdd_dev training scenes -0.006 dB, kwentar +0.002 dB.
GUARD_WINDOW = 15
GUARD_FLAT = (1.0 / 255, 2.0 / 255)
GUARD_BRIGHT = (0.8, 0.9)
# A still area (local standard deviation under GUARD_STILL[0], fading out by GUARD_STILL[1]; a real photo's noise
# stays above it almost everywhere) is left out at any brightness: the bundled int8 file shifts flat gray 152 by
# +6.1 levels. Measured as above: real-dpdd-val -0.000 dB, the training scenes -0.0007 dB, kwentar 0.000 dB.
GUARD_STILL = (0.25 / 255, 0.5 / 255)


def auto_scale(height: int, width: int, target: int = TARGET_LONG_SIDE) -> float:
    """The processing scale for an image: shrink so its long side is `target` px, never enlarge, and never leave
    the short side under `MIN_SCALED_SIDE` px (a long thin strip, e.g. a 3000x40 panorama crop, shrinks less)."""
    short = min(height, width)
    least = 1.0 if short <= MIN_SCALED_SIDE else (MIN_SCALED_SIDE + 0.5) / short  # rounds to MIN_SCALED_SIDE px
    return min(1.0, max(target / max(height, width, 1), least))


def resolve_scale(scale: float | str | None, height: int, width: int) -> float:
    """The number a scale setting means for an image: 'auto' -> `auto_scale`, None -> 1 (native), else itself."""
    return auto_scale(height, width) if scale == "auto" else float(scale or 1.0)


def check_scaled_size(hw: tuple[int, int], scale: float) -> None:
    """Refuse a processing scale that would leave the model a handful of pixels (its correction would be a flat
    offset, enlarged over the whole image).

    Raises:
        ImageError: the image (h, w) at `scale` is under `MIN_SCALED_SIDE` px a side (or under its own size, if
            smaller).
    """
    from edge_deblur.errors import ImageError

    h, w = hw
    sh, sw = _scaled_size(h, w, scale)
    if scale < 1 and min(sh, sw) < min(MIN_SCALED_SIDE, h, w):
        raise ImageError(f"scale {scale:g} shrinks this {w}x{h} image to {sw}x{sh} px; the model needs at least "
                         f"{min(MIN_SCALED_SIDE, h, w)} px a side (use a larger scale, or auto)")


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


def _scaled_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """(height, width) times `scale`, rounded, at least 1 px each."""
    return max(1, round(height * scale)), max(1, round(width * scale))


def _add_enlarged(image: np.ndarray, correction: np.ndarray, first: np.ndarray | None = None, weight: float = 1.0,
                  rows: int = 256) -> np.ndarray:
    """`image` plus `correction` enlarged to its size, clipped to [0, 1], in the dtype of `image` (uint8 rounded).

    With `first` (an earlier result for `image`, same shape and dtype), the result is blended with it instead:
    (1 - weight) * first + weight * (image + enlarged correction).

    A channel at a time, in strips of `rows` rows (`edge_deblur.resample.resize_rows`): a 12 MP uint8 photo needs
    its output (36 MB) and a few MB of float strips, never a float copy of the photo or of a whole channel.
    """
    from edge_deblur.images import to_float, to_uint8

    h, w = image.shape[:2]
    out = np.empty((h, w, image.shape[2]), np.uint8 if image.dtype == np.uint8 else np.float32)
    for c in range(image.shape[2]):
        for y0, y1 in strips(h, rows):
            summed = to_float(image[y0:y1, :, c]) + resize_rows(correction[..., c], h, w, False, y0, y1)
            if first is not None:
                summed = (1.0 - weight) * to_float(first[y0:y1, :, c]) + weight * summed
            out[y0:y1, :, c] = to_uint8(summed) if image.dtype == np.uint8 else np.clip(summed, 0.0, 1.0)
    return out


def _box_mean(a: np.ndarray, win: int) -> np.ndarray:
    """Mean over the win x win window around each element of a 2-D float64 array (edges reflected)."""
    from edge_deblur.metrics import _box  # the windowed mean SSIM uses ('valid' windows: hence the reflected margin)

    return _box(np.pad(a, win // 2, mode="reflect"), win)


def _local_mean_sd(strip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation, over the GUARD_WINDOW-square window around each pixel (edges reflected), of
    the channel mean of an HxWxC strip in [0, 1]. A uint8 strip is summed in integers, exactly and 2-3x faster than
    in float64 (a window holds at most 225 x (3 x 255)**2 < 2**32)."""
    from edge_deblur.images import to_float
    from edge_deblur.metrics import window_sums

    win, chans = GUARD_WINDOW, strip.shape[2]
    if strip.dtype == np.uint8 and chans <= 3:
        g = strip[..., 0].astype(np.uint32)
        for c in range(1, chans):
            g += strip[..., c]  # the channel sum, 0..765
        g = np.pad(g, win // 2, mode="reflect")
        s1 = window_sums(g, win, np.uint32).astype(np.int64)  # uint32 running sums: exact, half float64's bytes
        var = window_sums(g * g, win, np.uint32).astype(np.int64) * (win * win) - s1 * s1  # n^2 x variance
        unit = np.float32(1.0 / (255.0 * chans * win * win))
        return s1.astype(np.float32) * unit, np.sqrt(var.astype(np.float32)) * unit
    g = sum(to_float(strip[..., c]).astype(np.float64) for c in range(chans)) / chans
    mean = _box_mean(g, win)
    return mean, np.sqrt(np.maximum(_box_mean(g * g, win) - mean * mean, 0.0))


def flat_keep(image: np.ndarray, rows: int = 512) -> np.ndarray:
    """HxW float32: the share of a correction to keep at each pixel of `image` (HxWx3, uint8 or float in [0, 1]);
    0 where the image is bright and flat or still at any brightness (see GUARD_*), 1 elsewhere. In strips of `rows`
    rows (work arrays of one strip, whatever the photo's size)."""
    h, w = image.shape[:2]
    r = GUARD_WINDOW // 2
    keep = np.empty((h, w), np.float32)
    for y0 in range(0, h, rows):
        a, b = max(0, y0 - r), min(h, y0 + rows + r)  # the strip and its halo (real rows, not reflected ones)
        if min(b - a, w) <= r:  # too small to look at neighbourhoods: nothing is guarded
            keep[y0:y0 + rows] = 1.0
            continue
        mean, sd = _local_mean_sd(image[a:b])
        flat = 1.0 - np.clip((sd - GUARD_FLAT[0]) / (GUARD_FLAT[1] - GUARD_FLAT[0]), 0.0, 1.0)
        bright = np.clip((mean - GUARD_BRIGHT[0]) / (GUARD_BRIGHT[1] - GUARD_BRIGHT[0]), 0.0, 1.0)
        still = 1.0 - np.clip((sd - GUARD_STILL[0]) / (GUARD_STILL[1] - GUARD_STILL[0]), 0.0, 1.0)
        keep[y0:y0 + rows] = (1.0 - np.maximum(flat * bright, still))[y0 - a:y0 - a + rows]
    return keep


def guard_flat(image: np.ndarray, out: np.ndarray) -> np.ndarray:
    """`out` (a restoration of `image`, same shape and dtype) with its change left out where `image` is flat
    (`flat_keep`); `out` itself where nothing is. A channel at a time."""
    from edge_deblur.images import to_float, to_uint8

    keep = flat_keep(image)
    if keep.min() >= 1.0:
        return out
    guarded = out.copy()
    inside = keep < 1.0  # only the guarded pixels are recomputed: the others stay `out`'s, to the bit
    k = keep[inside]
    for c in range(image.shape[2]):
        x = to_float(image[..., c][inside])
        y = x + (to_float(out[..., c][inside]) - x) * k
        guarded[..., c][inside] = to_uint8(y) if out.dtype == np.uint8 else np.clip(y, 0.0, 1.0)
    return guarded


def parse_passes(value: int | str) -> int:
    """1 or 2 (as int or text) -> the number of passes `restore_scaled` takes; ValueError for anything else."""
    from edge_deblur._text import parse_count

    return parse_count(value, PASSES, "passes")


def _energies(channels) -> tuple[float, float]:
    """(energy of the correction, energy of its coarse band), summed over 2-D float32 channels, one at a time."""
    total = coarse = 0.0
    for ch in channels:
        small = resize_channel(ch, *_scaled_size(*ch.shape, COARSE_FACTOR), shrink=True)
        total += float(np.sum(np.square(ch, dtype=np.float64)))
        coarse += float(np.sum(np.square(resize_channel(small, *ch.shape, shrink=False), dtype=np.float64)))
    return total, coarse


def _weight(total: float, coarse: float) -> float:
    """The coarse pass's weight from the energies of `_energies` (see `coarse_weight`)."""
    if total <= 0:
        return 0.0
    lo, hi = COARSE_SHARE
    return COARSE_MAX_WEIGHT * min(1.0, max(0.0, (np.sqrt(coarse / total) - lo) / (hi - lo)))


def coarse_weight(correction: np.ndarray) -> float:
    """Weight of the coarse pass, from the share of the first correction's energy in its coarse band (RMS ratio):
    the correction shrunk by `COARSE_FACTOR` and enlarged back, the part a half-scale pass could have made.

    0 up to `COARSE_SHARE[0]` (mostly fine detail: small blur), `COARSE_MAX_WEIGHT` from `COARSE_SHARE[1]` on.
    """
    return _weight(*_energies(correction[..., c] for c in range(correction.shape[2])))


def add_coarse(image: np.ndarray, first: np.ndarray, restore: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """The two-pass result from a first pass: blend in the coarse pass by `coarse_weight` of (first - image).

    Args:
        image: HxWx3, uint8 or float32 in [0, 1], at the processing scale.
        first: `restore`'s result for it, the same shape and dtype (a uint8 photo is never copied to float whole).
        restore: as for `restore_scaled`; runs once more, on `image` shrunk by `COARSE_FACTOR`.

    Returns:
        `first` itself where the weight is 0 (small blur), else the blend, in the dtype of `image`.
    """
    from edge_deblur.images import to_float

    weight = _weight(*_energies(to_float(first[..., c]) - to_float(image[..., c]) for c in range(image.shape[2])))
    if weight == 0.0:
        return first
    half = resize_float(image, *_scaled_size(*image.shape[:2], COARSE_FACTOR), shrink=True)
    coarse = restore(half) - half
    del half
    return _add_enlarged(image, coarse, first=first, weight=weight)


def restore_full(image: np.ndarray, restore: Callable[[np.ndarray], np.ndarray], passes: int = 1,
                 coarse_restore: Callable[[np.ndarray], np.ndarray] | None = None, guard: bool = True) -> np.ndarray:
    """`restore` at the image's own size, then the coarse pass (`add_coarse`) when `passes` is 2 and the flat-area
    guard (`guard_flat`) when asked; in the dtype `restore` gives for `image`."""
    y = restore(image)
    y = add_coarse(image, y, coarse_restore or restore) if passes == 2 else y
    return guard_flat(image, y) if guard else y


def restore_scaled(image: np.ndarray, restore: Callable[[np.ndarray], np.ndarray], scale: float,
                   passes: int = 1, coarse_restore: Callable[[np.ndarray], np.ndarray] | None = None,
                   guard: bool = True) -> np.ndarray:
    """Run `restore` at `scale` and add its enlarged correction to the full-size image.

    Args:
        image: HxWx3, float32 in [0, 1] or uint8 (a uint8 photo is never copied to float at full size).
        restore: maps a float32 HxWx3 image in [0, 1] to its restored version of the same shape.
        scale: in (0, 1]; 1 calls `restore` on the image itself (as float32).
        passes: 2 also restores at half that scale where the blur is large (see the module docstring).
        coarse_restore: what restores that half-scale image (default `restore`; the runtime gives a second
            interpreter, so that one is not resized between the two sizes).
        guard: leave the correction out of flat areas (`guard_flat`).

    Returns:
        HxWx3 in [0, 1]: uint8 for a uint8 image (rounded), else float32. With `guard`, where the image is flat at the
        processing scale (bright and flat, or still), the correction is left out (`guard_flat`).

    Raises:
        ValueError: `passes` is not 1 or 2.
        ImageError: `scale` leaves the model too few pixels (`check_scaled_size`).
    """
    from edge_deblur.images import to_float, to_uint8

    passes = parse_passes(passes)
    check_scaled_size(image.shape[:2], scale)
    sh, sw = _scaled_size(*image.shape[:2], scale)
    if scale >= 1 or (sh, sw) == image.shape[:2]:
        y = restore_full(to_float(image), restore, passes, coarse_restore, guard)
        return to_uint8(y) if image.dtype == np.uint8 else y
    small = resize_float(image, sh, sw, shrink=True)
    restored = restore(small)
    correction = (add_coarse(small, restored, coarse_restore or restore) if passes == 2 else restored) - small
    if guard:
        correction *= flat_keep(small)[..., None]
    del small, restored
    return _add_enlarged(image, correction)
