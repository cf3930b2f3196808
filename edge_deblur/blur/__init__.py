"""Physically based defocus blur for making training and benchmark pairs.

A defocused lens spreads each point into a uniform disc (the circle of confusion). We blur in *linear* light
(sRGB decode -> convolve -> sRGB encode), because that is where light adds up, then add sensor noise, round to
8 bits and optionally re-compress as JPEG, as a phone would.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np

from edge_deblur.blur.checks import check_probability, check_range

# Largest disc radius of the synthetic blur, px: wider discs are not a blur a crop-trained model can learn to undo,
# and each crop's PSF would take tens of MB to compute.
MAX_RADIUS = 32.0


def disc_half(radius: float) -> int:
    """Half the side of `disc_psf(radius)` (0 for the identity kernel): the context a crop needs per side."""
    return 0 if radius < 1e-6 else max(1, math.ceil(radius + 0.5) - 1)


def disc_psf(radius: float, oversample: int = 16) -> np.ndarray:
    """Anti-aliased uniform disc point-spread function.

    Each tap holds the fraction of its pixel square covered by a disc of `radius` pixels (estimated on an
    `oversample` x `oversample` sub-grid), normalised so the taps sum to 1.

    Args:
        radius: disc radius in pixels; 0 gives the identity kernel [[1]].
        oversample: sub-samples per pixel side for the coverage estimate.

    Returns:
        Square float64 kernel of odd size, just large enough to hold the disc.

    Raises:
        ValueError: negative radius.
    """
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    if radius < 1e-6:
        return np.ones((1, 1))
    half = disc_half(radius)  # pixel k's square starts at k - 0.5
    offsets = (np.arange(oversample) + 0.5) / oversample - 0.5
    grid = np.arange(-half, half + 1)
    sub = (grid[:, None] + offsets[None, :]).ravel()
    yy, xx = np.meshgrid(sub, sub, indexing="ij")
    inside = (yy**2 + xx**2 <= radius**2).astype(np.float64)
    n = 2 * half + 1
    cover = inside.reshape(n, oversample, n, oversample).mean(axis=(1, 3))
    return cover / cover.sum()


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """Decode sRGB values in [0, 1] to linear light (IEC 61966-2-1)."""
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """Encode linear light in [0, 1] to sRGB (IEC 61966-2-1)."""
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)


def convolve(img: np.ndarray, psf: np.ndarray) -> np.ndarray:
    """Convolve each channel of an HxWxC image with `psf` (FFT, reflected borders, same size out)."""
    if psf.shape == (1, 1):
        return img.astype(np.float32, copy=True)
    try:
        import cv2  # ~50x faster than the FFT for small kernels; optional ([train] extra)
    except ImportError:
        cv2 = None
    if cv2 is not None:
        # filter2D correlates; flipping the kernel makes it a true convolution. REFLECT_101 == numpy 'reflect'.
        return cv2.filter2D(np.ascontiguousarray(img, dtype=np.float32), -1, psf[::-1, ::-1].astype(np.float32),
                            borderType=cv2.BORDER_REFLECT_101)
    ph, pw = psf.shape[0] // 2, psf.shape[1] // 2
    h, w = img.shape[:2]
    padded = np.pad(img, ((ph, ph), (pw, pw), (0, 0)), mode="reflect")
    H, W = padded.shape[:2]
    kernel = np.zeros((H, W))
    kernel[: psf.shape[0], : psf.shape[1]] = psf
    kernel = np.roll(kernel, (-ph, -pw), axis=(0, 1))
    out = np.fft.irfft2(np.fft.rfft2(padded, axes=(0, 1)) * np.fft.rfft2(kernel)[..., None], s=(H, W), axes=(0, 1))
    return out[ph : ph + h, pw : pw + w].astype(np.float32)


def jpeg_roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    """Encode a float [0, 1] RGB image as JPEG at `quality` and decode it again."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def defocus(
    img: np.ndarray,
    radius: float,
    noise_sigma: float = 0.0,
    jpeg_quality: int | None = None,
    rng: np.random.Generator | int | None = None,
    quantize: bool = True,
) -> np.ndarray:
    """Blur a sharp sRGB image with a defocus disc in linear light, then add noise, 8-bit rounding and JPEG.

    Args:
        img: float32 HxWx3 sRGB in [0, 1].
        radius: disc radius in pixels (0 = no blur).
        noise_sigma: standard deviation of additive Gaussian noise, in [0, 1] units of the sRGB image.
        jpeg_quality: re-compress as JPEG at this quality; None to skip.
        rng: numpy Generator or seed for the noise.
        quantize: round to 8-bit levels (as any saved photo is).

    Returns:
        The blurred image, float32 HxWx3 in [0, 1].
    """
    out = linear_to_srgb(convolve(srgb_to_linear(img), disc_psf(radius)))
    if noise_sigma > 0:
        rng = np.random.default_rng(rng)
        out = out + rng.normal(0.0, noise_sigma, out.shape).astype(np.float32)
    out = np.clip(out, 0.0, 1.0)
    if quantize:
        out = np.round(out * 255.0) / 255.0
    if jpeg_quality is not None:
        out = jpeg_roundtrip(out, jpeg_quality)
    return out.astype(np.float32)


@dataclass(frozen=True)
class BlurConfig:
    """Random degradation used to synthesise training pairs.

    Attributes:
        radius: (min, max) disc radius in pixels, drawn uniformly; 0 <= min <= max <= `MAX_RADIUS`.
        noise: (min, max) Gaussian noise sigma in [0, 1] units, drawn uniformly.
        jpeg_prob: probability of a JPEG re-compression.
        jpeg_quality: (min, max) JPEG quality when re-compressing.
    """

    radius: tuple[float, float] = (1.0, 5.0)
    noise: tuple[float, float] = (0.0, 2.0 / 255.0)
    jpeg_prob: float = 0.0
    jpeg_quality: tuple[int, int] = (75, 95)

    margin: int = 8  # pixels of context read around a crop so the blur does not see its border (grows with radius)

    def __post_init__(self) -> None:
        """Refuse settings outside their ranges (see `check_range`); widen `margin` to the largest disc.

        Raises:
            DataError: a reversed or out-of-range radius, noise or JPEG quality range, or a jpeg_prob outside [0, 1].
        """
        _, r_max = check_range("BlurConfig.radius", self.radius, 0.0, MAX_RADIUS)
        check_range("BlurConfig.noise", self.noise, 0.0, 1.0)
        check_probability("BlurConfig.jpeg_prob", self.jpeg_prob)
        check_range("BlurConfig.jpeg_quality", self.jpeg_quality, 1, 100)
        object.__setattr__(self, "margin", max(int(self.margin), disc_half(r_max)))

    def pair(self, img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(blurred, sharp): `img` degraded by `sample`, and `img` itself."""
        return self.sample(img, rng), img

    def sample(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Degrade `img` with parameters drawn from `rng`."""
        radius = rng.uniform(*self.radius)
        sigma = rng.uniform(*self.noise)
        recompress = rng.random() < self.jpeg_prob  # drawn before the quality, as always
        quality = int(rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1)) if recompress else None
        return defocus(img, radius, noise_sigma=sigma, jpeg_quality=quality, rng=rng)


from edge_deblur.blur.lens import LensShape, lens_psf  # noqa: E402  (numpy only; re-exported)
from edge_deblur.blur.scene import SceneBlurConfig, render_scene  # noqa: E402
