"""Evaluation sets of a bench run: the `defocus-kodak24` protocol, a user's dataset folder, or the built-in sample
photos (see `edge_deblur.bench` for the precedence). Each set yields full-size (blurred, sharp) pairs lazily."""

from __future__ import annotations

import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from edge_deblur.errors import DataError, EdgeDeblurError

PROTOCOLS = ("defocus-kodak24", "real-dpdd-val", "paper-kwentar224", "paper-kwentar224-aligned")
BENCH_RADII = (2.0, 3.0, 4.0)
BENCH_NOISE = 1.0 / 255.0
SAMPLE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")  # scikit-image's bundled colour photographs
CALIBRATION_PHOTOS = ("motorcycle", "hubble_deep_field", "immunohistochemistry", "retina")  # never evaluated


@dataclass
class EvalPair:
    """A full-size (blurred, sharp) pair; `radius` is the true disc radius when the blur was synthesised."""

    blurred: np.ndarray
    sharp: np.ndarray
    name: str
    radius: float | None


@dataclass
class EvalSet:
    """A lazily produced evaluation set: `count` pairs from `make()`, described for the report header."""

    name: str
    description: str
    count: int
    known_radius: bool
    make: Callable[[], Iterator[EvalPair]]

    def __iter__(self) -> Iterator[EvalPair]:
        return self.make()


def protocol_root(root: str | os.PathLike | None, protocol: str, folder: str) -> Path:
    """`root`, or the shared data folder's `folder` (e.g. "photos/kodak24") for a protocol run without --data.

    Raises:
        DataError: no root given and no shared data folder found.
    """
    from edge_deblur.data import default_data_root

    if root is not None:
        return Path(root)
    base = default_data_root()
    if base is None:
        name = folder.rsplit("/", 1)[-1]
        raise DataError(f"{protocol}: no {name} folder found; pass --data PATH/TO/{name} (or set EDGE_DEBLUR_DATA)")
    return base / folder


def _pair_seed(name: str, radius: float) -> int:
    """The fixed noise seed of one (image, radius) pair: independent of which other images are used."""
    return zlib.crc32(f"{name}:r{radius:g}".encode())


def _synthetic(sharps: Sequence[tuple[str, Callable[[], np.ndarray]]], radii: Sequence[float], limit: int | None
               ) -> tuple[int, Callable[[], Iterator[EvalPair]]]:
    """Every image at every radius (image-major), at most `limit` pairs, blurred on demand."""
    from edge_deblur.blur import defocus

    jobs = [(name, load, r) for name, load in sharps for r in radii]
    if limit is not None:
        jobs = jobs[:limit]

    def make() -> Iterator[EvalPair]:
        cache: dict[str, np.ndarray] = {}
        for name, load, r in jobs:
            if name not in cache:
                cache.clear()
                cache[name] = load()
            sharp = cache[name]
            blurred = defocus(sharp, r, noise_sigma=BENCH_NOISE, rng=_pair_seed(name, r))
            yield EvalPair(blurred, sharp, f"{name}@r{r:g}", float(r))

    return len(jobs), make


