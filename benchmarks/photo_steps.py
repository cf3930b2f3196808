"""The numpy/Pillow steps of `deblur` around the model on a 12 MP photo, each as it runs now against how it ran
before, in one process, alternating: the shrink to the `auto` processing scale and enlarging a correction and adding
it to the photo (`edge_deblur.resample`: row strips, against each channel whole), and the flat-area guard's local
statistics at native size (`multiscale.flat_keep`: integer window sums for a uint8 photo, against the float64 path
a float photo takes); time, and how far apart the results are.

Both ways run in one process, alternating, on the same photo: the blurred shot of the first `real-dpdd-val` scene
enlarged from 1024x683 to 4000x2668 (bicubic, as `passes_cost.py`), as uint8. The correction is the photo's own
detail at the processing scale (small minus its 3x3 box mean), a stand-in with a real photo's structure.

Usage (from the repository root):
    python benchmarks/photo_steps.py                    # -> benchmarks/results/photo_steps.json
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def shrink_whole(photo: np.ndarray, height: int, width: int) -> np.ndarray:
    """Each channel converted to float whole and box-shrunk whole (how it ran before strips)."""
    from edge_deblur.images import to_float
    from edge_deblur.resample import resize_channel

    return np.stack([resize_channel(to_float(photo[..., c]), height, width, True)
                     for c in range(photo.shape[2])], axis=2)


def add_whole(photo: np.ndarray, correction: np.ndarray, rows: int = 256) -> np.ndarray:
    """Each channel of the correction enlarged whole, then added to the uint8 photo in strips (how it ran before)."""
    from edge_deblur.images import to_float, to_uint8
    from edge_deblur.resample import resize_channel

    h, w = photo.shape[:2]
    out = np.empty_like(photo)
    for c in range(photo.shape[2]):
        corr = resize_channel(correction[..., c], h, w, False)
        for y in range(0, h, rows):
            out[y:y + rows, :, c] = to_uint8(to_float(photo[y:y + rows, :, c]) + corr[y:y + rows])
    return out


def main(argv: list[str] | None = None) -> int:
    from PIL import Image

    from edge_deblur._io import write_json
    from edge_deblur.data import default_data_root
    from edge_deblur.multiscale import _add_enlarged, _box_mean, _scaled_size, flat_keep, resolve_scale
    from edge_deblur.resample import resize_float
    from edge_deblur.splits import DPDD_DEV_VAL

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "photo_steps.json")
    args = p.parse_args(argv)
    scene = default_data_root() / "dpdd_dev" / "blurred" / f"{DPDD_DEV_VAL[0]}.png"
    photo = np.asarray(Image.open(scene).convert("RGB").resize((4000, 2668), Image.Resampling.BICUBIC))
    sh, sw = _scaled_size(*photo.shape[:2], resolve_scale("auto", *photo.shape[:2]))
    steps = {"shrink": {"before": lambda: shrink_whole(photo, sh, sw),
                        "now": lambda: resize_float(photo, sh, sw, shrink=True)}}
    small = resize_float(photo, sh, sw, shrink=True)
    blurred = np.stack([_box_mean(small[..., c].astype(np.float64), 3) for c in range(3)], axis=2)
    correction = (small - blurred).astype(np.float32)
    steps["enlarge and add"] = {"before": lambda: add_whole(photo, correction),
                                "now": lambda: _add_enlarged(photo, correction)}
    as_float = photo.astype(np.float32) / 255  # made once: the float path's own conversion is per strip
    steps["flat-area guard"] = {"before": lambda: flat_keep(as_float), "now": lambda: flat_keep(photo)}
    result = {"photo": f"{scene.name} (real-dpdd-val, blurred) enlarged to 4000x2668, uint8; processing scale "
                       f"{sw}x{sh} (auto)", "runs": args.runs, "steps": {}}
    for step, ways in steps.items():
        times = {k: [] for k in ways}
        outs = {k: f() for k, f in ways.items()}  # warm-up, and the results compared below
        for _ in range(args.runs):
            for k, f in ways.items():
                t0 = time.perf_counter()
                f()
                times[k].append(time.perf_counter() - t0)
        # images in levels of 255; the guard's keep share (0-1) as it is
        unit = 1.0 if step == "flat-area guard" else 255.0
        a, b = (outs[k].astype(np.float64) * (unit if outs[k].dtype != np.uint8 else 1.0) for k in ways)
        median = {k: statistics.median(v) for k, v in times.items()}
        result["steps"][step] = {"median_seconds": median, "seconds": times,
                                 "speedup": median["before"] / median["now"],
                                 "max_abs_diff": float(np.abs(a - b).max()),
                                 "diff_unit": "keep share (0-1)" if unit == 1.0 else "levels of 255",
                                 "share_of_values_differing": float(np.mean(a != b))}
        print(f"{step}: before {median['before']:.3f} s, now {median['now']:.3f} s "
              f"({median['before'] / median['now']:.1f}x); max difference {np.abs(a - b).max():.2g} "
              f"({result['steps'][step]['diff_unit']}), {np.mean(a != b):.2e} of values differ")
    write_json(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
