"""The edge-deblur metadata entry of a .tflite: a JSON document in a buffer named by `Model.metadata`, read back,
content-digested and written (stamped) into the flatbuffer.

Reading and checking metadata needs only the standard library (the flatbuffer reader, `parse_model`, is
`edge_deblur.tflite_reader`). Writing metadata (`with_metadata`, `restamp`) re-packs the model
with the `flatbuffers` package and LiteRT's generated schema; it is used by the exporter only.

Content digest: the metadata's `content_sha256` is the sha256 of the whole file with those 64 hex characters
replaced by `DIGEST_PLACEHOLDER` ('0' * 64), so it covers every byte but itself (weights, graph, other metadata).
`with_metadata` writes it; `content_digest` recomputes it; the runtime compares the two at load.

Example:
    >>> from edge_deblur.tflite_reader import parse_model
    >>> info = parse_model(open("unet_s_int8.tflite", "rb").read(), "unet_s_int8.tflite")
    >>> info.metadata_json()["precision"]
    'int8'
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from edge_deblur.errors import ModelError
from edge_deblur.tflite_reader import FILE_IDENTIFIER, METADATA_NAME, ModelInfo, _Corrupt, parse_model

FORMAT = "edge-deblur-tflite/1"
DIGEST_KEY = "content_sha256"
DIGEST_PLACEHOLDER = "0" * 64


def read_metadata_bytes(data: bytes, source: str = "model") -> dict:
    """The edge-deblur metadata dict of a .tflite given as bytes ({} if it has none).

    Raises:
        ModelError: the bytes are not a valid TFLite model or the metadata is not JSON.
    """
    info = parse_model(data, source)
    try:
        return info.metadata_json()
    except _Corrupt as e:
        raise ModelError(f"{source}: {e}") from None


def digest_span(data: bytes, info: ModelInfo) -> tuple[int, int] | None:
    """(start, end) byte offsets of the 64 hex characters of `content_sha256` in the file, None if it has none.

    Raises:
        _Corrupt: the metadata names a digest that is not exactly once in its JSON text, or is not 64 hex digits.
    """
    value = info.metadata_json().get(DIGEST_KEY)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise _Corrupt(f"its '{DIGEST_KEY}' is {str(value)[:70]!r}, not 64 lowercase hex digits")
    start, end = info.metadata_spans[METADATA_NAME]
    needle = json.dumps({DIGEST_KEY: value})[1:-1].encode("utf-8")  # '"content_sha256": "<hex>"'
    text = bytes(data[start:end])
    at = text.find(needle)
    if at < 0 or text.find(needle, at + 1) >= 0:
        raise _Corrupt(f"its '{DIGEST_KEY}' is not written exactly once in the metadata")
    first = start + at + len(needle) - 65
    return first, first + 64


def content_digest(data: bytes, span: tuple[int, int]) -> str:
    """Hex sha256 of `data` with the bytes at `span` (the stored digest) replaced by `DIGEST_PLACEHOLDER`."""
    view = memoryview(data)
    h = hashlib.sha256(view[:span[0]])
    h.update(DIGEST_PLACEHOLDER.encode("ascii"))
    h.update(view[span[1]:])
    return h.hexdigest()


def _fill_digest(data: bytes) -> bytes:
    """`data` (whose metadata holds the placeholder digest) with its real content digest written in place."""
    span = digest_span(data, parse_model(data, "stamped model"))
    out = bytearray(data)
    out[span[0]:span[1]] = content_digest(data, span).encode("ascii")
    return bytes(out)


def metadata_entry(model: str, precision: str, input_size, stride: int, overlap: int, *, io_dtype: str = "float32",
                   calibration: str | None = None, **provenance: Any) -> dict[str, Any]:
    """The metadata document of a file we export: what the runtime needs to run it (input size, layout, value
    range, io dtype, stride, tile overlap), how int8 was calibrated, the toolkit version, then `provenance` (e.g.
    source_file, source_sha256, tensorflow_version, made_by)."""
    from edge_deblur import __version__

    return {"format": FORMAT, "model": model, "precision": precision, "input_size": [int(v) for v in input_size],
            "layout": "NHWC", "channels": "RGB", "value_range": [0.0, 1.0], "io_dtype": io_dtype, "stride": stride,
            "overlap": overlap, "calibration": calibration, "toolkit_version": __version__} | provenance


def with_metadata(tflite: bytes, meta: dict[str, Any]) -> bytes:
    """Return a copy of a .tflite with `meta` and its content digest stored as JSON under the name 'edge_deblur'.

    An existing 'edge_deblur' entry is replaced; `meta[DIGEST_KEY]` is (re)computed, whatever `meta` holds there.
    Values are written as given (the runtime validates them at load). Weight buffers keep the schema's 16-byte
    alignment. Needs the `flatbuffers` package and LiteRT's (or TensorFlow's) generated schema: an export-time tool.

    Raises:
        ModelError: `tflite` is not a valid model.
    """
    import numpy as np

    parse_model(tflite, "converted model")
    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(tflite), 0)
    meta = {**meta, DIGEST_KEY: DIGEST_PLACEHOLDER}
    try:
        text = json.dumps(meta, sort_keys=True, allow_nan=False)
    except ValueError:
        raise ModelError("metadata values must be finite: JSON has no NaN or Infinity") from None
    payload = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    ours = [m for m in (model.metadata or []) if m.name in (METADATA_NAME, METADATA_NAME.encode())]
    used = {t.buffer for sg in model.subgraphs for t in (sg.tensors or [])}
    if ours and ours[-1].buffer not in used and ours[-1].buffer < len(model.buffers):
        entry = ours[-1]  # re-stamping: reuse the old buffer, so no stale copy stays behind
    else:
        entry = schema.MetadataT()
        entry.name = METADATA_NAME
        model.buffers.append(schema.BufferT())
        entry.buffer = len(model.buffers) - 1
    model.buffers[entry.buffer].data = payload
    model.metadata = [m for m in (model.metadata or []) if m not in ours] + [entry]
    try:
        return _fill_digest(_pack(model))
    except _Corrupt as e:  # only a bug in this writer gets here
        raise ModelError(f"stamped model: {e}") from None


def restamp(tflite: bytes, updates: dict[str, Any] | None = None, source: str = "model", *,
            force: bool = False) -> bytes:
    """Re-stamp an exported .tflite's edge-deblur metadata and content digest, without re-converting it.

    For files exported before the digest existed, or to edit metadata values of an intact file on purpose. The graph
    and weights are re-packed unchanged (same outputs); only the metadata entry is rewritten. A file whose digest no
    longer matches its content (a flipped weight bit, a bad copy, an edit) is refused: a new digest would make the
    runtime trust it.

    Args:
        tflite: the file's bytes.
        updates: metadata keys to set (merged over the existing entry).
        source: the name used in error messages.
        force: re-stamp even a file whose digest does not match (one you changed on purpose and vouch for).

    Returns:
        The re-stamped bytes.

    Raises:
        ModelError: not a valid model, unreadable metadata, a digest that does not match (unless `force`), or no
            metadata at all and no `updates`.
    """
    meta = read_metadata_bytes(tflite, source)
    if not meta and not updates:
        raise ModelError(f"{source}: has no edge-deblur metadata to re-stamp (pass the metadata as `updates`)")
    if meta and not force:
        _check_intact(tflite, meta, source)
    return with_metadata(tflite, {**meta, **(updates or {})})


def _check_intact(data: bytes, meta: dict, source: str) -> None:
    """Refuse to re-stamp a file whose stored content digest is malformed or does not match its bytes."""
    try:
        span = digest_span(data, parse_model(data, source))
    except _Corrupt as e:
        raise ModelError(f"{source}: {e}; refusing to re-stamp it (force=True re-stamps a file you changed on "
                         "purpose)") from None
    if span is not None and content_digest(data, span) != meta[DIGEST_KEY]:
        raise ModelError(f"{source}: content digest mismatch: the file changed after export (a corrupt copy or "
                         "edited weights/metadata); refusing to re-stamp it, which would make the runtime trust it: "
                         "re-export it (force=True re-stamps a file you changed on purpose)")


def restamp_file(path: str | os.PathLike, updates: dict[str, Any] | None = None, *, force: bool = False) -> Path:
    """`restamp` a .tflite file in place (written atomically; nothing written if it is refused) and return its path.

    Raises:
        ModelError: a missing or unreadable file, or what `restamp` refuses (a changed file, unless `force`).

    Example:
        >>> restamp_file("export/unet_s2_int8.tflite")
        PosixPath('export/unet_s2_int8.tflite')
    """
    from edge_deblur._io import write_bytes
    from edge_deblur.model_files import read_model_bytes

    return write_bytes(path, restamp(read_model_bytes(path), updates, str(path), force=force))


def _pack(model) -> bytes:
    """Serialise a schema ModelT, keeping byte vectors (weight buffers) 16-byte aligned as the schema asks."""
    import flatbuffers
    import numpy as np

    class _AlignedBuilder(flatbuffers.Builder):
        """flatbuffers.Builder that aligns uint8 numpy vectors to 16 bytes (the schema's force_align)."""

        def CreateNumpyVector(self, x):
            if x.dtype == np.uint8:
                self.Prep(16, x.size)
            return super().CreateNumpyVector(x)

    builder = _AlignedBuilder(1 << 16)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def _schema():
    """LiteRT's generated flatbuffer schema module (TensorFlow's as a fallback)."""
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:  # pragma: no cover - environments with TensorFlow but no ai-edge-litert
        from tensorflow.lite.python import schema_py_generated
    return schema_py_generated
