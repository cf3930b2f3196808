"""Homography of one blurred/sharp pair, estimated on grayscale work copies: ECC coarse-to-fine over a small pyramid,
started from the identity, a phase-correlation shift and SIFT matches + RANSAC; the plausibility check of a
homography; and the warps and masks that apply one (step 2 of `edge_deblur.align`).

Work copies in, the best homography out; what is accepted or rejected is decided in `edge_deblur.registration`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from edge_deblur.registration import AlignParams


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
    # linear scale = sqrt(local area scale |J|), |J| = det(H) / w^3 at the corners (H normalised so h33 = 1)
    scales = np.sqrt(np.abs(np.linalg.det(h) / p[2] ** 3))
    if scales.min() < 1.0 / max_scale or scales.max() > max_scale:
        return f"scale {scales.min():.2f}-{scales.max():.2f} outside [{1 / max_scale:.2f}, {max_scale:.2f}]"
    return None


def _ecc_starts(tmpl: np.ndarray, inp: np.ndarray, p: AlignParams) -> dict[str, np.ndarray]:
    """ECC starts tmpl -> inp: the identity, a phase-correlation shift (large hand-held offsets) when not about zero,
    and with `p.features` a plausible SIFT + RANSAC homography."""
    starts = {"identity": np.eye(3)}
    h_shift = _shift_start(tmpl, inp)
    if h_shift is not None:
        starts["shift"] = h_shift
    if p.features:
        h_feat = _feature_start(tmpl, inp)
        if h_feat is not None and _check_homography(h_feat, tmpl.shape, p.max_scale) is None:
            starts["features"] = h_feat
    return starts


def _ecc_from_starts(tmpl: np.ndarray, inp: np.ndarray, p: AlignParams
                     ) -> tuple[tuple[str, float, np.ndarray] | None, dict[str, tuple[str, str]]]:
    """ECC from every start; the plausible result that correlates best over the valid region.

    Returns:
        ((start name, correlation, work-size homography) or None when no start gave a plausible homography,
        {start name: (reject reason, detail)} for the starts that failed).
    """
    import cv2

    work_hw = tmpl.shape
    starts = _ecc_starts(tmpl, inp, p)
    sig = p.smooth_sigma
    ts, si = _smooth(tmpl, sig), _smooth(inp, sig)
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
        corr = _ncc(ts, _warp(si, h, work_hw), mask)
        if best is None or corr > best[1]:
            best = (name, corr, h)
    return best, failures
