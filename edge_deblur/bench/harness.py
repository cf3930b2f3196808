"""The run of `edge-deblur bench`: validate everything, build the variant table, have `measure` score quality pair
by pair and time latency interleaved round-robin, and write the header and result files (see `edge_deblur.bench`)."""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import platform
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edge_deblur._io import file_in_the_way
from edge_deblur._text import counted
from edge_deblur.bench.exports import _Calibration, _export
from edge_deblur.bench.measure import _measure_latency, _measure_quality, _progress, _row, _Steps
from edge_deblur.bench.results import PRECISIONS, BenchResult
from edge_deblur.bench.runners import _BaselineRunner, _KerasRunner, _Runner, _TFLiteRunner, _tile
from edge_deblur.bench.sets import EvalSet, load_eval_set
from edge_deblur.bench.sources import ModelSource, _load_keras, resolve_model
from edge_deblur.errors import EdgeDeblurError, parsed
from edge_deblur.multiscale import TARGET_LONG_SIDE

DEFAULT_SIZE = (224, 224)
CALIBRATION_SAMPLES = 64


def _cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else platform.processor()."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _versions(tf_used: bool) -> dict[str, str]:
    """Versions of the pieces that produce the numbers."""
    from importlib import metadata

    from edge_deblur import __version__

    out = {"edge-deblur": __version__, "python": platform.python_version(), "numpy": np.__version__}
    pkgs = ["ai-edge-litert", "tflite-runtime", "scikit-image"] + (["tensorflow", "keras"] if tf_used else [])
    for pkg in pkgs:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[pkg] = metadata.version(pkg)
    return out


def _set_tf_threads(threads: int | None) -> int:
    """Ask TensorFlow for `threads` intra-op threads (only possible before it starts) and return what it uses."""
    import tensorflow as tf

    if threads:
        with contextlib.suppress(RuntimeError):  # TF already initialised in this process: keep its setting
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
    n = tf.config.threading.get_intra_op_parallelism_threads()
    return int(n) if n else (os.cpu_count() or 1)


_SUFFIXES = {"json": (".json",), "csv": (".csv",), "markdown": (".md", ".markdown"),
             "plot": (".png", ".svg", ".pdf", ".jpg", ".jpeg")}


def _check_outputs(paths: dict[str, str | os.PathLike | None], overwrite: bool = False) -> dict[str, Path]:
    """Validate output paths before any work: each must not be an existing folder, its parent must be creatable, its
    suffix must be its format's and, unless `overwrite`, it must not exist (a --plot onto a photo replaced it)."""
    out = {}
    for what, p in paths.items():
        if p is None:
            continue
        p = Path(p)
        if p.is_dir():
            raise EdgeDeblurError(f"--{what} {p}: is a folder; give a file name")
        if p.suffix.lower() not in _SUFFIXES[what]:  # a results file must not land on a photo or another file
            raise EdgeDeblurError(f"--{what} {p}: use a {' or '.join(_SUFFIXES[what])} file name")
        if p.exists() and not overwrite:
            raise EdgeDeblurError(f"--{what} {p}: already exists; nothing run (pass --overwrite to replace it)")
        blocking = file_in_the_way(p.parent)
        if blocking is not None:
            raise EdgeDeblurError(f"--{what} {p}: {blocking} is a file, not a folder")
        out[what] = p
    return out



