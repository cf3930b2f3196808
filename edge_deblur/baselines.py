"""Reference rows for every benchmark table: doing nothing (identity) and classical deconvolution.

A learned deblurrer is only worth its bytes if it beats these. The classical baseline is Richardson-Lucy
deconvolution from scikit-image with the disc PSF of `edge_deblur.blur`, run in linear light (where the blur was
applied) on a reflect-padded image so the FFT's wrap-around does not ring at the borders. On synthetic protocols
it is given the TRUE radius (the strongest honest version of it); on real pairs, whose blur is unknown, it gets an
assumed radius, and its label says so.

Example:
    >>> from edge_deblur.baselines import deconvolve
    >>> restored = deconvolve(blurred, radius=3)            # float32 HxWx3 in [0, 1]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from edge_deblur.errors import EdgeDeblurError

# Tuned on CBSD68 training photos (never on the Kodak test set) at radius 2-4, noise 1/255: PSNR rises up to about
# 100 iterations and then falls as noise is amplified.
RL_ITERATIONS = 100
WIENER_BALANCE = 0.01
ASSUMED_RADIUS = 3.0  # used when the true blur is unknown (real photo pairs)


def identity(blurred: np.ndarray, radius: float | None = None) -> np.ndarray:
    """Return the blurred input unchanged (as float32): the 'do nothing' row every table must show."""
    return np.asarray(blurred, dtype=np.float32)


def _per_channel_padded(img: np.ndarray, pad: int, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply `fn` to each channel of a reflect-padded copy of `img` and crop the padding off again."""
    x = np.pad(img, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    out = np.stack([fn(x[..., c]) for c in range(x.shape[2])], axis=-1)
    return out[pad:-pad, pad:-pad]


def _check_image(img: np.ndarray) -> np.ndarray:
    """Validate an HxWx3 float image and return it as float32."""
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise EdgeDeblurError(f"deconvolution expects an HxWx3 RGB image, got shape {img.shape}")
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    return img.astype(np.float32, copy=False)


def deconvolve(
    blurred: np.ndarray,
    radius: float,
    method: str = "richardson_lucy",
    iterations: int = RL_ITERATIONS,
    balance: float = WIENER_BALANCE,
) -> np.ndarray:
    """Deblur a defocused image by classical deconvolution with a disc PSF.

    The image is decoded to linear light, reflect-padded, deconvolved channel by channel with
    `edge_deblur.blur.disc_psf(radius)`, cropped and encoded back to sRGB.

    Args:
        blurred: HxWx3 sRGB image, float32 in [0, 1] or uint8.
        radius: disc radius in pixels (the true one when known); 0 returns the input.
        method: "richardson_lucy" (scikit-image `richardson_lucy`) or "wiener" (scikit-image `wiener`).
        iterations: Richardson-Lucy iterations.
        balance: Wiener regularisation weight.

    Returns:
        The restored image, float32 HxWx3 in [0, 1].

    Raises:
        EdgeDeblurError: unknown method, negative radius or not an RGB image.
    """
    from skimage import restoration

    from edge_deblur.blur import disc_psf, linear_to_srgb, srgb_to_linear

    img = _check_image(blurred)
    if method not in METHODS:
        raise EdgeDeblurError(f"unknown deconvolution method '{method}'; choose one of: {', '.join(METHODS)}")
    if radius is None or radius < 0 or not math.isfinite(radius):
        raise EdgeDeblurError(f"deconvolution needs a radius >= 0, got {radius}")
    if radius < 1e-6:
        return img.copy()
    # float32 throughout: scikit-image keeps the input dtype, and float64 Richardson-Lucy is many times slower
    psf = disc_psf(radius).astype(np.float32)
    pad = min(4 * math.ceil(radius) + 8, min(img.shape[:2]) - 1)
    lin = srgb_to_linear(img)
    if method == "richardson_lucy":
        def fn(ch):
            return restoration.richardson_lucy(np.clip(ch, 1e-4, 1.0), psf, num_iter=iterations, clip=False)
    else:
        def fn(ch):
            return restoration.wiener(ch, psf, balance, clip=False)
    out = _per_channel_padded(lin, pad, fn)
    return linear_to_srgb(np.clip(out, 0.0, 1.0))


METHODS = ("richardson_lucy", "wiener")


@dataclass(frozen=True)
class Baseline:
    """A reference row: a name for tables, a restore function and whether it uses the true blur radius.

    Attributes:
        name: row label, e.g. "richardson-lucy (true PSF)".
        fn: restore(blurred, radius) -> float32 image.
        true_psf: True when `fn` is given each pair's true radius; False when it uses `assumed_radius`.
        assumed_radius: the radius used when the true one is unknown (or not given).
        note: one sentence for the table notes.
    """

    name: str
    fn: Callable[[np.ndarray, float | None], np.ndarray]
    true_psf: bool
    assumed_radius: float | None
    note: str

    def __call__(self, blurred: np.ndarray, radius: float | None = None) -> np.ndarray:
        """Restore `blurred`; `radius` is the true one when known (ignored when `true_psf` is False)."""
        r = radius if (self.true_psf and radius is not None) else self.assumed_radius
        return self.fn(blurred, r)


def classical_baseline(true_psf: bool, method: str = "richardson_lucy",
                       assumed_radius: float = ASSUMED_RADIUS, radius_known: bool = False) -> Baseline:
    """The classical deconvolution row for a benchmark.

    Args:
        true_psf: give the deconvolution each pair's true disc radius (synthetic protocols), or use
            `assumed_radius` for every image (real pairs, blur unknown).
        method: a name from `METHODS`.
        assumed_radius: radius in pixels used when the true one is not given.
        radius_known: with `true_psf=False`, whether the data's true radius is known (synthetic blur) and only
            withheld from the deconvolution; says so in the note rather than calling the blur unknown.

    Returns:
        A `Baseline` whose name says which PSF it was given.

    Raises:
        EdgeDeblurError: unknown method.
    """
    if method not in METHODS:
        raise EdgeDeblurError(f"unknown deconvolution method '{method}'; choose one of: {', '.join(METHODS)}")
    label = method.replace("_", "-")
    detail = f"{RL_ITERATIONS} iterations" if method == "richardson_lucy" else f"balance {WIENER_BALANCE}"
    if true_psf:
        name = f"{label} (true PSF)"
        note = (f"{name}: scikit-image {method}, {detail}, in linear light with the true disc PSF of each pair: "
                "an upper bound for classical deconvolution, since real blur is never known exactly.")
    else:
        name = f"{label} (assumed r={assumed_radius:g})"
        note = (f"{name}: scikit-image {method}, {detail}, with a disc PSF of assumed radius {assumed_radius:g} px "
                + ("for every image (each pair's true radius is known but not given to it: what a user who does "
                   "not know the blur gets)." if radius_known else
                   "for every image (the true blur of these pairs is unknown)."))

    def fn(blurred, radius):
        return deconvolve(blurred, radius, method=method)

    return Baseline(name, fn, true_psf, None if true_psf else float(assumed_radius), note)


IDENTITY = Baseline("identity (blurred input)", identity, False, None,
                    "identity (blurred input): the blurred image scored against the sharp one; what doing nothing "
                    "gives.")
