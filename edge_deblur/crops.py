"""Training crops from a dataset's pairs: random (blurred, sharp) crops with synthetic blur made on the fly, the
fixed validation crops, the int8 representative set and the tf.data stream that feeds `fit`.

Pixels are read on first use and kept as uint8 (`ImageCache`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from edge_deblur.data import EVAL_NOISE, EVAL_RADII, Pair, load_split, match_size
from edge_deblur.errors import DataError


class ImageCache:
    """Decoded images kept as uint8 (a quarter of the float size), read on first use."""

    def __init__(self) -> None:
        self._store: dict[Path, np.ndarray] = {}

    def get(self, path: Path) -> np.ndarray:
        """The image at `path` as float32 [0, 1] RGB."""
        from edge_deblur.images import read_image, to_uint8

        if path not in self._store:
            self._store[path] = to_uint8(read_image(path, keep_uint8=True))
        return self._store[path].astype(np.float32) / 255.0


def _augment(arrays: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """The same random flip / 90-degree rotation applied to every array."""
    k = int(rng.integers(4))
    flip = bool(rng.integers(2))
    out = []
    for a in arrays:
        a = np.rot90(a, k)
        out.append(np.ascontiguousarray(a[:, ::-1] if flip else a))
    return out


class CropSampler:
    """Random (blurred, sharp) crops from a list of pairs; synthetic pairs are blurred on the fly.

    Args:
        pairs: pairs from one split.
        size: crop side in pixels.
        blur: `BlurConfig` used when a pair has no blurred file.
        seed: makes the crop sequence reproducible.
        augment: random flips and 90-degree rotations.
        scale: (min, max) random downscale of real pairs before cropping (their blur shrinks with them), so a
            model sees real defocus at several sizes; (1, 1) keeps the native size.

    Raises:
        DataError: a pair's image is smaller than the crop (names the file and the sizes).
    """

    def __init__(self, pairs: Sequence[Pair], size: int, blur=None, seed: int = 0, augment: bool = True,
                 cache: ImageCache | None = None, scale: tuple[float, float] = (1.0, 1.0)) -> None:
        from edge_deblur.blur import BlurConfig

        if not pairs:
            raise DataError("no pairs to sample crops from")
        self.pairs = list(pairs)
        self.size = int(size)
        self.blur = blur or BlurConfig()
        self.rng = np.random.default_rng(seed)
        self.augment = augment
        self.cache = cache or ImageCache()
        self.scale = (float(scale[0]), float(scale[1]))

    def _load(self, pair: Pair) -> tuple[np.ndarray | None, np.ndarray]:
        sharp = self.cache.get(pair.sharp)
        m = self.blur.margin
        need = self.size + (2 * m if pair.blurred is None else 0)
        if min(sharp.shape[:2]) < self.size:
            raise DataError(f"{pair.sharp}: image is {sharp.shape[1]}x{sharp.shape[0]}, smaller than the "
                            f"{self.size}x{self.size} crop; use a smaller --size")
        if pair.blurred is None:
            if min(sharp.shape[:2]) < need:
                sharp = np.pad(sharp, ((m, m), (m, m), (0, 0)), mode="reflect")
            return None, sharp
        return match_size(self.cache.get(pair.blurred), sharp, pair), sharp

    def check(self) -> None:
        """Read every pair once, so an unreadable or too-small image fails now, naming the file, not mid-training.

        Raises:
            ImageError: an unreadable file. DataError: an image smaller than the crop.
        """
        for pair in self.pairs:
            self._load(pair)

    def sample(self) -> tuple[np.ndarray, np.ndarray]:
        """One (blurred, sharp) crop pair, float32 (size, size, 3)."""
        pair = self.pairs[int(self.rng.integers(len(self.pairs)))]
        blurred, sharp = self._load(pair)
        if blurred is not None and self.scale[0] < 1:
            blurred, sharp = _rescale_pair(blurred, sharp, float(self.rng.uniform(*self.scale)), self.size)
        s, m = self.size, (self.blur.margin if blurred is None else 0)
        h, w = sharp.shape[:2]
        y = int(self.rng.integers(0, h - s - 2 * m + 1))
        x = int(self.rng.integers(0, w - s - 2 * m + 1))
        region = sharp[y : y + s + 2 * m, x : x + s + 2 * m]
        if blurred is None:
            degraded, target = self.blur.pair(region, self.rng)
            crops = [degraded[m : m + s, m : m + s], target[m : m + s, m : m + s]]
        else:
            crops = [blurred[y : y + s, x : x + s], region]
        if self.augment:
            crops = _augment(crops, self.rng)
        return crops[0], crops[1]

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """`n` crops stacked as (n, size, size, 3) arrays (blurred, sharp)."""
        xs, ys = zip(*(self.sample() for _ in range(n)))
        return np.stack(xs), np.stack(ys)


def _rescale_pair(blurred: np.ndarray, sharp: np.ndarray, factor: float, size: int):
    """Both images downscaled by `factor` (area interpolation), never below `size` on the short side."""
    import cv2

    h, w = sharp.shape[:2]
    factor = max(factor, size / min(h, w))
    if factor >= 1:
        return blurred, sharp
    dsize = (max(size, round(w * factor)), max(size, round(h * factor)))
    return (cv2.resize(blurred, dsize, interpolation=cv2.INTER_AREA),
            cv2.resize(sharp, dsize, interpolation=cv2.INTER_AREA))


def calibration_crops(data, dataset: str, n: int, size: int | tuple[int, int], seed: int = 0,
                      blur: str = "defocus") -> np.ndarray:
    """Blurred crops from the TRAIN split, for int8 calibration (the representative set).

    Args:
        data: dataset path (or list of paths for 'synthetic').
        dataset: 'kwentar', 'pairs' or 'synthetic'.
        n: number of crops.
        size: crop side, or (h, w); non-square crops are cut from square ones.
        seed: crop/blur randomness.
        blur: kwentar blur kind.

    Returns:
        float32 array (n, h, w, 3) in [0, 1].

    Raises:
        DataError: no train image is as large as the crop.
    """
    h, w = (size, size) if isinstance(size, int) else size
    train = load_split(data, dataset, "train", seed, blur)
    # Calibration only needs enough large-enough photos: skip the small ones rather than fail (training cannot).
    pairs = [p for p in train if min(_image_size(p.sharp)) >= max(h, w)]
    if not pairs:
        raise DataError(f"{data}: no train-split image is at least {max(h, w)} px on its short side, needed for "
                        f"{h}x{w} calibration crops")
    sampler = CropSampler(pairs, max(h, w), seed=seed + 1)
    return np.ascontiguousarray(sampler.batch(n)[0][:, :h, :w])


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file header without decoding; a huge size if unreadable (reading it later says
    why)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, ValueError):
        return (2**31, 2**31)


def validation_crops(pairs: Sequence[Pair], size: int, per_image: int = 2, seed: int = 0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """A fixed validation set: `per_image` crops of each pair, synthetic blur radius cycling 2, 3, 4 px."""
    from edge_deblur.blur import BlurConfig

    xs, ys = [], []
    cache = ImageCache()
    for i, pair in enumerate(pairs):
        for j in range(per_image):
            r = EVAL_RADII[(i * per_image + j) % len(EVAL_RADII)]
            cfg = BlurConfig(radius=(r, r), noise=(EVAL_NOISE, EVAL_NOISE))
            x, y = CropSampler([pair], size, cfg, seed=seed * 7919 + i * 31 + j, augment=False, cache=cache).sample()
            xs.append(x)
            ys.append(y)
    return np.stack(xs), np.stack(ys)


def tf_dataset(sampler: CropSampler, batch_size: int, epoch_samples: int | None = None):
    """An endless, batched, prefetched `tf.data.Dataset` of (blurred, sharp) crops drawn from `sampler`.

    With `epoch_samples`, the stream comes in epochs of exactly that many crops: full batches and then one partial
    batch (172 crops in batches of 32: 5 x 32 + 12), as a fixed training set of that size would give.

    `batch_size` is the global batch. Under a multi-worker strategy the dataset is sharded by DATA (there are no
    files for the FILE policy to split): every worker draws the same seeded stream and keeps its part of each batch.
    """
    import tensorflow as tf

    s = sampler.size
    spec = (tf.TensorSpec((s, s, 3), tf.float32), tf.TensorSpec((s, s, 3), tf.float32))

    def gen():
        while True:
            yield sampler.sample()

    ds = tf.data.Dataset.from_generator(gen, output_signature=spec)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    if epoch_samples:  # each repetition calls gen() again: a new generator on the same (advancing) sampler
        ds = ds.take(epoch_samples).batch(batch_size).repeat()
    else:
        ds = ds.batch(batch_size, drop_remainder=True)
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options)
