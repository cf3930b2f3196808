"""Keras -> TFLite bytes: one small converter per precision (float32, float16, full-integer int8), int8
calibration by the mean of per-batch ranges (see `edge_deblur.export` for why), and TensorFlow's native log kept
off the terminal. `edge_deblur.export` writes, stamps and verifies the files made here."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import warnings
from typing import Callable

import numpy as np

from edge_deblur.errors import ModelError
from edge_deblur.tflite_rewrite import drop_identity_clips

PRECISIONS = ("float32", "float16", "int8")
IO_DTYPES = ("float32", "uint8", "int8")
CALIBRATION_BATCH = 16  # int8 ranges: mean of per-batch min/max over batches of this many crops (0: global min/max)
CALIBRATION_SIZE = 224  # int8 calibration crops are at most this many px a side, whatever the model's input size


@contextlib.contextmanager
def _quiet_native():
    """Send the converter's stdout/stderr chatter (C++ and Python) to a temp file; yield a reader for it."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile(mode="w+b") as sink:
        captured = {"text": ""}
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            with contextlib.redirect_stdout(io.StringIO()):  # Python-level prints when sys.stdout is not fd 1
                yield captured
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            sink.seek(0)
            captured["text"] = sink.read().decode("utf-8", errors="replace")


def _tf():
    """TensorFlow, imported quietly (its start-up chatter on stderr is dropped)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" not in sys.modules:
        with _quiet_native():
            import tensorflow  # noqa: F401
    import tensorflow as tf

    return tf


def _converter(model):
    """A TFLiteConverter for a fixed-size Keras model."""
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or shape[3] != 3 or any(d is None for d in shape):
        raise ModelError(f"{model.name}: export needs a fixed input shape (1, h, w, 3), got {shape}; "
                         "use edge_deblur.models.with_input_size first")
    return _tf().lite.TFLiteConverter.from_keras_model(model)


def _float32(model, representative=None, io_dtype="float32"):
    """Plain float32 conversion."""
    return _converter(model)


def _float16(model, representative=None, io_dtype="float32"):
    """float16 weights; activations stay float32 (XNNPACK computes fp32 on x86, fp16 where the CPU has it)."""
    tf = _tf()
    c = _converter(model)
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    c.target_spec.supported_types = [tf.float16]
    return c


def _int8(model, representative=None, io_dtype="float32"):
    """Full-integer int8: every op int8, ranges from the representative set; I/O dtype as asked."""
    tf = _tf()
    if representative is None or len(representative) == 0:
        raise ModelError("int8 export needs a representative set (calibration crops from the training data)")
    reps = np.asarray(representative, dtype=np.float32)
    h, w = model.inputs[0].shape[1:3]
    if reps.ndim != 4 or reps.shape[1:] != (h, w, 3):
        raise ModelError(f"representative set has shape {reps.shape}; expected (n, {h}, {w}, 3)")
    ramp = np.broadcast_to(np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :, None], (h, w, 3))

    def samples():
        # A 0->1 ramp pins the input range to exactly [0, 1], so uint8 input is the camera byte (scale 1/255).
        yield [ramp[None].copy()]
        for x in reps:
            yield [x[None]]

    c = _converter(model)
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    c.representative_dataset = samples
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if io_dtype != "float32":
        c.inference_input_type = getattr(tf, io_dtype)
        c.inference_output_type = getattr(tf, io_dtype)
    return c


_CONVERTERS: dict[str, Callable] = {"float32": _float32, "float16": _float16, "int8": _int8}


def _calibrated(model, reps: np.ndarray):
    """The model as a flatbuffer object whose tensors carry the min/max seen on the 0-1 ramp plus `reps`."""
    from tensorflow.lite.tools import flatbuffer_utils

    c = _int8(model, reps, "float32")
    c._experimental_calibrate_only = True
    return flatbuffer_utils.convert_bytearray_to_object(bytearray(c.convert()))


def _ranged_tensors(flat) -> dict:
    """name -> tensor, for the tensors of a calibrated flatbuffer object that carry one (per-tensor) min/max."""
    return {(t.name.decode() if isinstance(t.name, bytes) else t.name): t for t in flat.subgraphs[0].tensors
            if t.quantization is not None and t.quantization.min is not None and len(t.quantization.min) == 1}


def _mean_ranges(per_batch: list) -> dict[str, tuple[float, float]]:
    """Activation ranges by tensor name: the mean over calibrated batches of each batch's min/max."""
    tensors = [_ranged_tensors(b) for b in per_batch]
    return {name: (float(np.mean([t[name].quantization.min[0] for t in tensors])),
                   float(np.mean([t[name].quantization.max[0] for t in tensors]))) for name in tensors[0]}


