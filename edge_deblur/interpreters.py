"""The TFLite interpreter under the runtime: which backend, its errors in one line, int8 tensor I/O, delegated ops.

Backends, in order: `ai_edge_litert` (LiteRT), `tflite_runtime` (the older standalone runtime, which needs numpy<2),
`tensorflow.lite`. `EDGE_DEBLUR_BACKEND=<name>` (or `interpreter_class(name)`) picks one. Imports no TensorFlow
unless it is the only interpreter left.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from edge_deblur.errors import ModelError

BACKENDS = ("ai_edge_litert", "tflite_runtime", "tf.lite")
# Backends without fast int8 kernels: tflite-runtime (up to 2.14, the last release) leaves int8 graphs to its
# reference kernels (~10x slower than XNNPACK; its Python API cannot pass XNNPACK's QS8 flag).
SLOW_INT8_BACKENDS = {"tflite_runtime": "does not hand int8 models to XNNPACK (its int8 kernels are ~10x slower)"}
_warned: set[str] = set()


def slow_int8_reason(backend: str, precision: str) -> str | None:
    """Why `backend` runs a model of `precision` slowly (an int8 model on a backend without fast int8 kernels)."""
    return SLOW_INT8_BACKENDS.get(backend) if precision == "int8" else None


def warn_slow_int8(backend: str, precision: str, name: str) -> None:
    """Warn once per process and backend, in one line, that an int8 model runs on a backend slow at int8."""
    reason = slow_int8_reason(backend, precision)
    if reason is None or backend in _warned:
        return
    _warned.add(backend)
    warnings.warn(f"{name}: int8 model on {backend}, which {reason}; use the float16 file or install "
                  "ai-edge-litert", RuntimeWarning, stacklevel=3)


def interpreter_class(backend: str | None = None):
    """(Interpreter class, backend name): the first importable backend, or the one asked for.

    Raises:
        ModelError: an unknown backend name, the one asked for is not installed, or none is.
    """
    wanted = backend or os.environ.get("EDGE_DEBLUR_BACKEND") or None
    if wanted is not None and wanted not in BACKENDS:
        raise ModelError(f"unknown interpreter backend '{wanted}'; choose one of: {', '.join(BACKENDS)}")
    for name in BACKENDS if wanted is None else (wanted,):
        try:
            if name == "ai_edge_litert":
                from ai_edge_litert.interpreter import Interpreter
            elif name == "tflite_runtime":
                from tflite_runtime.interpreter import Interpreter
            else:
                import tensorflow as tf

                Interpreter = tf.lite.Interpreter
        except ImportError:
            continue
        return Interpreter, name
    if wanted is not None:
        raise ModelError(f"interpreter backend '{wanted}' is not installed")
    raise ModelError("no TFLite interpreter installed: pip install ai-edge-litert (or tflite-runtime)")


def first_line(e: BaseException) -> str:
    """The first line of an exception message (interpreter errors run to many lines)."""
    text = str(e).strip()
    return text.splitlines()[0][:300] if text else type(e).__name__


def quant_params(detail: dict) -> tuple[float, int] | None:
    """(scale, zero point) of an integer tensor (from get_input/output_details), None for float tensors."""
    if detail["dtype"] == np.float32:
        return None
    scale, zp = detail["quantization"]
    return (float(scale) if scale else 1.0 / 255.0), int(zp)


def quantize(x: np.ndarray, q: tuple[float, int] | None, dtype, *, in_place: bool = False) -> np.ndarray:
    """float32 values in [0, 1] as a model input of `dtype`: unchanged when `q` is None (a float input), else
    rounded with (scale, zero point) `q` and saturated; `in_place` uses `x` as the scratch buffer."""
    if q is None:
        return x
    scale, zp = q
    info = np.iinfo(dtype)
    y = np.divide(x, scale, out=x if in_place else None)
    np.rint(y, out=y)
    y += zp
    np.clip(y, info.min, info.max, out=y)
    return y.astype(dtype)


def dequantize(y: np.ndarray, q: tuple[float, int] | None) -> np.ndarray:
    """A model output as float32 values (not clipped): unchanged when `q` is None, else (y - zero point) * scale."""
    if q is None:
        return y
    scale, zp = q
    out = y.astype(np.float32)
    out -= zp
    out *= scale
    return out


def delegation_report(details: list[dict]) -> dict:
    """Which ops of an interpreter's `_get_ops_details()` its delegates (XNNPACK on CPU) took over.

    Returns:
        Dict with `ops` (op names in graph order), `op_counts`, `delegate_nodes` (number of delegate partitions),
        `not_delegated` (names of ops left to the builtin kernels) and `fully_delegated`.
    """
    nodes = [d for d in details if d["op_name"] != "DELEGATE"]
    delegates = [d for d in details if d["op_name"] == "DELEGATE"]
    producer = {t: k for k, d in enumerate(nodes) for t in d["outputs"]}
    covered: set[int] = set()
    for dlg in delegates:
        stop = set(int(t) for t in dlg["inputs"])
        todo = [int(t) for t in dlg["outputs"]]
        while todo:
            t = todo.pop()
            k = producer.get(t)
            if t in stop or k is None or k in covered:
                continue
            covered.add(k)
            todo.extend(int(i) for i in nodes[k]["inputs"] if i >= 0)
    names = [d["op_name"] for d in nodes]
    left = [names[k] for k in range(len(nodes)) if k not in covered]
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    return {"ops": names, "op_counts": counts, "delegate_nodes": len(delegates), "not_delegated": left,
            "fully_delegated": bool(nodes) and not left}
