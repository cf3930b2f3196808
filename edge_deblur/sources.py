"""Training data from several sources in one run: real pairs and synthetic pairs, mixed with weights.

A source is written `KIND=PATH[,PATH...][@WEIGHT]` on the command line, e.g.
`--source pairs=../shared/data/dpdd_dev@0.5 --source synthetic=photos/cbsd68,photos/mcmaster18@0.5`.
Each source is split by scene on its own (real folders with a recorded split, such as `dpdd_dev`, use it), crops
are drawn from the sources in proportion to their weights, and the validation set holds fixed crops of every
source's validation scenes.

A `smooth` source (`smooth=PHOTOS[@WEIGHT]`, sharp photos as for `synthetic`) adds in-focus smooth content whose
target is the input itself (`edge_deblur.blur.smooth`): the release run gives it 1/16 of every batch
(`smooth=...@0.0625` beside sources weighing 1 in all), so the net leaves flat areas as they are. It only adds
to other sources: it has no validation crops of its own.

Realistic synthetic defocus (`edge_deblur.blur.SceneBlurConfig`) is too slow to render on the fly beside a
training step on a small CPU, so `PooledSampler` renders a pool of pairs once, in worker processes, before
training starts; each step then cuts random crops (with flips and rotations) out of the pool.
"""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from edge_deblur.crops import CropSampler, ImageCache, _augment, _image_size, validation_crops
from edge_deblur.data import DATASETS, Pair, scan, split_scan
from edge_deblur.errors import DataError

SOURCE_KINDS = DATASETS + ("smooth",)  # smooth: sharp photos turned into smooth in-focus pairs (see above)
PHOTO_KINDS = ("synthetic", "smooth")  # sources made from sharp photos alone (several folders allowed)


@dataclass(frozen=True)
class Source:
    """One training source: a loader name, its folder(s) and its share of the crops."""

    dataset: str
    paths: tuple[str, ...]
    weight: float = 1.0

    def __str__(self) -> str:
        return f"{self.dataset}={','.join(self.paths)}@{self.weight:g}"


def parse_source(text: str) -> Source:
    """Parse `KIND=PATH[,PATH...][@WEIGHT]`.

    Raises:
        DataError: malformed text, unknown kind, or a weight that is not a positive number.
    """
    kind, sep, rest = text.partition("=")
    if not sep or not rest:
        raise DataError(f"--source '{text}': expected KIND=PATH[,PATH...][@WEIGHT], e.g. pairs=dpdd_dev@0.5")
    if kind not in SOURCE_KINDS:
        raise DataError(f"--source '{text}': unknown kind '{kind}'; choose one of: {', '.join(SOURCE_KINDS)}")
    paths, _, weight_text = rest.rpartition("@") if "@" in rest else (rest, "", "1")
    try:
        weight = float(weight_text)
    except ValueError:
        weight = -1.0
    if not weight > 0 or not np.isfinite(weight):
        raise DataError(f"--source '{text}': the weight after '@' must be a positive number")
    return Source(kind, tuple(p for p in paths.split(",") if p), weight)


@dataclass
class SourceSplit:
    """What one source contributes: its scan and its train/val/test pairs."""

    source: Source
    scan: object
    parts: dict[str, list[Pair]]
    recorded: bool = False

    def describe(self) -> str:
        if self.source.dataset == "smooth":
            return (f"{self.scan.describe()} -> smooth in-focus content, all {len(self.parts['train'])} photos "
                    f"(no validation crops, weight {self.source.weight:g})")
        how = "recorded split" if self.recorded else "scene split"
        counts = " / ".join(f"{len(self.parts[k])} {k}" for k in ("train", "val", "test"))
        return f"{self.scan.describe()} -> {counts} ({how}, weight {self.source.weight:g})"


