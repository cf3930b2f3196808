"""Area 3: bad datasets given to `edge-deblur train`, `data align` and `bench` with tiny settings.

Expectation per case: `refuse` (a clean error) or `either` (a clean error, or a finished run that wrote its
result: model.keras for train, report.json for align, the json for bench).
"""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.campaign.common import Case, clean_error, cli, failure, timed
from benchmarks.campaign.fixtures import smooth_image

AREA = "datasets"
TRAIN = ["--model", "tiny", "--epochs", "1", "--size", "32", "--batch-size", "2", "--steps-per-epoch", "1"]


def _img(path: Path, h: int = 48, w: int = 56, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(smooth_image(h, w, seed)).save(path)


def _pairs(root: Path, names, sizes=None, blurred="blurred", sharp="sharp") -> Path:
    for k, name in enumerate(names):
        h, w = (sizes or {}).get(name, (48, 56))
        _img(root / blurred / name, h, w, k)
        _img(root / sharp / name, h, w, k + 100)
    return root


def _datasets(d: Path) -> dict[str, tuple[Path, str]]:
    """name -> (folder, how to read it: synthetic | pairs | kwentar)."""
    six = [f"{k}.png" for k in range(6)]
    sets: dict[str, tuple[Path, str]] = {}
    (d / "empty").mkdir(parents=True, exist_ok=True)
    sets["empty"] = (d / "empty", "*")
    sets["missing"] = (d / "missing", "*")
    (d / "a_file").write_text("x")
    sets["a_file"] = (d / "a_file", "*")
    for k in range(2):
        (d / "text_only" / f"{k}.png").parent.mkdir(parents=True, exist_ok=True)
        (d / "text_only" / f"{k}.png").write_text("not an image")
        (d / "non_image_files" / f"{k}.txt").parent.mkdir(parents=True, exist_ok=True)
        (d / "non_image_files" / f"{k}.txt").write_text("x")
    sets["corrupt_only"] = (d / "text_only", "*")
    sets["non_image_files"] = (d / "non_image_files", "*")
    for k in range(6):
        _img(d / "tiny_images" / f"{k}.png", 8, 8, k)
        _img(d / "one_pixel" / f"{k}.png", 1, 1, k)
        _img(d / "mixed_corrupt" / f"{k}.png", seed=k)
    (d / "mixed_corrupt" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    _img(d / "single" / "0.png")
    sets.update({"tiny_images_8px": (d / "tiny_images", "synthetic"),
                 "one_pixel_images": (d / "one_pixel", "synthetic"),
                 "mixed_with_corrupt": (d / "mixed_corrupt", "synthetic"), "single_image": (d / "single", "synthetic")})
    for k in range(6):
        _img(d / "nested" / "a" / "b" / "c" / f"{k}.png", seed=k)
    sets["nested_deep"] = (d / "nested", "synthetic")
    loop = d / "symlink_loop"
    loop.mkdir(exist_ok=True)
    _img(loop / "0.png")
    if not (loop / "again").is_symlink():
        (loop / "again").symlink_to(loop)
    sets["symlink_loop"] = (loop, "synthetic")
    many = d / "many_tiny"
    if not many.is_dir():
        for k in range(3000):
            _img(many / f"{k:04d}.png", 4, 4, k % 7)
    sets["3000_tiny_files"] = (many, "synthetic")
    sets["pairs_blurred_only"] = (_pairs(d / "blurred_only", six, sharp="blurred"), "pairs")
    sets["pairs_unpaired"] = (d / "unpaired", "pairs")
    for k in range(6):
        _img(d / "unpaired" / "blurred" / f"b{k}.png", seed=k)
        _img(d / "unpaired" / "sharp" / f"s{k}.png", seed=k)
    sets["pairs_mismatched_sizes"] = (d / "mismatch", "pairs")
    for k in range(6):
        _img(d / "mismatch" / "blurred" / f"{k}.png", 48, 56, k)
        _img(d / "mismatch" / "sharp" / f"{k}.png", 40, 60, k)
    sets["pairs_tiny"] = (_pairs(d / "pairs_tiny", six, {n: (6, 6) for n in six}), "pairs")
    sets["pairs_one"] = (_pairs(d / "pairs_one", ["0.png"]), "pairs")
    sets["pairs_corrupt_sharp"] = (_pairs(d / "pairs_corrupt", six), "pairs")
    (d / "pairs_corrupt" / "sharp" / "0.png").write_bytes(b"junk")
    sets["pairs_ok"] = (_pairs(d / "pairs_ok", six), "pairs")
    sets["kwentar_missing_folders"] = (d / "kw_missing", "kwentar")
    _img(d / "kw_missing" / "sharp" / "1_IPHONE_S.jpg")
    sets["kwentar_wrong_names"] = (d / "kw_names", "kwentar")
    for k in range(4):
        _img(d / "kw_names" / "sharp" / f"x{k}.jpg", seed=k)
        _img(d / "kw_names" / "defocused_blurred" / f"y{k}.jpg", seed=k)
    return sets


def _commands(d: Path, sets: dict[str, tuple[Path, str]]) -> list[tuple[str, list[str], str, Path]]:
    """(case name, CLI args, expect, where a finished run leaves its result)."""
    cmds = []
    ok_sets = {"mixed_with_corrupt", "nested_deep", "single_image", "symlink_loop", "3000_tiny_files", "pairs_ok",
               "pairs_corrupt_sharp", "pairs_one", "tiny_images_8px"}
    for name, (folder, kind) in sets.items():
        expect = "either" if name in ok_sets else "refuse"
        kinds = ["synthetic", "pairs"] if kind == "*" else [kind]
        for k in kinds:
            out = d / "out" / f"train_{name}_{k}"
            cmds.append((f"train/{name}/{k}", ["train", "--data", folder, "--dataset", k, *TRAIN, "--out", out],
                         expect, out / "model.keras"))
        if kind in ("pairs", "kwentar", "*"):
            k = "pairs" if kind == "*" else kind
            out = d / "out" / f"align_{name}"
            cmds.append((f"align/{name}", ["data", "align", "--data", folder, "--dataset", k, "--out", out,
                                           "--workers", "1", "--no-features"], expect, out / "report.json"))
        if kind in ("pairs", "*"):
            out = d / "out" / f"bench_{name}.json"
            cmds.append((f"bench/{name}", ["bench", "--model", "tiny", "--data", folder, "--dataset", "pairs",
                                           "--size", "32", "--runs", "1", "--warmup", "0", "--precision", "int8",
                                           "--json", out], expect, out))
    return cmds


def _one(name: str, args: list, expect: str, result: Path) -> Case:
    def check():
        if result.parent.name.startswith(("train_", "align_")):
            shutil.rmtree(result.parent, ignore_errors=True)
        result.unlink(missing_ok=True)
        r = cli(*args, timeout=240)
        bad = failure(r)
        if bad:
            return bad
        if r.rc == 0 and expect == "either":
            return ("ok", f"finished, wrote {result.name}") if result.is_file() else \
                ("wrong", f"exit 0 but no {result.name}")
        kind, why = clean_error(r)
        if kind == "ok" and result.is_file() and name.startswith("train"):
            return "wrong", f"refused but left {result.name}"
        return kind, why

    return timed(AREA, name, check)


def run_area(work: Path, workers: int = 2, only: set[str] | None = None) -> list[Case]:
    d = work / "datasets"
    d.mkdir(parents=True, exist_ok=True)
    cmds = [c for c in _commands(d, _datasets(d)) if only is None or c[0] in only]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda c: _one(*c), cmds))
