"""Does the model leave in-focus photos alone? Run an exported model on SHARP real photos and measure the change.

A deblurring model that sharpens everything alike adds grain, halos and specks to regions that were already in
focus. Here the input is the sharp (f/22, everything in focus) shot of each `real-dpdd-val` scene and, for
contrast, its blurred (f/4) partner. Each goes through the runtime as `deblur` runs photos (8-bit in, 8-bit out).
For each we report PSNR of the output against its own input (how much the model changed it; higher = less change)
and the share of pixels changed by more than 4 levels (of 255) in any channel.

The f/22 shots are not in focus everywhere: the far backgrounds of several scenes are still soft, and sharpening
them is deblurring, not damage. So the blurred shots' own in-focus regions are measured too, in two kinds:
- "in_focus" (mostly smooth surfaces in the focal plane): pixels whose 15x15 window differs from the f/22 shot by
  less than 1e-4 in mean squared error (RMS 2.5/255);
- "textured": the other pixels whose 15x15 window differs from the f/22 shot by less than a quarter of the f/22
  shot's own fine-texture energy there (most of its fine detail is in the f/4 shot too: in focus, textured).
For each: the share changed by more than 4/255 (tone shifts count), the PSNR against the f/22 shot of the input
and of the output, and the fine scale alone, where grain and specks live (the image minus its Gaussian blur of
sigma 1.5 px): its RMS in the input, the output and the f/22 shot, and the share of pixels whose fine-scale change
exceeds 4/255 and 8/255 in any channel.

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


FINE_SIGMA = 1.5  # px: the fine scale is the image minus its Gaussian blur of this sigma
WINDOW = 15  # px: the side of the windows that decide which pixels are in focus


def _fine(img: np.ndarray) -> np.ndarray:
    """The fine scale of an (h, w, 3) float image: itself minus its Gaussian blur (per channel)."""
    from scipy.ndimage import gaussian_filter

    return img - gaussian_filter(img, (FINE_SIGMA, FINE_SIGMA, 0))


def _regions(squared_error: np.ndarray, sharp_fine_ms: np.ndarray) -> dict[str, np.ndarray]:
    """The blurred shot's in-focus pixels: "in_focus" (close to the f/22 shot) and "textured" (see the docstring),
    from the per-pixel squared difference of the two shots and the f/22 shot's per-pixel fine-scale energy."""
    from scipy.ndimage import uniform_filter

    local_mse = uniform_filter(squared_error, WINDOW)
    texture = uniform_filter(sharp_fine_ms, WINDOW)
    close = local_mse < 1e-4
    return {"in_focus": close, "textured": ~close & (local_mse < 0.25 * texture)}


def _region_stats(key: str, region: np.ndarray, maps: dict[str, np.ndarray]) -> dict:
    """One region's share and the means of the per-pixel `maps` over it (only the share where the scene has no
    such pixel)."""
    stats = {f"{key}_share": float(region.mean())}
    if region.any():
        stats |= {f"{key}_{name}": float(m[region].mean()) for name, m in maps.items()}
    return stats


def _summary(rows: list[dict]) -> dict:
    """Means over the scenes (of those that have the region); squared errors also as PSNR, fine energies as RMS."""
    keys = dict.fromkeys(k for r in rows for k in r if k != "scene")
    mean = {k: float(np.mean([r[k] for r in rows if k in r])) for k in keys}
    for key in (k for k in ("in_focus", "textured") if f"{k}_mse_input" in mean):  # no scene may have one
        for name in ("input", "output"):  # PSNR of the mean squared error over the scenes' regions
            mean[f"{key}_psnr_{name}"] = float(10 * np.log10(1 / mean[f"{key}_mse_{name}"]))
        for name in ("input", "output", "reference"):  # in levels of 255
            mean[f"{key}_fine_rms_{name}"] = float(255 * np.sqrt(mean[f"{key}_fine_ms_{name}"]))
    for name in ("input", "output"):
        mean[f"sharp_fine_rms_{name}"] = float(255 * np.sqrt(mean[f"sharp_fine_ms_{name}"]))
    return mean


