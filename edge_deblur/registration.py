"""Registration of one blurred/sharp photo pair: a homography that warps the sharp photo into the blurred photo's
frame, the largest rectangle the warp covers, and an exposure/colour match (steps 2-5 of `edge_deblur.align`).

Images in, `Alignment` out; the homography estimate lives in `edge_deblur.homography`, files, datasets and reports
in `edge_deblur.align`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from edge_deblur.errors import DataError
from edge_deblur.homography import _ecc_from_starts, _rescale_h, _to_gray, _valid_mask, _warp

LOWPASS_FRACTION = 0.02  # sigma of the colour-fit low-pass, as a fraction of the image diagonal
COLOR_MODES = ("gain", "none")


@dataclass(frozen=True)
class AlignParams:
    """Settings of the alignment; the defaults suit phone/DSLR photos of 300-4000 px.

    Attributes:
        work_size: long side (px) of the copies the homography is estimated on (never upscaled).
        levels: pyramid levels of the coarse-to-fine ECC (fewer for small images; coarsest long side >= 64 px).
        smooth_sigma: Gaussian sigma (px, at each level) applied to both copies before ECC.
        iterations: ECC iterations per level.
        features: also try a start from SIFT matches + RANSAC (identity and phase-correlation shift always are).
        min_corr: reject below this ECC correlation of the smoothed work copies over the valid region.
        min_overlap: reject when the crop keeps less than this fraction of the blurred frame.
        max_aspect_diff: reject when the sharp and blurred aspect ratios differ by more than this fraction.
        max_scale: reject homographies whose linear scale at a frame corner leaves [1/max_scale, max_scale].
        min_size: reject images whose short side is below this many pixels.
        color: 'gain' (per-channel gain/offset, see the module doc) or 'none'.
    """

    work_size: int = 640
    levels: int = 3
    smooth_sigma: float = 1.5
    iterations: int = 100
    features: bool = True
    min_corr: float = 0.85
    min_overlap: float = 0.5
    max_aspect_diff: float = 0.02
    max_scale: float = 1.6
    min_size: int = 96
    color: str = "gain"

    def __post_init__(self):
        if self.color not in COLOR_MODES:
            raise DataError(f"--color must be one of {', '.join(COLOR_MODES)}, got '{self.color}'")
        if self.work_size < 64:
            raise DataError(f"--work-size must be at least 64, got {self.work_size}")
        if not 0.0 < self.min_overlap <= 1.0:
            raise DataError(f"--min-overlap must be in (0, 1], got {self.min_overlap}")
        if not -1.0 <= self.min_corr <= 1.0:
            raise DataError(f"--min-corr must be in [-1, 1], got {self.min_corr}")
        if self.levels < 1 or self.iterations < 1 or self.min_size < 16 or self.max_scale <= 1.0:
            raise DataError("levels and iterations must be >= 1, min_size >= 16 and max_scale > 1")


class AlignmentRejected(DataError):
    """A pair that cannot be aligned well enough; `reason` is one of `edge_deblur.align.REJECT_REASONS`."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass
class Alignment:
    """A pair aligned by `align_images`.

    Attributes:
        sharp: the warped, colour-matched sharp image, cropped; float32 HxWx3.
        blurred: the blurred image cropped to the same rectangle (a view: its pixels untouched).
        sharp_resized: the unwarped sharp image at the blurred size, cropped alike (a view; the 'before' reference).
        homography: 3x3, maps full-resolution blurred pixel coordinates to sharp ones (of the resized sharp).
        corr: ECC correlation of the smoothed work copies over the valid region.
        start: which start won: 'identity', 'shift' or 'features'.
        crop: (x, y, width, height) of the kept rectangle in the blurred frame.
        overlap: crop area over the blurred frame's area.
        gain, offset: per-channel colour fit applied to the warped sharp image (1 and 0 for color='none').
    """

    sharp: np.ndarray
    blurred: np.ndarray
    sharp_resized: np.ndarray
    homography: np.ndarray
    corr: float
    start: str
    crop: tuple[int, int, int, int]
    overlap: float
    gain: np.ndarray
    offset: np.ndarray