def run_bench(
    model: str | os.PathLike | None = None,
    data: str | os.PathLike | Sequence | None = None,
    dataset: str | None = None,
    protocol: str | None = None,
    size: tuple[int, int] | None = None,
    threads: int | None = None,
    runs: int = 20,
    warmup: int = 3,
    precisions: Sequence[str] = PRECISIONS,
    limit: int | None = None,
    baseline: str = "richardson_lucy",
    json_path: str | os.PathLike | None = None,
    csv_path: str | os.PathLike | None = None,
    markdown_path: str | os.PathLike | None = None,
    plot_path: str | os.PathLike | None = None,
    calibration_samples: int = 300,
    progress: bool = True,
    console=None,
    scale: float | str | None = None,
    passes: int = 1,
    views: int = 1,
    overwrite: bool = False,
) -> BenchResult:
    """Benchmark a model and its TFLite exports against the Keras model, classical deconvolution and identity.

    Everything is validated before any work starts; result files are written (atomically) only at the end, so a
    failed run leaves none behind.

    Args:
        model: None for the bundled release model, a `.keras` file, a model folder, or a registry name (untrained).
            Exports named `<stem>_<precision>.tflite` beside the .keras file are used when their input size matches
            `size`; the others are exported on the fly into a temporary folder. int8 calibration never uses the
            evaluation images (see `_Calibration` for its source, named in the header).
        data: a dataset folder (with `dataset`), or the Kodak24 folder for `protocol`.
        dataset: 'kwentar', 'pairs' or 'synthetic': ALL pairs found are evaluated.
        protocol: 'defocus-kodak24' (see DESIGN.md).
        size: (h, w) of the latency frame and of on-the-fly exports; default the shipped exports' size, else 224x224.
        threads: CPU threads for the TFLite interpreters and TensorFlow (None: the runtimes' defaults).
        runs: timed runs per variant (>= 1).
        warmup: untimed runs per variant after the first run (>= 0).
        precisions: TFLite precisions to include.
        limit: evaluate quality on only the first `limit` pairs (stated in the header); latency is unaffected.
        baseline: classical method, 'richardson_lucy' or 'wiener'.
        calibration_samples: int8 calibration crops when int8 is exported on the fly.
        json_path, csv_path, markdown_path, plot_path: result files to write.
        progress: show a rich progress bar (on stderr).
        console: rich Console for the progress bar.
        scale: processing scale of the models' quality runs: None (native), 'auto' or a number in (0, 1]
            (`edge_deblur.multiscale`); stated in the header.
        passes: 2 adds the coarse second pass of `deblur` to the models' quality runs (`restore_scaled`); stated
            in the header. Latency is always one pass on one frame.
        views: 2, 4 or 8 scores the models with test-time augmentation (`edge_deblur.views`): each image and its
            mirrored/transposed copies restored and the results averaged; stated in the header. Latency is one view.
        overwrite: replace existing result files (otherwise an existing one is refused before any work).

    Returns:
        The `BenchResult`: rows identity, classical, keras, tflite-<precision>...

    Raises:
        EdgeDeblurError: bad options, data or model (nothing is written).
    """
    _check_options(runs, warmup, threads, limit, calibration_samples, precisions, baseline)
    from edge_deblur.multiscale import parse_passes
    from edge_deblur.views import parse_views

    passes, views = parsed(parse_passes, passes), parsed(parse_views, views)
    outputs = _check_outputs({"json": json_path, "csv": csv_path, "markdown": markdown_path, "plot": plot_path},
                             overwrite)
    setup = _prepare(model, data, dataset, protocol, size, threads, limit, baseline,
                     scale is None and passes == 1 and views == 1)

    progress_cm = _progress(console) if progress else contextlib.nullcontext(None)
    with tempfile.TemporaryDirectory(prefix="edge-deblur-bench-") as tmp, progress_cm as bar:
        steps = _Steps(bar)
        runners, calib = _make_runners(setup, precisions, data, dataset, calibration_samples, runs, warmup,
                                       Path(tmp), steps)
        scores = _measure_quality(runners, setup.eval_set, steps, scale, passes, views)
        times, first_ms = _measure_latency(runners, setup.tile, setup.timing_radius, runs, warmup, steps)

    rows = _scored_rows(runners, scores, times, first_ms)
    header = _header(setup, protocol, precisions, calib, runs, warmup, threads)
    header["data"].update(_processing_notes(scale, passes, views))
    result = BenchResult(header, rows)
    _write(result, outputs)
    return result


def _scored_rows(runners, scores: dict, times: dict, first_ms: dict) -> list:
    """One result row per runner, with its PSNR/SSIM change against the Keras row and its pairs below identity."""
    rows = [_row(r, scores[id(r)], times[id(r)], first_ms[id(r)]) for r in runners]
    k = next(r for r in rows if r.kind == "keras")
    ident = next(scores[id(r)]["psnr"] for r in runners if r.kind == "identity")
    for r, row in zip(runners, rows):
        row.d_psnr = row.psnr - k.psnr
        row.d_ssim = row.ssim - k.ssim
        row.below_identity = sum(p < q for p, q in zip(scores[id(r)]["psnr"], ident))
    return rows


def _processing_notes(scale: float | str | None, passes: int, views: int) -> dict[str, str]:
    """The header's lines for a processing scale, the second pass and views (none for the model alone)."""
    notes = {}
    if scale is not None:
        notes["processing_scale"] = (f"models run at {scale} scale (auto: long side {TARGET_LONG_SIDE} px),"
                                     " their correction enlarged back onto the full-size input")
    if passes == 2:
        notes["passes"] = ("2: the models also restore each image at half the processing scale and blend "
                           "that coarse correction in by the first correction's coarse-band share "
                           "(edge_deblur.multiscale, as `deblur` does by default)")
    if views > 1:
        notes["views"] = (f"{views}: the models restore each image and its first {views - 1} mirrored/"
                          "transposed copies, each result turned back, and the mean is scored "
                          "(edge_deblur.views, test-time augmentation)")
    return notes


