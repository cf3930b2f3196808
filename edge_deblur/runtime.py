"""On-device inference for exported .tflite models. Imports no TensorFlow (unless it is the only interpreter left).

Interpreter backends, in order: `ai_edge_litert` (LiteRT), `tflite_runtime` (the older standalone runtime, which
needs numpy<2), `tensorflow.lite`. `EDGE_DEBLUR_BACKEND=<name>` or `Deblurrer(backend=...)` picks one.

Every model is checked before an interpreter sees it (`edge_deblur.integrity`): its structure, its content digest,
its metadata values and a graph that can be tiled; files without edge-deblur metadata need `allow_foreign=True`.

Example:
    >>> from edge_deblur.runtime import Deblurrer
    >>> from edge_deblur.images import read_image, write_image
    >>> d = Deblurrer("export/unet_s_int8.tflite", num_threads=4)
    >>> write_image("sharp.jpg", d(read_image("blurred.jpg")))
"""

from __future__ import annotations

import json
import math
import os
import threading
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from edge_deblur.errors import ImageError, ModelError
from edge_deblur.integrity import check_finite, check_graph, checked_metadata
from edge_deblur.tflite_meta import parse_model

BACKENDS = ("ai_edge_litert", "tflite_runtime", "tf.lite")
MANIFEST = "manifest.json"


def _interpreter_class(backend: str | None = None):
    """(Interpreter class, backend name): the first importable backend, or the one asked for."""
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


def _first_line(e: BaseException) -> str:
    """The first line of an exception message (interpreter errors run to many lines)."""
    text = str(e).strip()
    return text.splitlines()[0][:300] if text else type(e).__name__