def split_source(source: Source, seed: int, blur: str = "defocus") -> SourceSplit:
    """Scan a source and split it: the recorded split of a known real folder, else by scene from `seed`."""
    photos = source.dataset in PHOTO_KINDS
    found = scan(list(source.paths) if photos else source.paths[0], "synthetic" if photos else source.dataset, blur)
    if source.dataset == "smooth":  # every photo trains: there are no validation crops of smooth content
        return SourceSplit(source, found, {"train": list(found.pairs), "val": [], "test": []})
    parts, recorded = split_scan(found, seed)
    return SourceSplit(source, found, parts, recorded=recorded)


class MixedSampler:
    """Draws each crop from one of several samplers, chosen at random in proportion to `weights`."""

    def __init__(self, samplers: Sequence, weights: Sequence[float], seed: int = 0) -> None:
        sizes = {s.size for s in samplers}
        if len(sizes) != 1:
            raise DataError(f"all sources must use one crop size, got {sorted(sizes)}")
        self.samplers = list(samplers)
        w = np.asarray(weights, np.float64)
        self.p = w / w.sum()
        self.size = sizes.pop()
        self.rng = np.random.default_rng(seed)

    def sample(self) -> tuple[np.ndarray, np.ndarray]:
        """One (blurred, sharp) crop pair from a randomly chosen source."""
        return self.samplers[int(self.rng.choice(len(self.samplers), p=self.p))].sample()

    def check(self) -> None:
        """Check every source's images (see `CropSampler.check`)."""
        for s in self.samplers:
            s.check()


_WORKER_CACHE: dict[str, ImageCache] = {}


def _render_chunk(args) -> tuple[np.ndarray, np.ndarray]:
    """Worker: render pool items `indices` (each from its own seed) as uint8 arrays."""
    pairs, size, blur, seed, indices = args
    cache = _WORKER_CACHE.setdefault("cache", ImageCache())
    xs, ys = [], []
    for i in indices:
        x, y = CropSampler(pairs, size, blur, seed=seed * 1_000_003 + i, augment=False, cache=cache).sample()
        xs.append(np.round(x * 255).astype(np.uint8))
        ys.append(np.round(y * 255).astype(np.uint8))
    return np.stack(xs), np.stack(ys)


@dataclass
class PooledSampler:
    """Random crops from a pool of synthetic pairs rendered once, up front, by `workers` processes.

    Args:
        pairs: sharp photos (synthetic pairs).
        size: crop side returned by `sample`.
        blur: the degradation (e.g. `SceneBlurConfig`).
        items: how many pairs to render; each is `pool_size` square.
        pool_size: side of the rendered pairs (>= size; larger gives more distinct crops per item).
        seed: item i is rendered from seed (seed, i), so the pool does not depend on the number of workers.
        workers: processes used for rendering (0: in this process).
    """

    pairs: Sequence[Pair]
    size: int
    blur: object
    items: int = 2000
    pool_size: int | None = None
    seed: int = 0
    workers: int = 2
    x: np.ndarray = field(init=False, repr=False)
    y: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.pairs:
            raise DataError("no photos to render a synthetic pool from")
        # pool items are cut from the photos: never larger than the smallest one (cbsd68 is 321 px), never below
        # the crop size (a photo smaller than the crop fails when rendered, naming the file)
        smallest = min(min(_image_size(p.sharp)) for p in self.pairs)
        self.pool_size = max(self.size, min(int(self.pool_size or self.size), smallest))
        self.rng = np.random.default_rng(self.seed + 17)
        self.x, self.y = self._render()

    def _render(self) -> tuple[np.ndarray, np.ndarray]:
        chunks = [list(range(i, min(i + 50, self.items))) for i in range(0, self.items, 50)]
        jobs = [(list(self.pairs), self.pool_size, self.blur, self.seed, c) for c in chunks]
        if self.workers <= 0:
            parts = [_render_chunk(j) for j in jobs]
        else:  # spawn: the parent may already hold TensorFlow's threads, which fork would copy half-alive
            with multiprocessing.get_context("spawn").Pool(min(self.workers, os.cpu_count() or 1)) as pool:
                parts = pool.map(_render_chunk, jobs)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def check(self) -> None:
        """Nothing to check: rendering already read every photo it used."""

    def sample(self) -> tuple[np.ndarray, np.ndarray]:
        """A random crop of a random pool item, flipped/rotated, as float32 [0, 1]."""
        i = int(self.rng.integers(len(self.x)))
        s, n = self.size, self.pool_size
        y0, x0 = (int(self.rng.integers(0, n - s + 1)) for _ in range(2))
        crops = [a[i, y0 : y0 + s, x0 : x0 + s].astype(np.float32) / 255.0 for a in (self.x, self.y)]
        b, t = _augment(crops, self.rng)
        return b, t


