"""The interpreter resized to photo windows, the window size chosen from a memory budget.

A window costs the interpreter's buffers for it (XNNPACK's activations, indirection buffers and workspace, the
arena's input and output tensors) plus this runtime's copies (`HOST_BYTES_PER_PIXEL`). The interpreter's share
depends on the model, its precision and the backend (on ai-edge-litert 2.3: release 3's unet_s2 258 B a pixel
int8, 327 B float16; the bundled unet_s3 263 and 332), so one fixed pixel count per window is wrong for some file.
Instead, the first time a photo needs the window interpreter, it is resized to three probe windows (256 px wide,
256/512/768 px tall) and the C heap's bytes in use (glibc's `mallinfo2`, which counts every byte XNNPACK and the
arena hold, whether touched or not) are read after each: the two steps give the bytes per pixel. They must agree
within 5% (another thread allocating a decoded photo meanwhile would break that); otherwise, or where the heap
cannot be read (not glibc 2.33+, another allocator), the per-precision default below is used. The window bound is
then `budget // bytes per pixel`.

The probe costs three allocations at small sizes, once per Deblurrer, and no inference. With the default budget
the bundled int8 file gets a ~1.1 MP bound (12 MP photos in twelve 1024x1024 windows) and the float16 file ~0.9 MP
(1024x832 windows; with release 3's file and fixed 1 MP windows a 12 MP photo peaked ~80 MB higher).
`window_pixels` given explicitly skips all this.
"""

from __future__ import annotations

import ctypes
import functools
import time
from typing import Callable

import numpy as np

from edge_deblur.errors import ModelError
from edge_deblur.integrity import check_finite
from edge_deblur.interpreters import dequantize, first_line, quant_params, quantize
from edge_deblur.strips import WindowPlan, _round_up, window_plan

WINDOW_BUDGET = 320 << 20  # bytes for one window, interpreter and our copies: see the module docstring
HOST_BYTES_PER_PIXEL = 32  # our float32 window buffer and float32 output (24 B), and int8 copies of both (6 B)
# the interpreter's bytes per pixel where they cannot be measured: the bundled unet_s3 on ai-edge-litert, rounded up
DEFAULT_BYTES_PER_PIXEL = {"int8": 270, "float16": 340, "float32": 340}
MIN_WINDOW_PIXELS, MAX_WINDOW_PIXELS = 1 << 16, 1 << 24  # whatever a budget or a measurement says
_PROBE = 256  # probe window side, px
_AGREE = 0.05  # the two probe steps may differ by this fraction


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]


@functools.lru_cache(maxsize=None)
def _mallinfo2():
    """glibc's mallinfo2 (2.33+), or None."""
    try:
        fn = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError, TypeError):
        return None
    fn.restype = _MallInfo2
    return fn


def heap_in_use() -> int | None:
    """Bytes the C heap has handed out (small blocks plus mmapped ones), or None where it cannot be read."""
    fn = _mallinfo2()
    if fn is None:
        return None
    info = fn()
    return int(info.uordblks) + int(info.hblkhd)


