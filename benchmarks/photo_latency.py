"""Whole photos before and after, in one run: blended 224x224 tiles ('tiles') vs resized windows ('strips').

Usage (the committed numbers; ~15 min on a quiet 2-core machine):
    python benchmarks/photo_latency.py --out benchmarks/results/photo_12mp.json
Quick check: python benchmarks/photo_latency.py --runs 1 --threads 2 --precision int8 --photos 2 --no-keras \
    --out /tmp/photo.json

It writes the json and a .md beside it with, for the bundled int8 and float16 files at 1 and 2 threads:
- the steady-state cost per pixel of one export-size tile (invoke only, median), the latency of a 12 MP
  (4000x3000) photo with each strategy (medians, interleaved), their ratio to pixels x cost per pixel, and the
  first photo after loading with the one-off cost of preparing the window size;
- seams: PSNR of each strategy's float32 output against one whole-image Keras pass of a 1536x2048 crop (needs
  TensorFlow; --no-keras skips it), beside the whole-image TFLite pass of the same file;
- peak process memory (VmHWM) of one child process per (file, size, strategy), uint8 photo in and out, 12 and
  48 MP (8000x6000);
  (latency and memory: the model in windows or tiles at native size, without `deblur`'s flat-area guard, whose
  own cost at native 12 MP is 0.4-0.5 s; `deblur` runs photos at the `auto` scale, see passes_cost.py)
- `deblur_files` on a folder of 12 MP JPEGs (default 20): photos per second and the share of time in inference.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
STRATEGIES = ("tiles", "strips")


def test_photo(height: int = 3000, width: int = 4000, seed: int = 0) -> np.ndarray:
    """A photo-sized uint8 test image: a real Kodak photo tiled up if the shared data is present, else noise."""
    from edge_deblur.blur import defocus
    from edge_deblur.data import default_data_root
    from edge_deblur.images import read_image, to_uint8

    root = default_data_root()
    kodak = sorted((root / "photos" / "kodak24").glob("*.png")) if root else []
    base = read_image(kodak[0]) if kodak else np.random.default_rng(seed).random((512, 768, 3), dtype=np.float32)
    base = to_uint8(defocus(base, 3.0, noise_sigma=1 / 255, rng=seed))
    reps = (-(-height // base.shape[0]), -(-width // base.shape[1]), 1)
    return np.ascontiguousarray(np.tile(base, reps)[:height, :width])


def _timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def latency_rows(models: list[Path], threads: list[int], photo: np.ndarray, runs: int) -> list[dict]:
    """Per (file, threads): tile cost per pixel, each strategy's photo latency (interleaved), first photo."""
    from edge_deblur.runtime import Deblurrer

    rows = []
    pixels = photo.shape[0] * photo.shape[1]
    for n in threads:
        for model in models:
            d = {s: Deblurrer(model, num_threads=n, strategy=s, guard_flat=False) for s in STRATEGIES}
            tile = np.random.default_rng(0).random((*d["tiles"].input_size, 3), dtype=np.float32)
            d["tiles"].set_input(tile)
            for _ in range(5):
                d["tiles"].invoke()
            tile_s = statistics.median(_timed(d["tiles"].invoke) for _ in range(max(20, 10 * runs)))
            ns_px = tile_s / tile.shape[0] / tile.shape[1] * 1e9
            first = _timed(d["strips"], photo)
            _timed(d["tiles"], photo)
            times = {s: [] for s in STRATEGIES}
            for _ in range(runs):
                for s in STRATEGIES:
                    times[s].append(_timed(d[s], photo))
            ideal = pixels * ns_px * 1e-9
            row = {"model": model.name, "precision": d["strips"].precision, "backend": d["strips"].backend,
                   "threads": n, "tile": list(d["tiles"].input_size), "tile_ms": tile_s * 1e3, "ns_per_pixel": ns_px,
                   "photo": list(photo.shape[:2]), "ideal_s": ideal, "first_photo_s": first,
                   "window_setup": d["strips"].window_setups[0]}
            for s in STRATEGIES:
                med = statistics.median(times[s])
                row[s] = {"seconds_median": med, "seconds_all": times[s], "overhead": med / ideal}
            rows.append(row)
            tiles, strips, setup = row["tiles"], row["strips"], row["window_setup"]
            print(f"{model.name:24s} {n} thr  tile {ns_px:5.1f} ns/px  12 MP: tiles {tiles['seconds_median']:.2f} s "
                  f"({tiles['overhead']:.2f}x)  strips {strips['seconds_median']:.2f} s ({strips['overhead']:.2f}x)  "
                  f"first {first:.2f} s (setup {setup['seconds']:.2f})  window {_window(setup)}", flush=True)
    return rows


