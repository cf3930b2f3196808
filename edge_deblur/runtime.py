"""On-device inference for exported .tflite models. Imports no TensorFlow (unless it is the only interpreter left).

Interpreter backends, in order: `ai_edge_litert` (LiteRT), `tflite_runtime` (the older standalone runtime, which
needs numpy<2), `tensorflow.lite`. `EDGE_DEBLUR_BACKEND=<name>` or `Deblurrer(backend=...)` picks one.

Every model is checked before an interpreter sees it (`edge_deblur.integrity`): its structure, its content digest,
its metadata values and a graph that can be tiled; files without edge-deblur metadata need `allow_foreign=True`.

This module is the `Deblurrer`'s image paths; model files and the bundled manifest live in `edge_deblur.model_files`,
backends and tensor I/O in `edge_deblur.interpreters`, the window interpreter and its memory budget in
`edge_deblur.window_runner`. Their public names stay importable from here.

Example:
    >>> from edge_deblur.runtime import Deblurrer
    >>> from edge_deblur.images import read_image, write_image
    >>> d = Deblurrer("export/unet_s_int8.tflite", num_threads=4)
    >>> write_image("sharp.jpg", d(read_image("blurred.jpg")))
"""

from __future__ import annotations

import functools
import math
import os
import threading
import warnings
from pathlib import Path

import numpy as np

from edge_deblur.errors import ImageError, ModelError
from edge_deblur.images import to_uint8
from edge_deblur.integrity import check_finite, check_graph, check_not_blank, checked_metadata
from edge_deblur.interpreters import (BACKENDS, SLOW_INT8_BACKENDS, delegation_report, dequantize,  # noqa: F401
                                      first_line, interpreter_class, quant_params, quantize, slow_int8_reason,
                                      warn_slow_int8)
from edge_deblur.model_files import (MANIFEST, MAX_MODEL_BYTES, bundled_manifest, bundled_model,  # noqa: F401
                                     guess_precision, read_metadata, read_model_bytes)
from edge_deblur.strips import HALO, WindowPlan, apply_windows
from edge_deblur.tflite_reader import parse_model
from edge_deblur.tiles import _axis_weights, _pad_reflect, _tile_starts, tile_apply  # noqa: F401 (moved there)
from edge_deblur.window_runner import WINDOW_BUDGET, WindowRunner

STRATEGIES = ("auto", "strips", "tiles")