def real_scale(dataset: str, scale: tuple[float, float]) -> tuple[float, float]:
    """Random downscale range for a source: real pairs get `scale`, synthetic ones never need it."""
    return tuple(scale) if dataset != "synthetic" else (1.0, 1.0)


def build_sources(sources: Sequence[Source], size: int, blur, seed: int, start_epoch: int = 0,
                  pool_items: int = 0, scale: tuple[float, float] = (1.0, 1.0), val_per_image: int = 2,
                  blur_kind: str = "defocus"):
    """Split every source, build the mixed crop sampler and the fixed validation crops.

    Args:
        sources: the sources (weights need not sum to 1).
        size: crop side.
        blur: degradation for synthetic sources (`BlurConfig` or `SceneBlurConfig`).
        seed: split and crop randomness.
        start_epoch: the epoch a resumed run starts at (new crops, not a replay of the first epochs).
        pool_items: > 0 renders synthetic sources into a `PooledSampler` of that many items.
        scale: random downscale range for real pairs.
        val_per_image: validation crops per synthetic image (real pairs get 4x as many: they are fewer).
        blur_kind: kwentar blur kind.

    Returns:
        (sampler, x_val, y_val, splits) with `splits` the list of `SourceSplit`.

    Raises:
        DataError: a source without train or validation scenes, or any loader error.
    """
    from edge_deblur.blur.smooth import SmoothInFocus

    if all(s.dataset == "smooth" for s in sources):
        raise DataError("a smooth source only adds in-focus content to the crops of other sources; give one more "
                        "--source (pairs, kwentar or synthetic)")
    splits = [split_source(s, seed, blur_kind) for s in sources]
    samplers, xs, ys = [], [], []
    for k, sp in enumerate(splits):
        train, val = sp.parts["train"], sp.parts["val"]
        crop_seed = seed + start_epoch * 1009 + k * 7
        if sp.source.dataset == "smooth":
            samplers.append(CropSampler(train, size, SmoothInFocus(), seed=crop_seed))
            continue
        if not train or not val:
            raise DataError(f"{sp.source}: need at least 2 scenes to train with a validation split, "
                            f"found {len(sp.scan.pairs)} pair(s)")
        if sp.source.dataset == "synthetic" and pool_items > 0:
            samplers.append(PooledSampler(train, size, blur, pool_items, pool_size=size + size // 2, seed=crop_seed))
        else:
            samplers.append(CropSampler(train, size, blur, seed=crop_seed, scale=real_scale(sp.source.dataset, scale)))
        per_image = val_per_image * (4 if sp.source.dataset != "synthetic" else 1)
        x, y = validation_crops(val, size, per_image, seed)
        xs.append(x)
        ys.append(y)
    sampler = samplers[0] if len(samplers) == 1 else MixedSampler(samplers, [s.weight for s in sources], seed)
    return sampler, np.concatenate(xs), np.concatenate(ys), splits


def source_paths(sources: Sequence[Source]) -> list[str]:
    """Every folder named by the sources (for the model card and calibration)."""
    return [str(Path(p)) for s in sources for p in s.paths]
