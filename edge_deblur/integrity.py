"""What the runtime checks before it trusts a .tflite: content digest, metadata values, a graph it can tile.

A file exported by edge-deblur carries a `content_sha256` of its own bytes in its metadata (see
`edge_deblur.tflite_meta`); a mismatch means the file changed after export (bit rot, a bad copy, an edit) and is
always refused. Files without our metadata ("foreign" models) are refused unless the caller opts in; their
signature is checked like any other. No TensorFlow or flatbuffers needed.

Example:
    >>> from edge_deblur.integrity import checked_metadata, check_graph
    >>> from edge_deblur.tflite_reader import parse_model
    >>> data = open("unet_s2_int8.tflite", "rb").read()
    >>> info = parse_model(data, "unet_s2_int8.tflite")
    >>> meta = checked_metadata(data, info, "unet_s2_int8.tflite")
    >>> check_graph(info, "unet_s2_int8.tflite")
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from edge_deblur.errors import ModelError
from edge_deblur.tflite_meta import DIGEST_KEY, content_digest, digest_span
from edge_deblur.tflite_reader import ModelInfo, _Corrupt

PRECISIONS = ("float32", "float16", "int8")
IO_DTYPES = ("float32", "uint8", "int8")
MIN_TILE = 16  # a smaller input would mean one interpreter call per handful of pixels
MAX_TILE = 8192
MAX_STRIDE = 256
MAX_DEPTH = 4  # our metadata is flat; unknown keys may hold small lists or objects
# Builtin operators that run other subgraphs: the runtime runs one fixed graph per tile.
CONTROL_FLOW = {31: "CALL", 118: "IF", 119: "WHILE", 129: "CALL_ONCE", 200: "STABLEHLO_WHILE",
                209: "STABLEHLO_CASE"}


def checked_metadata(data: bytes, info: ModelInfo, source: str, allow_foreign: bool = False) -> dict:
    """The file's edge-deblur metadata, after checking its content digest and its values.

    Args:
        data: the file's bytes.
        info: `parse_model(data)`.
        source: the name used in error messages (the path).
        allow_foreign: accept a file without edge-deblur metadata (returns {}) or without a digest (an export
            older than the digest); a digest that does not match is refused even then.

    Returns:
        The validated metadata dict ({} for an accepted foreign file); its input size, I/O dtype and precision
        agree with the graph.

    Raises:
        ModelError: digest mismatch, missing metadata or digest (unless allowed), or an invalid value; one line
            naming `source`.
    """
    try:
        meta = info.metadata_json()
        span = digest_span(data, info) if meta else None
    except _Corrupt as e:
        raise ModelError(f"{source}: {e}") from None
    if not meta:
        if allow_foreign:
            return {}
        raise ModelError(f"{source}: TFLite model has no edge-deblur metadata (not written by `edge-deblur "
                         "export`); pass allow_foreign=True (--allow-foreign) to run it anyway")
    if span is None:
        if not allow_foreign:
            raise ModelError(f"{source}: edge-deblur metadata has no content digest (exported before digests, or "
                             "edited); re-stamp it with edge_deblur.tflite_meta.restamp_file, or pass "
                             "allow_foreign=True (--allow-foreign)")
    elif content_digest(data, span) != meta[DIGEST_KEY]:
        raise ModelError(f"{source}: content digest mismatch: the file changed after export (corrupt copy or "
                         "edited weights/metadata); re-export or re-download it")
    validate_metadata(meta, source)
    if len(info.inputs) == 1:
        _check_agrees(info, source, meta)
    return meta


def _choice(*values: str) -> tuple[Callable[[Any], bool], str]:
    """Validator (check, what was expected) for one of a few strings."""
    return (lambda v: v in values), "one of " + ", ".join(values)


def _int(lo: int, hi: int) -> tuple[Callable[[Any], bool], str]:
    """Validator for an integer in [lo, hi] (not a bool, not a float)."""
    return (lambda v: type(v) is int and lo <= v <= hi), f"an integer in [{lo}, {hi}]"


def _text(optional: bool = False) -> tuple[Callable[[Any], bool], str]:
    """Validator for a string of at most 2000 characters (or null when optional)."""
    return (lambda v: (isinstance(v, str) and len(v) <= 2000) or (optional and v is None),
            "a string" + (" or null" if optional else ""))


def _size(v: Any) -> bool:
    """True for [height, width] integers in [MIN_TILE, MAX_TILE]."""
    return isinstance(v, list) and len(v) == 2 and all(type(n) is int and MIN_TILE <= n <= MAX_TILE for n in v)


_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "precision": _choice(*PRECISIONS),
    "io_dtype": _choice(*IO_DTYPES),
    "layout": _choice("NHWC"),
    "channels": _choice("RGB"),
    "input_size": (_size, f"[height, width], integers in [{MIN_TILE}, {MAX_TILE}]"),
    "value_range": ((lambda v: v == [0.0, 1.0] and all(type(x) in (int, float) for x in v)), "[0.0, 1.0]"),
    "stride": _int(1, MAX_STRIDE),
    "overlap": _int(0, MAX_TILE),
    "format": _text(), "model": _text(), "toolkit_version": _text(), "tensorflow_version": _text(optional=True),
    "made_by": _text(), "source_file": _text(optional=True), "calibration": _text(optional=True),
    "source_sha256": _text(optional=True),
}


def _too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True if a JSON value nests lists/objects more than `limit` levels (iterative: any depth is safe)."""
    level = [value]
    for _ in range(limit + 1):
        containers = [v for v in level if isinstance(v, (dict, list))]
        if not containers:
            return False
        level = [c for v in containers for c in (v.values() if isinstance(v, dict) else v)]
    return True


