"""Keras -> TFLite export in float32, float16 and full-integer int8, with embedded metadata and verification.

`convert()` (`edge_deblur.convert`) turns a fixed-size Keras model into .tflite bytes; `export_model()`
loads a .keras file, converts each precision, stamps the metadata, writes `<model>_<precision>.tflite` atomically,
then runs every new file through the runtime on held-out images and reports what it cost.

int8 model input/output default to float32 (`io_dtype="float32"`): the graph inside is int8 either way, and with
float I/O the entry QUANTIZE and exit DEQUANTIZE are taken by XNNPACK, so the whole graph is delegated. uint8 I/O
(camera bytes in and out) is available, but TFLite then adds uint8<->int8 QUANTIZE ops that XNNPACK does not take
(they run on the reference kernels); int8 I/O is delegated too but makes callers shift bytes by 128.

int8 activation ranges are, by default, the MEAN over batches of `calibration_batch` crops of each batch's min/max,
not the min/max over all crops: a few outlier pixels otherwise stretch a range and coarsen every other value, so the
error grows with the number of crops (unet_s2 on held-out photos: -0.30 dB with 16 crops, -0.40 dB with 100). The
batch mean is also what quantization-aware fine-tuning (`train --qat`, moving batch min/max) trains the net under.
It uses TFLite's calibrate-only conversion per batch, then quantizes once with the averaged ranges.

Calibration crops are at most 224x224 (`calibration_size`) whatever the model's input size: the ranges are measured
on a copy of the net at the crop size and moved onto the bigger graph by tensor name. unet_s2 at 512x512 loses
0.18 dB (12 Kodak pairs) this way against 0.33 dB when calibrated on 512x512 crops, which only the largest
training photos can give and whose per-batch min/max span 5x more pixels.

Example:
    >>> from edge_deblur.export import export_model
    >>> for r in export_model("runs/unet_s/best.keras", ["float16", "int8"], data="photos/", out="export"):
    ...     print(r.path, r.size_bytes, r.psnr_vs_keras, r.delta_psnr)
"""

from __future__ import annotations

import hashlib
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, NamedTuple

import numpy as np

from edge_deblur.convert import (  # noqa: F401 (convert and the names tests and benchmarks use: re-exported)
    _CONVERTERS, CALIBRATION_BATCH, PRECISIONS, _quiet_native, _tf, calibration_size, convert,
)
from edge_deblur._io import missing_folders, remove_empty
from edge_deblur.errors import DataError, ModelError
from edge_deblur.export_checks import (  # noqa: F401 (UntrainedWarning: re-exported)
    UntrainedWarning, _check_numbers, _check_options, _check_quality, _check_siblings,
    _fixed_model, _output_folder,
)
from edge_deblur.export_data import _default_data, _describe_data, _verification_set  # noqa: F401
from edge_deblur.manifest import _read_manifest, _unlist, write_manifest  # noqa: F401 (write_manifest: re-exported)

DEFAULT_CALIBRATION_SAMPLES = 300
FLAT_LEVELS = tuple(range(8, 256, 16))  # uniform gray tiles the files are checked on (levels of 255)
MIN_CALIBRATION_SAMPLES = 100


class CalibrationWarning(UserWarning):
    """The int8 representative set is small enough that the quantization ranges may be poor."""


