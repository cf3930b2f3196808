"""The benchmark harness behind `edge-deblur bench`: what each exported variant costs in speed and size and what it
loses in quality, side by side with the full Keras model, a classical deconvolution and doing nothing.

A variant table drives everything: each row names a runner kind and a precision; each runner restores full images
(quality) and times single frames at the model's input size (latency). Quality is measured pair by pair, every
variant on the same pair, so the "PSNR vs Keras output" column needs no stored outputs. Timing follows DESIGN.md:
first run, warm-up, then N timed runs interleaved round-robin over the variants in one process so machine drift
cancels; inference (`invoke`) is timed apart from pre-processing (quantize the input) and post-processing.

Data, in order of precedence:
- `protocol="defocus-kodak24"`: the 24 Kodak photos at native size, each blurred with the disc PSF at radius 2, 3
  and 4 px in linear light, noise 1/255, 8-bit rounding, a fixed seed per image and radius: 72 pairs.
- `data` + `dataset`: ALL pairs the loader finds (`edge_deblur.data.eval_pairs(..., split="all")`): a user who
  points bench at a folder wants all of it.
- neither: scikit-image's bundled photographs, cropped to multiples of 8, blurred at radius 2, 3 and 4 px.

Example:
    >>> from edge_deblur.bench import run_bench
    >>> result = run_bench(model="runs/unet_s/model.keras", runs=20, json_path="bench.json")
    >>> result.rows[0].psnr
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import math
import os
import platform
import re
import statistics
import tempfile
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from edge_deblur.errors import DataError, EdgeDeblurError, ModelError

PROTOCOLS = ("defocus-kodak24",)
REFERENCE_KINDS = ("identity", "classical", "classical-blind")  # rows that are not the model
PRECISIONS = ("float32", "float16", "int8")
BENCH_RADII = (2.0, 3.0, 4.0)
BENCH_NOISE = 1.0 / 255.0
SAMPLE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")  # scikit-image's bundled colour photographs
CALIBRATION_PHOTOS = ("motorcycle", "hubble_deep_field", "immunohistochemistry", "retina")  # never evaluated
DEFAULT_SIZE = (224, 224)
CALIBRATION_SAMPLES = 64

# Every row of the json/csv has these keys; `None` appears only in the cells of NOT_APPLICABLE.
COLUMNS = ("name", "kind", "precision", "backend", "threads", "size_mb", "psnr", "ssim", "d_psnr", "d_ssim",
           "psnr_vs_keras", "latency_ms", "latency_p90_ms", "first_run_ms", "fps", "gflop", "gflops_per_s",
           "pre_ms", "post_ms", "xnnpack", "pairs", "per_radius", "note")
NOT_APPLICABLE = {
    ("keras", "psnr_vs_keras"),  # the Keras output against itself
    ("classical", "gflop"), ("classical", "gflops_per_s"),  # FFT deconvolution is not counted in conv FLOPs
    ("classical-blind", "gflop"), ("classical-blind", "gflops_per_s"),
    ("identity", "xnnpack"), ("classical", "xnnpack"), ("classical-blind", "xnnpack"),  # only TFLite rows have
    ("keras", "xnnpack"),  # a delegate
    ("identity", "precision"), ("classical", "precision"), ("classical-blind", "precision"),
}


# --- results -------------------------------------------------------------------------------------------------------


@dataclass
class Row:
    """One variant's numbers. Latencies in ms (inference only; pre/post apart), sizes in MB (10^6 bytes).

    `per_radius` maps "r2", "r3", ... to {"psnr", "ssim", "pairs"} when the data has known blur radii.
    """

    name: str
    kind: str
    precision: str | None
    backend: str
    threads: int
    size_mb: float
    psnr: float
    ssim: float
    d_psnr: float
    d_ssim: float
    psnr_vs_keras: float | None
    latency_ms: float
    latency_p90_ms: float
    first_run_ms: float
    fps: float
    gflop: float | None
    gflops_per_s: float | None
    pre_ms: float
    post_ms: float
    xnnpack: bool | None
    pairs: int
    per_radius: dict[str, dict[str, float]] = field(default_factory=dict)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The row as a plain dict with the keys of `COLUMNS`, in that order."""
        d = asdict(self)
        return {k: d[k] for k in COLUMNS}


