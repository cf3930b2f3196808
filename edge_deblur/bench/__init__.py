"""The benchmark harness behind `edge-deblur bench`: what each exported variant costs in speed and size and what it
loses in quality, side by side with the full Keras model, a classical deconvolution and doing nothing.

A variant table drives everything: each row names a runner kind and a precision; each runner restores full images
(quality) and times single frames at the model's input size (latency). Quality is measured pair by pair, every
variant on the same pair, so the "PSNR vs Keras output" column needs no stored outputs. Timing follows DESIGN.md:
first run, warm-up, then N timed runs interleaved round-robin over the variants in one process so machine drift
cancels; inference (`invoke`) is timed apart from pre-processing (quantize the input) and post-processing.

Data, in order of precedence:
- `protocol="defocus-kodak24"`: the 24 Kodak photos at native size, each blurred with the disc PSF at radius 2, 3
  and 4 px in linear light, noise 1/255, 8-bit rounding, a fixed seed per image and radius: 72 pairs.
- `data` + `dataset`: ALL pairs the loader finds (`edge_deblur.data.eval_pairs(..., split="all")`): a user who
  points bench at a folder wants all of it.
- neither: scikit-image's bundled photographs, cropped to multiples of 8, blurred at radius 2, 3 and 4 px.

The rooms: `sets` (evaluation data), `sources` (which model, which shipped exports), `exports` (exports made on the
fly and their int8 calibration), `runners` (one runner per table row), `harness` (`run_bench`: options, set-up,
header), `measure` (scoring, timing and rows), `results` (rows as data), `render` (terminal table, markdown, CSV,
plot).

Example:
    >>> from edge_deblur.bench import run_bench
    >>> result = run_bench(model="runs/unet_s/model.keras", runs=20, json_path="bench.json")
    >>> result.rows[0].psnr
"""

from __future__ import annotations

from edge_deblur.bench.exports import _Calibration, _export
from edge_deblur.bench.harness import CALIBRATION_SAMPLES, DEFAULT_SIZE, _cpu_name, _versions, run_bench
from edge_deblur.bench.results import COLUMNS, NOT_APPLICABLE, PRECISIONS, REFERENCE_KINDS, BenchResult, Row
from edge_deblur.bench.runners import _BaselineRunner, _KerasRunner, _Runner, _TFLiteRunner
from edge_deblur.bench.sets import (
    BENCH_NOISE,
    BENCH_RADII,
    CALIBRATION_PHOTOS,
    PROTOCOLS,
    SAMPLE_PHOTOS,
    EvalPair,
    EvalSet,
    dataset_set,
    kodak24_set,
    load_eval_set,
    sample_set,
)
from edge_deblur.bench.sources import ModelSource, _load_keras, bundled_dir, resolve_model

__all__ = [
    "BENCH_NOISE", "BENCH_RADII", "CALIBRATION_PHOTOS", "CALIBRATION_SAMPLES", "COLUMNS", "DEFAULT_SIZE",
    "NOT_APPLICABLE", "PRECISIONS", "PROTOCOLS", "REFERENCE_KINDS", "SAMPLE_PHOTOS", "BenchResult", "EvalPair",
    "EvalSet", "ModelSource", "Row", "bundled_dir", "dataset_set", "kodak24_set", "load_eval_set", "resolve_model",
    "run_bench", "sample_set",
]