class WindowRunner:
    """The window interpreter of one model: its window bound, one resize per window shape, one window at a time.

    Not thread-safe by itself: its `Deblurrer` calls it under its lock.

    Args:
        make_interpreter: makes a fresh interpreter of the model (not yet allocated).
        input_detail, output_detail: the model's input and output details (index, dtype, quantization).
        name: the model file, for messages.
        backend, precision, stride, export_size: as the Deblurrer has them.
        budget: bytes one window may cost (interpreter and our copies).
        window_pixels: an explicit window bound in pixels (the budget is then not used), or None.
        setups: a list to append each prepared window shape to (shape, seconds, window_pixels, bytes_per_pixel).
    """

    def __init__(self, make_interpreter: Callable, input_detail: dict, output_detail: dict, *, name: str,
                 backend: str, precision: str, stride: int, export_size: tuple[int, int], budget: int = WINDOW_BUDGET,
                 window_pixels: int | None = None, setups: list | None = None):
        self._make, self._in, self._out = make_interpreter, input_detail, output_detail
        self._in_q, self._out_q = quant_params(input_detail), quant_params(output_detail)
        self.name, self.backend, self.precision, self.stride = name, backend, precision, stride
        self.export_size, self.budget = export_size, budget
        self.setups = setups if setups is not None else []
        self._interp = None
        self._shape: tuple[int, int] | None = None
        self._probe_seconds = 0.0
        self.memory: dict | None = None  # how the window bound was chosen, once it is
        if window_pixels is not None:
            self.memory = {"source": "explicit", "window_pixels": int(window_pixels), "budget_bytes": None,
                           "bytes_per_pixel": None, "interpreter_bytes_per_pixel": None}

    @property
    def window_pixels(self) -> int:
        """The most pixels a window may hold: explicit, or learned from the budget (probing the interpreter once)."""
        if self.memory is None:
            self.memory = self._learn()
        return self.memory["window_pixels"]

    def plan(self, height: int, width: int, halo: int) -> WindowPlan:
        """The windows of a photo of this size (`edge_deblur.strips.window_plan` under this runner's bound)."""
        return window_plan(height, width, self.stride, halo, self.window_pixels, self.export_size)

    def _learn(self) -> dict:
        """Measure the interpreter's bytes per pixel on three probe windows; the bound is the budget over them."""
        t0 = time.perf_counter()
        w = _round_up(_PROBE, self.stride)
        heights = [_round_up(k * _PROBE, self.stride) for k in (1, 2, 3)]
        used = []
        for h in heights:
            self._resize((h, w))
            used.append(heap_in_use())
        steps = [] if None in used else [(b - a) / ((hb - ha) * w)
                                         for a, b, ha, hb in zip(used, used[1:], heights, heights[1:])]
        measured = bool(steps) and min(steps) > 0 and max(steps) <= (1 + _AGREE) * min(steps)
        fallback = DEFAULT_BYTES_PER_PIXEL.get(self.precision, DEFAULT_BYTES_PER_PIXEL["float32"])
        interp = max(steps) if measured else fallback
        per_pixel = interp + HOST_BYTES_PER_PIXEL
        bound = int(min(max(self.budget // per_pixel, MIN_WINDOW_PIXELS), MAX_WINDOW_PIXELS))
        self._probe_seconds = time.perf_counter() - t0
        return {"source": "measured" if measured else "default", "window_pixels": bound,
                "budget_bytes": self.budget, "bytes_per_pixel": float(per_pixel),
                "interpreter_bytes_per_pixel": float(interp)}

    def _resize(self, shape: tuple[int, int]) -> None:
        """Make (once) the window interpreter and resize it to `shape`."""
        try:
            if self._interp is None:
                self._interp = self._make()
            self._shape = None
            self._interp.resize_tensor_input(self._in["index"], [1, *shape, 3])
            self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise ModelError(f"{self.name}: cannot resize the model input to {shape[0]}x{shape[1]} on "
                             f"{self.backend} ({first_line(e)})") from None
        self._shape = shape

    def prepare(self, shape: tuple[int, int]) -> None:
        """Resize the window interpreter to `shape` unless it has that shape; the cost goes to `setups`.

        Raises:
            ModelError: the backend cannot resize this model (e.g. tflite-runtime and some float16 graphs).
        """
        if self._shape == shape:
            return
        t0 = time.perf_counter()
        self._resize(shape)
        seconds, self._probe_seconds = time.perf_counter() - t0 + self._probe_seconds, 0.0
        self.setups.append({"shape": list(shape), "seconds": seconds, "window_pixels": self.window_pixels,
                            "bytes_per_pixel": self.memory["bytes_per_pixel"]})

    def run(self, x: np.ndarray) -> np.ndarray:
        """One float32 (1, h, w, 3) window of the prepared shape -> float32 (h, w, 3), not clipped.

        `x` is scratch: an int8 model's input is quantized in it, in place.
        """
        value = quantize(x, self._in_q, self._in["dtype"], in_place=True)
        try:
            self._interp.set_tensor(self._in["index"], value)
            self._interp.invoke()
            y = self._interp.get_tensor(self._out["index"])[0]
        except (RuntimeError, ValueError) as e:
            raise ModelError(f"{self.name}: inference failed ({first_line(e)})") from None
        if self._out_q is not None:
            return dequantize(y, self._out_q)
        check_finite(y, self.name)
        return y
