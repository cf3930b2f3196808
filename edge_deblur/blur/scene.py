"""Realistic defocus: blur that varies with depth, occlusion at depth edges, lens PSFs, sensor noise, JPEG.

A scene is drawn from a sharp photo as depth layers, far to near:
- the background is the photo itself on a tilted depth plane, so its blur radius varies smoothly over the image
  and may cross the focal plane (a band of radius 0, in focus);
- 0-3 foreground objects (soft-edged ellipses and polygons textured with another part of the photo) float in
  front of it at their own depths, sometimes in focus in front of a blurred background, sometimes blurred over a
  sharp one.
Layers are blurred in linear light and composited front over back with their blurred coverage (alpha), so a
blurred near object spreads over the background and a sharp object cuts cleanly into a blurred one. The sharp
target is the same composite without blur. Noise is added in linear light (shot noise proportional to the signal
plus read noise), then sRGB encoding, optionally a phone camera's processing (`edge_deblur.blur.isp`: chroma noise
reduction and cored sharpening, on the blurred image only), 8-bit rounding and, sometimes, JPEG.

Every draw comes from the `numpy.random.Generator` passed in, so a seed fixes the pair exactly.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from edge_deblur.blur.checks import check_probability, check_range
from edge_deblur.blur.isp import CameraISP, camera_isp
from edge_deblur.blur.lens import LensShape, channel_radii, lens_psf
from edge_deblur.errors import DataError

# Radii (px) at which a layer is blurred; pixels in between interpolate linearly between two neighbouring levels.
LEVELS = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.5, 7.0, 9.0, 11.5, 14.0, 17.0, 20.0, 24.0])


@dataclass(frozen=True)
class SceneBlurConfig:
    """Random depth-varying defocus used to synthesise realistic training pairs.

    Attributes:
        max_radius: largest blur radius in pixels (at the training scale), in [0.5, 24]; it caps `flat_radius`
            too.
        flat_prob: chance of a flat scene: one depth (radius drawn from `flat_radius`), no objects, and half the
            time the ideal hard disc: the uniform blur of the synthetic benchmark is a special case of real defocus.
        objects: (min, max) number of foreground objects.
        sharp_object_prob: chance that an object is in focus (radius 0) in front of a blurred background.
        soft: (min, max) PSF edge softness; rim: (min, max) rim profile; ellipticity: (min, max).
        cateye_prob: chance of a cat's-eye (clipped) PSF; cateye: (min, max) clip offset in radii.
        chroma_prob: chance of chromatic aberration; chroma: (min, max) relative radius difference of red and
            blue against green.
        shot: (min, max) shot-noise variance per unit of linear signal.
        read: (min, max) read-noise sigma in linear light.
        jpeg_prob: chance of JPEG re-compression; jpeg_quality: (min, max) quality.
        isp: a phone camera's processing of the blurred image (off unless `isp.prob` > 0; with it off, a seed
            renders the same pairs as before it existed).
    """

    max_radius: float = 16.0
    flat_prob: float = 0.3
    flat_radius: tuple[float, float] = (0.5, 6.0)
    objects: tuple[int, int] = (0, 3)
    sharp_object_prob: float = 0.3
    soft: tuple[float, float] = (0.0, 0.3)
    rim: tuple[float, float] = (-0.3, 0.6)
    ellipticity: tuple[float, float] = (0.0, 0.12)
    cateye_prob: float = 0.3
    cateye: tuple[float, float] = (0.1, 0.5)
    chroma: tuple[float, float] = (0.0, 0.05)
    chroma_prob: float = 0.4
    shot: tuple[float, float] = (0.0, 4e-4)
    read: tuple[float, float] = (0.0, 2e-3)
    jpeg_prob: float = 0.3
    jpeg_quality: tuple[int, int] = (75, 95)
    isp: CameraISP = CameraISP()

    def __post_init__(self) -> None:
        """Refuse settings outside their ranges, naming the field and the value.

        Raises:
            DataError: max_radius outside [0.5, 24] px, a probability outside [0, 1], a reversed or out-of-range
                (min, max) pair.
        """
        top = float(LEVELS[-1])
        if not 0.5 <= self.max_radius <= top:  # NaN fails too
            raise DataError(f"SceneBlurConfig.max_radius {self.max_radius:g}: must be in [0.5, {top:g}] px (the "
                            "blur stack's largest level)")
        for name in ("flat_prob", "sharp_object_prob", "cateye_prob", "chroma_prob", "jpeg_prob"):
            check_probability(f"SceneBlurConfig.{name}", getattr(self, name))
        for name, (low, high, high_open) in _RANGES.items():
            check_range(f"SceneBlurConfig.{name}", getattr(self, name), low, high, high_open=high_open)

    @property
    def margin(self) -> int:
        """Pixels of real context needed around a crop so its blur does not see the border."""
        return int(math.ceil(self.max_radius * (1 + self.ellipticity[1]) * (1 + self.soft[1]))) + 2

    def pair(self, img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(blurred, sharp) from a sharp sRGB float image: see the module docstring."""
        return render_scene(img, self, rng)


