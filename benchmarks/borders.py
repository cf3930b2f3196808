"""What the photo's outer border costs: the Keras model with its convolutions' zero padding there (as the toolkit
runs it) against a photo mirrored outwards by a margin first, on `defocus-kodak24` and on real dpdd_dev pairs.

The windows of the runtime get `halo` pixels of real context on their inner edges; at the photo's own border the
network's "same" convolutions see zeros. The synthetic protocol blurs its pairs with the photo mirrored at the
border (`edge_deblur.blur.convolve`), so a mirrored margin matches how its blurred border was made; a real photo's
border holds light from outside the frame, which neither zeros nor a mirror know. This measures both.

Usage (from the repository root):
    python benchmarks/borders.py                    # bundled .keras -> benchmarks/results/borders.json
    python benchmarks/borders.py --margins 0 16 32 --limit 12
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def restore_mirrored(model, image: np.ndarray, margin: int, stride: int) -> np.ndarray:
    """The Keras model on `image` mirrored outwards by `margin` px on every side (0: as is), padded at the bottom
    and right to the stride by mirroring as the toolkit does, cropped back; float32 in [0, 1]."""
    h, w = image.shape[:2]
    bottom, right = (-(h + 2 * margin)) % stride, (-(w + 2 * margin)) % stride
    x = np.pad(image, ((margin, margin + bottom), (margin, margin + right), (0, 0)), mode="reflect")
    y = np.asarray(model(x[None].astype(np.float32), training=False))[0, margin:margin + h, margin:margin + w]
    return np.clip(y, 0.0, 1.0)


def measure(model, pairs, margins) -> dict:
    """Mean PSNR/SSIM over `pairs` ((name, blurred, sharp) float images) for each margin, with identity beside."""
    from edge_deblur.metrics import psnr, ssim
    from edge_deblur.models import model_stride

    stride = model_stride(model)
    scores = {m: [] for m in margins}
    identity = []
    for _, blurred, sharp in pairs:
        identity.append((psnr(blurred, sharp), ssim(blurred, sharp)))
        for m in margins:
            y = restore_mirrored(model, blurred, m, stride)
            scores[m].append((psnr(y, sharp), ssim(y, sharp)))
    base = np.mean(identity, axis=0)
    rows = []
    for m, v in scores.items():
        p, s = np.mean(v, axis=0)
        rows.append({"margin": m, "psnr": float(p), "ssim": float(s), "psnr_over_identity": float(p - base[0]),
                     "ssim_over_identity": float(s - base[1])})
    return {"pairs": len(identity), "identity_psnr": float(base[0]), "identity_ssim": float(base[1]), "rows": rows}


def _data_sets(data_root: Path, limit: int | None):
    """(name, description, pairs) of the sets measured: Kodak (synthetic) and dpdd_dev's two splits (real)."""
    from edge_deblur.bench.sets import kodak24_set
    from edge_deblur.data import scan_pairs
    from edge_deblur.images import read_image
    from edge_deblur.splits import recorded_split

    kodak = kodak24_set(data_root / "photos" / "kodak24", limit=limit)
    yield "defocus-kodak24", kodak.description, ((p.name, p.blurred, p.sharp) for p in kodak)  # one pair at a time
    found = sorted(scan_pairs(data_root / "dpdd_dev").pairs, key=lambda p: p.sharp.stem)
    parts = recorded_split(data_root / "dpdd_dev", found)
    for split in ("val", "train"):
        yield (f"dpdd_dev-{split}", f"dpdd_dev {split} scenes, real aperture defocus, 1024x683, whole images",
               ((p.sharp.stem, read_image(p.blurred), read_image(p.sharp)) for p in parts[split][:limit]))


def main(argv: list[str] | None = None) -> int:
    from edge_deblur._io import write_json
    from edge_deblur.data import default_data_root
    from edge_deblur.export import load_keras

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "export" / "unet_s3.keras", help=".keras file")
    parser.add_argument("--margins", type=int, nargs="+", default=[0, 16, 32], help="mirrored margins (px) to try")
    parser.add_argument("--limit", type=int, help="at most this many pairs per set")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "borders.json")
    args = parser.parse_args(argv)
    root = default_data_root()
    if root is None or not (root / "dpdd_dev").is_dir() or not (root / "photos" / "kodak24").is_dir():
        print("error: ../shared/data (dpdd_dev, photos/kodak24) not found (set EDGE_DEBLUR_DATA)", file=sys.stderr)
        return 2
    model = load_keras(args.model)
    result = {"model": str(args.model), "margins": args.margins, "sets": {}}
    for name, description, pairs in _data_sets(root, args.limit):
        result["sets"][name] = {"data": description, **measure(model, pairs, args.margins)}
        r = result["sets"][name]
        cells = ", ".join(f"{row['margin']} px {row['psnr_over_identity']:+.3f} dB / {row['ssim_over_identity']:+.4f}"
                          for row in r["rows"])
        print(f"{name} ({r['pairs']} pairs, identity {r['identity_psnr']:.2f} dB): {cells}")
    write_json(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