def _read_model_bytes(path: str | os.PathLike) -> bytes:
    """The bytes of a model file, with a ModelError for missing or unreadable files."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    try:
        return path.read_bytes()
    except OSError as e:
        raise ModelError(f"{path}: cannot read ({e.strerror})") from None


def read_metadata(path: str | os.PathLike, *, allow_foreign: bool = False) -> dict:
    """The edge-deblur metadata embedded in a .tflite file, read without TensorFlow, its digest and values checked.

    Args:
        path: a .tflite written by `edge-deblur export`.
        allow_foreign: return {} for a TFLite model without edge-deblur metadata instead of refusing it.

    Returns:
        Dict with at least `model`, `precision`, `input_size` ([h, w]), `layout`, `value_range`, `io_dtype`,
        `source_sha256`, `toolkit_version`, `calibration` and `content_sha256` (the file's digest).

    Raises:
        ModelError: missing, corrupt or foreign file, a digest mismatch, or an invalid metadata value.
    """
    data = _read_model_bytes(path)
    return checked_metadata(data, parse_model(data, str(path)), str(path), allow_foreign)


def bundled_manifest() -> tuple[Path, dict] | None:
    """(folder, parsed manifest) of the bundled model: the package's `_bundled/` (wheels) or the repository's
    `export/` (source checkouts); None when neither has a manifest.

    Raises:
        ModelError: the manifest exists but is not a JSON object.
    """
    here = Path(__file__).resolve().parent
    for folder in (here / "_bundled", here.parent / "export"):
        manifest = folder / MANIFEST
        if not manifest.is_file():
            continue
        try:
            doc = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ModelError(f"{manifest}: unreadable manifest ({e})") from None
        if not isinstance(doc, dict):
            raise ModelError(f"{manifest}: unreadable manifest (not a JSON object)")
        return folder, doc
    return None


def bundled_model(precision: str = "int8") -> Path:
    """Path of the bundled default model of a precision, as listed in `export/manifest.json`.

    Raises:
        ModelError: no manifest or no file of that precision.
    """
    found = bundled_manifest()
    if found is None:
        raise ModelError("no bundled model found (export/manifest.json is missing); pass a .tflite file with --model")
    folder, doc = found
    for entry in doc.get("files", []):
        if isinstance(entry, dict) and entry.get("precision") == precision and entry.get("path"):
            path = folder / entry["path"]
            if not path.is_file():
                raise ModelError(f"{folder / MANIFEST}: lists {entry['path']}, which is missing")
            return path
    raise ModelError(f"{folder / MANIFEST}: no {precision} model listed")


class Deblurrer:
    """Runs an exported deblurring model on images of any size.

    Thread safety: one interpreter guarded by one lock. Calling the object (or `run_tile`) from several threads
    gives exactly the serial results, but tiles run one at a time: threads add no speed (use `num_threads` for
    parallel kernels, or one Deblurrer per thread, each with its own interpreter and memory). The step-by-step
    `set_input` / `invoke` / `get_output` are each locked but not atomic together: a thread whose input was
    replaced by another thread's gets a RuntimeError saying so.

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

    Attributes:
        path, backend, metadata, precision, input_size (h, w), num_threads, stride, overlap, scale.

    Raises:
        ModelError: missing, corrupt or foreign file, a content digest mismatch, invalid metadata, control flow,
            a dynamic or tiny input, or a model whose input/output is not one RGB image. Non-finite output
            raises it when the model runs.

    Example:
        >>> d = Deblurrer("unet_s_int8.tflite")
        >>> out = d(img)            # HxWx3 uint8 or float [0, 1], any size -> same shape and dtype
    """

    def __init__(self, model: str | os.PathLike | None = None, num_threads: int | None = None, overlap: int = 32,
                 *, backend: str | None = None, allow_foreign: bool = False, scale: float | str | None = None):
        from edge_deblur.multiscale import parse_scale

        self.scale = parse_scale(scale)  # ValueError before any file is read
        self.path = Path(model) if model is not None else bundled_model("int8")
        data = _read_model_bytes(self.path)
        info = parse_model(data, str(self.path))
        self.metadata = checked_metadata(data, info, str(self.path), allow_foreign)
        check_graph(info, str(self.path))
        self._lock = threading.RLock()
        self._loaded_by: int | None = None  # thread that last called set_input
        cls, self.backend = _interpreter_class(backend)
        if num_threads is not None and (not isinstance(num_threads, int) or num_threads < 1):
            raise ModelError(f"num_threads must be a positive integer, got {num_threads!r}")
        self.num_threads = num_threads
        kwargs = {"num_threads": num_threads} if num_threads is not None else {}
        try:  # UnicodeDecodeError (a ValueError) comes from corrupt tensor names
            self._interp = cls(model_content=data, **kwargs)
            self._interp.allocate_tensors()
            self._in = self._interp.get_input_details()[0]
            self._out = self._interp.get_output_details()[0]
        except (ValueError, RuntimeError) as e:
            raise ModelError(f"{self.path}: the interpreter rejected the model ({_first_line(e)})") from None
        self._in_q = self._quant(self._in)
        self._out_q = self._quant(self._out)
        self.input_size = (int(self._in["shape"][1]), int(self._in["shape"][2]))
        self.precision = self.metadata.get("precision") or self._guess_precision(info)
        self.stride = self.metadata.get("stride", 1)
        self.overlap = max(int(overlap), 0)

    # --- set-up helpers ---
    @staticmethod
    def _quant(detail) -> tuple[float, int] | None:
        """(scale, zero point) of an integer tensor, None for float tensors."""
        if detail["dtype"] == np.float32:
            return None
        scale, zp = detail["quantization"]
        return (float(scale) if scale else 1.0 / 255.0), int(zp)

    @staticmethod
    def _guess_precision(info) -> str:
        """Precision of a model without metadata, from its tensor types."""
        if "int8" in info.tensor_types and "float32" not in {t.dtype for t in info.inputs}:
            return "int8"
        return "float16" if "float16" in info.tensor_types else "float32"

    def __repr__(self) -> str:
        return (f"Deblurrer({str(self.path)!r}, precision={self.precision}, input_size={self.input_size}, "
                f"backend={self.backend}, num_threads={self.num_threads})")

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
        if self._in_q is None:
            value = x[None]
        else:
            scale, zp = self._in_q
            info = np.iinfo(self._in["dtype"])
            value = np.clip(np.rint(x[None] / scale) + zp, info.min, info.max).astype(self._in["dtype"])
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
                raise ModelError(f"{self.path}: inference failed ({_first_line(e)})") from None

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
        if self._out_q is not None:
            scale, zp = self._out_q
            y = (y.astype(np.float32) - zp) * scale
        return np.clip(y, 0.0, 1.0).astype(np.float32, copy=False)

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
            ImageError: not an HxWx3 array, an unsupported dtype, or float values outside [0, 1].
        """
        from edge_deblur.multiscale import resolve_scale, restore_scaled

        x = check_image(image, self.path.name)
        f = to_float32(x)
        s = resolve_scale(self.scale, *f.shape[:2])
        y = restore_scaled(f, lambda t: tile_apply(t, self.run_tile, self.input_size, self.stride, self.overlap), s)
        if x.dtype == np.uint8:
            return (y * 255.0 + 0.5).astype(np.uint8)
        return y.astype(x.dtype, copy=False)

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
            raise ModelError(f"{self.path}: cannot list the model's ops ({_first_line(e)})") from None
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
        return {"backend": self.backend, "ops": names, "op_counts": counts, "delegate_nodes": len(delegates),
                "not_delegated": left, "fully_delegated": bool(nodes) and not left}


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


def _pad_reflect(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pad bottom/right by reflection up to (height, width), repeating the reflection for very small images."""
    for axis, target in ((0, height), (1, width)):
        while img.shape[axis] < target:
            n = img.shape[axis]
            pad = [(0, 0)] * 3
            pad[axis] = (0, min(target - n, n - 1) or target - n)
            img = np.pad(img, pad, mode="reflect" if n > 1 else "edge")
    return img


def _tile_starts(length: int, tile: int, stride: int, overlap: int) -> list[int]:
    """Tile origins on one axis: multiples of `stride`, first 0, last length - tile, neighbours sharing >= overlap."""
    if length <= tile:
        return [0]
    n = max(2, math.ceil((length - overlap) / max(tile - overlap, 1)))
    while True:
        starts = sorted({int(s // stride) * stride for s in np.linspace(0, length - tile, n)[:-1]}
                        | {length - tile})
        if all(b - a <= tile - overlap for a, b in zip(starts, starts[1:])) or n > length:
            return starts
        n += 1


def _axis_weights(starts: list[int], tile: int) -> list[np.ndarray]:
    """Blend weights of each tile along one axis: 0 on the outer quarter of an overlap, a linear rise, then 1.

    Sides without a neighbour keep weight 1; a 1e-6 floor keeps every pixel's total weight positive.
    """
    pos = np.arange(tile, dtype=np.float32) + 0.5

    def rise(ov: int) -> np.ndarray:
        return np.clip((pos - ov / 4) / (ov / 2), 0.0, 1.0) if ov > 0 else np.ones(tile, np.float32)

    weights = []
    for k, s in enumerate(starts):
        w = np.ones(tile, dtype=np.float32)
        if k:
            w = np.minimum(w, rise(starts[k - 1] + tile - s))
        if k + 1 < len(starts):
            w = np.minimum(w, rise(s + tile - starts[k + 1])[::-1])
        weights.append(np.maximum(w, 1e-6))
    return weights


def tile_apply(image: np.ndarray, fn: Callable[[np.ndarray], np.ndarray], tile_size: Sequence[int],
               stride: int = 1, overlap: int = 32) -> np.ndarray:
    """Apply a fixed-size tile function to a float32 HxWx3 image of any size.

    The image is reflection-padded (bottom/right) to at least the tile size and to a multiple of `stride`, cut into
    tiles whose origins are multiples of `stride` (so a strided network sees the same pixel grid as on the whole
    image), and the outputs are blended with weights that fade out towards tile edges shared with a neighbour.

    Args:
        image: float32 (H, W, 3).
        fn: maps a float32 (th, tw, 3) tile to a float32 (th, tw, 3) result.
        tile_size: (th, tw).
        stride: the model's stride (tile origins are multiples of it).
        overlap: minimum pixels shared by neighbouring tiles; clamped to half the tile.

    Returns:
        float32 (H, W, 3).
    """
    th, tw = int(tile_size[0]), int(tile_size[1])
    h, w = image.shape[:2]
    hp = max(th, -(-h // stride) * stride)
    wp = max(tw, -(-w // stride) * stride)
    padded = _pad_reflect(image, hp, wp)
    ys = _tile_starts(hp, th, stride, min(overlap, th // 2))
    xs = _tile_starts(wp, tw, stride, min(overlap, tw // 2))
    if len(ys) == 1 and len(xs) == 1:
        return fn(np.ascontiguousarray(padded[:th, :tw]))[:h, :w]
    acc = np.zeros((hp, wp, 3), dtype=np.float32)
    weight = np.zeros((hp, wp, 1), dtype=np.float32)
    for y0, wy in zip(ys, _axis_weights(ys, th)):
        for x0, wx in zip(xs, _axis_weights(xs, tw)):
            out = fn(np.ascontiguousarray(padded[y0:y0 + th, x0:x0 + tw]))
            wgt = (wy[:, None] * wx[None, :])[..., None]
            acc[y0:y0 + th, x0:x0 + tw] += out * wgt
            weight[y0:y0 + th, x0:x0 + tw] += wgt
    return (acc / weight)[:h, :w]


# the file-batch API lives in edge_deblur.batch; re-exported here, where it used to be
from edge_deblur.batch import collect_images, deblur_files  # noqa: E402,F401