def _int8_from_ranges(base, ranges: dict[str, tuple[float, float]], io_dtype: str, name: str) -> bytes:
    """int8 bytes of the calibrated flatbuffer object `base` with its ranges replaced by `ranges` (possibly measured
    on the same net at another size: the graph and its tensor names do not depend on the input size)."""
    from tensorflow.lite.python import convert as tfl_convert
    from tensorflow.lite.tools import flatbuffer_utils

    tf = _tf()
    for tensor_name, tensor in _ranged_tensors(base).items():
        if tensor_name not in ranges:
            raise ModelError(f"{name}: no calibrated range for tensor '{tensor_name}'")
        tensor.quantization.min, tensor.quantization.max = [ranges[tensor_name][0]], [ranges[tensor_name][1]]
    raw = tfl_convert.mlir_quantize(bytes(flatbuffer_utils.convert_object_to_bytearray(base)),
                                    input_data_type=tf.float32, output_data_type=tf.float32)
    if io_dtype == "float32":
        return bytes(raw)
    from tensorflow.lite.python import util  # what TFLiteConverter itself does for integer model I/O

    return bytes(util.modify_model_io_type(raw, getattr(tf, io_dtype), getattr(tf, io_dtype)))


def calibration_size(size: tuple[int, int], stride: int) -> tuple[int, int]:
    """(h, w) of the int8 calibration crops for a model of input `size`: at most `CALIBRATION_SIZE` a side.

    Activation ranges do not depend on the frame size, so a 512x512 model is calibrated on 224x224 crops and the
    ranges are moved onto its graph. Bigger crops would widen each batch's min/max (more pixels per batch) and
    would only come from the few training photos that are that large.
    """
    limit = max(stride, CALIBRATION_SIZE // stride * stride)
    return min(int(size[0]), limit), min(int(size[1]), limit)


def convert(model, precision: str, representative: np.ndarray | None = None, io_dtype: str = "float32",
            calibration_batch: int = CALIBRATION_BATCH) -> bytes:
    """Convert a fixed-size Keras model to .tflite bytes in one precision.

    Args:
        model: a `keras.Model` with input shape (1, h, w, 3) (see `edge_deblur.models.with_input_size`).
        precision: one of `PRECISIONS`.
        representative: float32 (n, h', w', 3) crops in [0, 1] from the training data; required for int8. Crops of
            another size than the model input (export uses at most 224x224, see `calibration_size`) are run through
            a copy of the model at their size, and the ranges are moved onto this one.
        io_dtype: int8 only: model input/output dtype, one of `IO_DTYPES` (default float32, see module docs).
        calibration_batch: int8 only: ranges are the mean over batches of this many crops of each batch's min/max
            (see module docs); 0, or no more crops than one batch, gives the min/max over all crops.

    Returns:
        The .tflite flatbuffer (no edge-deblur metadata yet; see `edge_deblur.tflite_meta.with_metadata`). 2x2
        stride-2 transposed convolutions become a 1x1 convolution and DEPTH_TO_SPACE, the same in float and faster
        (`edge_deblur.keras_rewrite`). For int8, MINIMUM/RELU ops that are provably identities (the [0, 1] clip,
        already done by the output quantization) are removed so XNNPACK takes the whole graph
        (`edge_deblur.tflite_rewrite.drop_identity_clips`).

    Raises:
        ModelError: unknown precision or io_dtype, missing representative set, or the converter failed (the
            message says why).
    """
    if precision not in _CONVERTERS:
        raise ModelError(f"unknown precision '{precision}'; choose one of: {', '.join(PRECISIONS)}")
    if io_dtype not in IO_DTYPES:
        raise ModelError(f"unknown io dtype '{io_dtype}'; choose one of: {', '.join(IO_DTYPES)}")
    if calibration_batch < 0:
        raise ModelError(f"calibration batch must be >= 0, got {calibration_batch}")
    from edge_deblur.keras_rewrite import upsampling_as_depth_to_space

    model = upsampling_as_depth_to_space(model)
    calib_model = model
    if precision == "int8" and representative is not None and np.ndim(representative) == 4 \
            and tuple(np.shape(representative)[1:3]) != tuple(model.inputs[0].shape[1:3]):
        from edge_deblur.models import with_input_size

        calib_model = with_input_size(model, *np.shape(representative)[1:3])  # ranges measured at the crop size
    converter = _CONVERTERS[precision](calib_model, representative, io_dtype)  # validates the representative set
    ranged = precision == "int8" and (0 < calibration_batch < len(representative) or calib_model is not model)
    with _quiet_native() as log:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if ranged:
                    reps = np.asarray(representative, np.float32)
                    batch = calibration_batch if 0 < calibration_batch < len(reps) else len(reps)
                    per_batch = [_calibrated(calib_model, reps[i : i + batch]) for i in range(0, len(reps), batch)]
                    ranges = _mean_ranges(per_batch)
                    # the graph to quantize: a calibrated batch itself, or the model at its own size (its own
                    # ranges, from one blank frame, are all replaced)
                    base = per_batch[0] if calib_model is model else \
                        _calibrated(model, np.zeros((1, *model.inputs[0].shape[1:3], 3), np.float32))
                    raw = _int8_from_ranges(base, ranges, io_dtype, model.name)
                else:
                    raw = bytes(converter.convert())
            # int8 MINIMUM/RELU left from a final ReLU(max_value=1) are identities XNNPACK would not take
            return drop_identity_clips(raw)[0] if precision == "int8" else raw
        except Exception as e:  # the converter raises ConverterError, RuntimeError, ValueError, ...
            failure = e
    lines = [ln for ln in (str(failure) + "\n" + log["text"]).splitlines() if "error" in ln.lower()]
    why = (lines[0] if lines else str(failure).splitlines()[0] if str(failure) else type(failure).__name__)
    raise ModelError(f"{model.name}: {precision} conversion failed: {why.strip()[:300]}")