def measure(model: str | None, data_root: Path, scale: str = "auto", passes: int = 2, views: int = 1) -> dict:
    """Per-scene change of the sharp and the blurred photo under the model (see the module docstring)."""
    from edge_deblur.images import read_image, to_float
    from edge_deblur.metrics import psnr
    from edge_deblur.runtime import Deblurrer
    from edge_deblur.splits import DPDD_DEV_VAL

    d = Deblurrer(model, scale=scale, passes=passes, views=views)
    rows = []
    for name in DPDD_DEV_VAL:
        row = {"scene": name}
        images, outputs, changed = {}, {}, {}
        for kind in ("sharp", "blurred"):
            img8 = read_image(data_root / "dpdd_dev" / kind / f"{name}.png", keep_uint8=True)
            out8 = d(img8)
            changed[kind] = np.abs(out8.astype(np.int16) - img8).max(axis=2) > 4
            images[kind], outputs[kind] = to_float(img8), to_float(out8)
            row[f"{kind}_psnr_out_vs_in"] = psnr(outputs[kind], images[kind])
            row[f"{kind}_changed_4_255"] = float(changed[kind].mean())
        blurred, out, sharp = images["blurred"], outputs["blurred"], images["sharp"]
        fine = {"input": _fine(blurred), "output": _fine(out), "reference": _fine(sharp)}  # each computed once
        fine_ms = {k: np.square(v).mean(axis=2) for k, v in fine.items()}
        row["sharp_fine_ms_input"] = float(fine_ms["reference"].mean())  # the sharp shot is the reference
        row["sharp_fine_ms_output"] = float(np.square(_fine(outputs["sharp"])).mean())
        fine_change = np.abs(fine["output"] - fine["input"]).max(axis=2)  # the fine scale of the change (linear)
        maps = {"changed_4_255": changed["blurred"], "fine_changed_4_255": fine_change > 4 / 255,
                "fine_changed_8_255": fine_change > 8 / 255,
                "mse_input": np.square(blurred - sharp).mean(axis=2), "mse_output": np.square(out - sharp).mean(axis=2),
                **{f"fine_ms_{k}": v for k, v in fine_ms.items()}}
        for key, region in _regions(maps["mse_input"], fine_ms["reference"]).items():
            row |= _region_stats(key, region, maps)
        rows.append(row)
    return {"model": str(d.path), "precision": d.precision,
            "data": "real-dpdd-val scenes: the sharp f/22 shot and the blurred f/4 shot, and the f/4 shot's in-focus "
                    f"regions ({WINDOW}x{WINDOW} windows within MSE 1e-4 of the f/22 shot, or, where textured, "
                    "within a quarter of its fine-texture energy)",
            "fine_scale": f"the image minus its Gaussian blur of sigma {FINE_SIGMA} px",
            "scale": scale, "passes": passes, "views": views, "mean": _summary(rows), "rows": rows}


def main(argv: list[str] | None = None) -> int:
    from edge_deblur._io import write_json
    from edge_deblur.data import default_data_root

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help=".tflite file (default: the bundled int8 model)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "in_focus.json")
    parser.add_argument("--scale", default="auto", help="processing scale: auto (as `deblur`) or a number in (0, 1]")
    from edge_deblur.multiscale import PASSES
    from edge_deblur.views import VIEWS

    parser.add_argument("--passes", type=int, choices=PASSES, default=2, help="2 (as `deblur` runs photos) or 1")
    parser.add_argument("--views", type=int, choices=VIEWS, default=1,
                        help="test-time augmentation views (`deblur` runs 4)")
    args = parser.parse_args(argv)
    root = default_data_root()
    if root is None or not (root / "dpdd_dev").is_dir():
        print("error: ../shared/data/dpdd_dev not found (set EDGE_DEBLUR_DATA)", file=sys.stderr)
        return 2
    result = measure(args.model, root, args.scale, args.passes, args.views)
    write_json(args.out, result)
    m = result["mean"]
    print(f"sharp input:   output vs input {m['sharp_psnr_out_vs_in']:.2f} dB, "
          f"{100 * m['sharp_changed_4_255']:.2f}% of pixels changed by > 4/255")
    print(f"blurred input: output vs input {m['blurred_psnr_out_vs_in']:.2f} dB, "
          f"{100 * m['blurred_changed_4_255']:.2f}% of pixels changed by > 4/255")
    print(f"sharp input:   fine-scale RMS {m['sharp_fine_rms_input']:.2f} -> {m['sharp_fine_rms_output']:.2f} "
          "levels of 255")
    for key, label in (("in_focus", "in-focus regions of the blurred input"), ("textured", "textured in-focus ones")):
        if f"{key}_psnr_input" not in m:
            print(f"{label}: none found")
            continue
        print(f"{label} ({100 * m[f'{key}_share']:.1f}% of pixels):\n"
              f"  {100 * m[f'{key}_changed_4_255']:.1f}% changed by > 4/255; PSNR vs the f/22 shot "
              f"{m[f'{key}_psnr_input']:.1f} dB in, {m[f'{key}_psnr_output']:.1f} dB out\n"
              f"  fine scale: RMS {m[f'{key}_fine_rms_input']:.2f} in, {m[f'{key}_fine_rms_output']:.2f} out, "
              f"{m[f'{key}_fine_rms_reference']:.2f} in the f/22 shot;\n"
              f"  changed by > 4/255 at {100 * m[f'{key}_fine_changed_4_255']:.3f}% of pixels, "
              f"by > 8/255 at {100 * m[f'{key}_fine_changed_8_255']:.3f}%")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
