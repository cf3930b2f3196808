"""Registration of one blurred/sharp photo pair: a homography that warps the sharp photo into the blurred photo's
frame, the largest rectangle the warp covers, and an exposure/colour match (steps 2-5 of `edge_deblur.align`).

Images in, `Alignment` out; files, datasets and reports live in `edge_deblur.align`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from edge_deblur.errors import DataError

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


def _to_gray(img: np.ndarray, scale: float) -> np.ndarray:
    """Float RGB [0,1] -> float32 luma resized by `scale` (area averaging)."""
    import cv2

    g = cv2.cvtColor(np.ascontiguousarray(img, dtype=np.float32), cv2.COLOR_RGB2GRAY)
    if scale != 1.0:
        h, w = g.shape
        g = cv2.resize(g, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return g


def _smooth(g: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(g, (0, 0), sigma) if sigma > 0 else g


def _rescale_h(h: np.ndarray, fx: float, fy: float) -> np.ndarray:
    """Homography between two images of one size -> the same between both images resized by (fx, fy), with pixel
    centres kept (x' = fx * (x + 0.5) - 0.5). Use the exact per-axis ratios of the resized sizes: rounding a
    1365 px side to 427 px moves the far edge by more than a pixel at full resolution otherwise."""
    s = np.array([[fx, 0.0, 0.5 * fx - 0.5], [0.0, fy, 0.5 * fy - 0.5], [0.0, 0.0, 1.0]])
    return s @ h @ np.linalg.inv(s)


def _warp(img: np.ndarray, h: np.ndarray, size_hw: tuple[int, int], interp: int | None = None) -> np.ndarray:
    """Sample `img` at h @ (x, y, 1) for every pixel of an output of `size_hw` (h maps output -> input)."""
    import cv2

    interp = cv2.INTER_LINEAR if interp is None else interp
    return cv2.warpPerspective(img, h, (size_hw[1], size_hw[0]), flags=interp | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _valid_mask(h: np.ndarray, src_hw: tuple[int, int], size_hw: tuple[int, int], margin: float = 1.0) -> np.ndarray:
    """Pixels of the output whose source position lies at least `margin` px inside the source image."""
    out = np.empty(size_hw, dtype=bool)
    xs = np.arange(size_hw[1], dtype=np.float64)
    for y0 in range(0, size_hw[0], 256):  # row chunks keep memory small at 12 MP
        ys = np.arange(y0, min(size_hw[0], y0 + 256), dtype=np.float64)[:, None]
        w = h[2, 0] * xs + h[2, 1] * ys + h[2, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            u = (h[0, 0] * xs + h[0, 1] * ys + h[0, 2]) / w
            v = (h[1, 0] * xs + h[1, 1] * ys + h[1, 2]) / w
        out[y0:y0 + len(ys)] = ((w > 0) & (u >= margin) & (v >= margin) & (u <= src_hw[1] - 1 - margin)
                                & (v <= src_hw[0] - 1 - margin))
    return out


def _ncc(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Zero-mean normalised cross-correlation of a and b over mask (the quantity ECC maximises)."""
    if mask.sum() < 16:
        return -1.0
    a = a[mask].astype(np.float64)
    b = b[mask].astype(np.float64)
    a -= a.mean()
    b -= b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else -1.0


def _ecc_pyramid(tmpl: np.ndarray, inp: np.ndarray, h0: np.ndarray, p: AlignParams) -> np.ndarray:
    """Coarse-to-fine ECC homography (maps tmpl pixels -> inp pixels), starting from `h0` at full work size.

    Raises:
        cv2.error: ECC did not converge at some level.
    """
    import cv2

    levels = max(1, min(p.levels, int(np.log2(max(tmpl.shape) / 64)) + 1))
    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, p.iterations, 1e-6)
    h = h0
    for k in range(levels - 1, -1, -1):
        t = _to_gray_level(tmpl, 0.5**k, p.smooth_sigma)
        i = _to_gray_level(inp, 0.5**k, p.smooth_sigma)
        fx, fy = t.shape[1] / tmpl.shape[1], t.shape[0] / tmpl.shape[0]
        hk = _rescale_h(h, fx, fy)
        _, hk = cv2.findTransformECC(t, i, (hk / hk[2, 2]).astype(np.float32), cv2.MOTION_HOMOGRAPHY, crit, None, 1)
        h = _rescale_h(hk.astype(np.float64), 1.0 / fx, 1.0 / fy)
    return h / h[2, 2]