@dataclass
class ExportResult:
    """One exported file and what the conversion cost, measured on held-out images.

    `psnr_vs_keras` compares the TFLite output with the Keras output on the same tiles; `delta_psnr`/`delta_ssim`
    are (TFLite - Keras) against the ground truth; `psnr_identity` is the blurred input's own PSNR on the same
    images (the bar a deblurring model has to clear). `flat_drift` is the largest shift (levels of 255) of the file's
    mean output from the Keras model's on uniform gray tiles at `FLAT_LEVELS`, at gray `flat_drift_level`: in a flat
    area every pixel rounds alike, so an int8 file can move a whole area by several levels where its PSNR on photos
    barely moves. `error` says why a precision could not be exported (no file is left for it).
    """

    precision: str
    path: Path | None = None
    size_bytes: int = 0
    io_dtype: str = "float32"
    psnr_vs_keras: float = math.nan
    max_abs_diff: float = math.nan
    psnr_keras: float = math.nan
    ssim_keras: float = math.nan
    psnr_identity: float = math.nan
    psnr_tflite: float = math.nan
    ssim_tflite: float = math.nan
    delta_psnr: float = math.nan
    delta_ssim: float = math.nan
    flat_drift: float = math.nan
    flat_drift_level: int | None = None
    fully_delegated: bool | None = None
    not_delegated: list[str] = field(default_factory=list)
    gpu_compatible: bool | None = None
    gpu_issues: list[str] = field(default_factory=list)
    verified_on: str = ""
    seconds: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict:
        """JSON-friendly dict: path as a string; NaN (not measured) and inf (identical outputs) as None."""
        d = asdict(self)
        d["path"] = str(self.path) if self.path else None
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_keras(path: str | os.PathLike):
    """Load a .keras model for export (no compile), with TensorFlow's start-up chatter silenced.

    Raises:
        ModelError: missing, corrupt or not a Keras model file.
    """
    from edge_deblur.train import load_keras as load

    _tf()
    with _quiet_native():  # TensorFlow's device probing chatter
        return load(path)


def save_compact(model, path: str | os.PathLike) -> Path:
    """Save a model as a .keras file half the size: weights rounded to float16 precision (still stored and computed
    as float32) and the archive deflated, which then packs the zeroed low mantissa bits. For the bundled release,
    which must stay small in the repository; outputs move about as much as the float16 TFLite file's do.
    """
    import zipfile

    from edge_deblur._io import atomic_path

    model.set_weights([w.astype(np.float16).astype(np.float32) for w in model.get_weights()])
    with atomic_path(path) as packed:
        plain = packed.with_name(packed.stem + ".plain.keras")  # Keras writes only to names ending in .keras
        try:
            model.save(plain)
            deflated = zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED, compresslevel=9)
            with zipfile.ZipFile(plain) as src, deflated as z:
                for name in src.namelist():
                    z.writestr(name, src.read(name))
        finally:
            plain.unlink(missing_ok=True)
    return Path(path)


def _bundled_keras() -> Path:
    """The bundled default .keras named by export/manifest.json."""
    from edge_deblur.model_files import MANIFEST, bundled_manifest

    found = bundled_manifest()
    if found is None:
        raise ModelError("no bundled model yet (export/manifest.json is missing); pass MODEL.keras explicitly")
    folder, doc = found
    entry = doc.get("keras") or {}
    name = entry.get("path") if isinstance(entry, dict) else None
    if name and (folder / name).is_file():
        return folder / name
    raise ModelError(f"{folder / MANIFEST}: names no existing .keras model; pass MODEL.keras explicitly")


