"""The variant table: one runner per row (identity, classical, Keras, TFLite per precision). Each restores full
images (quality) and times one frame as (pre, inference, post) seconds (latency)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from edge_deblur.errors import ModelError


def _tile(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A centre crop of `img` at `size` (wrap-padded when the image is smaller): the latency input."""
    h, w = size
    ph, pw = max(0, h - img.shape[0]), max(0, w - img.shape[1])
    if ph or pw:
        img = np.pad(img, ((0, ph), (0, pw), (0, 0)), mode="wrap")
    y, x = (img.shape[0] - h) // 2, (img.shape[1] - w) // 2
    return np.ascontiguousarray(img[y : y + h, x : x + w], dtype=np.float32)


class _Runner:
    """A row of the table: restores full images and times one frame as (pre, inference, post) seconds."""

    kind = ""
    precision: str | None = None
    backend = "numpy"
    threads = 1
    size_bytes = 0
    gflop: float | None = 0.0
    xnnpack: bool | None = None
    note = ""

    def restore(self, blurred: np.ndarray, radius: float | None) -> np.ndarray:
        """Full-size float32 output for one blurred image."""
        raise NotImplementedError

    def prepare(self, tile: np.ndarray, radius: float | None) -> None:
        """Set up timing on one frame."""
        self.tile, self.radius = tile, radius

    def time_once(self) -> tuple[float, float, float]:
        """One timed frame: (pre, inference, post) seconds."""
        raise NotImplementedError


class _BaselineRunner(_Runner):
    """Identity or classical deconvolution (numpy / scikit-image, one thread)."""

    def __init__(self, baseline, kind: str) -> None:
        self.baseline, self.kind, self.name = baseline, kind, baseline.name
        self.backend = "numpy" if kind == "identity" else "scikit-image"
        self.gflop = 0.0 if kind == "identity" else None
        self.note = baseline.note

    def restore(self, blurred, radius):
        return self.baseline(blurred, radius)

    def time_once(self):
        t0 = time.perf_counter()
        out = self.baseline(self.tile, self.radius)
        if out is self.tile:  # identity must produce an output image, as any deblurrer would
            out = out.copy()
        return 0.0, time.perf_counter() - t0, 0.0


class _KerasRunner(_Runner):
    """The Keras model in TensorFlow: full images at any size (padded to the stride), a traced call for timing."""

    kind = "keras"
    backend = "tensorflow"

    def __init__(self, model, size_bytes: int, threads: int, gflop: float) -> None:
        from edge_deblur.models import model_stride

        self.model, self.size_bytes, self.threads, self.gflop = model, size_bytes, threads, gflop
        self.stride = model_stride(model)
        self.name = "keras"
        self.precision = "float32"

    def restore(self, blurred, radius):
        h, w = blurred.shape[:2]
        s = self.stride
        ph, pw = (-h) % s, (-w) % s
        x = np.pad(blurred, ((0, ph), (0, pw), (0, 0)), mode="reflect") if ph or pw else blurred
        y = np.asarray(self.model(x[None].astype(np.float32), training=False))[0, :h, :w]
        return np.clip(y, 0.0, 1.0).astype(np.float32)

    def prepare(self, tile, radius):
        import tensorflow as tf

        from edge_deblur.models import with_input_size

        super().prepare(tile, radius)
        fixed = with_input_size(self.model, *tile.shape[:2])
        self.fn = tf.function(lambda t: fixed(t, training=False))

    def time_once(self):
        import tensorflow as tf

        t0 = time.perf_counter()
        t = tf.convert_to_tensor(self.tile[None])
        t1 = time.perf_counter()
        y = self.fn(t)
        t2 = time.perf_counter()
        np.clip(y.numpy()[0], 0.0, 1.0)
        t3 = time.perf_counter()
        return t1 - t0, t2 - t1, t3 - t2


class _TFLiteRunner(_Runner):
    """A TFLite file through `edge_deblur.runtime.Deblurrer` (tiled full images; set_input/invoke/get_output)."""

    kind = "tflite"

    def __init__(self, path: Path, precision: str, threads: int | None, gflop: float) -> None:
        from edge_deblur.runtime import Deblurrer

        self.path = Path(path)
        self.d = Deblurrer(self.path, num_threads=threads, guard_flat=False)  # the model alone, as the Keras row
        self.precision = precision
        self.name = f"tflite-{precision}"
        self.backend = self.d.backend
        self.threads = int(self.d.num_threads) if self.d.num_threads else (os.cpu_count() or 1)
        self.size_bytes = self.path.stat().st_size
        self.gflop = gflop
        self.xnnpack = _fully_delegated(self.d)
        if self.d.precision != precision:
            raise ModelError(f"{self.path}: file says precision {self.d.precision}, expected {precision}")

    def restore(self, blurred, radius):
        return np.clip(self.d(blurred), 0.0, 1.0).astype(np.float32)

    def time_once(self):
        t0 = time.perf_counter()
        self.d.set_input(self.tile)
        t1 = time.perf_counter()
        self.d.invoke()
        t2 = time.perf_counter()
        self.d.get_output()
        t3 = time.perf_counter()
        return t1 - t0, t2 - t1, t3 - t2


def _fully_delegated(d) -> bool | None:
    """Whether the runtime reports the whole graph delegated to XNNPACK (None when it cannot tell)."""
    try:
        report = d.op_report()
    except Exception:  # op_report is informative; a runtime that cannot produce it must not stop the bench
        return None
    for key in ("fully_delegated", "xnnpack_full", "delegated", "xnnpack"):
        v = report.get(key) if isinstance(report, dict) else None
        if isinstance(v, bool):
            return v
    return None

