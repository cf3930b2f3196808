"""PSNR and SSIM on numpy arrays: the one definition used by training reports, export checks and benchmarks.

Both take RGB images in [0, 1] (data_range=1). SSIM follows Wang et al. (2004) with the conventions of
`skimage.metrics.structural_similarity(..., channel_axis=-1, data_range=1)`: 7x7 uniform window, sample
covariance, K1=0.01, K2=0.03, mean over the valid interior and over channels.
"""

from __future__ import annotations

import numpy as np


def _check(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    return a, b


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 1.0, rows: int = 256) -> float:
    """Peak signal-to-noise ratio in dB between two images of equal shape (inf when identical).

    The squared error is summed in float64 over strips of `rows` rows, so a 12 MP photo needs no float64 copy.
    """
    a, b = _check(a, b)
    sse = sum(float(np.sum(np.square(a[y : y + rows].astype(np.float64) - b[y : y + rows])))
              for y in range(0, max(len(a), 1), rows))
    mse = sse / max(a.size, 1)
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / mse))


def window_sums(x: np.ndarray, win: int, dtype=None) -> np.ndarray:
    """Sum over every win x win window of the first two axes ('valid' region only), from running sums in `dtype`
    (default: the one `np.cumsum` gives `x`). Unsigned running sums may wrap around: the window sums still come
    out exact while each is below the dtype's range, since the differences are taken modulo it."""
    c = np.zeros((x.shape[0] + 1, x.shape[1] + 1) + x.shape[2:], dtype or np.cumsum(x[:0, :0]).dtype)
    np.cumsum(x, axis=0, dtype=c.dtype, out=c[1:, 1:])
    np.cumsum(c[1:, 1:], axis=1, dtype=c.dtype, out=c[1:, 1:])
    return c[win:, win:] - c[:-win, win:] - c[win:, :-win] + c[:-win, :-win]


def _box(x: np.ndarray, win: int) -> np.ndarray:
    """Mean over every win x win window of the first two axes ('valid' region only)."""
    return window_sums(x, win) / (win * win)


def _ssim_map(a: np.ndarray, b: np.ndarray, data_range: float, win: int) -> np.ndarray:
    """The SSIM map over the valid windows of two 2-D float64 arrays."""
    n = win * win
    cov_norm = n / (n - 1.0)
    ux, uy = _box(a, win), _box(b, win)
    uxx, uyy, uxy = _box(a * a, win), _box(b * b, win), _box(a * b, win)
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    return ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0, win_size: int = 7, rows: int = 128) -> float:
    """Structural similarity of two images (HxW or HxWxC), averaged over channels.

    Computed channel by channel over horizontal strips of `rows` windows that overlap by the window, so every
    window is counted once and large photos need little memory; the result equals the whole-image computation.

    Raises:
        ValueError: shapes differ or the image is smaller than the window.
    """
    a, b = _check(a, b)
    if min(a.shape[:2]) < win_size:
        raise ValueError(f"image {a.shape[:2]} is smaller than the {win_size}x{win_size} SSIM window")
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    valid_rows = a.shape[0] - win_size + 1
    means = []
    for c in range(a.shape[2]):
        total = 0.0
        for y in range(0, valid_rows, rows):
            y1 = min(a.shape[0], y + rows + win_size - 1)
            strip = _ssim_map(a[y:y1, :, c].astype(np.float64), b[y:y1, :, c].astype(np.float64), data_range, win_size)
            total += float(strip.sum())
        # skimage averages the map with a border of (win_size-1)//2 removed: exactly our 'valid' windows
        means.append(total / (valid_rows * (a.shape[1] - win_size + 1)))
    return float(np.mean(means))


def psnr_ssim(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(PSNR, SSIM) of `a` against reference `b`, both float RGB in [0, 1]."""
    return psnr(a, b), ssim(a, b)