def _check_options(runs: int, warmup: int, threads: int | None, limit: int | None, calibration_samples: int,
                   precisions: Sequence[str], baseline: str) -> None:
    """Raise `EdgeDeblurError` for a bad numeric option, precision or baseline name."""
    from edge_deblur.baselines import METHODS

    if not isinstance(runs, int) or runs < 1:
        raise EdgeDeblurError(f"--runs must be at least 1, got {runs}")
    if not isinstance(warmup, int) or warmup < 0:
        raise EdgeDeblurError(f"--warmup must be 0 or more, got {warmup}")
    if threads is not None and threads < 1:
        raise EdgeDeblurError(f"--threads must be at least 1, got {threads}")
    if limit is not None and limit < 1:
        raise EdgeDeblurError(f"--limit must be at least 1, got {limit}")
    if calibration_samples < 1:
        raise EdgeDeblurError(f"calibration_samples must be at least 1, got {calibration_samples}")
    bad = [p for p in precisions if p not in PRECISIONS]
    if bad:
        raise EdgeDeblurError(f"unknown precision(s) {', '.join(bad) or '(none given)'}; "
                              f"choose from: {', '.join(PRECISIONS)}")
    if baseline not in METHODS:
        raise EdgeDeblurError(f"unknown baseline '{baseline}'; choose one of: {', '.join(METHODS)}")


@dataclass
class _Setup:
    """Everything a run needs, checked before the heavy work: data, model, frame, classical baseline, notes."""

    eval_set: EvalSet
    src: ModelSource
    keras_model: Any
    stride: int
    threads: int
    tf_threads: int
    shipped: dict[str, Path]
    size: tuple[int, int]
    gflop: float
    baseline: str
    classical: Any
    timing_radius: float | None
    tile: np.ndarray
    notes: list[str] = field(default_factory=list)


def _prepare(model, data, dataset, protocol, size, threads, limit, baseline, native: bool = True) -> _Setup:
    """Load the data and the model, settle the frame size, read the first pair: every check before the work."""
    from edge_deblur.baselines import classical_baseline
    from edge_deblur.models import gflops, model_stride

    eval_set = load_eval_set(data, dataset, protocol, limit)
    src = resolve_model(model)
    threads = threads or os.cpu_count() or 1  # explicit everywhere, so the threads column is what actually ran
    tf_threads = _set_tf_threads(threads)
    keras_model = _load_keras(src)
    stride = model_stride(keras_model)
    shipped, size = _frame_size(src, size, stride)
    gflop = gflops(keras_model, *size)

    first = next(iter(eval_set))  # proves the data is readable before the heavy work
    classical = classical_baseline(true_psf=eval_set.known_radius, method=baseline)
    timing_radius = first.radius if eval_set.known_radius else classical.assumed_radius
    tile = _tile(first.blurred, size)
    setup = _Setup(eval_set, src, keras_model, stride, threads, tf_threads, shipped, size, gflop, baseline,
                   classical, timing_radius, tile)
    setup.notes = _notes(src, eval_set, limit, native)
    return setup


def _frame_size(src: ModelSource, size, stride: int) -> tuple[dict[str, Path], tuple[int, int]]:
    """The shipped exports usable at the latency frame size, and that size (default: the shipped exports')."""
    shipped_size = None
    shipped = {}
    if src.shipped:
        from edge_deblur.runtime import Deblurrer

        for p, path in src.shipped.items():
            shipped[p] = path
            s = tuple(Deblurrer(path).input_size)  # raises ModelError on a foreign or corrupt file
            if shipped_size is None:
                shipped_size = (int(s[0]), int(s[1]))
    size = tuple(size) if size is not None else (shipped_size or DEFAULT_SIZE)
    if len(size) != 2 or min(size) < 1:
        raise EdgeDeblurError(f"--size must be HxW with positive numbers, got {size}")
    if size[0] % stride or size[1] % stride:
        raise EdgeDeblurError(f"--size {size[0]}x{size[1]}: {src.name} needs a multiple of {stride}")
    if shipped_size != size:
        shipped = {}  # exports at another input size would time a different frame: export at `size` instead
    return shipped, size