@dataclass
class BenchResult:
    """What a bench run measured: a header (machine, versions, data, timing set-up, notes) and one row per variant."""

    header: dict[str, Any]
    rows: list[Row]

    def row(self, name_or_kind: str) -> Row:
        """The first row whose name or kind is `name_or_kind`."""
        for r in self.rows:
            if name_or_kind in (r.name, r.kind):
                return r
        raise KeyError(name_or_kind)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: header, column names, rows."""
        return {"header": self.header, "columns": list(COLUMNS), "rows": [r.to_dict() for r in self.rows]}

    def radii(self) -> list[str]:
        """Radius keys ("r2", ...) present in the rows, in numeric order."""
        keys = {k for r in self.rows for k in r.per_radius}
        return sorted(keys, key=lambda k: float(k[1:]))

    def to_csv(self) -> str:
        """One CSV line per row: the flat columns, then psnr_rN/ssim_rN per radius."""
        import csv

        flat = [c for c in COLUMNS if c != "per_radius"]
        extra = [f"{m}_{k}" for k in self.radii() for m in ("psnr", "ssim")]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(flat + extra)
        for r in self.rows:
            d = r.to_dict()
            vals = [_csv_cell(d[c]) for c in flat]
            vals += [_csv_cell(r.per_radius.get(k, {}).get(m)) for k in self.radii() for m in ("psnr", "ssim")]
            w.writerow(vals)
        return buf.getvalue()

    def header_lines(self) -> list[str]:
        """Human-readable header: machine, versions, model, data, timing set-up."""
        h = self.header
        m, t = h["machine"], h["timing"]
        versions = ", ".join(f"{k} {v}" for k, v in h["versions"].items())
        lines = [
            f"machine: {m['cpu']} ({m['cores']} logical cores), {m['platform']}",
            f"versions: {versions}",
            f"model: {h['model']['description']}",
            f"data: {h['data']['description']}",
            f"timing: {t['size'][0]}x{t['size'][1]} frames, {t['warmup']} warm-up + {t['runs']} timed runs per "
            f"variant, interleaved round-robin; inference only (pre/post apart); measured {h['date']}",
        ]
        return lines

    def to_markdown(self) -> str:
        """A markdown report: header lines, the main table, per-radius means and notes."""
        out = [f"## edge-deblur bench: {self.header['model']['name']}", ""]
        out += [f"- {line}" for line in self.header_lines()]
        out += ["", "| " + " | ".join(_TABLE_HEAD) + " |", "|" + "|".join("---" for _ in _TABLE_HEAD) + "|"]
        out += ["| " + " | ".join(_table_cells(r)) + " |" for r in self.rows]
        radii = self.radii()
        if radii:
            head = ["variant"] + [f"{k[1:]} px PSNR / SSIM" for k in radii]
            out += ["", "Mean per blur radius:", "", "| " + " | ".join(head) + " |",
                    "|" + "|".join("---" for _ in head) + "|"]
            for r in self.rows:
                cells = [r.name] + [_fmt_pair(r.per_radius.get(k)) for k in radii]
                out.append("| " + " | ".join(cells) + " |")
        notes = self.header.get("notes", []) + [r.note for r in self.rows if r.note]
        if notes:
            out += ["", "Notes:", ""] + [f"- {n}" for n in notes]
        return "\n".join(out) + "\n"

    def rich_table(self):
        """The main table as a `rich.table.Table` (header lines as its caption)."""
        from rich.table import Table

        table = Table(title=f"edge-deblur bench: {self.header['model']['name']}",
                      caption="\n".join(self.header_lines()), caption_justify="left")
        for i, col in enumerate(_TABLE_HEAD):
            # fold, never truncate: a narrow terminal must not turn a number into "12.…"
            table.add_column(col, justify="left" if i == 0 or col == "backend" else "right", overflow="fold")
        for r in self.rows:
            table.add_row(*_table_cells(r))
        return table

    def plot(self, path: str | os.PathLike) -> Path:
        """Latency (log scale) against PSNR for every row, written atomically (format from the suffix)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from edge_deblur._io import atomic_path

        fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
        for i, r in enumerate(self.rows):
            x = max(r.latency_ms, 1e-3)
            ax.scatter([x], [r.psnr], s=40, marker="s" if r.kind in REFERENCE_KINDS else "o")
            # stagger labels vertically: exported variants often sit on top of each other
            ax.annotate(r.name, (x, r.psnr), textcoords="offset points", xytext=(5, 4 - 11 * (i % 3)), fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel(f"latency per {self.header['timing']['size'][0]}x{self.header['timing']['size'][1]} "
                      "frame, median ms (log)")
        ax.set_ylabel("PSNR, dB (higher is better)")
        ax.set_title(f"{self.header['model']['name']} on {self.header['data']['name']}: speed vs quality",
                     fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix.lstrip(".").lower() or "png")
        plt.close(fig)
        return Path(path)


_TABLE_HEAD = ("variant", "MB", "PSNR", "SSIM", "dPSNR", "dSSIM", "PSNR vs Keras", "ms", "p90 ms", "first ms",
               "FPS", "GFLOP", "GFLOP/s", "pre/post ms", "thr", "backend")


def _fmt(x: float | None, digits: int = 2) -> str:
    """Format a number for a table; None as '-'."""
    if x is None:
        return "-"
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return f"{x:.{digits}f}"


def _fmt_pair(d: dict | None) -> str:
    """'PSNR / SSIM' from a per-radius entry."""
    return "-" if not d else f"{d['psnr']:.2f} / {d['ssim']:.4f}"


def _table_cells(r: Row) -> list[str]:
    """The cells of one table row, in `_TABLE_HEAD` order."""
    ms = 3 if r.latency_ms < 10 else 1
    return [r.name, _fmt(r.size_mb, 3), _fmt(r.psnr), _fmt(r.ssim, 4), _fmt(r.d_psnr), _fmt(r.d_ssim, 4),
            _fmt(r.psnr_vs_keras), _fmt(r.latency_ms, ms), _fmt(r.latency_p90_ms, ms), _fmt(r.first_run_ms, 1),
            _fmt(r.fps, 1), _fmt(r.gflop, 3), _fmt(r.gflops_per_s, 1), f"{r.pre_ms:.2f}/{r.post_ms:.2f}",
            str(r.threads), r.backend]


def _csv_cell(v: Any) -> str:
    """CSV text of a value (None as empty)."""
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(round(v, 6))
    return str(v)


# --- evaluation data -------------------------------------------------------------------------------------------------


@dataclass
class EvalPair:
    """A full-size (blurred, sharp) pair; `radius` is the true disc radius when the blur was synthesised."""

    blurred: np.ndarray
    sharp: np.ndarray
    name: str
    radius: float | None


@dataclass
class EvalSet:
    """A lazily produced evaluation set: `count` pairs from `make()`, described for the report header."""

    name: str
    description: str
    count: int
    known_radius: bool
    make: Callable[[], Iterator[EvalPair]]

    def __iter__(self) -> Iterator[EvalPair]:
        return self.make()


def _pair_seed(name: str, radius: float) -> int:
    """The fixed noise seed of one (image, radius) pair: independent of which other images are used."""
    return zlib.crc32(f"{name}:r{radius:g}".encode())


def _synthetic(sharps: Sequence[tuple[str, Callable[[], np.ndarray]]], radii: Sequence[float], limit: int | None
               ) -> tuple[int, Callable[[], Iterator[EvalPair]]]:
    """Every image at every radius (image-major), at most `limit` pairs, blurred on demand."""
    from edge_deblur.blur import defocus

    jobs = [(name, load, r) for name, load in sharps for r in radii]
    if limit is not None:
        jobs = jobs[:limit]

    def make() -> Iterator[EvalPair]:
        cache: dict[str, np.ndarray] = {}
        for name, load, r in jobs:
            if name not in cache:
                cache.clear()
                cache[name] = load()
            sharp = cache[name]
            blurred = defocus(sharp, r, noise_sigma=BENCH_NOISE, rng=_pair_seed(name, r))
            yield EvalPair(blurred, sharp, f"{name}@r{r:g}", float(r))

    return len(jobs), make


def _skimage_photo(name: str, multiple: int = 8) -> np.ndarray:
    """A bundled scikit-image colour photograph, float32 [0, 1], centre-cropped to a multiple of `multiple`."""
    from skimage import data

    img = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
    img = img[..., :3].astype(np.float32) / 255.0
    h, w = (img.shape[0] // multiple) * multiple, (img.shape[1] // multiple) * multiple
    y, x = (img.shape[0] - h) // 2, (img.shape[1] - w) // 2
    return np.ascontiguousarray(img[y : y + h, x : x + w])


def sample_set(limit: int | None = None, radii: Sequence[float] = BENCH_RADII) -> EvalSet:
    """The built-in benchmark data: scikit-image's bundled photographs blurred at each radius with a fixed seed.

    Args:
        limit: use only the first `limit` pairs (image-major: all radii of one photo, then the next).
        radii: disc radii in pixels.

    Returns:
        An `EvalSet` of len(SAMPLE_PHOTOS) x len(radii) pairs (or `limit`).
    """
    sharps = [(n, lambda n=n: _skimage_photo(n)) for n in SAMPLE_PHOTOS]
    count, make = _synthetic(sharps, radii, limit)
    desc = (f"scikit-image sample photos ({', '.join(SAMPLE_PHOTOS)}), disc blur r={'/'.join(f'{r:g}' for r in radii)}"
            f" px in linear light, noise {BENCH_NOISE * 255:g}/255, fixed seed: {count} pairs")
    return EvalSet("sample photos", desc, count, True, make)


def kodak24_set(root: str | os.PathLike | None = None, limit: int | None = None) -> EvalSet:
    """The `defocus-kodak24` protocol: 24 Kodak photos at native size x radius 2, 3, 4 px = 72 pairs.

    Args:
        root: folder with kodim01.png ... kodim24.png; default `default_data_root()/photos/kodak24`.
        limit: use only the first `limit` pairs (image-major, so every radius stays equally represented when
            `limit` is a multiple of 3).

    Raises:
        DataError: the folder is missing or does not hold the 24 Kodak images.
    """
    from edge_deblur.data import default_data_root
    from edge_deblur.images import read_image

    if root is None:
        base = default_data_root()
        if base is None:
            raise DataError("defocus-kodak24: no Kodak24 folder found; pass --data PATH/TO/kodak24 "
                            "(or set EDGE_DEBLUR_DATA)")
        root = base / "photos" / "kodak24"
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: Kodak24 folder does not exist")
    files = sorted(p for p in root.iterdir() if re.fullmatch(r"kodim\d\d\.png", p.name, re.IGNORECASE))
    if len(files) != 24:
        raise DataError(f"{root}: defocus-kodak24 needs the 24 Kodak images kodim01.png ... kodim24.png, "
                        f"found {len(files)}")
    sharps = [(p.stem, lambda p=p: read_image(p)) for p in files]
    count, make = _synthetic(sharps, BENCH_RADII, limit)
    subset = "" if count == 72 else f" (a subset: the first {count} of 72 pairs)"
    desc = (f"defocus-kodak24: Kodak24 at native 768x512 from {root}, disc blur r=2/3/4 px in linear light, "
            f"noise 1/255, 8-bit, fixed seed per image and radius: {count} pairs{subset}")
    return EvalSet("defocus-kodak24", desc, count, True, make)


_RADIUS_IN_NAME = re.compile(r"@r(\d+(?:\.\d+)?)$")


def dataset_set(data: str | os.PathLike | Sequence, dataset: str, limit: int | None = None) -> EvalSet:
    """ALL pairs a dataset loader finds (no split: bench measures the folder it is pointed at).

    Synthetic datasets get the fixed evaluation blur of `edge_deblur.data.eval_pairs` (radius known); real pairs
    keep their unknown blur.

    Raises:
        DataError: unknown dataset, missing folder or no usable pairs.
    """
    from edge_deblur.data import eval_pairs, load_split

    pairs = load_split(data, dataset, "all")  # raises DataError on a folder without usable pairs
    count = len(pairs) if limit is None else min(limit, len(pairs))

    def make() -> Iterator[EvalPair]:
        for i, (blurred, sharp, name) in enumerate(eval_pairs(data, dataset, split="all")):
            if i >= count:
                return
            m = _RADIUS_IN_NAME.search(name)
            yield EvalPair(blurred, sharp, name, float(m.group(1)) if m else None)

    where = data if isinstance(data, (str, os.PathLike)) else ", ".join(map(str, data))
    kind = ("synthetic disc blur cycling r=2/3/4 px, noise 1/255, fixed seed" if dataset == "synthetic"
            else "real blurred/sharp pairs (unknown blur)")
    subset = "" if count == len(pairs) else f" (the first {count} of {len(pairs)})"
    desc = f"{dataset} data at {where}: all {len(pairs)} pairs, {kind}{subset}"
    if dataset == "kwentar":
        desc += "; hand-held pairs are misaligned, so PSNR vs sharp is low for every row: read the Keras-vs-TFLite drop"
    return EvalSet(f"{dataset} ({Path(str(where)).name})", desc, count, dataset == "synthetic", make)


def load_eval_set(data=None, dataset: str | None = None, protocol: str | None = None,
                  limit: int | None = None) -> EvalSet:
    """Pick the evaluation data of a bench run (see the module docstring for the precedence).

    Raises:
        EdgeDeblurError: unknown protocol, `--dataset` without `--data`, or bad data.
    """
    if protocol is not None:
        if protocol not in PROTOCOLS:
            raise EdgeDeblurError(f"unknown protocol '{protocol}'; choose one of: {', '.join(PROTOCOLS)}")
        if dataset is not None:
            raise EdgeDeblurError(f"--protocol {protocol} defines its own data; drop --dataset")
        return kodak24_set(data, limit)
    if data is not None:
        from edge_deblur.data import DATASETS

        if dataset is None:
            raise EdgeDeblurError(f"--data needs --dataset (one of: {', '.join(DATASETS)})")
        if dataset not in DATASETS:
            raise DataError(f"unknown dataset '{dataset}'; choose one of: {', '.join(DATASETS)}")
        return dataset_set(data, dataset, limit)
    if dataset is not None:
        raise EdgeDeblurError("--dataset needs --data PATH")
    return sample_set(limit)


# --- models ----------------------------------------------------------------------------------------------------------


@dataclass
class ModelSource:
    """The Keras model under test and any TFLite exports shipped beside it."""

    name: str
    keras_path: Path | None
    shipped: dict[str, Path]
    untrained: bool
    description: str


def bundled_dir() -> Path | None:
    """The folder of the bundled release model: `edge_deblur/_bundled` in a wheel, else `export/` in a checkout."""
    here = Path(__file__).resolve().parent
    for d in (here / "_bundled", here.parent / "export"):
        if d.is_dir() and any(d.glob("*.keras")):
            return d
    return None


def _keras_in(folder: Path) -> Path:
    """The .keras model of a model folder: the one its manifest.json lists, else the only one there."""
    keras_entry = _manifest(folder).get("keras")
    if isinstance(keras_entry, dict) and (folder / str(keras_entry.get("path", ""))).is_file():
        return folder / keras_entry["path"]
    found = sorted(folder.glob("*.keras"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise ModelError(f"{folder}: no .keras model in this folder")
    raise ModelError(f"{folder}: several .keras models ({', '.join(p.name for p in found)}); pass one file")


def _manifest(folder: Path) -> dict:
    """`folder/manifest.json` as a dict (empty when there is none or it is unreadable)."""
    import json

    with contextlib.suppress(ValueError, OSError):
        info = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        return info if isinstance(info, dict) else {}
    return {}


def _manifest_files(folder: Path) -> list[dict]:
    """The `files` entries (precision, path) of `folder/manifest.json`."""
    files = _manifest(folder).get("files", [])
    return [e for e in files if isinstance(e, dict)] if isinstance(files, list) else []


def resolve_model(model: str | os.PathLike | None) -> ModelSource:
    """Find the model a bench run measures.

    Args:
        model: None for the bundled release model; a `.keras` file; a folder holding one (e.g. `export/`); or a
            registry name (built with untrained weights: latency is real, quality is meaningless).

    Returns:
        A `ModelSource`; exports named `<stem>_<precision>.tflite` beside the .keras file are listed as shipped.

    Raises:
        ModelError: nothing bundled, unknown name, or a path that is not a .keras model or model folder.
    """
    from edge_deblur.models import REGISTRY

    if model is None:
        folder = bundled_dir()
        if folder is None:
            raise ModelError("no bundled model found (export/*.keras is not there yet); pass --model with a .keras "
                             f"file, a model folder or a registry name ({', '.join(REGISTRY)})")
        path = _keras_in(folder)
        source = "bundled release model"
    elif isinstance(model, str) and model in REGISTRY and not Path(model).exists():
        return ModelSource(model, None, {}, True, f"{model} (registry architecture with UNTRAINED random weights: "
                                                  "latency and size are real, quality numbers are meaningless)")
    else:
        path = Path(model)
        if path.is_dir():
            path = _keras_in(path)
            source = f"model folder {path.parent}"
        elif not path.exists():
            raise ModelError(f"{path}: no such model file, folder or registry name "
                             f"(registry: {', '.join(REGISTRY)})")
        elif path.suffix.lower() != ".keras":
            raise ModelError(f"{path}: expected a .keras model (bench compares exports against it), "
                             "a model folder or a registry name")
        else:
            source = str(path)
    shipped = {}
    for entry in _manifest_files(path.parent):  # a release folder lists its exports in manifest.json
        f = path.parent / str(entry.get("path", ""))
        if entry.get("precision") in PRECISIONS and f.suffix == ".tflite" and f.is_file():
            shipped.setdefault(entry["precision"], f)
    for p in PRECISIONS:
        cand = path.with_name(f"{path.stem}_{p}.tflite")
        if cand.is_file():
            shipped.setdefault(p, cand)
    name = path.stem
    extra = f"; shipped exports: {', '.join(shipped)}" if shipped else ""
    return ModelSource(name, path, shipped, False, f"{name} ({source}{extra})")


def _load_keras(src: ModelSource):
    """Load (or build, for registry names) the Keras model of `src`."""
    if src.keras_path is None:
        import keras

        from edge_deblur.models import build_model

        keras.utils.set_random_seed(0)  # untrained rows (latency and size only) come out the same on every run
        return build_model(src.name)
    from edge_deblur.train import load_keras

    return load_keras(src.keras_path)


def _export(keras_model, precision: str, size: tuple[int, int], out: Path, calibration: "_Calibration") -> Path:
    """Convert the Keras model at `size` to a TFLite file (with edge-deblur metadata) of `precision` in `out`."""
    from edge_deblur import __version__, export
    from edge_deblur._io import write_bytes
    from edge_deblur.models import model_stride, with_input_size
    from edge_deblur.tflite_meta import FORMAT, with_metadata

    fixed = with_input_size(keras_model, *size)
    rep = calibration.crops() if precision == "int8" else None
    with contextlib.redirect_stdout(io.StringIO()):  # keras prints "Saved artifact at ..." while converting
        raw = export.convert(fixed, precision, representative=rep)
    meta = {"format": FORMAT, "model": keras_model.name, "precision": precision, "input_size": list(size),
            "layout": "NHWC", "channels": "RGB", "value_range": [0.0, 1.0], "io_dtype": "float32",
            "stride": model_stride(keras_model), "overlap": 32, "toolkit_version": __version__,
            "calibration": calibration.description if precision == "int8" else None, "made_by": "edge-deblur bench"}
    return write_bytes(out / f"{keras_model.name}_{precision}.tflite", with_metadata(raw, meta))


class _Calibration:
    """int8 calibration crops that never come from the evaluation images.

    Source, in order: the train split of the user's `--data` (dataset runs); the shared training photos
    (`default_data_root()/photos/{cbsd68,mcmaster18,sunhays80}`, as `edge-deblur export` uses); scikit-image
    photographs that are not in the sample set (`CALIBRATION_PHOTOS`).
    """

    def __init__(self, eval_set: EvalSet, data, dataset: str | None, size: tuple[int, int], samples: int) -> None:
        """`size`: the crop size, `edge_deblur.export.calibration_size` of the model's input size."""
        from edge_deblur.data import default_training_photos

        self.size, self.samples = size, samples
        self.data, self.dataset = None, None
        if data is not None and dataset is not None and eval_set.name != "defocus-kodak24":
            self.data, self.dataset = data, dataset
        else:
            sets = default_training_photos()
            if sets:
                self.data, self.dataset = sets, "synthetic"
        h, w = size
        if self.data is not None:
            names = "+".join(Path(p).name for p in (self.data if isinstance(self.data, list) else [self.data]))
            self.description = f"{samples} defocus-blurred {h}x{w} crops from the train split of {names}"
        else:
            self.description = (f"{samples} defocus-blurred {h}x{w} crops of scikit-image photos "
                                f"({', '.join(CALIBRATION_PHOTOS)})")

    def crops(self) -> np.ndarray:
        """(samples, h, w, 3) float32 blurred crops."""
        if self.data is not None:
            from edge_deblur.data import calibration_crops

            return calibration_crops(self.data, self.dataset, self.samples, self.size, seed=0)
        from edge_deblur.blur import BlurConfig

        rng = np.random.default_rng(0)
        photos = [_skimage_photo(n) for n in CALIBRATION_PHOTOS]
        blur, (h, w) = BlurConfig(), self.size
        crops = []
        for i in range(self.samples):
            img = photos[i % len(photos)]
            if img.shape[0] < h or img.shape[1] < w:
                img = np.pad(img, ((0, max(0, h - img.shape[0])), (0, max(0, w - img.shape[1])), (0, 0)),
                             mode="symmetric")
            y = int(rng.integers(0, img.shape[0] - h + 1))
            x = int(rng.integers(0, img.shape[1] - w + 1))
            crops.append(blur.sample(img[y : y + h, x : x + w], rng))
        return np.stack(crops).astype(np.float32)


# --- runners (the variant table) -------------------------------------------------------------------------------------


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
        self.d = Deblurrer(self.path, num_threads=threads)
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


# --- the run ---------------------------------------------------------------------------------------------------------


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


def _mean(xs: Sequence[float]) -> float:
    """Mean of a non-empty list."""
    return float(sum(xs) / len(xs))


def _check_outputs(paths: dict[str, str | os.PathLike | None]) -> dict[str, Path]:
    """Validate output paths before any work: each must not be an existing folder, its parent must be creatable."""
    out = {}
    for what, p in paths.items():
        if p is None:
            continue
        p = Path(p)
        if p.is_dir():
            raise EdgeDeblurError(f"--{what} {p}: is a folder; give a file name")
        if what == "plot" and p.suffix.lower() not in (".png", ".svg", ".pdf", ".jpg", ".jpeg"):
            raise EdgeDeblurError(f"--plot {p}: use a .png, .svg, .pdf or .jpg file name")
        for parent in p.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise EdgeDeblurError(f"--{what} {p}: {parent} is a file, not a folder")
                break
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

    Returns:
        The `BenchResult`: rows identity, classical, keras, tflite-<precision>...

    Raises:
        EdgeDeblurError: bad options, data or model (nothing is written).
    """
    from edge_deblur.baselines import IDENTITY, METHODS, classical_baseline
    from edge_deblur.models import gflops, model_stride

    # -- validate everything first --
    if not isinstance(runs, int) or runs < 1:
        raise EdgeDeblurError(f"--runs must be at least 1, got {runs}")
    if not isinstance(warmup, int) or warmup < 0:
        raise EdgeDeblurError(f"--warmup must be 0 or more, got {warmup}")
    if threads is not None and threads < 1:
        raise EdgeDeblurError(f"--threads must be at least 1, got {threads}")
    requested_threads = threads
    threads = threads or os.cpu_count() or 1  # explicit everywhere, so the threads column is what actually ran
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
    outputs = _check_outputs({"json": json_path, "csv": csv_path, "markdown": markdown_path, "plot": plot_path})
    eval_set = load_eval_set(data, dataset, protocol, limit)
    src = resolve_model(model)
    tf_threads = _set_tf_threads(threads)
    keras_model = _load_keras(src)
    stride = model_stride(keras_model)

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
    gflop = gflops(keras_model, *size)

    first = next(iter(eval_set))  # proves the data is readable before the heavy work
    radii_known = eval_set.known_radius
    classical = classical_baseline(true_psf=radii_known, method=baseline)
    timing_radius = first.radius if radii_known else classical.assumed_radius
    tile = _tile(first.blurred, size)
    del first

    notes = []
    if src.untrained:
        notes.append(f"{src.name} has UNTRAINED random weights: quality rows of the model are meaningless.")
    if limit is not None:
        notes.append(f"quality measured on the first {eval_set.count} pairs only (limit {limit}).")
    notes.append("PSNR/SSIM: RGB in [0, 1] on full images at native size (TFLite tiled at its input size with "
                 "overlap); means over pairs. dPSNR/dSSIM: row minus Keras. PSNR vs Keras: the row's output "
                 "against the Keras output. FPS = 1000 / median inference ms. GFLOP: 2 x conv multiply-adds per frame.")

    # -- work --
    progress_cm = _progress(console) if progress else contextlib.nullcontext(None)
    with tempfile.TemporaryDirectory(prefix="edge-deblur-bench-") as tmp, progress_cm as bar:
        missing = [p for p in precisions if p not in shipped]
        steps_export = len(missing)
        runners: list[_Runner] = [_BaselineRunner(IDENTITY, "identity"), _BaselineRunner(classical, "classical")]
        if radii_known:  # the oracle's blind twin: what a user who does not know the blur radius gets
            blind = classical_baseline(true_psf=False, method=baseline)
            runners.append(_BaselineRunner(blind, "classical-blind"))
        keras_bytes = src.keras_path.stat().st_size if src.keras_path else _keras_bytes(keras_model, Path(tmp))
        runners.append(_KerasRunner(keras_model, keras_bytes, tf_threads, gflop))
        from edge_deblur.export import calibration_size
        from edge_deblur.models import model_stride

        calib = _Calibration(eval_set, data, dataset, calibration_size(size, model_stride(keras_model)),
                             calibration_samples)
        total_timing = (runs + warmup + 1) * (len(runners) + len(precisions))
        task = bar.add_task("exporting", total=steps_export + eval_set.count + total_timing) if bar else None

        def step(desc: str | None = None) -> None:
            if bar is not None:
                bar.update(task, advance=1, **({"description": desc} if desc else {}))

        for p in precisions:
            if p in shipped:
                path = shipped[p]
            else:
                if bar is not None:
                    bar.update(task, description=f"exporting {p}")
                path = _export(keras_model, p, size, Path(tmp), calib)
                step()
            runners.append(_TFLiteRunner(path, p, threads, gflop))

        # quality: every variant on the same pair, pair by pair
        scores = {id(r): {"psnr": [], "ssim": [], "vs_keras": [], "radius": []} for r in runners}
        keras_runner = next(r for r in runners if r.kind == "keras")
        from edge_deblur.metrics import psnr, ssim

        for pair in eval_set:
            if bar is not None:
                bar.update(task, description=f"quality {pair.name}")
            ref = keras_runner.restore(pair.blurred, pair.radius)
            for r in runners:
                out = ref if r is keras_runner else r.restore(pair.blurred, pair.radius)
                if out.shape != pair.sharp.shape:
                    raise ModelError(f"{r.name}: output shape {out.shape} differs from the image {pair.sharp.shape}")
                s = scores[id(r)]
                s["psnr"].append(psnr(out, pair.sharp))
                s["ssim"].append(ssim(out, pair.sharp))
                s["vs_keras"].append(None if r is keras_runner else psnr(out, ref))
                s["radius"].append(pair.radius)
            step()

        # latency: first run, warm-up, then interleaved timed runs
        times = {id(r): [] for r in runners}
        first_ms = {}
        for r in runners:
            r.prepare(tile, timing_radius)
            first_ms[id(r)] = sum(r.time_once()) * 1e3
            step(f"first run {r.name}")
        for _ in range(warmup):
            for r in runners:
                r.time_once()
                step(f"warm-up {r.name}")
        for i in range(runs):
            for r in runners:
                times[id(r)].append(r.time_once())
                step(f"timed run {i + 1}/{runs}")

    rows = [_row(r, scores[id(r)], times[id(r)], first_ms[id(r)]) for r in runners]
    k = next(r for r in rows if r.kind == "keras")
    for row in rows:
        row.d_psnr = row.psnr - k.psnr
        row.d_ssim = row.ssim - k.ssim
    header = {
        "tool": "edge-deblur bench",
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpu": _cpu_name(), "cores": os.cpu_count(), "platform": platform.platform()},
        "versions": _versions(tf_used=True),
        "model": {"name": src.name, "description": src.description, "path": str(src.keras_path or ""),
                  "untrained": src.untrained, "stride": stride,
                  "params": int(keras_model.count_params()),
                  "exports": {p: (f"shipped {shipped[p].name}" if p in shipped else "exported on the fly")
                              for p in precisions},
                  "int8_calibration": (calib.description if "int8" in precisions and "int8" not in shipped
                                       else None)},
        "data": {"name": eval_set.name, "description": eval_set.description, "pairs": eval_set.count,
                 "true_psf_known": radii_known, "protocol": protocol},
        "timing": {"size": list(size), "runs": runs, "warmup": warmup, "threads_requested": requested_threads,
                   "interleaved": True},
        "notes": notes,
    }
    result = BenchResult(header, rows)
    _write(result, outputs)
    return result


def _keras_bytes(model, tmp: Path) -> int:
    """Size of the model saved as .keras (for registry models that have no file)."""
    path = tmp / f"{model.name}.keras"
    model.save(path)
    return path.stat().st_size


def _progress(console):
    """A rich progress bar on stderr (transient: it disappears when done)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description:<32}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console or Console(stderr=True), transient=True)


def _row(r: _Runner, s: dict, t: list[tuple[float, float, float]], first_ms: float) -> Row:
    """Aggregate one runner's quality scores and timings into a Row."""
    infer = sorted(x[1] * 1e3 for x in t)
    med = statistics.median(infer)
    p90 = infer[min(len(infer) - 1, math.ceil(0.9 * len(infer)) - 1)]
    per_radius = {}
    for rad in sorted({x for x in s["radius"] if x is not None}):
        idx = [i for i, x in enumerate(s["radius"]) if x == rad]
        per_radius[f"r{rad:g}"] = {"psnr": _mean([s["psnr"][i] for i in idx]),
                                   "ssim": _mean([s["ssim"][i] for i in idx]), "pairs": len(idx)}
    vs = [x for x in s["vs_keras"] if x is not None]
    # identical outputs give an infinite PSNR; cap each pair at 100 dB so the mean stays a number
    vs_keras = _mean([min(x, 100.0) for x in vs]) if vs else None
    gflops_per_s = (r.gflop / (med / 1e3)) if (r.gflop is not None and med > 0) else (None if r.gflop is None else 0.0)
    return Row(
        name=r.name, kind=r.kind, precision=r.precision, backend=r.backend, threads=int(r.threads),
        size_mb=r.size_bytes / 1e6, psnr=_mean(s["psnr"]), ssim=_mean(s["ssim"]), d_psnr=0.0, d_ssim=0.0,
        psnr_vs_keras=vs_keras, latency_ms=med, latency_p90_ms=p90, first_run_ms=first_ms,
        fps=1e3 / med if med > 0 else float("inf"), gflop=r.gflop, gflops_per_s=gflops_per_s,
        pre_ms=statistics.median(x[0] * 1e3 for x in t), post_ms=statistics.median(x[2] * 1e3 for x in t),
        xnnpack=r.xnnpack, pairs=len(s["psnr"]), per_radius=per_radius, note=r.note,
    )


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
