"""What `deblur`'s coarse second pass and its test-time augmentation views cost on a 12 MP photo: wall time and
peak memory of 1 pass, 2 passes, and 2 passes with 4 and 8 views.

Each run is a fresh `edge-deblur deblur` process on the same 12 MP JPEG, the bundled int8 file, `--scale auto`; runs
alternate between the settings. The photo is a real defocused one, so that the second pass does run: the blurred
shot of the first `real-dpdd-val` scene enlarged from 1024x683 to 4000x2668 (bicubic). Peak memory is each child's
own maximum resident set (ru_maxrss from wait4), the largest over its runs. Wall time includes start-up, decoding
and encoding, as a user sees it.

Usage (from the repository root):
    python benchmarks/passes_cost.py                    # -> benchmarks/results/passes_cost.json
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


SETTINGS = {"1 pass": (1, 1), "2 pass": (2, 1), "2 pass, 4 views": (2, 4), "2 pass, 8 views": (2, 8)}


def run_once(photo: Path, out: Path, passes: int, views: int) -> tuple[float, float]:
    """(wall seconds, peak resident MB) of one `deblur` process."""
    t0 = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "edge_deblur", "deblur", str(photo), "-o", str(out),
                              "--passes", str(passes), "--views", str(views), "--overwrite"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - t0
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: tell Popen, so it does not wait again
    if child.returncode != 0:
        raise subprocess.CalledProcessError(child.returncode, child.args)
    return seconds, usage.ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    from PIL import Image

    from edge_deblur._io import write_json
    from edge_deblur.data import default_data_root
    from edge_deblur.images import read_image
    from edge_deblur.multiscale import _scaled_size, coarse_weight, resize_float, resolve_scale
    from edge_deblur.runtime import Deblurrer
    from edge_deblur.splits import DPDD_DEV_VAL

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "passes_cost.json")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "photo.jpg"
        scene = default_data_root() / "dpdd_dev" / "blurred" / f"{DPDD_DEV_VAL[0]}.png"
        Image.open(scene).convert("RGB").resize((4000, 2668), Image.Resampling.BICUBIC).save(photo, quality=92)
        big = read_image(photo)
        small = resize_float(big, *_scaled_size(*big.shape[:2], resolve_scale("auto", *big.shape[:2])), shrink=True)
        weight = coarse_weight(Deblurrer()(small) - small)
        times, peaks = {k: [] for k in SETTINGS}, {k: 0.0 for k in SETTINGS}
        for _ in range(args.runs):
            for key, (passes, views) in SETTINGS.items():
                seconds, peak = run_once(photo, Path(tmp) / "out.jpg", passes, views)
                times[key].append(seconds)
                peaks[key] = max(peaks[key], peak)
    result = {"photo": f"{scene.name} (real-dpdd-val, blurred) enlarged to 4000x2668, JPEG; bundled int8 file, "
                       "deblur --scale auto",
              "coarse_weight": weight,
              "cores": os.cpu_count(), "runs": args.runs,
              "seconds": times,
              "median_seconds": {k: statistics.median(v) for k, v in times.items()},
              "peak_rss_mb": peaks}
    write_json(args.out, result)
    print(result["median_seconds"], result["peak_rss_mb"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
