"""`manifest.json` beside exported files: one entry per file (digest, size, verification numbers), kept in step
with the files on disk (an entry is dropped before its file is replaced and written once it is verified). The keys
the exporter does not own (e.g. the release's `release_commands` and `measured`) are always kept; a manifest of
another model is never replaced."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from edge_deblur.errors import EdgeDeblurError

if TYPE_CHECKING:
    from edge_deblur.export import ExportResult


def _unlist(out: Path, model_name: str, filename: str) -> None:
    """Remove `filename` from `out/manifest.json` (if listed there for `model_name`) before the file is replaced."""
    import json

    from edge_deblur._io import write_json
    from edge_deblur.model_files import MANIFEST

    try:
        doc = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        files = doc["files"] if doc.get("model") == model_name and isinstance(doc["files"], list) else []
    except (OSError, ValueError, AttributeError, KeyError):
        return
    kept = [e for e in files if not (isinstance(e, dict) and e.get("path") == filename)]
    if len(kept) != len(files):
        write_json(out / MANIFEST, {**doc, "files": kept})


def _read_manifest(out: Path, model_name: str) -> dict:
    """The manifest in `out` ({} if there is none), refusing one this model's export must not replace.

    Raises:
        EdgeDeblurError: the manifest is unreadable or not a JSON object, or describes another model.
    """
    import json

    from edge_deblur.model_files import MANIFEST

    path = Path(out) / MANIFEST
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise EdgeDeblurError(f"{path}: unreadable manifest ({str(e).splitlines()[0] if str(e) else e!r}); fix or "
                              "remove it, or export into another folder") from None
    if not isinstance(doc, dict):
        raise EdgeDeblurError(f"{path}: unreadable manifest (not a JSON object); fix or remove it, or export into "
                              "another folder")
    if doc.get("model") not in (None, model_name):
        raise EdgeDeblurError(f"{path}: describes model '{doc.get('model')}', not '{model_name}'; export "
                              f"{model_name} into another folder (--out) so its manifest is not replaced")
    return doc


def write_manifest(out: str | os.PathLike, model_name: str, results: Sequence[ExportResult],
                   keras_file: str | None = None, keras_sha256: str | None = None,
                   command: str | None = None) -> Path:
    """Record the exported files in `out/manifest.json` (merged with earlier entries of the same model).

    The runtime's bundled-model lookup reads this file: `files` lists {path, precision, sha256, size_bytes, ...}.
    `model`, `keras`, `files` and `command` are written here; every other key of an existing manifest (e.g.
    `release_commands`, `measured`) is kept as it was.

    Raises:
        EdgeDeblurError: an existing manifest is unreadable or describes another model (it is never replaced).
    """
    from edge_deblur._io import write_json
    from edge_deblur.export import PRECISIONS, sha256_file  # export imports this module at load: here, not at top
    from edge_deblur.model_files import MANIFEST

    out = Path(out)
    old = _read_manifest(out, model_name)
    files = {e["path"]: e for e in old.get("files", []) if isinstance(e, dict) and "path" in e}
    for r in results:
        if r.path is None:
            continue
        entry = {k: v for k, v in r.to_dict().items() if k not in ("path", "error")}
        entry = {"path": r.path.name, "sha256": sha256_file(r.path), **entry}
        files[r.path.name] = entry
    keras_entry = old.get("keras")
    source_entry = {"path": keras_file, "sha256": keras_sha256}
    if keras_file and keras_entry != source_entry and (out / keras_file).is_file() \
            and sha256_file(out / keras_file) == keras_sha256:  # hashed once, at the first file listed
        keras_entry = source_entry  # the source itself lies in `out`
    manifest = {**old, "model": model_name, "keras": keras_entry,
                "files": sorted(files.values(), key=lambda e: PRECISIONS.index(e["precision"])
                                if e.get("precision") in PRECISIONS else 9),
                "command": command or old.get("command")}
    return write_json(out / MANIFEST, manifest)