def seam_rows(models: list[Path], photo: np.ndarray, keras_path: Path) -> list[dict]:
    """PSNR of tiles, strips and one whole-image TFLite pass against a whole-image Keras pass of a crop."""
    import keras

    from edge_deblur.metrics import psnr
    from edge_deblur.runtime import Deblurrer

    y0, x0 = (photo.shape[0] - 1536) // 2, (photo.shape[1] - 2048) // 2
    crop = photo[y0:y0 + 1536, x0:x0 + 2048].astype(np.float32) / 255
    ref = np.clip(np.asarray(keras.models.load_model(keras_path, compile=False)(crop[None]))[0], 0, 1)
    rows = []
    for model in models:
        # the model alone (no flat-area guard), as the Keras pass it is compared with
        runs = {s: Deblurrer(model, strategy=s, guard_flat=False)(crop) for s in STRATEGIES}
        runs["whole"] = Deblurrer(model, window_pixels=crop.shape[0] * crop.shape[1], guard_flat=False)(crop)
        row = {"model": model.name, "crop": list(crop.shape[:2]),
               **{f"psnr_{k}_vs_keras": psnr(v, ref) for k, v in runs.items()},
               "psnr_strips_vs_whole": psnr(runs["strips"], runs["whole"])}
        rows.append(row)
        print(f"{model.name:24s} vs whole-image Keras: " + "  ".join(f"{k} {row[f'psnr_{k}_vs_keras']:.2f} dB"
                                                                       for k in runs), flush=True)
    return rows


def child(npy: str, model: str, strategy: str, threads: int) -> None:
    """Child process: load a uint8 photo, deblur it once, print peak RSS (VmHWM) in MB as json."""
    from edge_deblur.runtime import Deblurrer

    photo = np.load(npy)
    t0 = time.perf_counter()
    d = Deblurrer(model, num_threads=threads, strategy=strategy, guard_flat=False)
    out = d(photo)
    seconds = time.perf_counter() - t0
    status = Path("/proc/self/status").read_text()
    hwm = int(status.split("VmHWM:")[1].split()[0]) / 1024
    print(json.dumps({"peak_rss_mb": hwm, "seconds": seconds, "out_dtype": str(out.dtype),
                      "window": d.window_setups[0] if d.window_setups else None}))


def memory_rows(models: list[Path], photo: np.ndarray, threads: int, tmp: Path) -> list[dict]:
    """Peak RSS of one child process per (file, size, strategy)."""
    sizes = {"12MP": photo, "48MP": np.tile(photo, (2, 2, 1))}
    rows = []
    for label, img in sizes.items():
        npy = tmp / f"{label}.npy"
        np.save(npy, img)
        for model in models:
            for s in STRATEGIES:
                proc = subprocess.run([sys.executable, __file__, "--child", str(npy), str(model), s, str(threads)],
                                      capture_output=True, text=True, timeout=1800)
                if proc.returncode != 0:
                    raise SystemExit(f"child failed: {proc.stderr[-1500:]}")
                got = json.loads(proc.stdout.strip().splitlines()[-1])
                rows.append({"model": model.name, "size": label, "shape": list(img.shape[:2]), "strategy": s,
                             "threads": threads, **got})
                print(f"{model.name:24s} {label} {s:6s} peak RSS {got['peak_rss_mb']:.0f} MB", flush=True)
        npy.unlink()
    return rows


def folder_row(model: Path, photo: np.ndarray, n: int, threads: int, tmp: Path) -> dict:
    """`deblur_files` on a folder of n 12 MP JPEGs: photos per second and the share of time in inference."""
    from edge_deblur.batch import deblur_files
    from edge_deblur.images import write_image

    src = tmp / "folder"
    for k in range(n):
        write_image(src / f"{k:02d}.jpg", np.roll(photo, 97 * k, axis=1))
    timings: dict = {}
    deblur_files([src], out_dir=tmp / "out", model=model, num_threads=threads, progress=False, timings=timings)
    row = {"model": model.name, "threads": threads, **timings, "photos_per_second": n / timings["seconds"],
           "inference_share": timings["inference_seconds"] / timings["seconds"]}
    print(f"folder of {n} 12 MP JPEGs: {row['photos_per_second']:.2f} photos/s, "
          f"{100 * row['inference_share']:.0f}% of the time in inference", flush=True)
    return row


