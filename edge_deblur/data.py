"""Datasets: the kwentar Blur Dataset layout, paired folders, synthetic pairs from sharp photos; scene splits;
the full-size evaluation images of a split.

A dataset is a list of `Pair`s (paths only). Pixels are read lazily (the crop samplers are in `edge_deblur.crops`),
so a folder of 12 MP photos costs no memory until used.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from edge_deblur.errors import DataError
from edge_deblur.images import IMAGE_SUFFIXES, is_image_file

DATASETS = ("kwentar", "pairs", "synthetic")
KWENTAR_BLUR = {"defocus": ("defocused_blurred", "F"), "motion": ("motion_blurred", "M")}
_KWENTAR_NAME = re.compile(r"^(?P<id>\d+)_(?P<device>.+)_(?P<kind>[SFM])$", re.IGNORECASE)


@dataclass(frozen=True)
class Pair:
    """One training/evaluation example: a sharp image and its blurred partner (None when blur is synthesised).

    `scene` groups images of the same scene so a split never puts one scene in two parts.
    """

    sharp: Path
    blurred: Path | None
    scene: str


@dataclass
class Scan:
    """What a loader found: usable pairs, plus files it could not pair (reported, not silently dropped)."""

    pairs: list[Pair]
    unpaired: list[Path] = field(default_factory=list)
    root: Path | None = None
    dataset: str = ""
    roots: tuple[Path, ...] = ()  # every folder scanned, when there were several (then `root` is None)

    def describe(self, examples: int = 3) -> str:
        """One line for the user: counts and a few unpaired examples."""
        where = self.root if self.root is not None or not self.roots else ", ".join(map(str, self.roots))
        text = f"{self.dataset} data at {where}: {len(self.pairs)} pairs"
        if self.unpaired:
            names = ", ".join(p.name for p in self.unpaired[:examples])
            more = "" if len(self.unpaired) <= examples else ", ..."
            text += f"; {len(self.unpaired)} unpaired file(s) skipped ({names}{more})"
        return text


def default_data_root() -> Path | None:
    """The shared real-data folder: $EDGE_DEBLUR_DATA, else ../shared/data beside the repo checkout, if present."""
    env = os.environ.get("EDGE_DEBLUR_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "data")
    return next((p for p in candidates if p.is_dir()), None)


TRAIN_PHOTO_SETS = ("cbsd68", "mcmaster18", "sunhays80")  # shared/data/photos sets meant for training


def default_training_photos() -> list[Path]:
    """The shared training photo folders that exist (for `--dataset synthetic`); [] without the shared data."""
    root = default_data_root()
    if root is None:
        return []
    return [p for p in (root / "photos" / name for name in TRAIN_PHOTO_SETS) if p.is_dir()]


def _check_dir(root: Path, what: str) -> None:
    if not root.exists():
        raise DataError(f"{root}: {what} folder does not exist")
    if not root.is_dir():
        raise DataError(f"{root}: expected a {what} folder, found a file")


def _images_in(folder: Path, recursive: bool = False) -> list[Path]:
    it = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in it if p.is_file() and is_image_file(p) and not p.name.startswith("."))


def scan_kwentar(root: str | os.PathLike, blur: str = "defocus") -> Scan:
    """Pair `sharp/N_DEVICE_S.ext` with `<blur folder>/N_DEVICE_F|M.ext` (any case; jpg, jpeg or png).

    Raises:
        DataError: missing folders, unknown blur kind, or no pairs found.
    """
    root = Path(root)
    _check_dir(root, "kwentar dataset")
    if blur not in KWENTAR_BLUR:
        raise DataError(f"--blur must be one of {', '.join(KWENTAR_BLUR)}, got '{blur}'")
    blur_dir_name, blur_tag = KWENTAR_BLUR[blur]
    dirs = {p.name.lower(): p for p in root.iterdir() if p.is_dir()}
    missing = [d for d in ("sharp", blur_dir_name) if d not in dirs]
    if missing:
        raise DataError(
            f"{root}: not a kwentar Blur Dataset folder (missing {', '.join(m + '/' for m in missing)}; "
            f"expected sharp/ and {blur_dir_name}/)"
        )

    def index(folder: Path, tag: str) -> tuple[dict[str, Path], list[Path]]:
        found, strays = {}, []
        for p in _images_in(folder):
            m = _KWENTAR_NAME.match(p.stem)
            if m and m["kind"].upper() == tag:
                found[f"{m['id']}_{m['device']}".upper()] = p
            else:
                strays.append(p)
        return found, strays

    sharp, stray_s = index(dirs["sharp"], "S")
    blurred, stray_b = index(dirs[blur_dir_name], blur_tag)
    keys = sorted(set(sharp) & set(blurred), key=lambda k: (int(k.split("_")[0]), k))
    pairs = [Pair(sharp[k], blurred[k], scene=k.split("_")[0]) for k in keys]
    unpaired = sorted([sharp[k] for k in set(sharp) - set(blurred)] + [blurred[k] for k in set(blurred) - set(sharp)]
                      + stray_s + stray_b)
    if not pairs:
        raise DataError(f"{root}: no sharp/{blur_dir_name} pairs found (names must look like N_DEVICE_S.jpg and "
                        f"N_DEVICE_{blur_tag}.jpg)")
    return Scan(pairs, unpaired, root, "kwentar")


def scan_pairs(root: str | os.PathLike) -> Scan:
    """Pair `blurred/NAME` with `sharp/NAME` (same stem; suffixes may differ).

    Raises:
        DataError: missing folders or no matching names.
    """
    root = Path(root)
    _check_dir(root, "paired dataset")
    for sub in ("blurred", "sharp"):
        if not (root / sub).is_dir():
            raise DataError(f"{root}: expected blurred/ and sharp/ subfolders; {sub}/ is missing")
    sharp = {p.stem: p for p in _images_in(root / "sharp")}
    blurred = {p.stem: p for p in _images_in(root / "blurred")}
    keys = sorted(set(sharp) & set(blurred))
    pairs = [Pair(sharp[k], blurred[k], scene=_scene_of(k)) for k in keys]
    unpaired = sorted([sharp[k] for k in set(sharp) - set(blurred)] + [blurred[k] for k in set(blurred) - set(sharp)])
    if not pairs:
        raise DataError(f"{root}: no blurred/sharp pairs with matching names found")
    return Scan(pairs, unpaired, root, "pairs")


def _scene_of(stem: str) -> str:
    """Scene key of a paired file name: GoPro frames share their clip (GOPR0374_11_00_...), others are their own."""
    m = re.match(r"^(GOPR\d+_\d+_\d+)", stem)
    return m.group(1) if m else stem


def scan_synthetic(roots: str | os.PathLike | Sequence[str | os.PathLike]) -> Scan:
    """Every image file below one or more folders (recursive) becomes a sharp image whose blur is synthesised.

    Raises:
        DataError: a folder is missing or holds no images.
    """
    roots = [roots] if isinstance(roots, (str, os.PathLike)) else list(roots)
    pairs = []
    for root in map(Path, roots):
        _check_dir(root, "photo")
        files = _images_in(root, recursive=True)
        if not files:
            raise DataError(f"{root}: no image files found (looked for {', '.join(IMAGE_SUFFIXES)}, recursively)")
        pairs += [Pair(p, None, scene=f"{root.name}/{p.relative_to(root).with_suffix('')}") for p in files]
    return Scan(pairs, [], Path(roots[0]) if len(roots) == 1 else None, "synthetic", tuple(map(Path, roots)))


def scan(data: str | os.PathLike | Sequence, dataset: str, blur: str = "defocus") -> Scan:
    """Scan `data` with the loader named by `dataset` ('kwentar', 'pairs' or 'synthetic').

    Raises:
        DataError: unknown dataset name, or whatever the loader raises.
    """
    if dataset == "kwentar":
        return scan_kwentar(data, blur)
    if dataset == "pairs":
        return scan_pairs(data)
    if dataset == "synthetic":
        return scan_synthetic(data)
    raise DataError(f"unknown dataset '{dataset}'; choose one of: {', '.join(DATASETS)}")


def split(pairs: Sequence[Pair], seed: int = 0, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
          ) -> dict[str, list[Pair]]:
    """Split pairs 80/10/10 (by default) into train/val/test *by scene*, reproducibly from `seed`.

    Scenes are ordered by a seeded hash, so adding files to a folder does not reshuffle existing scenes. With few
    scenes, val gets at least one scene when there are two or more, and test one when there are three or more.
    """
    scenes = sorted({p.scene for p in pairs}, key=lambda s: hashlib.sha256(f"{seed}:{s}".encode()).hexdigest())
    n = len(scenes)
    n_val = int(round(n * fractions[1]))
    n_test = int(round(n * fractions[2]))
    if n >= 2:  # two scenes are enough to train with a validation scene
        n_val = max(n_val, 1)
    if n >= 3:
        n_test = max(n_test, 1)
    n_train = max(n - n_val - n_test, 1 if n else 0)
    parts = {"train": set(scenes[:n_train]), "val": set(scenes[n_train:n_train + n_val]),
             "test": set(scenes[n_train + n_val:])}
    return {k: [p for p in pairs if p.scene in v] for k, v in parts.items()}


# --- pixels: crops for training and calibration, full images for evaluation --------------------------------------

EVAL_RADII = (2.0, 3.0, 4.0)
EVAL_NOISE = 1.0 / 255.0


def split_scan(found: Scan, seed: int = 0) -> tuple[dict[str, list[Pair]], bool]:
    """The split of what a loader found: the recorded split of a known real folder (`edge_deblur.splits`), else
    `split` by scene from `seed`; and whether it was the recorded one."""
    from edge_deblur.splits import recorded_split

    parts = recorded_split(found.root, found.pairs)
    return (parts, True) if parts is not None else (split(found.pairs, seed), False)


def load_split(data, dataset: str, part: str, seed: int = 0, blur: str = "defocus") -> list[Pair]:
    """Scan `data` and return one part ('train', 'val', 'test' or 'all') of its scene split.

    Raises:
        DataError: unknown part, or the part is empty.
    """
    found = scan(data, dataset, blur)
    pairs = found.pairs
    if part == "all":
        return pairs
    parts, _ = split_scan(found, seed)
    if part not in parts:
        raise DataError(f"unknown split '{part}'; choose train, val, test or all")
    if not parts[part]:
        raise DataError(f"{data}: the {part} split is empty ({len(pairs)} pairs in all; need at least 3 scenes)")
    return parts[part]


def degrade_for_eval(sharp: np.ndarray, index: int, seed: int = 0, radii: Sequence[float] = EVAL_RADII):
    """The fixed synthetic degradation of the `index`-th evaluation image: radius cycles through `radii`."""
    from edge_deblur.blur import defocus

    radius = radii[index % len(radii)]
    return defocus(sharp, radius, noise_sigma=EVAL_NOISE, rng=seed * 100003 + index), radius


def match_size(blurred: np.ndarray, sharp: np.ndarray, pair: Pair) -> np.ndarray:
    """`blurred` resized to `sharp`'s size when only the resolution differs (same aspect ratio within 2%).

    Raises:
        DataError: the shapes differ otherwise; stretching one onto the other would misalign every pixel.
    """
    from edge_deblur.images import resize

    (bh, bw), (sh, sw) = blurred.shape[:2], sharp.shape[:2]
    if (bh, bw) == (sh, sw):
        return blurred
    if abs(bw * sh - sw * bh) > 0.02 * sw * bh:
        raise DataError(f"{pair.blurred}: {bw}x{bh}, its sharp partner {pair.sharp} is {sw}x{sh}: not the same "
                        "picture at another resolution (align the pair first: edge-deblur data align)")
    return resize(blurred, sh, sw)


def eval_pairs(data, dataset: str, split: str = "test", seed: int = 0, blur: str = "defocus"
               ) -> Iterator[tuple[np.ndarray, np.ndarray, str]]:
    """Full-size (blurred, sharp, name) images of one split; synthetic blur is fixed by `seed`.

    Real pairs of different resolutions get the blurred image resized to the sharp one's size (`match_size`).
    """
    from edge_deblur.images import read_image

    for i, pair in enumerate(load_split(data, dataset, split, seed, blur)):
        sharp = read_image(pair.sharp)
        if pair.blurred is None:
            blurred, radius = degrade_for_eval(sharp, i, seed)
            yield blurred, sharp, f"{pair.sharp.stem}@r{radius:g}"
        else:
            yield match_size(read_image(pair.blurred), sharp, pair), sharp, pair.sharp.stem