def export_model(model=None, precisions: Iterable[str] = PRECISIONS, data=None, dataset: str = "synthetic",
                 out: str | os.PathLike | None = None, calibration_samples: int = DEFAULT_CALIBRATION_SAMPLES,
                 size: tuple[int, int] = (224, 224), seed: int = 0, io_dtype: str = "float32",
                 verify_images: int = 3, overlap: int = 32, command: str | None = None,
                 log: Callable[[str], None] | None = None, calibration_batch: int = CALIBRATION_BATCH, *,
                 allow_untrained: bool = False) -> list[ExportResult]:
    """Export a Keras model to TFLite files with metadata, then verify each file on held-out images.

    Every option is checked before any work; a file is written under a temporary name, verified, and only then
    renamed into place and listed in `out/manifest.json`, so a failure leaves no new file (and an older file of the
    same name untouched).

    Args:
        model: a .keras path, a `keras.Model`, or None for the bundled default (`export/manifest.json`).
        precisions: any of `PRECISIONS` (repeats are exported once), or "all".
        data: training data for int8 calibration and held-out verification images (its test split); None: the
            shared photo training sets (`default_data_root()/photos/{cbsd68,mcmaster18,sunhays80}`) if present.
        dataset: how to read `data`: 'synthetic', 'pairs' or 'kwentar'.
        out: output folder. Default: the folder of the .keras file. Required for the bundled model and for a model
            object: the bundled folder holds the shipped exports and its manifest (release commands, measured
            numbers), and is written only when named here explicitly; a model object has no folder of its own.
        calibration_samples: number of train-split crops for int8 calibration (warns below 100).
        calibration_batch: int8 ranges are the mean of per-batch min/max over batches of this many crops; 0: the
            min/max over all crops (see module docs). Crops are at most 224 px a side (`calibration_size`).
        size: model input (h, w); a multiple of the model's stride, each side in [MIN_TILE, MAX_TILE] of
            `edge_deblur.integrity` (what the runtime accepts).
        seed: seed of the data split, the crops and the verification blur (>= 0).
        io_dtype: int8 input/output dtype (see module docs).
        verify_images: number of held-out test images used to verify each file (>= 1; centre crops of at most
            2x the input size, so the tiling path is exercised).
        overlap: tile overlap used for verification (and recorded as a hint in the metadata).
        command: the command line that made the files, recorded in the manifest.
        log: called with one-line progress messages.
        allow_untrained: export a model whose Keras output scores more than `MAX_DROP_VS_IDENTITY_DB` below the
            blurred input on the held-out images (warns instead of refusing).

    Returns:
        One `ExportResult` per precision, in order; failed precisions carry `error` and no path.

    Raises:
        ModelError: unusable model (not one RGB image in and the same shape out, far worse than the blurred input)
            or size; DataError: bad seed or verify_images, or int8 asked for with no training data found;
            EdgeDeblurError: no usable output folder (see `out`), or its manifest.json belongs to another model.

    Warns:
        CalibrationWarning: fewer than 100 calibration samples.
        UntrainedWarning: a model far worse than the blurred input exported with `allow_untrained`.
    """
    say = log or (lambda msg: None)
    precisions = _check_options(precisions, io_dtype, calibration_samples, calibration_batch)
    h, w = _check_numbers(size, seed, verify_images, overlap)
    source = _bundled_keras() if model is None else Path(model) if isinstance(model, (str, os.PathLike)) else None
    out = _output_folder(out, source)
    keras_model, sha, src_name = _open_source(model if source is None else source)
    _read_manifest(out, keras_model.name)  # refuses another model's manifest (or an unreadable one) before any work
    _check_siblings(out, keras_model.name, sha, precisions)
    stride, fixed = _fixed_model(keras_model, (h, w), str(source) if source else keras_model.name)

    data, dataset = _find_data(data, dataset, source, say)
    checks, verified_on = _held_out(data, dataset, verify_images, (h, w), stride, seed, say)
    reference, base = _keras_reference(fixed, checks, (h, w), stride, overlap, say)
    identity = _check_quality(reference.photos, checks, str(source) if source else keras_model.name,
                              allow_untrained)
    reps, calib_desc = None, None
    if "int8" in precisions:
        reps, calib_desc = _calibration(data, dataset, calibration_samples, calibration_batch, (h, w), stride, seed,
                                        say)
    meta = {"model": keras_model.name, "input_size": [h, w], "stride": stride, "overlap": overlap,
            "source_file": src_name, "source_sha256": sha}
    results = []
    created = missing_folders(out)
    try:
        for precision in precisions:
            io = io_dtype if precision == "int8" else "float32"
            result = ExportResult(precision, io_dtype=io, psnr_keras=base[0], ssim_keras=base[1],
                                  psnr_identity=identity, verified_on=verified_on)
            results.append(result)
            _export_one(result, fixed, reps if precision == "int8" else None, calibration_batch,
                        meta | {"calibration": calib_desc if precision == "int8" else None}, out, checks,
                        reference, say)
            if result.path is not None:  # listed once written and verified
                write_manifest(out, keras_model.name, [result], src_name, sha, command)
    finally:  # every precision failed (or an interrupt): no empty folders left behind
        remove_empty(created)
    return results