# (low, high, high bound excluded) of each (min, max) field of SceneBlurConfig; the lens ones as `lens_psf` takes them
_RANGES = {
    "flat_radius": (0.0, float(LEVELS[-1]), False), "objects": (0, 10, False), "soft": (0.0, 1.0, False),
    "rim": (-0.9, 0.9, False), "ellipticity": (0.0, 0.5, True), "cateye": (0.0, 1.0, False),
    "chroma": (0.0, 1.0, False), "shot": (0.0, 1.0, False), "read": (0.0, 1.0, False),
    "jpeg_quality": (1, 100, False),
}


def _skewed(rng: np.random.Generator, hi: float, power: float = 1.5) -> float:
    """A value in [0, hi] that favours small ones (most of a photo is near focus)."""
    return hi * float(rng.random()) ** power


def _shape(rng: np.random.Generator, cfg: SceneBlurConfig) -> LensShape:
    return LensShape(
        soft=float(rng.uniform(*cfg.soft)),
        rim=float(rng.uniform(*cfg.rim)),
        ellipticity=float(rng.uniform(*cfg.ellipticity)),
        angle=float(rng.uniform(0, math.pi)),
        cateye=float(rng.uniform(*cfg.cateye)) if rng.random() < cfg.cateye_prob else 0.0,
    )


def depth_plane(h: int, w: int, max_radius: float, rng: np.random.Generator) -> np.ndarray:
    """Blur radius over a tilted plane: |offset + gradient . position|, clipped to [0, max_radius].

    The plane crosses the focal plane (radius 0) inside the image whenever |offset| < |gradient|.
    """
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy, xx = 2 * yy / max(h - 1, 1) - 1, 2 * xx / max(w - 1, 1) - 1
    theta = rng.uniform(0, 2 * math.pi)
    grad = _skewed(rng, 0.8 * max_radius, 1.0)
    offset = _skewed(rng, max_radius) * (1 if rng.random() < 0.5 else -1)
    signed = offset + grad * (math.cos(theta) * xx + math.sin(theta) * yy)
    return np.clip(np.abs(signed), 0, max_radius).astype(np.float32)


def object_mask(h: int, w: int, rng: np.random.Generator, supersample: int = 4) -> np.ndarray:
    """A soft-edged (anti-aliased) random ellipse or polygon covering part of an h x w frame, values in [0, 1]."""
    import cv2

    big = np.zeros((h * supersample, w * supersample), np.uint8)
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    size = rng.uniform(0.15, 0.6) * min(h, w)
    if rng.random() < 0.5:
        axes = (int(size * supersample), int(size * rng.uniform(0.4, 1.0) * supersample))
        cv2.ellipse(big, (int(cx * supersample), int(cy * supersample)), axes, float(rng.uniform(0, 180)), 0, 360,
                    255, -1)
    else:
        n = int(rng.integers(3, 8))
        angles = np.sort(rng.uniform(0, 2 * math.pi, n))
        radii = size * rng.uniform(0.5, 1.2, n)
        pts = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], -1) * supersample
        cv2.fillPoly(big, [pts.astype(np.int32)], 255)
    return cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


@functools.lru_cache(maxsize=512)
def _psf(radius: float, shape: LensShape) -> np.ndarray:
    return lens_psf(radius, shape, oversample=4)


def _blur_rgba(rgba: np.ndarray, radius: float, shape: LensShape, chroma: float) -> np.ndarray:
    """Blur premultiplied RGBA (linear light): each colour at its own radius, alpha at green's."""
    from edge_deblur.blur import convolve

    if chroma == 0:
        return convolve(rgba, _psf(round(radius, 2), shape))
    radii = channel_radii(radius, chroma) + (radius,)
    out = np.empty_like(rgba)
    for c, r in enumerate(radii):
        out[..., c] = convolve(rgba[..., c : c + 1], _psf(round(r, 2), shape)).reshape(out.shape[:2])
    return out