def _to_gray_level(g: np.ndarray, f: float, sigma: float) -> np.ndarray:
    """A pyramid level of a work copy: area-downscaled by f, then smoothed."""
    import cv2

    if f != 1.0:
        g = cv2.resize(g, (max(8, round(g.shape[1] * f)), max(8, round(g.shape[0] * f))), interpolation=cv2.INTER_AREA)
    return _smooth(g, sigma)


def _feature_start(tmpl: np.ndarray, inp: np.ndarray, min_inliers: int = 12) -> np.ndarray | None:
    """Homography tmpl -> inp from SIFT matches (ratio test) + RANSAC, or None when too few inliers."""
    import cv2

    sift = cv2.SIFT_create(nfeatures=4000)
    k1, d1 = sift.detectAndCompute(_u8(tmpl), None)
    k2, d2 = sift.detectAndCompute(_u8(inp), None)
    if d1 is None or d2 is None or len(k1) < min_inliers or len(k2) < min_inliers:
        return None
    matches = cv2.BFMatcher(cv2.NORM_L2).knnMatch(d1, d2, k=2)
    good = [m[0] for m in matches if len(m) == 2 and m[0].distance < 0.75 * m[1].distance]
    if len(good) < min_inliers:
        return None
    p1 = np.float32([k1[m.queryIdx].pt for m in good])
    p2 = np.float32([k2[m.trainIdx].pt for m in good])
    cv2.setRNGSeed(0)  # RANSAC draws from this thread's RNG: seed it so a run does not depend on pair order
    h, inliers = cv2.findHomography(p1, p2, cv2.RANSAC, 3.0)
    if h is None or inliers is None or int(inliers.sum()) < min_inliers:
        return None
    return h / h[2, 2]