def _skimage_photo(name: str, multiple: int = 8) -> np.ndarray:
    """A bundled scikit-image colour photograph, float32 [0, 1], centre-cropped to a multiple of `multiple`."""
    from skimage import data

    img = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
    img = img[..., :3].astype(np.float32) / 255.0
    h, w = (img.shape[0] // multiple) * multiple, (img.shape[1] // multiple) * multiple
    y, x = (img.shape[0] - h) // 2, (img.shape[1] - w) // 2
    return np.ascontiguousarray(img[y : y + h, x : x + w])


def sample_set(limit: int | None = None, radii: Sequence[float] = BENCH_RADII) -> EvalSet:
    """The built-in benchmark data: scikit-image's bundled photographs blurred at each radius with a fixed seed.

    Args:
        limit: use only the first `limit` pairs (image-major: all radii of one photo, then the next).
        radii: disc radii in pixels.

    Returns:
        An `EvalSet` of len(SAMPLE_PHOTOS) x len(radii) pairs (or `limit`).
    """
    sharps = [(n, lambda n=n: _skimage_photo(n)) for n in SAMPLE_PHOTOS]
    count, make = _synthetic(sharps, radii, limit)
    desc = (f"scikit-image sample photos ({', '.join(SAMPLE_PHOTOS)}), disc blur r={'/'.join(f'{r:g}' for r in radii)}"
            f" px in linear light, noise {BENCH_NOISE * 255:g}/255, fixed seed: {count} pairs")
    return EvalSet("sample photos", desc, count, True, make)


def kodak24_set(root: str | os.PathLike | None = None, limit: int | None = None) -> EvalSet:
    """The `defocus-kodak24` protocol: 24 Kodak photos at native size x radius 2, 3, 4 px = 72 pairs.

    Args:
        root: folder with kodim01.png ... kodim24.png; default `default_data_root()/photos/kodak24`.
        limit: use only the first `limit` pairs (image-major, so every radius stays equally represented when
            `limit` is a multiple of 3).

    Raises:
        DataError: the folder is missing or does not hold the 24 Kodak images.
    """
    from edge_deblur.images import read_image

    root = protocol_root(root, "defocus-kodak24", "photos/kodak24")
    if not root.is_dir():
        raise DataError(f"{root}: Kodak24 folder does not exist")
    files = sorted(p for p in root.iterdir() if re.fullmatch(r"kodim\d\d\.png", p.name, re.IGNORECASE))
    if len(files) != 24:
        raise DataError(f"{root}: defocus-kodak24 needs the 24 Kodak images kodim01.png ... kodim24.png, "
                        f"found {len(files)}")
    sharps = [(p.stem, lambda p=p: read_image(p)) for p in files]
    count, make = _synthetic(sharps, BENCH_RADII, limit)
    subset = "" if count == 72 else f" (a subset: the first {count} of 72 pairs)"
    desc = (f"defocus-kodak24: Kodak24 at native 768x512 from {root}, disc blur r=2/3/4 px in linear light, "
            f"noise 1/255, 8-bit, fixed seed per image and radius: {count} pairs{subset}")
    return EvalSet("defocus-kodak24", desc, count, True, make)


def dpdd_val_set(root: str | os.PathLike | None = None, limit: int | None = None) -> EvalSet:
    """The `real-dpdd-val` protocol: the 10 validation scenes of `dpdd_dev` (real aperture defocus, 1024x683).

    The scenes are the recorded split of `edge_deblur.splits` (never trained on); whole images, native size.

    Args:
        root: the `dpdd_dev` folder (blurred/, sharp/); default `default_data_root()/dpdd_dev`.
        limit: use only the first `limit` pairs.

    Raises:
        DataError: the folder is missing or lacks a validation scene.
    """
    from edge_deblur.data import scan_pairs
    from edge_deblur.images import read_image
    from edge_deblur.splits import DPDD_DEV_VAL

    root = protocol_root(root, "real-dpdd-val", "dpdd_dev")
    found = {p.sharp.stem: p for p in scan_pairs(root).pairs}
    missing = [n for n in DPDD_DEV_VAL if n not in found]
    if missing:
        raise DataError(f"{root}: real-dpdd-val needs the dpdd_dev validation scenes; missing {', '.join(missing)}")
    pairs = [found[n] for n in DPDD_DEV_VAL][:limit]

    def make() -> Iterator[EvalPair]:
        for p in pairs:
            yield EvalPair(read_image(p.blurred), read_image(p.sharp), p.sharp.stem, None)

    subset = "" if len(pairs) == len(DPDD_DEV_VAL) else f" (the first {len(pairs)})"
    desc = (f"real-dpdd-val: the {len(DPDD_DEV_VAL)} validation scenes of dpdd_dev at {root} (real aperture "
            f"defocus, f/4 vs f/22 on a tripod, pixel-aligned, 1024x683, whole images; never trained on){subset}")
    return EvalSet("real-dpdd-val", desc, len(pairs), False, make)


_RADIUS_IN_NAME = re.compile(r"@r(\d+(?:\.\d+)?)$")


def dataset_set(data: str | os.PathLike | Sequence, dataset: str, limit: int | None = None) -> EvalSet:
    """ALL pairs a dataset loader finds (no split: bench measures the folder it is pointed at).

    Synthetic datasets get the fixed evaluation blur of `edge_deblur.data.eval_pairs` (radius known); real pairs
    keep their unknown blur.

    Raises:
        DataError: unknown dataset, missing folder or no usable pairs.
    """
    from edge_deblur.data import eval_pairs, load_split

    pairs = load_split(data, dataset, "all")  # raises DataError on a folder without usable pairs
    count = len(pairs) if limit is None else min(limit, len(pairs))

    def make() -> Iterator[EvalPair]:
        for i, (blurred, sharp, name) in enumerate(eval_pairs(data, dataset, split="all")):
            if i >= count:
                return
            m = _RADIUS_IN_NAME.search(name)
            yield EvalPair(blurred, sharp, name, float(m.group(1)) if m else None)

    where = data if isinstance(data, (str, os.PathLike)) else ", ".join(map(str, data))
    kind = ("synthetic disc blur cycling r=2/3/4 px, noise 1/255, fixed seed" if dataset == "synthetic"
            else "real blurred/sharp pairs (unknown blur)")
    subset = "" if count == len(pairs) else f" (the first {count} of {len(pairs)})"
    desc = f"{dataset} data at {where}: all {len(pairs)} pairs, {kind}{subset}"
    if dataset == "kwentar":
        desc += "; hand-held pairs are misaligned, so PSNR vs sharp is low for every row: read the Keras-vs-TFLite drop"
    return EvalSet(f"{dataset} ({Path(str(where)).name})", desc, count, dataset == "synthetic", make)


def load_eval_set(data=None, dataset: str | None = None, protocol: str | None = None,
                  limit: int | None = None) -> EvalSet:
    """Pick the evaluation data of a bench run (see the module docstring for the precedence).

    Raises:
        EdgeDeblurError: unknown protocol, `--dataset` without `--data`, or bad data.
    """
    if protocol is not None:
        if protocol not in PROTOCOLS:
            raise EdgeDeblurError(f"unknown protocol '{protocol}'; choose one of: {', '.join(PROTOCOLS)}")
        if dataset is not None:
            raise EdgeDeblurError(f"--protocol {protocol} defines its own data; drop --dataset")
        if protocol.startswith("paper-"):
            from edge_deblur.bench.paper_sets import kwentar224_set

            return kwentar224_set(data, aligned=protocol.endswith("-aligned"), limit=limit)
        return kodak24_set(data, limit) if protocol == "defocus-kodak24" else dpdd_val_set(data, limit)
    if data is not None:
        from edge_deblur.data import DATASETS

        if dataset is None:
            raise EdgeDeblurError(f"--data needs --dataset (one of: {', '.join(DATASETS)})")
        if dataset not in DATASETS:
            raise DataError(f"unknown dataset '{dataset}'; choose one of: {', '.join(DATASETS)}")
        return dataset_set(data, dataset, limit)
    if dataset is not None:
        raise EdgeDeblurError("--dataset needs --data PATH")
    return sample_set(limit)
