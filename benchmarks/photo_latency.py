"""Whole-photo latency: a 12 MP (4000x3000) photo through `Deblurrer` (tiling, blending, pre/post included).

Usage: python benchmarks/photo_latency.py [--model FILE ...] [--threads N] [--runs N] [--out results/photo_12mp.json]
Times every given .tflite (default: the bundled float16 and int8 exports) on the same synthetic-blurred photo,
interleaved, after one warm-up call; writes the medians as json and prints a table.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def test_photo(height: int = 3000, width: int = 4000, seed: int = 0) -> np.ndarray:
    """A photo-sized uint8 test image: a real Kodak photo tiled up if the shared data is present, else noise."""
    from edge_deblur.blur import defocus
    from edge_deblur.data import default_data_root
    from edge_deblur.images import read_image, to_uint8

    root = default_data_root()
    kodak = sorted((root / "photos" / "kodak24").glob("*.png")) if root else []
    base = read_image(kodak[0]) if kodak else np.random.default_rng(seed).random((512, 768, 3), dtype=np.float32)
    reps = (-(-height // base.shape[0]), -(-width // base.shape[1]), 1)
    big = np.tile(base, reps)[:height, :width]
    return to_uint8(defocus(big, 3.0, noise_sigma=1 / 255, rng=seed))


def main(argv: list[str] | None = None) -> int:
    from edge_deblur._io import write_json
    from edge_deblur.runtime import Deblurrer, bundled_model

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", action="append", type=Path, help=".tflite file (repeatable)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "photo_12mp.json")
    args = p.parse_args(argv)
    models = args.model or [bundled_model("float16"), bundled_model("int8")]
    photo = test_photo()
    runners = [Deblurrer(m, num_threads=args.threads) for m in models]
    times: dict[str, list[float]] = {str(r.path): [] for r in runners}
    for r in runners:  # warm-up
        r(photo)
    for _ in range(args.runs):
        for r in runners:
            t0 = time.perf_counter()
            r(photo)
            times[str(r.path)].append(time.perf_counter() - t0)
    rows = [{"model": Path(r.path).name, "precision": r.precision, "backend": r.backend, "threads": args.threads,
             "tile": list(r.input_size), "photo": list(photo.shape), "seconds_median": statistics.median(times[str(r.path)]),
             "seconds_all": times[str(r.path)]} for r in runners]
    for row in rows:
        print(f"{row['model']:28s} {row['precision']:8s} {row['photo'][1]}x{row['photo'][0]} in "
              f"{row['seconds_median']:.2f} s (median of {args.runs}; tiles {row['tile'][0]}x{row['tile'][1]})")
    write_json(args.out, {"machine": platform.platform(), "processor": platform.processor(), "runs": args.runs,
                          "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