def _shift_start(tmpl: np.ndarray, inp: np.ndarray, min_shift: float = 2.0) -> np.ndarray | None:
    """Translation tmpl -> inp by phase correlation of smoothed copies, or None when it is about zero."""
    import cv2

    t, i = _smooth(tmpl, 2.0), _smooth(inp, 2.0)
    win = cv2.createHanningWindow(t.shape[::-1], cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(t, i, win)
    if np.hypot(dx, dy) < min_shift:
        return None
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


def _cv_message(e: Exception) -> str:
    """The human part of an OpenCV error ('... error: (-7:Iterations do not converge) The algorithm ...')."""
    text = " ".join(str(e).split())
    m = re.search(r"\(-?\d+:([^)]*)\)\s*(.*)", text)
    return (f"{m.group(1)}: {m.group(2)}" if m else text or type(e).__name__)[:200]


def _u8(g: np.ndarray) -> np.ndarray:
    return (np.clip(g, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _check_homography(h: np.ndarray, size_hw: tuple[int, int], max_scale: float) -> str | None:
    """Why `h` (output -> source, same-size images) is implausible, or None when it is fine."""
    if not np.all(np.isfinite(h)):
        return "non-finite homography"
    hh, ww = size_hw
    corners = np.array([[0, 0, 1], [ww - 1, 0, 1], [ww - 1, hh - 1, 1], [0, hh - 1, 1]], dtype=np.float64).T
    p = h @ corners
    if np.any(p[2] <= 0):
        return "the horizon of the homography crosses the frame"
    q = (p[:2] / p[2]).T
    edges = np.roll(q, -1, axis=0) - q
    cross = edges[:, 0] * np.roll(edges, -1, axis=0)[:, 1] - edges[:, 1] * np.roll(edges, -1, axis=0)[:, 0]
    if not (np.all(cross > 0) or np.all(cross < 0)):
        return "the warped frame folds over itself"
    if np.all(cross < 0):
        return "the homography mirrors the image"
    # local area scale |J| = det(H) / w^3 at the corners (H normalised so that h33 = 1)
    # linear scale = sqrt(local area scale |J|), |J| = det(H) / w^3 at the corners (H normalised so h33 = 1)
    scales = np.sqrt(np.abs(np.linalg.det(h) / p[2] ** 3))
    if scales.min() < 1.0 / max_scale or scales.max() > max_scale:
        return f"scale {scales.min():.2f}-{scales.max():.2f} outside [{1 / max_scale:.2f}, {max_scale:.2f}]"
    return None


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
    import cv2

    p = params or AlignParams()
    hw = blurred.shape[:2]
    _check_sizes(sharp.shape[:2], hw, p)
    sharp = _resize_to(sharp, hw)

    scale = min(1.0, p.work_size / max(hw))
    tmpl, inp = _to_gray(blurred, scale), _to_gray(sharp, scale)
    work_hw = tmpl.shape

    starts = {"identity": np.eye(3)}
    h_shift = _shift_start(tmpl, inp)
    if h_shift is not None:
        starts["shift"] = h_shift
    if p.features:
        h_feat = _feature_start(tmpl, inp)
        if h_feat is not None and _check_homography(h_feat, work_hw, p.max_scale) is None:
            starts["features"] = h_feat
    sig = p.smooth_sigma
    ts = _smooth(tmpl, sig)
    best, failures = None, {}
    for name, h0 in starts.items():
        try:
            h = _ecc_pyramid(tmpl, inp, h0, p)
        except cv2.error as e:
            failures[name] = ("no_convergence", _cv_message(e))
            continue
        why = _check_homography(h, work_hw, p.max_scale)
        if why is not None:
            failures[name] = ("degenerate", why)
            continue
        mask = _valid_mask(h, work_hw, work_hw)
        corr = _ncc(ts, _warp(_smooth(inp, sig), h, work_hw), mask)
        if best is None or corr > best[1]:
            best = (name, corr, h)
    if best is None:
        reason = "degenerate" if any(r == "degenerate" for r, _ in failures.values()) else "no_convergence"
        raise AlignmentRejected(reason, "; ".join(f"from {k}: {d}" for k, (_, d) in failures.items()))
    start, corr, h_work = best

    h_full = _rescale_h(h_work, hw[1] / work_hw[1], hw[0] / work_hw[0])
    mask = _valid_mask(h_full, hw, hw, margin=1.0)
    block = max(1, int(np.ceil(max(hw) / 256)))
    x, y, w, hgt = _crop_rect(mask, block)
    overlap = (w * hgt) / float(hw[0] * hw[1])
    if overlap < p.min_overlap:
        raise AlignmentRejected("low_overlap", f"crop keeps {overlap:.0%} of the frame < {p.min_overlap:.0%}")
    if corr < p.min_corr:
        raise AlignmentRejected("low_corr", f"ECC correlation {corr:.3f} < {p.min_corr} (start: {start})")

    # warp straight into the crop rectangle: no full-size intermediate
    shift = np.array([[1.0, 0.0, x], [0.0, 1.0, y], [0.0, 0.0, 1.0]])
    warped = _warp(np.ascontiguousarray(sharp), h_full @ shift, (hgt, w), cv2.INTER_CUBIC)
    region = (slice(y, y + hgt), slice(x, x + w))
    blur_crop = blurred[region]
    # colour fit on work-size copies of the crops (the low-pass makes full resolution pointless)
    small = [cv2.resize(im, (max(8, round(w * scale)), max(8, round(hgt * scale))), interpolation=cv2.INTER_AREA)
             for im in (warped, np.ascontiguousarray(blur_crop))]
    lp_sigma = max(1.0, LOWPASS_FRACTION * float(np.hypot(*small[0].shape[:2])))
    gain, offset = COLOR_MATCHERS[p.color](small[0], small[1], lp_sigma)
    warped *= gain.astype(np.float32)
    warped += offset.astype(np.float32)
    np.clip(warped, 0.0, 1.0, out=warped)
    return Alignment(sharp=warped, blurred=blur_crop, sharp_resized=sharp[region], homography=h_full, corr=corr,
                     start=start, crop=(x, y, w, hgt), overlap=overlap, gain=gain, offset=offset)


# --- a folder of pairs ------------------------------------------------------------------------------------------

def _resize_to(img: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Resize a float RGB image to (h, w): area averaging when shrinking, bicubic otherwise."""
    import cv2

    if img.shape[:2] == tuple(hw):
        return img
    interp = cv2.INTER_AREA if img.shape[0] * img.shape[1] > hw[0] * hw[1] else cv2.INTER_CUBIC
    return np.clip(cv2.resize(img, (hw[1], hw[0]), interpolation=interp), 0.0, 1.0)
