"""In-focus smooth content for training: pairs whose target is the input itself, less a little sensor noise.

Real training crops are never as smooth as a sky, a wall or a slow gradient, and a net trained only on blurred
crops learns to lift such flat areas by several levels (release 4 of the bundled model brightened flat gray by up
to 10 levels of 255). A small share of these pairs in every batch teaches it to leave smooth in-focus content as it
is. The same construction as `benchmarks/gpu/train_torch.py --smooth` (the release run), in numpy for the CPU
trainer: a sharp crop shrunk by 8 to 64 times (area average), or to its mean colour, and enlarged again
(bilinear); the input adds Gaussian noise of sigma 0 to 2.5 levels of 255.

Photos seldom hold smooth content near black or white, and release 5, trained on such crops as they came, still
lifted flat near-white areas (gray 236 by 3 levels, 248 to 255): so `relevel` moves a share of the pairs to a
random brightness (their mean to a uniform level in [0, 1], their contrast scaled by 0.2-1, clipped), covering
every level from black to a white wall.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_deblur.blur.checks import check_probability, check_range


@dataclass(frozen=True)
class SmoothInFocus:
    """A degradation (`pair(img, rng)`, as `BlurConfig`) whose target is a smooth version of the crop.

    Attributes:
        factors: shrink factors drawn uniformly; 0 means the crop's mean colour (a flat patch).
        noise: (min, max) Gaussian noise sigma of the input, in [0, 1] units.
        relevel: probability that a pair's target is moved to a random brightness (see the module docstring).
    """

    factors: tuple[int, ...] = (8, 16, 32, 64, 0)
    noise: tuple[float, float] = (0.0, 2.5 / 255.0)
    relevel: float = 0.5
    margin: int = 0  # no context is read around a crop: nothing here looks across its border

    def __post_init__(self) -> None:
        """Raises: DataError: a negative factor, or a reversed or out-of-range noise range."""
        from edge_deblur.errors import DataError

        if not self.factors or any(int(f) != f or f < 0 for f in self.factors):
            raise DataError(f"SmoothInFocus.factors: whole numbers >= 0 expected, got {self.factors}")
        check_range("SmoothInFocus.noise", self.noise, 0.0, 1.0)
        check_probability("SmoothInFocus.relevel", self.relevel)

    def pair(self, img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(noisy input, smooth target), float32 HxWx3 in [0, 1], from an HxWx3 float image in [0, 1]."""
        target = smoothed(img, int(self.factors[int(rng.integers(len(self.factors)))]))
        if rng.random() < self.relevel:
            level, contrast = rng.uniform(0.0, 1.0), rng.uniform(0.2, 1.0)
            target = np.clip(level + (target - target.mean(axis=(0, 1))) * np.float32(contrast), 0.0, 1.0)
            target = target.astype(np.float32, copy=False)
        sigma = rng.uniform(*self.noise)
        noisy = target + rng.normal(0.0, 1.0, target.shape).astype(np.float32) * np.float32(sigma)
        return np.clip(noisy, 0.0, 1.0, out=noisy), target


def smoothed(img: np.ndarray, factor: int) -> np.ndarray:
    """`img` shrunk `factor` times (area average) and enlarged back to its size (bilinear); 0 or a factor as large
    as the image: its mean colour everywhere. float32."""
    from edge_deblur.resample import resize_float

    h, w = img.shape[:2]
    x = np.asarray(img, np.float32)
    if factor == 0 or factor >= min(h, w):
        return np.broadcast_to(x.mean(axis=(0, 1), dtype=np.float64).astype(np.float32), x.shape).copy()
    small = resize_float(x, max(1, round(h / factor)), max(1, round(w / factor)), shrink=True)
    return resize_float(small, h, w, shrink=False)
