"""Does the model leave flat content alone? Uniform gray photos and a slow ramp through the runtime, as `deblur` runs.

A flat area (sky, a wall, a defocused background) has nothing to deblur, so the output should equal the input.
Release 4 brightened it by up to 10 levels of 255 (the net's own response; release 5 was trained with smooth
in-focus content to fix that). A float file shows what the net does; an int8 file adds the rounding of its
activations, which in a flat area is the same at every pixel and so does not average out: at a few input levels it
can shift the whole area by several levels.

For each .tflite file: the mean change (output minus input, levels of 255, all channels) of a uniform gray photo at
16 levels (8, 24, ..., 248), and the mean absolute change of a horizontal ramp from 40 to 210; once as `deblur` runs
photos and once without its flat-area guard (`guard_flat=False`: the file's own response, which the guard hides on
these exactly flat photos).

Usage (from the repository root):
    python benchmarks/flat_response.py            # the bundled float16 and int8 files -> results/flat_response.json
    python benchmarks/flat_response.py --model runs/x/unet_s3_int8.tflite --out /tmp/flat.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from edge_deblur.export import FLAT_LEVELS  # the levels `export` checks each file on (no TensorFlow import)

ROOT = Path(__file__).resolve().parents[1]
RAMP = (40, 210)


def measure(model: str, size: tuple[int, int] = (683, 1024), levels=FLAT_LEVELS, scale: str | float = "auto",
            passes: int = 2, views: int = 4, guard: bool = True) -> dict:
    """The flat and ramp responses of one .tflite file run by `Deblurrer` (8-bit in, 8-bit out); `guard`: its
    flat-area guard (`guard_flat`)."""
    from edge_deblur.runtime import Deblurrer

    d = Deblurrer(model, scale=scale, passes=passes, views=views, guard_flat=guard)
    h, w = size
    shift = {}
    for g in levels:
        out = d(np.full((h, w, 3), g, np.uint8))
        shift[g] = float(out.astype(np.float64).mean() - g)
    ramp = np.tile(np.linspace(*RAMP, w)[None, :, None], (h, 1, 3)).round().astype(np.uint8)
    ramp_change = float(np.abs(d(ramp).astype(np.float64) - ramp).mean())
    worst = max(shift, key=lambda g: abs(shift[g]))
    return {"model": str(model), "precision": d.precision, "size": [h, w], "scale": scale, "passes": passes,
            "views": views, "guard": guard, "gray_shift": {str(g): round(v, 2) for g, v in shift.items()},
            "mean_abs_shift": round(float(np.mean(np.abs(list(shift.values())))), 2),
            "worst": {"level": worst, "shift": round(shift[worst], 2)},
            "levels_off_by_more_than_2": sum(abs(v) > 2 for v in shift.values()),
            "ramp_mean_abs_change": round(ramp_change, 2)}


def main(argv: list[str] | None = None) -> int:
    from edge_deblur._io import write_json
    from edge_deblur.model_files import bundled_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", help=".tflite file, repeatable (default: the bundled float16 "
                        "and int8 files of export/manifest.json)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "flat_response.json")
    args = parser.parse_args(argv)
    models = args.model or [str(bundled_model(p)) for p in ("float16", "int8")]
    results = [measure(m, guard=g) for m in models for g in (True, False)]
    write_json(args.out, {"rows": results})
    for r in results:
        name = Path(r["model"]).name + ("" if r["guard"] else " (no guard)")
        print(f"{name}: gray shift mean |{r['mean_abs_shift']:.2f}| levels, worst "
              f"{r['worst']['shift']:+.1f} at gray {r['worst']['level']}, {r['levels_off_by_more_than_2']} of "
              f"{len(r['gray_shift'])} levels off by > 2; ramp {r['ramp_mean_abs_change']:.2f}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
