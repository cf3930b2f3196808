"""The model a bench run measures: the bundled release model, a .keras file, a model folder or a registry name, with
any TFLite exports shipped beside it."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from edge_deblur.bench.results import PRECISIONS
from edge_deblur.errors import ModelError


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
    here = Path(__file__).resolve().parent.parent  # edge_deblur/
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
        from edge_deblur import bench  # through the package, where callers and tests may point it elsewhere

        folder = bench.bundled_dir()
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
    if name in ("model", "last"):  # a training run's file: named by the network it holds, e.g. "unet_s3"
        from edge_deblur.models import saved_model_name

        name = saved_model_name(path) or name
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

