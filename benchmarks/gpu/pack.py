"""Pack the release training data for the GPU machine, here (the device gets the repo and <= 64 MiB beside it).

Writes `.gpudata/` (git-ignored; never commit it: the photos belong to their owners, see ../shared/data/README.md):
- `dpdd_train/{blurred,sharp}/NAME.jpg`: the dpdd_dev TRAIN scenes of the fixed scene split (seed 0, the split
  `edge-deblur train` and `bench --protocol real-dpdd-val` use), JPEG q95 without chroma subsampling (~41 dB from
  the PNGs, far below what the net can tell; it keeps the carried data under the size limit);
- `photos/SET_NAME.jpg`: the train photos of the synthetic sources (same split), JPEG q95 (sunhays80 copied as is);
- `val.npz`: centre crops of the dpdd_dev VAL scenes (uint8), only to log progress on the device;
- `split.json`: which scene went where.

Usage: python3 benchmarks/gpu/pack.py [--data ../shared/data] [--out .gpudata]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SYNTHETIC = ("cbsd68", "mcmaster18", "sunhays80")


def _jpeg(src: Path, dst: Path) -> None:
    from PIL import Image

    if src.suffix.lower() in (".jpg", ".jpeg"):
        shutil.copyfile(src, dst)
        return
    Image.open(src).convert("RGB").save(dst, "JPEG", quality=95, subsampling=0)


def _val_crops(pairs, size: int) -> tuple[np.ndarray, np.ndarray]:
    from edge_deblur.images import read_image

    xs, ys = [], []
    for p in pairs:
        b, s = (read_image(f, keep_uint8=True) for f in (p.blurred, p.sharp))
        h, w = s.shape[:2]
        for dy, dx in ((h // 3, w // 3), (2 * h // 3, 2 * w // 3)):
            y0, x0 = min(max(dy - size // 2, 0), h - size), min(max(dx - size // 2, 0), w - size)
            xs.append(b[y0:y0 + size, x0:x0 + size])
            ys.append(s[y0:y0 + size, x0:x0 + size])
    return np.stack(xs), np.stack(ys)


def main(argv=None) -> int:
    from edge_deblur.sources import parse_source, split_source

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=ROOT / ".gpudata")
    ap.add_argument("--val-crop", type=int, default=192)
    a = ap.parse_args(argv)
    if a.out.exists():
        shutil.rmtree(a.out)
    real = split_source(parse_source(f"pairs={a.data / 'dpdd_dev'}"), 0)
    synth = split_source(parse_source("synthetic=" + ",".join(str(a.data / "photos" / s) for s in SYNTHETIC)), 0)
    for kind in ("blurred", "sharp"):
        (a.out / "dpdd_train" / kind).mkdir(parents=True)
    (a.out / "photos").mkdir()
    for p in real.parts["train"]:
        _jpeg(p.blurred, a.out / "dpdd_train" / "blurred" / (p.sharp.stem + ".jpg"))
        _jpeg(p.sharp, a.out / "dpdd_train" / "sharp" / (p.sharp.stem + ".jpg"))
    for p in synth.parts["train"]:
        _jpeg(p.sharp, a.out / "photos" / (p.scene.replace("/", "_") + ".jpg"))
    x, y = _val_crops(real.parts["val"], a.val_crop)
    np.savez_compressed(a.out / "val.npz", x=x, y=y)
    split = {"dpdd_dev": {k: [p.scene for p in v] for k, v in real.parts.items()},
             "synthetic": {k: [p.scene for p in v] for k, v in synth.parts.items()}}
    (a.out / "split.json").write_text(json.dumps(split, indent=1))
    mb = sum(f.stat().st_size for f in a.out.rglob("*") if f.is_file()) / 2**20
    print(f"wrote {a.out}: {len(real.parts['train'])} dpdd train pairs, {len(synth.parts['train'])} photos, "
          f"{len(x)} val crops; {mb:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