def _open_source(model) -> tuple:
    """The Keras model to export and, for the metadata, its .keras file's sha256 and name (None for an object)."""
    if isinstance(model, Path):
        return load_keras(model), sha256_file(model), model.name
    _tf()
    return model, None, None


def _find_data(data, dataset: str, source: Path | None, say) -> tuple:
    """The calibration and verification data and how to read it: `data`, or the shared photos when it is None."""
    data, dataset, data_source = _default_data(data, dataset, source)
    if data is None:
        raise DataError("no training data found for int8 calibration and verification (the shared photos are "
                        "absent): pass --data PATH")
    say(f"calibration and verification data ({data_source}): {dataset} data {_describe_data(data)}")
    return data, dataset


def _calibration(data, dataset: str, samples: int, batch: int, size: tuple[int, int], stride: int, seed: int,
                 say) -> tuple[np.ndarray, str]:
    """int8 representative crops from the train split, and the sentence that describes them in the metadata."""
    from edge_deblur.crops import calibration_crops

    if samples < MIN_CALIBRATION_SAMPLES:
        warnings.warn(f"only {samples} calibration samples; int8 ranges from fewer than "
                      f"{MIN_CALIBRATION_SAMPLES} crops can clip or waste precision (default "
                      f"{DEFAULT_CALIBRATION_SAMPLES})", CalibrationWarning, stacklevel=3)
    (h, w), (ch, cw) = size, calibration_size(size, stride)
    say(f"sampling {samples} {ch}x{cw} calibration crops from the train split of {_describe_data(data)}")
    reps = calibration_crops(data, dataset, samples, (ch, cw), seed=seed)
    ranges = (f"ranges: mean of per-batch min/max over batches of {batch} crops (+ the ramp)"
              if 0 < batch < len(reps) else "ranges: min/max over all crops")
    moved = f", measured at {ch}x{cw} and applied at {h}x{w}" if (ch, cw) != (h, w) else ""
    return reps, (f"{len(reps)} defocus-blurred {ch}x{cw} crops from the train split of {dataset} data "
                  f"{_describe_data(data)} (seed {seed}) plus one 0-1 ramp; {ranges}{moved}")


def _held_out(data, dataset: str, count: int, size: tuple[int, int], stride: int, seed: int,
              say) -> tuple[list, str]:
    """Held-out (blurred, sharp) crops up to twice `size` (so verification exercises tiling) and a line naming them."""
    h, w = size
    say(f"reading up to {count} held-out images of {_describe_data(data)} (its test split, or val where there is none)")
    checks, part = _verification_set(data, dataset, count, (2 * h, 2 * w), stride, seed)
    if not checks:
        raise DataError(f"{_describe_data(data)}: no held-out {part}-split images to verify the export on")
    return checks, (f"{len(checks)} {part}-split images of {dataset} data "
                    f"{_describe_data(data)}, centre crops <= {2 * h}x{2 * w}")


class KerasReference(NamedTuple):
    """What each exported file is compared with: the Keras outputs on the held-out images (tiled as the files will
    be) and its mean output on the uniform gray tiles of FLAT_LEVELS (levels of 255)."""

    photos: list
    flat: np.ndarray


def _keras_reference(fixed, checks: list, size: tuple[int, int], stride: int, overlap: int,
                     say) -> tuple[KerasReference, tuple[float, float]]:
    """The Keras reference (above) and the Keras outputs' mean PSNR/SSIM on the held-out images."""
    from edge_deblur.metrics import psnr, ssim
    from edge_deblur.runtime import tile_apply

    def keras_tile(t: np.ndarray) -> np.ndarray:
        return np.clip(np.asarray(fixed(t[None], training=False))[0], 0.0, 1.0)

    say("running the Keras model on the held-out images")
    reference = [tile_apply(b, keras_tile, size, stride, overlap) for b, _ in checks]
    return KerasReference(reference, _keras_flat(fixed, size)), (
        float(np.mean([psnr(r, s) for r, (_, s) in zip(reference, checks)])),
        float(np.mean([ssim(r, s) for r, (_, s) in zip(reference, checks)])))


