"""Does the model leave in-focus photos alone? Run an exported model on SHARP real photos and measure the change.

A deblurring model that sharpens everything alike adds grain, halos and specks to regions that were already in
focus. Here the input is the sharp (f/22, everything in focus) shot of each `real-dpdd-val` scene and, for
contrast, its blurred (f/4) partner. Each goes through the runtime as `deblur` runs photos (8-bit in, 8-bit out).
For each we report PSNR of the output against its own input (how much the model changed it; higher = less change)
and the share of pixels changed by more than 4 levels (of 255) in any channel.

The f/22 shots are not in focus everywhere: the far backgrounds of several scenes are still soft, and sharpening
them is deblurring, not damage. So the blurred shots' own in-focus regions are measured too: pixels whose 15x15
window differs from the f/22 shot by less than 1e-4 in mean squared error (RMS 2.5/255; mostly smooth surfaces
in the focal plane). There we report the share changed by more than 4/255, and the local PSNR against the f/22
shot of the input and of the output.

Usage (from the repository root):
    python benchmarks/in_focus.py                       # bundled int8 -> benchmarks/results/in_focus.json
    python benchmarks/in_focus.py --model export/unet_s3_float16.tflite --out /tmp/in_focus.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def measure(model: str | None, data_root: Path, scale: str = "auto", passes: int = 2) -> dict:
    """Per-scene change of the sharp and the blurred photo under the model (see the module docstring)."""
    from scipy.ndimage import uniform_filter

    from edge_deblur.images import read_image, to_float
    from edge_deblur.metrics import psnr
    from edge_deblur.runtime import Deblurrer
    from edge_deblur.splits import DPDD_DEV_VAL

    d = Deblurrer(model, scale=scale, passes=passes)
    rows = []
    for name in DPDD_DEV_VAL:
        row = {"scene": name}
        images = {}
        for kind in ("sharp", "blurred"):
            img8 = read_image(data_root / "dpdd_dev" / kind / f"{name}.png", keep_uint8=True)
            out8 = d(img8)
            changed = np.abs(out8.astype(np.int16) - img8).max(axis=2) > 4
            img, out = to_float(img8), to_float(out8)
            images[kind] = img, out, changed
            row[f"{kind}_psnr_out_vs_in"] = psnr(out, img)
            row[f"{kind}_changed_4_255"] = float(changed.mean())
        sharp, (blurred, out, changed) = images["sharp"][0], images["blurred"]
        focus = uniform_filter(np.square(sharp - blurred).mean(axis=2), 15) < 1e-4
        row["in_focus_share"] = float(focus.mean())
        row["in_focus_changed_4_255"] = float(changed[focus].mean())
        row["in_focus_mse_input"] = float(np.square(blurred - sharp).mean(axis=2)[focus].mean())
        row["in_focus_mse_output"] = float(np.square(out - sharp).mean(axis=2)[focus].mean())
        rows.append(row)
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "scene"}
    for kind in ("input", "output"):  # PSNR of the mean squared error over the scenes' in-focus regions
        mean[f"in_focus_psnr_{kind}"] = float(10 * np.log10(1 / mean[f"in_focus_mse_{kind}"]))
    return {"model": str(d.path), "precision": d.precision,
            "data": "real-dpdd-val scenes: the sharp f/22 shot and the blurred f/4 shot, and the f/4 shot's in-focus "
                    "regions (15x15 windows within MSE 1e-4 of the f/22 shot)",
            "scale": scale, "passes": passes, "mean": mean, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    from edge_deblur._io import write_json
    from edge_deblur.data import default_data_root

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help=".tflite file (default: the bundled int8 model)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "in_focus.json")
    parser.add_argument("--scale", default="auto", help="processing scale: auto (as `deblur`) or a number in (0, 1]")
    parser.add_argument("--passes", type=int, choices=(1, 2), default=2, help="2 (as `deblur` runs photos) or 1")
    args = parser.parse_args(argv)
    root = default_data_root()
    if root is None or not (root / "dpdd_dev").is_dir():
        print("error: ../shared/data/dpdd_dev not found (set EDGE_DEBLUR_DATA)", file=sys.stderr)
        return 2
    result = measure(args.model, root, args.scale, args.passes)
    write_json(args.out, result)
    m = result["mean"]
    print(f"sharp input:   output vs input {m['sharp_psnr_out_vs_in']:.2f} dB, "
          f"{100 * m['sharp_changed_4_255']:.2f}% of pixels changed by > 4/255")
    print(f"blurred input: output vs input {m['blurred_psnr_out_vs_in']:.2f} dB, "
          f"{100 * m['blurred_changed_4_255']:.2f}% of pixels changed by > 4/255")
    print(f"in-focus regions of the blurred input ({100 * m['in_focus_share']:.1f}% of pixels): "
          f"{100 * m['in_focus_changed_4_255']:.1f}% changed by > 4/255; PSNR vs the f/22 shot there "
          f"{m['in_focus_psnr_input']:.1f} dB in, {m['in_focus_psnr_output']:.1f} dB out")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