def validate_metadata(meta: dict, source: str = "model") -> dict:
    """Check the types and ranges of edge-deblur metadata values (unknown keys pass if shallow and finite).

    Args:
        meta: the parsed metadata.
        source: the name used in error messages.

    Returns:
        `meta`, unchanged.

    Raises:
        ModelError: the first invalid value, named with what was expected.
    """
    for key, value in meta.items():
        if key in _FIELDS:
            ok, expected = _FIELDS[key]
            if not ok(value):
                raise ModelError(f"{source}: edge-deblur metadata '{key}' is {_show(value)}, expected {expected}")
        elif _too_deep(value):
            raise ModelError(f"{source}: edge-deblur metadata '{key}' is nested more than {MAX_DEPTH} levels deep")
        elif isinstance(value, float) and not math.isfinite(value):
            raise ModelError(f"{source}: edge-deblur metadata '{key}' is {value}, expected a finite number")
    size = meta.get("input_size")
    if size and meta.get("stride") and (size[0] % meta["stride"] or size[1] % meta["stride"]):
        raise ModelError(f"{source}: edge-deblur metadata input_size {size} is not a multiple of its stride "
                         f"{meta['stride']}")
    return meta


def _show(value: Any) -> str:
    """A short repr of a metadata value for an error message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_graph(info: ModelInfo, source: str) -> None:
    """Require a graph the runtime can tile: one subgraph without control flow, one fixed-size RGB image in and
    the same shape out, of a supported dtype, at least `MIN_TILE` pixels a side.

    Raises:
        ModelError: the first thing that does not hold, naming `source`.
    """
    flow = sorted(CONTROL_FLOW[c] for c in info.op_codes if c in CONTROL_FLOW)
    if flow:
        raise ModelError(f"{source}: model uses control-flow ops ({', '.join(flow)}); edge-deblur runs only "
                         "single-graph image models (export without loops or conditionals)")
    if info.num_subgraphs != 1:
        raise ModelError(f"{source}: model has {info.num_subgraphs} subgraphs; edge-deblur runs only single-graph "
                         "image models")
    if len(info.inputs) != 1 or len(info.outputs) != 1:
        raise ModelError(f"{source}: expected one image input and one output, got "
                         f"{len(info.inputs)} inputs and {len(info.outputs)} outputs")
    for what, t in (("input", info.inputs[0]), ("output", info.outputs[0])):
        if len(t.shape) != 4 or t.shape[0] != 1 or t.shape[3] != 3 or min(t.shape[1:3]) < 1:
            raise ModelError(f"{source}: model {what} is not an RGB image: shape {list(t.shape)}, "
                             "expected [1, height, width, 3]")
        if any(d < 0 for d in t.signature):
            raise ModelError(f"{source}: model {what} has a dynamic shape {list(t.signature)}; edge-deblur needs a "
                             "fixed [1, height, width, 3] (export at a fixed size)")
        if t.dtype not in IO_DTYPES:
            raise ModelError(f"{source}: model {what} has dtype {t.dtype}; expected float32, uint8 or int8")
    shape = info.inputs[0].shape
    if info.outputs[0].shape != shape:
        raise ModelError(f"{source}: output shape {list(info.outputs[0].shape)} differs from input shape "
                         f"{list(shape)}")
    if min(shape[1:3]) < MIN_TILE:
        raise ModelError(f"{source}: model input {shape[1]}x{shape[2]} is smaller than {MIN_TILE}x{MIN_TILE}; "
                         "tiling a photo through it would take an interpreter call per few pixels")


def _check_agrees(info: ModelInfo, source: str, meta: dict) -> None:
    """The metadata's input size, I/O dtype and precision describe this graph."""
    shape, dtype = list(info.inputs[0].shape[1:3]), info.inputs[0].dtype  # [h, w] once check_graph passed
    if "input_size" in meta and meta["input_size"] != shape:
        raise ModelError(f"{source}: metadata says input_size {meta['input_size']}, the model's input is {shape}")
    if "io_dtype" in meta and meta["io_dtype"] != dtype:
        raise ModelError(f"{source}: metadata says io_dtype {meta['io_dtype']}, the model's input is {dtype}")
    precision = meta.get("precision")
    if precision in ("int8", "float16") and precision not in info.tensor_types:
        raise ModelError(f"{source}: metadata says precision {precision}, but the model has no {precision} tensors")


def check_finite(y: np.ndarray, source: str) -> None:
    """Raise a ModelError if a model output holds NaN or infinite values (never turned into an image)."""
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        bad = int(y.size - np.count_nonzero(np.isfinite(y)))
        raise ModelError(f"{source}: the model produced {bad} NaN or infinite values of {y.size} in a tile; "
                         "refusing to return an image (a broken or foreign model)")


def check_not_blank(y: np.ndarray, x: np.ndarray, source: str) -> None:
    """Raise a ModelError if a model turned an image with content (`x`) into all black or all white (`y`, same
    shape and dtype: uint8, or float in [0, 1]): a broken or foreign model, never a deblurred photo. A blank input
    may stay blank."""
    top = 255.0 if y.dtype == np.uint8 else 1.0
    lo, hi = float(y.min()), float(y.max())  # reductions: no photo-sized temporaries (a 48 MP photo: 144 MB)
    for value, what in ((0.0, "black"), (top, "white")):
        if lo == hi == value and max(float(x.max()) - value, value - float(x.min())) > 4 / 255 * top:
            raise ModelError(f"{source}: the model turned a non-blank image all {what}; refusing to return it "
                             "(a broken or foreign model)")