def _keras_flat(fixed, size: tuple[int, int]) -> np.ndarray:
    """The Keras model's mean output (levels of 255) on one uniform gray tile per level of FLAT_LEVELS."""
    tiles = np.stack([np.full((*size, 3), v / 255, np.float32) for v in FLAT_LEVELS])
    out = np.concatenate([np.asarray(fixed(tiles[i:i + 4], training=False)) for i in range(0, len(tiles), 4)])
    return np.clip(out, 0.0, 1.0).mean(axis=(1, 2, 3)) * 255


def _export_one(result: ExportResult, fixed, reps, calibration_batch: int, meta: dict, out: Path, checks: list,
                reference: KerasReference, say) -> None:
    """Convert, stamp, verify and only then write one precision, filling `result` (its `error` on failure, with no
    file written and an older file of the same name left as it was)."""
    from edge_deblur._io import atomic_path
    from edge_deblur.tflite_meta import metadata_entry, with_metadata

    start, name, precision = time.perf_counter(), meta["model"], result.precision
    say(f"converting {name} to {precision}")
    try:
        raw = convert(fixed, precision, reps, result.io_dtype, calibration_batch)
    except ModelError as e:
        result.error = str(e)
        return
    meta = metadata_entry(name, precision, meta["input_size"], meta["stride"], meta["overlap"],
                          io_dtype=result.io_dtype, calibration=meta["calibration"], source_file=meta["source_file"],
                          source_sha256=meta["source_sha256"], tensorflow_version=_tf().__version__)
    stamped, path = with_metadata(raw, meta), out / f"{name}_{precision}.tflite"
    try:
        with atomic_path(path) as tmp:  # renamed into place only once verified
            tmp.write_bytes(stamped)
            say(f"verifying {path.name}")
            try:
                _verify(result, tmp, meta["overlap"], checks, reference, stamped)
            except ModelError as e:
                raise ModelError(str(e).replace(str(tmp), path.name)) from None
            _unlist(out, name, path.name)  # the manifest never describes a file being replaced
    except ModelError as e:
        result.error = f"verification failed: {e}"
        return
    result.path, result.size_bytes = path, path.stat().st_size
    result.seconds = time.perf_counter() - start


def _verify(result: ExportResult, path: Path, overlap: int, checks: list, reference: KerasReference,
            data: bytes) -> None:
    """Run the file at `path` (whose bytes are `data`) through the runtime on the held-out images and on the flat
    gray tiles and fill `result`'s numbers."""
    from edge_deblur.gpu_check import gpu_compatibility
    from edge_deblur.metrics import psnr, ssim
    from edge_deblur.runtime import Deblurrer

    runner = Deblurrer(path, overlap=overlap, strategy="tiles", guard_flat=False)  # tiled like its Keras reference
    report = runner.op_report()
    result.fully_delegated, result.not_delegated = report["fully_delegated"], report["not_delegated"]
    gpu = gpu_compatibility(data)
    result.gpu_compatible, result.gpu_issues = gpu["gpu_compatible"], gpu["gpu_issues"]
    h, w = runner.input_size
    drift = [float(runner.run_tile(np.full((h, w, 3), v / 255, np.float32)).mean() * 255 - k)
             for v, k in zip(FLAT_LEVELS, reference.flat)]  # one raw tile each: no blank-output check on a flat input
    worst = int(np.argmax(np.abs(drift)))
    result.flat_drift, result.flat_drift_level = abs(drift[worst]), FLAT_LEVELS[worst]
    outputs = [runner(b) for b, _ in checks]
    result.psnr_vs_keras = float(np.mean([psnr(o, r) for o, r in zip(outputs, reference.photos)]))
    result.max_abs_diff = float(max(np.abs(o - r).max() for o, r in zip(outputs, reference.photos)))
    result.psnr_tflite = float(np.mean([psnr(o, s) for o, (_, s) in zip(outputs, checks)]))
    result.ssim_tflite = float(np.mean([ssim(o, s) for o, (_, s) in zip(outputs, checks)]))
    result.delta_psnr = result.psnr_tflite - result.psnr_keras
    result.delta_ssim = result.ssim_tflite - result.ssim_keras