def _notes(src: ModelSource, eval_set: EvalSet, limit: int | None, native: bool = True) -> list[str]:
    """The notes printed under the table and kept in the header (`native`: the models ran once at native size)."""
    notes = []
    if src.untrained:
        notes.append(f"{src.name} has UNTRAINED random weights: quality rows of the model are meaningless.")
    if limit is not None:
        notes.append(f"quality measured on the first {counted(eval_set.count, 'pair')} only (limit {limit}).")
    where = "at native size" if native else ("(the models at the processing scale, passes and views above, "
                                             "their outputs rounded to the 8 bits `deblur` writes)")
    notes.append(f"PSNR/SSIM: RGB in [0, 1] on full images {where} (TFLite in ~1 MP windows sized by a "
                 "memory budget, edge_deblur.strips); means over pairs. dPSNR/dSSIM: row minus Keras. PSNR vs "
                 "Keras: the row's output against the Keras output. FPS = 1000 / median inference ms. GFLOP: 2 x "
                 "conv multiply-adds per frame.")
    return notes


def _make_runners(setup: _Setup, precisions, data, dataset, calibration_samples: int, runs: int, warmup: int,
                  tmp: Path, steps: _Steps) -> tuple[list[_Runner], _Calibration]:
    """The variant table: identity, classical (and its blind twin), Keras, then one TFLite runner per precision,
    exporting the precisions that were not shipped at this size."""
    from edge_deblur.baselines import IDENTITY, classical_baseline
    from edge_deblur.export import calibration_size

    runners: list[_Runner] = [_BaselineRunner(IDENTITY, "identity"), _BaselineRunner(setup.classical, "classical")]
    if setup.eval_set.known_radius:  # the oracle's blind twin: what a user who does not know the blur radius gets
        blind = classical_baseline(true_psf=False, method=setup.baseline, radius_known=True)
        runners.append(_BaselineRunner(blind, "classical-blind"))
    src, keras_model = setup.src, setup.keras_model
    keras_bytes = src.keras_path.stat().st_size if src.keras_path else _keras_bytes(keras_model, tmp)
    runners.append(_KerasRunner(keras_model, keras_bytes, setup.tf_threads, setup.gflop))
    calib = _Calibration(setup.eval_set, data, dataset, calibration_size(setup.size, setup.stride),
                         calibration_samples)
    missing = [p for p in precisions if p not in setup.shipped]
    total_timing = (runs + warmup + 1) * (len(runners) + len(precisions))
    steps.start(len(missing) + setup.eval_set.count + total_timing)
    for p in precisions:
        if p in setup.shipped:
            path = setup.shipped[p]
        else:
            steps.describe(f"exporting {p}")
            path = _export(keras_model, p, setup.size, tmp, calib)
            steps.step()
        runners.append(_TFLiteRunner(path, p, setup.threads, setup.gflop))
    return runners, calib


def _header(setup: _Setup, protocol: str | None, precisions, calib: _Calibration, runs: int, warmup: int,
            requested_threads: int | None) -> dict[str, Any]:
    """The result header: tool, date, machine, versions, model, data, timing set-up, notes."""
    src, shipped, eval_set = setup.src, setup.shipped, setup.eval_set
    return {
        "tool": "edge-deblur bench",
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpu": _cpu_name(), "cores": os.cpu_count(), "platform": platform.platform()},
        "versions": _versions(tf_used=True),
        "model": {"name": src.name, "description": src.description, "path": str(src.keras_path or ""),
                  "untrained": src.untrained, "stride": setup.stride,
                  "params": int(setup.keras_model.count_params()),
                  "exports": {p: (f"shipped {shipped[p].name}" if p in shipped else "exported on the fly")
                              for p in precisions},
                  "int8_calibration": (calib.description if "int8" in precisions and "int8" not in shipped
                                       else None)},
        "data": {"name": eval_set.name, "description": eval_set.description, "pairs": eval_set.count,
                 "true_psf_known": eval_set.known_radius, "protocol": protocol},
        "timing": {"size": list(setup.size), "runs": runs, "warmup": warmup, "threads_requested": requested_threads,
                   "interleaved": True},
        "notes": setup.notes,
    }


def _keras_bytes(model, tmp: Path) -> int:
    """Size of the model saved as .keras (for registry models that have no file)."""
    path = tmp / f"{model.name}.keras"
    model.save(path)
    return path.stat().st_size


def _write(result: BenchResult, outputs: dict[str, Path]) -> None:
    """Write the requested result files, each atomically."""
    from edge_deblur._io import write_json, write_text

    if "json" in outputs:
        write_json(outputs["json"], result.to_dict())
    if "csv" in outputs:
        write_text(outputs["csv"], result.to_csv())
    if "markdown" in outputs:
        write_text(outputs["markdown"], result.to_markdown())
    if "plot" in outputs:
        result.plot(outputs["plot"])