def largest_rectangle(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Largest axis-aligned all-True rectangle of a 2-D boolean mask, as (x, y, width, height); zeros if none.

    Example:
        >>> largest_rectangle(np.array([[0, 1, 1], [1, 1, 1], [0, 1, 1]], bool))
        (1, 0, 2, 3)
    """
    hh, ww = mask.shape
    heights = np.zeros(ww, dtype=np.int64)
    best, best_area = (0, 0, 0, 0), 0
    for y in range(hh):
        heights = np.where(mask[y], heights + 1, 0)
        hl = heights.tolist() + [0]  # the trailing 0 empties the stack
        stack: list[int] = []  # column indices with increasing heights
        for x, hx in enumerate(hl):
            while stack and hl[stack[-1]] >= hx:
                top = stack.pop()
                left = stack[-1] + 1 if stack else 0
                area = hl[top] * (x - left)
                if area > best_area:
                    best_area, best = area, (left, y - hl[top] + 1, x - left, hl[top])
            stack.append(x)
    return best


def _crop_rect(mask: np.ndarray, block: int) -> tuple[int, int, int, int]:
    """Largest rectangle inside `mask`, found on a block-eroded copy (each cell = all of a block valid), then grown
    side by side at full resolution while the added row/column stays valid."""
    hh, ww = mask.shape
    if block > 1:
        ph, pw = -hh % block, -ww % block
        m = np.pad(mask, ((0, ph), (0, pw)), constant_values=False)
        small = m.reshape(m.shape[0] // block, block, m.shape[1] // block, block).all(axis=(1, 3))
    else:
        small = mask
    x, y, w, h = largest_rectangle(small)
    if w == 0:
        return 0, 0, 0, 0
    x0, y0, x1, y1 = x * block, y * block, min(ww, (x + w) * block), min(hh, (y + h) * block)
    grown = True
    while grown:
        grown = False
        if x0 > 0 and mask[y0:y1, x0 - 1].all():
            x0, grown = x0 - 1, True
        if x1 < ww and mask[y0:y1, x1].all():
            x1, grown = x1 + 1, True
        if y0 > 0 and mask[y0 - 1, x0:x1].all():
            y0, grown = y0 - 1, True
        if y1 < hh and mask[y1, x0:x1].all():
            y1, grown = y1 + 1, True
    return x0, y0, x1 - x0, y1 - y0


# --- colour -----------------------------------------------------------------------------------------------------


def _color_gain(sharp: np.ndarray, blurred: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel gain/offset that match mean and std of the low-passed sharp image to the low-passed blurred one."""
    import cv2

    gains, offsets = np.ones(3), np.zeros(3)
    for c in range(3):
        s = cv2.GaussianBlur(sharp[..., c], (0, 0), sigma).astype(np.float64)
        b = cv2.GaussianBlur(blurred[..., c], (0, 0), sigma).astype(np.float64)
        g = b.std() / s.std() if s.std() > 1e-6 else 1.0
        gains[c] = float(np.clip(g, 0.5, 2.0))
        offsets[c] = b.mean() - gains[c] * s.mean()
    return gains, offsets


def _color_none(sharp: np.ndarray, blurred: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    return np.ones(3), np.zeros(3)


COLOR_MATCHERS: dict[str, Callable] = {"gain": _color_gain, "none": _color_none}


# --- one pair ---------------------------------------------------------------------------------------------------


def _check_sizes(sharp_hw: tuple[int, int], blurred_hw: tuple[int, int], p: AlignParams) -> None:
    small = min(*sharp_hw, *blurred_hw)
    if small < p.min_size:
        raise AlignmentRejected("tiny", f"short side {small} px < min size {p.min_size} px "
                                        f"(sharp {sharp_hw[1]}x{sharp_hw[0]}, blurred {blurred_hw[1]}x{blurred_hw[0]})")
    ar_s, ar_b = sharp_hw[1] / sharp_hw[0], blurred_hw[1] / blurred_hw[0]
    if abs(ar_s / ar_b - 1.0) > p.max_aspect_diff:
        rotated = abs(ar_s * ar_b - 1.0) <= p.max_aspect_diff
        raise AlignmentRejected("aspect", f"sharp {sharp_hw[1]}x{sharp_hw[0]} vs blurred "
                                          f"{blurred_hw[1]}x{blurred_hw[0]}"
                                          + (" (one is rotated by 90 degrees?)" if rotated else ""))


def _resize_to(img: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Resize a float RGB image to (h, w): area averaging when shrinking, bicubic otherwise."""
    import cv2

    if img.shape[:2] == tuple(hw):
        return img
    interp = cv2.INTER_AREA if img.shape[0] * img.shape[1] > hw[0] * hw[1] else cv2.INTER_CUBIC
    return np.clip(cv2.resize(img, (hw[1], hw[0]), interpolation=interp), 0.0, 1.0)


def _best_homography(sharp: np.ndarray, blurred: np.ndarray, scale: float, p: AlignParams
                     ) -> tuple[str, float, np.ndarray]:
    """ECC on copies resized by `scale`; the winning start, its correlation and its full-resolution homography.

    Raises:
        AlignmentRejected: no start gave a plausible homography ('degenerate' when one at least converged).
    """
    hw = blurred.shape[:2]
    tmpl, inp = _to_gray(blurred, scale), _to_gray(sharp, scale)
    work_hw = tmpl.shape
    best, failures = _ecc_from_starts(tmpl, inp, p)
    if best is None:
        reason = "degenerate" if any(r == "degenerate" for r, _ in failures.values()) else "no_convergence"
        raise AlignmentRejected(reason, "; ".join(f"from {k}: {d}" for k, (_, d) in failures.items()))
    start, corr, h_work = best
    return start, corr, _rescale_h(h_work, hw[1] / work_hw[1], hw[0] / work_hw[0])


def _warp_matched(sharp: np.ndarray, blur_crop: np.ndarray, h_full: np.ndarray, crop: tuple[int, int, int, int],
                  scale: float, color: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`sharp` warped straight into the crop rectangle (no full-size intermediate) and colour-matched to `blur_crop`.

    Returns:
        (the warped sharp crop, float32 HxWx3 in [0, 1]; the per-channel gain; the per-channel offset).
    """
    import cv2

    x, y, w, hgt = crop
    shift = np.array([[1.0, 0.0, x], [0.0, 1.0, y], [0.0, 0.0, 1.0]])
    warped = _warp(np.ascontiguousarray(sharp), h_full @ shift, (hgt, w), cv2.INTER_CUBIC)
    # colour fit on work-size copies of the crops (the low-pass makes full resolution pointless)
    small = [cv2.resize(im, (max(8, round(w * scale)), max(8, round(hgt * scale))), interpolation=cv2.INTER_AREA)
             for im in (warped, np.ascontiguousarray(blur_crop))]
    lp_sigma = max(1.0, LOWPASS_FRACTION * float(np.hypot(*small[0].shape[:2])))
    gain, offset = COLOR_MATCHERS[color](small[0], small[1], lp_sigma)
    warped *= gain.astype(np.float32)
    warped += offset.astype(np.float32)
    np.clip(warped, 0.0, 1.0, out=warped)
    return warped, gain, offset


def align_images(sharp: np.ndarray, blurred: np.ndarray, params: AlignParams | None = None) -> Alignment:
    """Warp `sharp` into the frame of `blurred`, match its exposure, and crop both to the common valid rectangle.

    Args:
        sharp: float32 HxWx3 RGB in [0, 1]; resized to the blurred size first when only its size differs.
        blurred: float32 HxWx3 RGB in [0, 1]; the reference frame (never resampled).
        params: settings; `AlignParams()` when None.

    Returns:
        An `Alignment` holding the cropped images, the full-resolution homography and the fit quality.

    Raises:
        AlignmentRejected: the pair is tiny, differs in aspect ratio, or cannot be aligned well; `.reason` says
            which (see `edge_deblur.align.REJECT_REASONS`).

    Example:
        >>> a = align_images(read_image("sharp.jpg"), read_image("blurred.jpg"))  # doctest: +SKIP
        >>> a.corr, a.crop
    """
    p = params or AlignParams()
    hw = blurred.shape[:2]
    _check_sizes(sharp.shape[:2], hw, p)
    sharp = _resize_to(sharp, hw)

    scale = min(1.0, p.work_size / max(hw))
    start, corr, h_full = _best_homography(sharp, blurred, scale, p)
    x, y, w, hgt = _crop_rect(_valid_mask(h_full, hw, hw, margin=1.0), max(1, int(np.ceil(max(hw) / 256))))
    overlap = (w * hgt) / float(hw[0] * hw[1])
    if overlap < p.min_overlap:
        raise AlignmentRejected("low_overlap", f"crop keeps {overlap:.0%} of the frame < {p.min_overlap:.0%}")
    if corr < p.min_corr:
        raise AlignmentRejected("low_corr", f"ECC correlation {corr:.3f} < {p.min_corr} (start: {start})")

    region = (slice(y, y + hgt), slice(x, x + w))
    blur_crop = blurred[region]
    warped, gain, offset = _warp_matched(sharp, blur_crop, h_full, (x, y, w, hgt), scale, p.color)
    return Alignment(sharp=warped, blurred=blur_crop, sharp_resized=sharp[region], homography=h_full, corr=corr,
                     start=start, crop=(x, y, w, hgt), overlap=overlap, gain=gain, offset=offset)
