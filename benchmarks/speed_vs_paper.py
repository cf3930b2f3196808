"""The release target "int8 at least 25x faster than the paper's int8", timed head to head in one process.

The suite (`run_suite.py`) times each model in its own bench run, minutes apart, interleaved with that model's
Keras and float variants; on a shared VM that lets a noisy minute land on one model only. Here both int8 files run
in the SAME loop, alternating invoke by invoke, so any slowdown of the machine hits both, and the ratio of the two
medians is the number the target asks for.

- The release file: `export/<model>_int8.tflite` at 224x224; at other sizes the bundled `.keras` is exported to
  int8 on the fly (100 calibration crops of at most 224x224, as `make_release.sh` and `edge-deblur export` do).
- The paper file: the trained `paper` of `benchmarks/weights/paper.npz` (the registry's random weights if that
  file is absent: latency does not depend on the weights), exported to int8 at each size with 16 calibration crops.
- Runtime: ai-edge-litert with XNNPACK, `--threads` threads (default: all cores), float32 input of one frame.

Usage (from the repository root; needs TensorFlow for the exports and the shared training photos):
    python benchmarks/speed_vs_paper.py                    # 224 and 512 -> benchmarks/results/speed_vs_paper.json
    python benchmarks/speed_vs_paper.py --sizes 224 --rounds 50 --out /tmp/speed.json
    # candidate architectures of the registry (random weights: latency only) in the same loop
    python benchmarks/speed_vs_paper.py --sizes 224 --candidate unet_s3d --out benchmarks/results/speed_candidates.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _int8_file(keras_model, size: int, samples: int, folder: Path, name: str) -> Path:
    from edge_deblur.crops import calibration_crops
    from edge_deblur.data import default_training_photos
    from edge_deblur.export import calibration_size, convert
    from edge_deblur.models import model_stride, with_input_size

    crop = calibration_size((size, size), model_stride(keras_model))  # as `edge-deblur export` calibrates
    reps = calibration_crops(default_training_photos(), "synthetic", samples, crop)
    path = folder / f"{name}_{size}_int8.tflite"
    path.write_bytes(convert(with_input_size(keras_model, size, size), "int8", reps))
    return path


def _interpreter(path: Path, threads: int):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=threads)
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    x = np.random.default_rng(0).random(inp["shape"], dtype=np.float32)
    it.set_tensor(inp["index"], x)
    return it


def time_pair(files: dict[str, Path], threads: int, rounds: int, warmup: int) -> dict[str, list[float]]:
    """Milliseconds per invoke of each file, the files alternating invoke by invoke for `rounds` rounds."""
    its = {k: _interpreter(p, threads) for k, p in files.items()}
    for _ in range(warmup):
        for it in its.values():
            it.invoke()
    times: dict[str, list[float]] = {k: [] for k in its}
    for r in range(rounds):
        order = list(its) if r % 2 == 0 else list(reversed(its))  # neither always runs first
        for k in order:
            t = time.perf_counter()
            its[k].invoke()
            times[k].append((time.perf_counter() - t) * 1e3)
    return times


def markdown(result: dict) -> str:
    """The head-to-head result as a markdown table."""
    name = result["model"]
    lines = [f"| frame | {name} int8 ms (p90) | paper int8 ms (p90) | speed-up |", "|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['size']}x{r['size']} | {r['median_ms'][name]:.2f} ({r['p90_ms'][name]:.2f}) | "
                     f"{r['median_ms']['paper']:.1f} ({r['p90_ms']['paper']:.1f}) | **{r['speedup']:.1f}x** |")
    cands = [(r, c, v) for r in result["rows"] for c, v in r.get("candidates", {}).items()]
    if cands:
        lines += ["", "| frame | candidate (random weights, same loop) | int8 ms | int8 file | speed-up over paper |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['size']}x{r['size']} | {c} | {r['median_ms'][c]:.2f} | {v['size_bytes'] / 1e6:.2f} MB | "
                  f"{v['speedup']:.1f}x |" for r, c, v in cands]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[224, 512])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "speed_vs_paper.json")
    parser.add_argument("--candidate", action="append", default=[], metavar="ARCH",
                        help="a registry architecture to time in the same loop (random weights; repeatable)")
    args = parser.parse_args(argv)
    result = run(args.sizes, args.rounds, args.warmup, args.threads, args.out, args.candidate)
    if args.candidate:  # the suite puts the release table into summary.md; a candidates run gets its own
        args.out.with_suffix(".md").write_text(markdown(result) + "\n")
    return 0


def run(sizes, rounds: int, warmup: int, threads: int, out: Path, candidates=()) -> dict:
    """Time the release int8 file against the paper's at each size, with each candidate architecture's (exported
    from random weights: the ops and shapes set the latency) in the same loop; write and return the result."""
    from edge_deblur._io import write_json
    from edge_deblur.bench import _cpu_name
    from edge_deblur.export import load_keras
    from edge_deblur.models import build_model

    manifest = json.loads((ROOT / "export" / "manifest.json").read_text())
    name = manifest["model"]
    shipped = {f["precision"]: ROOT / "export" / f["path"] for f in manifest["files"]}
    release = load_keras(ROOT / "export" / manifest["keras"]["path"])
    from stored_weights import keras_path

    trained = keras_path("paper")
    paper = load_keras(trained) if trained is not None else build_model("paper")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            ours = shipped["int8"] if size == 224 else _int8_file(release, size, 100, Path(tmp), name)
            theirs = _int8_file(paper, size, 16, Path(tmp), "paper")
            files = {name: ours, "paper": theirs}
            files.update({c: _int8_file(build_model(c), size, 16, Path(tmp), c) for c in candidates})
            times = time_pair(files, threads, rounds, warmup)
            med = {k: float(np.median(v)) for k, v in times.items()}
            p90 = {k: float(np.percentile(v, 90)) for k, v in times.items()}
            rows.append({"size": size, "file": ours.name if size == 224 else f"{ours.name} (exported on the fly)",
                         "median_ms": med, "p90_ms": p90, "speedup": med["paper"] / med[name]})
            if candidates:  # their medians are in median_ms beside the release's
                rows[-1]["candidates"] = {c: {"speedup": med["paper"] / med[c], "size_bytes": files[c].stat().st_size}
                                          for c in candidates}
            print(f"{size}x{size}: {name} int8 {med[name]:.2f} ms (p90 {p90[name]:.2f}), paper int8 "
                  f"{med['paper']:.2f} ms (p90 {p90['paper']:.2f}) -> {med['paper'] / med[name]:.1f}x", flush=True)
            for c, v in rows[-1].get("candidates", {}).items():
                print(f"  candidate {c} int8 {med[c]:.2f} ms -> {v['speedup']:.1f}x, {v['size_bytes'] / 1e6:.2f} MB",
                      flush=True)
    what = "int8 latency per frame, release model vs paper" + (" and candidates" if candidates else "")
    result = {"what": f"{what}, alternating invoke by invoke in one process",
              "model": name, "paper_weights": "benchmarks/weights/paper.npz" if trained else "untrained",
              "threads": threads, "rounds": rounds, "warmup": warmup,
              "machine": {"cpu": _cpu_name(), "cores": os.cpu_count()},
              "date": time.strftime("%Y-%m-%d %H:%M:%S"), "rows": rows}
    write_json(out, result)
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    sys.exit(main())