def _window(setup: dict | None) -> str:
    """A window setup as 'HxW (B a pixel)', or '-' (tiles, or results from before windows had a memory budget)."""
    if not setup:
        return "-"
    per_px = setup.get("bytes_per_pixel")
    return f"{setup['shape'][0]}x{setup['shape'][1]}" + (f" ({per_px:.0f})" if per_px else "")


def markdown(doc: dict) -> str:
    """The results as markdown tables."""
    lines = ["# Whole photos: tiles (before) vs resized windows (after), one run", "",
             f"{doc['machine']}, backend {doc['latency'][0]['backend']}, {doc['runs']} timed runs each.", "",
             "| file | threads | tile ns/px | 12 MP tiles s (x ideal) | 12 MP strips s (x ideal) | window (B a pixel) "
             "| first photo s (window setup s) |", "|---|---|---|---|---|---|---|"]
    for r in doc["latency"]:
        lines.append(f"| {r['model']} | {r['threads']} | {r['ns_per_pixel']:.1f} | {r['tiles']['seconds_median']:.2f}"
                     f" ({r['tiles']['overhead']:.2f}x) | {r['strips']['seconds_median']:.2f} "
                     f"({r['strips']['overhead']:.2f}x) | {_window(r['window_setup'])} | {r['first_photo_s']:.2f} "
                     f"({r['window_setup']['seconds']:.2f}) |")
    if doc.get("seams"):
        lines += ["", "| file | tiles vs Keras dB | strips vs Keras dB | whole-image TFLite vs Keras dB | "
                      "strips vs whole TFLite dB |", "|---|---|---|---|---|"]
        lines += [f"| {r['model']} | {r['psnr_tiles_vs_keras']:.2f} | {r['psnr_strips_vs_keras']:.2f} | "
                  f"{r['psnr_whole_vs_keras']:.2f} | {r['psnr_strips_vs_whole']:.2f} |" for r in doc["seams"]]
    lines += ["", "| file | size | strategy | window (B a pixel) | peak RSS MB |", "|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['size']} | {r['strategy']} | {_window(r.get('window'))} | {r['peak_rss_mb']:.0f} |"
              for r in doc["memory"]]
    f = doc.get("folder")
    if f:
        lines += ["", f"Folder of {f['photos']} 12 MP JPEGs ({f['model']}, {f['threads']} threads): "
                      f"{f['photos_per_second']:.2f} photos/s, {100 * f['inference_share']:.0f}% of the time in "
                      "inference."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from edge_deblur._io import write_json, write_text
    from edge_deblur.runtime import bundled_manifest, bundled_model

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--precision", action="append", choices=["int8", "float16"])
    p.add_argument("--threads", action="append", type=int)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--photos", type=int, default=20, help="photos in the folder test (0: skip)")
    p.add_argument("--no-keras", action="store_true", help="skip the seam check against Keras")
    p.add_argument("--no-memory", action="store_true", help="skip the child-process memory runs")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "photo_12mp.json")
    args = p.parse_args(argv)
    models = [bundled_model(q) for q in (args.precision or ["int8", "float16"])]
    threads = args.threads or [1, 2]
    photo = test_photo()
    doc = {"machine": f"{platform.platform()} {platform.processor()}".strip(), "runs": args.runs,
           "latency": latency_rows(models, threads, photo, args.runs)}
    if not args.no_keras:
        folder, manifest = bundled_manifest()
        doc["seams"] = seam_rows(models, photo, folder / manifest["keras"]["path"])
    with tempfile.TemporaryDirectory() as tmp:
        doc["memory"] = [] if args.no_memory else memory_rows(models, photo, max(threads), Path(tmp))
        if args.photos:
            doc["folder"] = folder_row(models[0], photo, args.photos, max(threads), Path(tmp))
    write_json(args.out, doc)
    write_text(args.out.with_suffix(".md"), markdown(doc))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
        raise SystemExit(0)
    raise SystemExit(main())
