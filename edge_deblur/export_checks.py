"""What `export` refuses before it writes anything: unknown precisions, sizes the runtime would refuse, an output
folder that is a file or the shipped release folder by default, a model that is not one RGB image in and one out,
and (after the Keras reference is computed) a model that scores far below the blurred input, which would otherwise be
stamped as a deblurring model of ours."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from edge_deblur._io import file_in_the_way
from edge_deblur.convert import IO_DTYPES, PRECISIONS
from edge_deblur.errors import DataError, EdgeDeblurError, ModelError

# A model whose Keras output scores more than this many dB PSNR below the blurred input itself (the identity) on
# the held-out images is refused as not a deblurring model (`allow_untrained=True` exports it anyway). Measured
# (mean over 3 held-out images, sizes 32/64/128/224): the bundled unet_s3 goes from +3.9 dB (shared photos) to
# -6.2 dB on the test suite's toy images (smooth gradients with hard-edged discs); an untrained registry net is the
# identity (0 dB); the registry `tiny` with random weights and a 0.2-scaled head (the test suite's): -0.9 to 0 dB;
# every weight random (test_bench's tiny, unet_s): -3.5 to -9.4 dB; one random 3x3 conv (mean |out-in| ~ 100
# levels): -11.0 dB (dpdd_dev) to -18.5 dB (photos). 8 dB (2.5x the identity's RMS error) keeps our own model
# with 1.8 dB to spare and refuses the random conv with 3 dB to spare.
MAX_DROP_VS_IDENTITY_DB = 8.0


class UntrainedWarning(UserWarning):
    """A model far worse than the blurred input on the held-out images was exported anyway (`allow_untrained`)."""


def _check_siblings(out: Path, name: str, sha: str | None, precisions: list[str]) -> None:
    """Refuse an export that would leave, beside its new files, files of the same model name exported from another
    .keras (two training runs of one registry model share its name): the folder would mix two models."""
    from edge_deblur.model_files import read_metadata

    if sha is None:
        return
    for precision in (p for p in PRECISIONS if p not in precisions):
        path = out / f"{name}_{precision}.tflite"
        if not path.is_file():
            continue
        try:
            other = read_metadata(path).get("source_sha256")
        except ModelError:
            other = "unreadable"
        if other != sha:
            raise ModelError(f"{path} was exported from another {name}.keras than this one; export all its "
                             f"precisions again (-q {precision} too) or choose another --out, so that the folder "
                             "does not mix two models")


def _check_options(precisions, io_dtype: str, calibration_samples: int, calibration_batch: int) -> list[str]:
    """The precisions to export ("all" expanded, repeats dropped), after refusing unknown ones and bad calibration
    options."""
    precisions = [precisions] if isinstance(precisions, str) else list(precisions)
    precisions = list(PRECISIONS) if "all" in precisions else list(dict.fromkeys(precisions))
    bad = [p for p in precisions if p not in PRECISIONS]
    if bad or not precisions:
        raise ModelError(f"unknown precision {', '.join(map(repr, bad)) or '(none given)'}; "
                         f"choose from: {', '.join(PRECISIONS)} or all")
    if io_dtype not in IO_DTYPES:
        raise ModelError(f"unknown io dtype '{io_dtype}'; choose one of: {', '.join(IO_DTYPES)}")
    if calibration_samples < 1:
        raise DataError(f"--calibration-samples must be positive, got {calibration_samples}")
    if calibration_batch < 0:
        raise DataError(f"--calibration-batch must be >= 0, got {calibration_batch}")
    return precisions


def _check_numbers(size, seed: int, verify_images: int, overlap: int) -> tuple[int, int]:
    """(h, w) of `size`, after refusing a size the runtime would refuse and a bad seed, image count or overlap."""
    from edge_deblur.integrity import MAX_TILE, MIN_TILE

    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ModelError(f"--size {size!r}: expected (height, width)") from None
    if not (MIN_TILE <= h <= MAX_TILE and MIN_TILE <= w <= MAX_TILE):
        raise ModelError(f"--size {h}x{w}: each side must be in [{MIN_TILE}, {MAX_TILE}] (the runtime refuses "
                         "models with smaller or bigger inputs)")
    if seed < 0:
        raise DataError(f"--seed must be >= 0, got {seed}")
    if verify_images < 1:
        raise DataError(f"--verify-images must be at least 1, got {verify_images} (every file is verified)")
    if not 0 <= overlap <= MAX_TILE:
        raise DataError(f"overlap must be in [0, {MAX_TILE}], got {overlap}")
    return h, w


def _output_folder(out, source: Path | None) -> Path:
    """The output folder: `out` (refused if it, or the first existing folder above it, is a file), else the folder
    of the .keras file, except for a model object or a .keras in the bundled release folder (see `export_model`)."""
    if out is not None:
        out = Path(out)
        blocking = file_in_the_way(out)
        if blocking is not None:
            raise EdgeDeblurError(f"--out {out}: " + ("is an existing file" if blocking == out else
                                                       f"{blocking} is a file") + ", not a folder")
        return out
    if source is None:
        raise EdgeDeblurError("a Keras model object has no folder to export beside: pass out=FOLDER")
    if source.parent.resolve() in _bundled_folders():
        raise EdgeDeblurError(f"{source}: the bundled model; its folder holds the shipped exports and is never "
                              "rewritten by default: pass --out FOLDER (name that folder itself to replace them)")
    return source.parent


def _bundled_folders() -> list[Path]:
    """The folders the runtime reads the bundled release from (a function: tests stand in a release of their own)."""
    from edge_deblur.model_files import bundled_folders

    return bundled_folders()


def _fixed_model(keras_model, size: tuple[int, int], label: str) -> tuple:
    """The model's stride and a copy at input `size`, after checking that it maps one RGB image to one RGB image of
    the same size (a classifier, a multi-input or a resizing net is refused, naming `label`)."""
    from edge_deblur.models import model_stride, with_input_size

    h, w = size
    ins, outs = _tensors(keras_model, "inputs"), _tensors(keras_model, "outputs")
    if len(ins) != 1 or len(outs) != 1 or len(ins[0].shape) != 4 or ins[0].shape[3] != 3:
        raise ModelError(f"{label}: not an image-to-image model: it takes {_shapes(ins)} and returns {_shapes(outs)};"
                         " export needs one RGB image (batch, height, width, 3) in and one of the same shape out")
    stride = model_stride(keras_model)
    try:
        fixed = with_input_size(keras_model, h, w)
    except ModelError:
        raise
    except Exception as e:  # noqa: BLE001 - Keras raises ValueError, TypeError, KeyError... for nets it cannot rebuild
        why = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ModelError(f"{label}: cannot be rebuilt with a {h}x{w} input ({why})") from None
    shape = tuple(_tensors(fixed, "outputs")[0].shape)
    if shape != (1, h, w, 3):
        raise ModelError(f"{label}: its output for a (1, {h}, {w}, 3) image is {shape}, not an RGB image of the "
                         "input's size; export takes deblurring (image-to-image) models only")
    return stride, fixed


def _tensors(model, which: str) -> list:
    """`model.inputs` or `model.outputs` ([] for a model that has none, e.g. a subclassed one never called)."""
    try:
        return list(getattr(model, which) or [])
    except (AttributeError, ValueError):
        return []


def _shapes(tensors: list) -> str:
    """'(None, 32, 32, 3)' or '[(..), (..)]' for an error message."""
    shapes = [tuple(t.shape) for t in tensors]
    return str(shapes[0]) if len(shapes) == 1 else str(shapes)


def _check_quality(reference: list, checks: list, label: str, allow_untrained: bool) -> float:
    """The blurred input's own mean PSNR on the held-out images, after refusing (or, allowed, warning about) a model
    whose output scores more than `MAX_DROP_VS_IDENTITY_DB` below it: not a deblurring model for this data. Both
    sides are compared with each image's PSNR capped at 50 dB, so an image the blur left intact (inf dB) weighs no
    more than a near-perfect one."""
    from edge_deblur.metrics import psnr

    identity = [psnr(b, s) for b, s in checks]
    model = [psnr(r, s) for r, (_, s) in zip(reference, checks)]
    if any(math.isnan(v) for v in model):
        raise ModelError(f"{label}: the Keras model's output on the held-out images holds NaN; a broken model")
    drop = float(np.mean(np.minimum(identity, 50.0)) - np.mean(np.minimum(model, 50.0)))
    if drop <= MAX_DROP_VS_IDENTITY_DB:
        return float(np.mean(identity))
    images = f"{len(checks)} held-out image" + ("s" if len(checks) > 1 else "")
    what = (f"{label}: the Keras model scores {np.mean(model):.1f} dB PSNR on {images}, {drop:.1f} dB below the "
            f"blurred input itself ({np.mean(identity):.1f} dB)")
    if not allow_untrained:
        raise ModelError(f"{what}: not a deblurring model for this data (untrained, broken or foreign); refusing to "
                         "export it as one (allow_untrained=True, --allow-untrained: export it anyway)")
    warnings.warn(f"{what}; exported anyway (allow_untrained)", UntrainedWarning, stacklevel=3)
    return float(np.mean(identity))