class Deblurrer:
    """Runs an exported deblurring model on images of any size.

    Whole images run in large windows: the interpreter input is resized to a window (once per photo size) that
    costs at most `window_budget` bytes, and windows overlap by a `halo` on each inner edge, so memory beyond the
    input and output images is one window's, whatever the photo size (`edge_deblur.strips`). The bytes a window
    pixel costs are measured on the interpreter at the first photo (`edge_deblur.window_runner`).

    Flat areas of a photo come out as they went in: bright ones (a white wall, an overcast sky), which the release
    model lifts by several levels, and still ones (no noise at all, any brightness), which an int8 file's rounding
    can shift as a whole (`edge_deblur.multiscale.guard_flat`, `guard_flat`).

    Thread safety: interpreters guarded by one lock. Calling the object (or `run_tile`) from several threads
    gives exactly the serial results, but photos (and tiles) run one at a time: threads add no speed (use
    `num_threads` for parallel kernels, or one Deblurrer per thread, each with its own interpreters and memory).
    The step-by-step `set_input` / `invoke` / `get_output` are each locked but not atomic together: a thread
    whose input was replaced by another thread's gets a RuntimeError saying so.

    Args:
        model: a .tflite path, or None for the bundled default (the int8 file in `export/manifest.json`).
        num_threads: interpreter threads (None: the backend's default).
        overlap: pixels shared by neighbouring tiles when an image is larger than the model input.
        backend: force an interpreter backend (one of `BACKENDS`); default: the first installed.
        allow_foreign: also run a TFLite model without edge-deblur metadata (or without a content digest); its
            graph and signature are still checked, precision is guessed and the stride taken as 1.
        scale: processing scale of `__call__`: None or 1 runs at the image's own size; 'auto' shrinks photos
            whose long side exceeds 1024 px to that, restores there and adds the enlarged correction to the
            full-size input (for large photos whose blur outgrew the training scale, see `edge_deblur.multiscale`);
            a number in (0, 1] uses that scale.
        passes: 1 runs the model once per image; 2 also runs it at half the processing scale and blends that
            coarse correction in where the first pass's correction is mostly coarse (large blur); up to 1.25x the
            compute (`edge_deblur.multiscale.restore_scaled`).
        views: test-time augmentation (`edge_deblur.views`): 1 runs the model on the image as it is; 2 also on its
            left-right mirror image, 4 on both mirror images and the half turn, 8 also on the four transposed
            versions; the results are turned back and averaged, at 2x, 4x or 8x the model's compute.
        strategy: 'strips' (large resized windows, the default for our exports), 'tiles' (the export-size tiles
            with blending of earlier versions, kept for comparison and for foreign models) or 'auto'.
        halo: context pixels on each inner window edge (rounded up to the stride); the default keeps the bundled
            float16 file ~58 dB from a whole-image pass (the net's response to a pixel fades out by ~90 px).
        window_budget: bytes one window may cost, the interpreter's buffers and ours (the default: the bundled
            int8 file in ~1.1 MP windows, float16 in ~0.93 MP).
        window_pixels: the most pixels a window may hold; given, it wins over `window_budget` (nothing measured).
        guard_flat: leave flat areas as they are (`edge_deblur.multiscale.guard_flat`); False gives
            the model's own output there (what `bench` scores as the model alone).

    Attributes:
        path, backend, metadata, precision, input_size (h, w), num_threads, stride, overlap, scale, passes, views,
        guard_flat,
        strategy, halo, window_budget, window_pixels (the bound in effect: None until the first photo learns it),
        window_memory (how the bound was chosen: source 'measured', 'default' or 'explicit', bytes_per_pixel,
        window_pixels), window_setups (shape, seconds, window_pixels, bytes_per_pixel of each window size prepared).

    Raises:
        ModelError: missing, corrupt or foreign file, a content digest mismatch, invalid metadata, control flow,
            a dynamic or tiny input, or a model whose input/output is not one RGB image. Non-finite output
            raises it when the model runs.

    Example:
        >>> d = Deblurrer("unet_s_int8.tflite")
        >>> out = d(img)            # HxWx3 uint8 or float [0, 1], any size -> same shape and dtype
    """

    def __init__(self, model: str | os.PathLike | None = None, num_threads: int | None = None, overlap: int = 32,
                 *, backend: str | None = None, allow_foreign: bool = False, scale: float | str | None = None,
                 passes: int = 1, views: int = 1, strategy: str = "auto", halo: int = HALO,
                 window_budget: int = WINDOW_BUDGET, window_pixels: int | None = None, guard_flat: bool = True):
        from edge_deblur.multiscale import parse_passes, parse_scale
        from edge_deblur.views import parse_views

        self.scale = parse_scale(scale)  # ValueError before any file is read
        self.passes = parse_passes(passes)
        self.views = parse_views(views)
        self.guard_flat = bool(guard_flat)
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
        self.path = Path(model) if model is not None else bundled_model("int8")
        data = read_model_bytes(self.path)
        info = parse_model(data, str(self.path))
        self.metadata = checked_metadata(data, info, str(self.path), allow_foreign)
        check_graph(info, str(self.path))
        self._lock = threading.RLock()
        self._loaded_by: int | None = None  # thread that last called set_input
        cls, self.backend = interpreter_class(backend)
        if num_threads is not None and (isinstance(num_threads, bool) or not isinstance(num_threads, int)
                                        or num_threads < 1):
            raise ModelError(f"num_threads must be a positive integer, got {num_threads!r}")
        self.num_threads = num_threads
        kwargs = {"num_threads": num_threads} if num_threads is not None else {}
        try:  # UnicodeDecodeError (a ValueError) comes from corrupt tensor names
            self._interp = cls(model_content=data, **kwargs)
            self._interp.allocate_tensors()
            self._in = self._interp.get_input_details()[0]
            self._out = self._interp.get_output_details()[0]
        except (ValueError, RuntimeError) as e:
            raise ModelError(f"{self.path}: the interpreter rejected the model ({first_line(e)})") from None
        self._in_q, self._out_q = quant_params(self._in), quant_params(self._out)
        self.input_size = (int(self._in["shape"][1]), int(self._in["shape"][2]))
        self.precision = self.metadata.get("precision") or guess_precision(info)
        self.stride = self.metadata.get("stride", 1)
        self.overlap = max(int(overlap), 0)
        # strips need the true stride, which only our metadata states; foreign models keep the fixed-size tiles
        self.strategy = ("strips" if "stride" in self.metadata else "tiles") if strategy == "auto" else strategy
        self.halo, self.window_budget = max(int(halo), 0), max(int(window_budget), 1)
        self._window_pixels = None if window_pixels is None else max(int(window_pixels), 1)
        self._model_bytes, self._interp_cls = data, cls
        self._windows: WindowRunner | None = None  # the interpreter resized to photo windows, made at the first photo
        self._coarse: WindowRunner | None = None  # a second one for the half-scale pass of `passes=2`
        self.window_setups: list[dict] = []  # one-off cost of each window size prepared
        warn_slow_int8(self.backend, self.precision, self.path.name)

    def __repr__(self) -> str:
        return (f"Deblurrer({str(self.path)!r}, precision={self.precision}, input_size={self.input_size}, "
                f"backend={self.backend}, num_threads={self.num_threads}, scale={self.scale!r}, "
                f"passes={self.passes}, views={self.views})")

    # --- one tile ---
    def set_input(self, x: np.ndarray) -> None:
        """Load one float32 (h, w, 3) tile in [0, 1] at exactly `input_size` into the model (quantizing if int8).

        Raises:
            ImageError: wrong shape or dtype.
        """
        h, w = self.input_size
        if not isinstance(x, np.ndarray) or x.shape != (h, w, 3) or x.dtype != np.float32:
            got = f"{x.dtype} array of shape {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
            raise ImageError(f"{self.path.name}: expected a float32 tile of shape ({h}, {w}, 3), got {got}")
        value = quantize(x[None], self._in_q, self._in["dtype"])
        with self._lock:
            self._interp.set_tensor(self._in["index"], value)
            self._loaded_by = threading.get_ident()

    def _check_owner(self, step: str) -> None:
        """Refuse to run or read another thread's input (a caller's race, not a model failure)."""
        if self._loaded_by is not None and self._loaded_by != threading.get_ident():
            raise RuntimeError(f"Deblurrer.{step}: another thread replaced this thread's input since its set_input; "
                               "from several threads call run_tile() or the Deblurrer itself (both lock), or use "
                               "one Deblurrer per thread")

    def invoke(self) -> None:
        """Run the interpreter once on the loaded input (nothing else: for latency measurements).

        Raises:
            ModelError: the interpreter failed (a model it accepted but cannot run).
            RuntimeError: another thread called set_input after this thread's (see the class docstring).
        """
        with self._lock:
            self._check_owner("invoke")
            try:
                self._interp.invoke()
            except (RuntimeError, ValueError) as e:
                raise ModelError(f"{self.path}: inference failed ({first_line(e)})") from None

    def get_output(self) -> np.ndarray:
        """The last result as a float32 (h, w, 3) tile (dequantized if int8), clipped to [0, 1].

        Raises:
            ModelError: the output holds NaN or infinite values.
            RuntimeError: another thread called set_input after this thread's (see the class docstring).
        """
        with self._lock:
            self._check_owner("get_output")
            y = self._interp.get_tensor(self._out["index"])[0]
        check_finite(y, str(self.path))
        return np.clip(dequantize(y, self._out_q), 0.0, 1.0).astype(np.float32, copy=False)

    def run_tile(self, x: np.ndarray) -> np.ndarray:
        """Deblur one float32 (h, w, 3) tile at exactly `input_size`; returns float32 (h, w, 3) in [0, 1].

        Atomic: safe to call from several threads (they take turns on the one interpreter).
        """
        with self._lock:
            self.set_input(x)
            self.invoke()
            return self.get_output()

    # --- whole images ---
    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Deblur an HxWx3 image of any size: uint8, or float in [0, 1]; returns the same shape and dtype.

        Raises:
            ImageError: not an HxWx3 array, an unsupported dtype, float values outside [0, 1], or a processing
                scale that shrinks the image below `multiscale.MIN_SCALED_SIDE` px a side.
            ModelError: the model's output holds NaN/infinity, or is all black or all white for an image that is not.
        """
        from edge_deblur.multiscale import resolve_scale, restore_full, restore_scaled
        from edge_deblur.views import averaged

        x = check_image(image, self.path.name)
        s = resolve_scale(self.scale, *x.shape[:2])  # restore_scaled refuses one that leaves too few pixels
        strips = self.strategy == "strips"
        restore = self._not_blank(averaged(self.run_windows if strips else (
            lambda t: tile_apply(t, self.run_tile, self.input_size, self.stride, self.overlap)), self.views))
        # the coarse pass has its own window interpreter: one resized back and forth costs ~30 ms a photo
        coarse = self._not_blank(averaged(functools.partial(self.run_windows, coarse=True), self.views)
                                 ) if strips else None
        if strips and s >= 1:  # no float copy of the photo: uint8 in, uint8 out
            out = restore_full(x, restore, self.passes, coarse, self.guard_flat)
        else:  # restore_scaled keeps a uint8 photo uint8 (no full-size float copy) and floats float
            out = restore_scaled(x if x.dtype == np.uint8 else to_float32(x), restore, s, self.passes,
                                 coarse_restore=coarse, guard=self.guard_flat)
            out = _as_dtype_of(out, x)
        return out

    def _not_blank(self, restore):
        """`restore`, checked: the model's whole output at the processing scale may not be all black or all white
        for an image that is not (checked before the flat-area guard, which would hide it by keeping the input)."""
        def run(image: np.ndarray) -> np.ndarray:
            y = restore(image)
            check_not_blank(y, image, str(self.path))
            return y

        return run

    # --- whole images in resized windows ---
    @property
    def window_pixels(self) -> int | None:
        """The most pixels a window holds: given, or learned from `window_budget` (None until the first photo)."""
        if self._windows is not None and self._windows.memory is not None:
            return self._windows.memory["window_pixels"]
        return self._window_pixels

    @property
    def window_memory(self) -> dict | None:
        """How the window bound was chosen (`WindowRunner.memory`), None until the first photo needs it."""
        return None if self._windows is None else self._windows.memory

    def window_plan(self, height: int, width: int) -> WindowPlan:
        """The windows a photo of this size runs in (learns the window bound if no photo has yet).

        Raises:
            ModelError: the backend cannot resize this model's input (`__call__` falls back to tiles then).
        """
        with self._lock:
            return self._window_runner().plan(height, width, self.halo)

    def _window_runner(self, coarse: bool = False) -> WindowRunner:
        """The window interpreter, made once; with `coarse`, the second one of the half-scale pass, held to a
        quarter of the window budget (its images have a quarter of the pixels)."""
        if coarse:
            if self._coarse is None:
                fine = self.window_pixels  # given, or learned already: the same model needs no second probe
                pixels = None if fine is None else max(fine // 4, 1)
                self._coarse = self._new_window_runner(max(self.window_budget // 4, 1), pixels)
            return self._coarse
        if self._windows is None:
            self._windows = self._new_window_runner(self.window_budget, self._window_pixels)
        return self._windows

    def _new_window_runner(self, budget: int, window_pixels: int | None) -> WindowRunner:
        """A window interpreter of this model (made at its first window), its setups recorded in ours."""
        cls, data = self._interp_cls, self._model_bytes  # not `self`: no cycle keeps a dropped one's memory
        kwargs = {"num_threads": self.num_threads} if self.num_threads is not None else {}
        return WindowRunner(
            lambda: cls(model_content=data, **kwargs), self._in, self._out,
            name=str(self.path), backend=self.backend, precision=self.precision, stride=self.stride,
            export_size=self.input_size, budget=budget, window_pixels=window_pixels, setups=self.window_setups)

    def run_windows(self, image: np.ndarray, coarse: bool = False) -> np.ndarray:
        """Deblur a checked HxWx3 image (uint8 or float in [0, 1]) at its own size in large windows.

        The interpreter's input is resized to the window shape of `window_plan` once per photo size (the cost is
        recorded in `window_setups`); a photo holds the lock from its first window to its last. `coarse` runs on
        the second interpreter kept for the half-scale pass of `passes=2`. Returns the image's dtype and shape.
        """
        with self._lock:
            try:
                runner = self._window_runner(coarse)
                plan = runner.plan(*image.shape[:2], self.halo)
                runner.prepare(plan.shape)
            except ModelError as e:  # e.g. tflite-runtime 2.14 cannot re-prepare some float16 graphs at a new size
                return self._fall_back_to_tiles(image, e)
            return apply_windows(image, runner.run, plan)

    def _fall_back_to_tiles(self, image: np.ndarray, error: ModelError) -> np.ndarray:
        """Switch this Deblurrer to the export-size tiles for good (same result, slower), warning once."""
        self.strategy, self._windows, self._coarse = "tiles", None, None
        warnings.warn(f"{error}; running it in {self.input_size[0]}x{self.input_size[1]} tiles instead",
                      RuntimeWarning, stacklevel=4)
        y = tile_apply(to_float32(image), self.run_tile, self.input_size, self.stride, self.overlap)
        return _as_dtype_of(y, image)

    def op_report(self) -> dict:
        """Which ops the model has and which ones the interpreter's delegate (XNNPACK on CPU) took over.

        Returns:
            Dict with `backend`, `ops` (op names in graph order), `op_counts`, `delegate_nodes` (number of delegate
            partitions), `not_delegated` (names of ops left to the builtin kernels) and `fully_delegated`.
        """
        try:
            with self._lock:
                details = self._interp._get_ops_details()
        except (ValueError, RuntimeError) as e:
            raise ModelError(f"{self.path}: cannot list the model's ops ({first_line(e)})") from None
        return {"backend": self.backend, **delegation_report(details)}


def _as_dtype_of(y: np.ndarray, like: np.ndarray) -> np.ndarray:
    """A float result in [0, 1] in the dtype of the image it came from (uint8 rounded)."""
    return to_uint8(y) if like.dtype == np.uint8 else y.astype(like.dtype, copy=False)


def check_image(image, name: str = "image") -> np.ndarray:
    """Return `image` as an ndarray if it is HxWx3 uint8 or float in [0, 1]; otherwise raise ImageError."""
    if not isinstance(image, np.ndarray):
        raise ImageError(f"{name}: expected a numpy array of shape (H, W, 3), got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        raise ImageError(f"{name}: expected an RGB image of shape (H, W, 3), got shape {image.shape}")
    if image.dtype == np.uint8:
        return image
    if image.dtype.kind != "f":
        raise ImageError(f"{name}: expected uint8 or float values in [0, 1], got dtype {image.dtype}")
    lo, hi = float(np.min(image)), float(np.max(image))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ImageError(f"{name}: image contains NaN or infinite values")
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise ImageError(f"{name}: float images must hold values in [0, 1], got [{lo:.3g}, {hi:.3g}] "
                         "(divide 8-bit data by 255)")
    return image


def to_float32(image: np.ndarray) -> np.ndarray:
    """float32 [0, 1] version of a uint8 or float image (floats are clipped to [0, 1])."""
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    return np.clip(image, 0.0, 1.0).astype(np.float32, copy=False)


# the file-batch API lives in edge_deblur.batch; re-exported here, where it used to be
from edge_deblur.batch import collect_images, deblur_files  # noqa: E402,F401