def blur_varying(rgba: np.ndarray, radius_map: np.ndarray, shape: LensShape, chroma: float) -> np.ndarray:
    """Blur premultiplied RGBA with a radius that varies per pixel (a blur stack at `LEVELS`, interpolated)."""
    r = np.clip(radius_map, 0, LEVELS[-1])
    if float(r.max() - r.min()) < 1e-6:  # one depth: exactly the uniform blur at that radius
        return _blur_rgba(rgba, float(r.flat[0]), shape, chroma)
    hi = np.clip(np.searchsorted(LEVELS, r, side="right"), 1, len(LEVELS) - 1)
    lo = hi - 1
    t = ((r - LEVELS[lo]) / (LEVELS[hi] - LEVELS[lo]))[..., None].astype(np.float32)
    out = np.zeros_like(rgba)
    for level in range(int(lo.min()), int(hi.max()) + 1):
        weight = np.where(lo == level, 1 - t[..., 0], 0) + np.where(hi == level, t[..., 0], 0)
        if not weight.any():
            continue
        out += _blur_rgba(rgba, float(LEVELS[level]), shape, chroma) * weight[..., None]
    return out


def add_sensor_noise(linear: np.ndarray, shot: float, read: float, rng: np.random.Generator) -> np.ndarray:
    """Signal-dependent Gaussian noise in linear light: variance = shot * signal + read^2."""
    if shot <= 0 and read <= 0:
        return linear
    sigma = np.sqrt(np.clip(linear, 0, 1) * shot + read * read)
    return linear + rng.standard_normal(linear.shape).astype(np.float32) * sigma


def composite(lin: np.ndarray, radius_map: np.ndarray, objects: Sequence[tuple[np.ndarray, np.ndarray, float]],
              shape: LensShape = LensShape(), chroma: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Blur and composite depth layers in linear light, far to near.

    Args:
        lin: background, HxWx3 linear light; its blur radius per pixel is `radius_map` (HxW).
        radius_map: background radius in px per pixel.
        objects: (alpha HxW in [0, 1], texture HxWx3 linear, radius) per foreground object, far to near.
        shape: the lens PSF shape; chroma: relative red/blue radius difference.

    Returns:
        (blurred, sharp), both HxWx3 linear light: each object's blurred coverage hides what lies behind it.
    """
    h, w = lin.shape[:2]
    rgba = np.concatenate([lin, np.ones((h, w, 1), np.float32)], -1)
    blurred = blur_varying(rgba, radius_map, shape, chroma)[..., :3]
    sharp = lin.copy()
    for alpha, texture, radius in objects:
        a = alpha[..., None].astype(np.float32)
        over = _blur_rgba(np.concatenate([texture * a, a], -1), radius, shape, chroma)
        blurred = blurred * (1 - over[..., 3:]) + over[..., :3]
        sharp = sharp * (1 - a) + texture * a
    return blurred, sharp


def _random_objects(lin: np.ndarray, cfg: SceneBlurConfig, rng: np.random.Generator) -> list:
    """Foreground objects: random soft masks textured with a shifted (sometimes mirrored) copy of the photo."""
    h, w = lin.shape[:2]
    objects = []
    for _ in range(int(rng.integers(cfg.objects[0], cfg.objects[1] + 1))):
        alpha = object_mask(h, w, rng)
        texture = np.roll(lin, (int(rng.integers(h)), int(rng.integers(w))), axis=(0, 1))
        if rng.random() < 0.5:
            texture = texture[:, ::-1]
        radius = 0.0 if rng.random() < cfg.sharp_object_prob else max(0.5, _skewed(rng, cfg.max_radius, 1.0))
        objects.append((alpha, texture, radius))
    return objects


def render_scene(img: np.ndarray, cfg: SceneBlurConfig, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Draw a layered depth scene from `img` (HxWx3 sRGB in [0, 1]) and return (blurred, sharp), both sRGB.

    Both outputs have the input's size; callers crop away `cfg.margin` pixels per side to avoid border effects.
    """
    from edge_deblur.blur import jpeg_roundtrip, linear_to_srgb, srgb_to_linear

    h, w = img.shape[:2]
    lin = srgb_to_linear(img)
    shape = _shape(rng, cfg)
    chroma = float(rng.uniform(*cfg.chroma)) if rng.random() < cfg.chroma_prob else 0.0
    if rng.random() < cfg.flat_prob:
        low, high = (min(r, cfg.max_radius) for r in cfg.flat_radius)  # never beyond max_radius (nor its margin)
        radius_map = np.full((h, w), rng.uniform(low, high), np.float32)
        objects = []
        if rng.random() < 0.5:
            shape, chroma = LensShape(), 0.0
    else:
        radius_map = depth_plane(h, w, cfg.max_radius, rng)
        objects = _random_objects(lin, cfg, rng)
    blurred, sharp = composite(lin, radius_map, objects, shape, chroma)
    noisy = add_sensor_noise(blurred, float(rng.uniform(*cfg.shot)), float(rng.uniform(*cfg.read)), rng)
    out = np.round(camera_isp(linear_to_srgb(noisy), cfg.isp, rng) * 255.0) / 255.0
    if rng.random() < cfg.jpeg_prob:
        out = jpeg_roundtrip(out, int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1)))
    return out.astype(np.float32), linear_to_srgb(sharp)
