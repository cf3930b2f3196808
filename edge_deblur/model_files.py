"""Model files on disk: reading one safely, its checked metadata, and the bundled model listed in the manifest.

Reads no TensorFlow and starts no interpreter: a file is checked (`edge_deblur.integrity`) before anything runs it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from edge_deblur.errors import ModelError
from edge_deblur.integrity import checked_metadata
from edge_deblur.tflite_reader import parse_model

MANIFEST = "manifest.json"
MAX_MODEL_BYTES = 1 << 30  # ours are ~1-3 MB; a file this big is not one (and would be read whole into memory)


def require_model_file(path: Path) -> None:
    """Raise a ModelError unless `path` is a file: a folder given as the model says so, anything else is missing."""
    if not path.is_file():
        raise ModelError(f"{path}: " + ("a folder, not a model file" if path.is_dir() else "no such model file"))


def read_model_bytes(path: str | os.PathLike) -> bytes:
    """The bytes of a model file, with a ModelError for missing, unreadable or huge (> MAX_MODEL_BYTES) files."""
    path = Path(path)
    require_model_file(path)
    try:
        size = path.stat().st_size
        if size > MAX_MODEL_BYTES:
            raise ModelError(f"{path}: {size / 2**30:.1f} GiB, larger than any deblurring model (at most "
                             f"{MAX_MODEL_BYTES / 2**30:.0f} GiB); not read")
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
    data = read_model_bytes(path)
    return checked_metadata(data, parse_model(data, str(path)), str(path), allow_foreign)


def guess_precision(info) -> str:
    """Precision of a model without metadata, from its tensor types (`parse_model`'s info)."""
    if "int8" in info.tensor_types and "float32" not in {t.dtype for t in info.inputs}:
        return "int8"
    return "float16" if "float16" in info.tensor_types else "float32"


def bundled_folders() -> list[Path]:
    """Where a bundled release lives, in lookup order: the package's `_bundled/` (wheels), the repository's
    `export/` (source checkouts)."""
    here = Path(__file__).resolve().parent
    return [here / "_bundled", here.parent / "export"]


def bundled_manifest() -> tuple[Path, dict] | None:
    """(folder, parsed manifest) of the bundled model: the package's `_bundled/` (wheels) or the repository's
    `export/` (source checkouts); None when neither has a manifest.

    Raises:
        ModelError: the manifest exists but is not a JSON object.
    """
    for folder in bundled_folders():
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
