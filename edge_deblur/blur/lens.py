"""Lens point-spread functions beyond the hard disc: soft or bright rims, elliptical and cat's-eye apertures.

Real defocus PSFs are not perfect uniform discs. Spherical aberration makes the rim brighter (or the centre
brighter, on the other side of focus), diffraction and the sensor's micro-lenses soften the edge, and off the
optical axis the lens barrel clips the disc into a cat's eye (the intersection of two discs) that also looks
slightly elliptical. Longitudinal chromatic aberration gives each colour channel a slightly different radius.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LensShape:
    """Shape parameters of one defocus PSF (all dimensionless; 0 everywhere gives the anti-aliased hard disc).

    Attributes:
        soft: width of the edge fall-off as a fraction of the radius (0 = hard edge).
        rim: brightness profile, weight 1 + rim * (rho^2 - 0.5) with rho the normalised radius: > 0 brighter rim,
            < 0 brighter centre. Kept in [-0.9, 0.9] so every weight stays positive.
        ellipticity: 0 = circle; e stretches one axis by (1 + e) and squeezes the other by (1 - e).
        angle: orientation of the ellipse and of the cat's-eye clip, radians.
        cateye: offset of the clipping disc in radii (0 = no clipping; 0.5 removes a visible crescent).
    """

    soft: float = 0.0
    rim: float = 0.0
    ellipticity: float = 0.0
    angle: float = 0.0
    cateye: float = 0.0


def lens_psf(radius: float, shape: LensShape = LensShape(), oversample: int = 8) -> np.ndarray:
    """A defocus PSF of `radius` pixels with the given lens shape, sampled by area on a sub-pixel grid.

    Args:
        radius: radius of the (unclipped, circular) blur disc in pixels; below 0.5 px the identity [[1]].
        shape: soft edge, rim profile, ellipticity and cat's-eye clipping.
        oversample: sub-samples per pixel side.

    Returns:
        Square float64 kernel of odd size whose taps are >= 0 and sum to 1.

    Raises:
        ValueError: negative radius, or shape values outside their ranges.
    """
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    if not (abs(shape.rim) <= 0.9 and 0 <= shape.ellipticity < 0.5 and 0 <= shape.cateye <= 1 and shape.soft >= 0):
        raise ValueError(f"lens shape out of range: {shape}")
    if radius < 0.5:
        return np.ones((1, 1))
    reach = radius * (1 + shape.ellipticity) * (1 + shape.soft) + 1
    half = int(math.ceil(reach))
    offsets = (np.arange(oversample) + 0.5) / oversample - 0.5
    sub = (np.arange(-half, half + 1)[:, None] + offsets[None, :]).ravel()
    yy, xx = np.meshgrid(sub, sub, indexing="ij")
    c, s = math.cos(shape.angle), math.sin(shape.angle)
    u, v = c * xx + s * yy, -s * xx + c * yy  # rotated into the ellipse's axes
    rho = np.hypot(u / (1 + shape.ellipticity), v / (1 - shape.ellipticity)) / radius
    weight = _edge(rho, shape.soft)
    weight *= np.clip(1 + shape.rim * (np.minimum(rho, 1.0) ** 2 - 0.5), 0, None)
    if shape.cateye > 0:  # clip by a second disc of the same radius, shifted along the ellipse's long axis
        clip = np.hypot(u - shape.cateye * radius, v) / radius
        weight *= _edge(clip, shape.soft)
    n = 2 * half + 1
    kernel = weight.reshape(n, oversample, n, oversample).mean(axis=(1, 3))
    total = kernel.sum()
    if total <= 0:  # cannot happen for valid shapes; guards a division by zero
        return np.ones((1, 1))
    return kernel / total


def _edge(rho: np.ndarray, soft: float) -> np.ndarray:
    """1 inside the unit radius, 0 outside; with `soft` > 0 a smooth (raised-cosine) fall-off of that width."""
    if soft <= 0:
        return (rho <= 1.0).astype(np.float64)
    t = np.clip((rho - (1 - soft / 2)) / soft, 0.0, 1.0)
    return 0.5 + 0.5 * np.cos(np.pi * t)


def channel_radii(radius: float, chroma: float) -> tuple[float, float, float]:
    """R, G, B radii for longitudinal chromatic aberration: red and blue `chroma` (a fraction) either side of green."""
    return (max(0.0, radius * (1 + chroma)), radius, max(0.0, radius * (1 - chroma)))
