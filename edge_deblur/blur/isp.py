"""A phone camera's processing after the optics: chroma noise reduction and cored luma sharpening.

A phone never hands over what its sensor saw: it demosaics, denoises (above all the colour noise), sharpens the
luma with a small unsharp mask that leaves differences under a threshold alone (coring, so flat noise is not
boosted) and encodes a JPEG (the scene model's own last step, chroma subsampled 4:2:0). A defocused phone shot
therefore carries sharpening halos around its blurred edges and little colour noise, which synthetic pairs made by
blurring a finished photo lack. `camera_isp` applies that processing to the synthetic BLURRED image only: the sharp
photo it was made from already went through its own camera once, and a real defocused shot goes through the camera
once after the lens blurred it.

Colour space: JPEG's full-range BT.601 YCbCr on sRGB values, as a phone's encoder sees them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_deblur.blur.checks import check_probability, check_range

# full-range BT.601 (JFIF): Y, Cb, Cr rows
_YCC = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], np.float32)
_RGB = np.linalg.inv(_YCC.astype(np.float64)).astype(np.float32)


def to_ycc(img: np.ndarray) -> np.ndarray:
    """HxWx3 sRGB in [0, 1] -> Y in [0, 1], Cb and Cr centred on 0."""
    return img.astype(np.float32) @ _YCC.T


def from_ycc(ycc: np.ndarray) -> np.ndarray:
    """Inverse of `to_ycc` (not clipped)."""
    return ycc.astype(np.float32) @ _RGB.T


def gaussian(channel: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of an HxW float32 channel (reflected borders); sigma 0 returns a copy."""
    if sigma <= 0:
        return channel.astype(np.float32, copy=True)
    import cv2  # the [train] extra, as all of synthesis

    return cv2.GaussianBlur(np.ascontiguousarray(channel, np.float32), (0, 0), sigmaX=float(sigma),
                            borderType=cv2.BORDER_REFLECT_101)


def _sharpen_y(ycc: np.ndarray, amount: float, sigma: float, threshold: float) -> None:
    """The cored unsharp mask of `sharpen_luma`, on the Y plane of a YCbCr array, in place."""
    y = ycc[..., 0]
    detail = y - gaussian(y, sigma)
    ycc[..., 0] = y + amount * np.sign(detail) * np.maximum(np.abs(detail) - threshold, 0.0)


def _smooth_cbcr(ycc: np.ndarray, sigma: float) -> None:
    """The chroma smoothing of `smooth_chroma`, on the Cb and Cr planes of a YCbCr array, in place."""
    for c in (1, 2):
        ycc[..., c] = gaussian(ycc[..., c], sigma)


def sharpen_luma(img: np.ndarray, amount: float, sigma: float, threshold: float) -> np.ndarray:
    """Cored unsharp mask on the luma: Y + amount * (detail shrunk towards 0 by `threshold`), chroma untouched.

    `detail` is Y minus its Gaussian blur at `sigma` px; differences under `threshold` (in [0, 1] units) are left
    alone and larger ones lose `threshold`, so a flat noisy area stays as noisy as it was.
    """
    ycc = to_ycc(img)
    _sharpen_y(ycc, amount, sigma, threshold)
    return from_ycc(ycc)


def smooth_chroma(img: np.ndarray, sigma: float) -> np.ndarray:
    """Chroma noise reduction: Cb and Cr blurred at `sigma` px, luma untouched."""
    ycc = to_ycc(img)
    _smooth_cbcr(ycc, sigma)
    return from_ycc(ycc)


@dataclass(frozen=True)
class CameraISP:
    """Ranges from which `camera_isp` draws one photo's processing.

    Attributes:
        prob: chance that a synthetic blurred image gets this processing at all.
        amount: (min, max) unsharp-mask gain; phones use roughly 0.3-1.5.
        sigma: (min, max) unsharp-mask radius (Gaussian sigma) in px.
        threshold: (min, max) coring threshold in 8-bit levels.
        chroma: (min, max) sigma in px of the chroma noise reduction (0: none).
    """

    prob: float = 0.0
    amount: tuple[float, float] = (0.3, 1.5)
    sigma: tuple[float, float] = (0.6, 1.6)
    threshold: tuple[float, float] = (0.0, 3.0)
    chroma: tuple[float, float] = (0.0, 2.0)

    def __post_init__(self) -> None:
        """Refuse out-of-range settings (DataError naming the field)."""
        check_probability("CameraISP.prob", self.prob)
        check_range("CameraISP.amount", self.amount, 0.0, 4.0)
        check_range("CameraISP.sigma", self.sigma, 0.0, 8.0)
        check_range("CameraISP.threshold", self.threshold, 0.0, 32.0)
        check_range("CameraISP.chroma", self.chroma, 0.0, 8.0)


def camera_isp(img: np.ndarray, cfg: CameraISP, rng: np.random.Generator) -> np.ndarray:
    """With chance `cfg.prob`, chroma noise reduction then cored luma sharpening of an sRGB image, clipped to [0, 1].

    The draws come from `rng` in a fixed order (one for the chance, four for the settings when it applies), so a
    seed fixes the result; with `prob` 0 the image comes back unchanged and nothing is drawn.
    """
    if cfg.prob <= 0 or not rng.random() < cfg.prob:
        return img
    amount, sigma = rng.uniform(*cfg.amount), rng.uniform(*cfg.sigma)
    threshold, chroma = rng.uniform(*cfg.threshold) / 255.0, rng.uniform(*cfg.chroma)
    ycc = to_ycc(img)  # one trip through YCbCr for both steps
    if chroma > 0:
        _smooth_cbcr(ycc, chroma)
    _sharpen_y(ycc, amount, sigma, threshold)
    return np.clip(from_ycc(ycc), 0.0, 1.0)
