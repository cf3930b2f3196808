"""Mutants of an exported .tflite: truncations, byte flips by region, raw metadata edits, with or without a valid
content digest (re-stamped the way `edge_deblur.tflite_meta` computes it, so the value checks are what is tested).
"""

from __future__ import annotations

import json
import random

from edge_deblur.tflite_meta import DIGEST_KEY, DIGEST_PLACEHOLDER, _pack, _schema, content_digest, digest_span
from edge_deblur.tflite_reader import METADATA_NAME, _Buf, parse_model


def regions(data: bytes) -> dict[str, list[int]]:
    """Byte offsets by region: 'header' (first 64 bytes), 'weights' (constant buffers), 'tables' (the rest,
    flatbuffer tables and vectors, outside the metadata)."""
    info = parse_model(data)
    buf = _Buf(data)
    model = buf.table(buf.u32(0))
    weights: set[int] = set()
    for b in model.tables(4):
        start, n = b.vector(0, 1)
        weights.update(range(start, start + n))
    meta = set()
    for start, end in info.metadata_spans.values():
        meta.update(range(start, end))
    weights -= meta
    tables = [k for k in range(64, len(data)) if k not in weights and k not in meta]
    return {"header": list(range(64)), "weights": sorted(weights), "tables": tables}


def restamp_bytes(data: bytes) -> bytes | None:
    """`data` with its content digest recomputed in place; None if it no longer parses or has no digest."""
    try:
        span = digest_span(data, parse_model(data))
    except Exception:  # noqa: BLE001 - a mutant that cannot carry a digest stays unstamped
        return None
    if span is None:
        return None
    out = bytearray(data)
    out[span[0]:span[1]] = content_digest(data, span).encode("ascii")
    return bytes(out)


def flip(data: bytes, positions: list[int], rng: random.Random) -> bytes:
    """`data` with each byte at `positions` XORed with a random non-zero value."""
    out = bytearray(data)
    for p in positions:
        out[p] ^= rng.randrange(1, 256)
    return bytes(out)


def with_raw_metadata(data: bytes, text: bytes) -> bytes:
    """`data` with its 'edge_deblur' metadata buffer replaced by `text` (any bytes, not checked)."""
    import numpy as np

    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    entry = next(m for m in model.metadata if m.name in (METADATA_NAME, METADATA_NAME.encode()))
    model.buffers[entry.buffer].data = np.frombuffer(text, dtype=np.uint8)
    return _pack(model)


def metadata(data: bytes) -> dict:
    return parse_model(data).metadata_json()


def edited(data: bytes, key: str, value_json: str, stamp: bool) -> bytes:
    """`data` with metadata `key` set to the raw JSON text `value_json` (NaN, 1e999 and deep nesting allowed);
    re-stamped with a valid digest when `stamp`."""
    meta = metadata(data)
    meta[key] = "@@VALUE@@"
    meta[DIGEST_KEY] = DIGEST_PLACEHOLDER if stamp else meta[DIGEST_KEY]
    text = json.dumps(meta, sort_keys=True).replace('"@@VALUE@@"', value_json)
    out = with_raw_metadata(data, text.encode("utf-8"))
    return (restamp_bytes(out) or out) if stamp else out


BAD_VALUES = {
    "string": '"x"', "int": "7", "float": "1.5", "null": "null", "list": "[]", "object": "{}", "bool": "true",
    "nan": "NaN", "inf": "Infinity", "neg": "-1", "zero": "0", "huge": "1e308", "bigint": "1" + "0" * 30,
    "overflow": "1e999", "deep": "[" * 500 + "]" * 500, "long": json.dumps("y" * 60000),
}
KEYS = ("precision", "io_dtype", "layout", "input_size", "value_range", "stride", "overlap", "model", "format",
        "calibration", "channels")
# per key, values that are valid: the file must still run and give the reference result (or close to it)
VALID = {"overlap": {"zero", "int"}, "model": {"string"}, "calibration": {"null", "string"},
         "format": {"string"}}

DOCUMENTS = {
    "bad_json": b'{"precision": ', "array": b"[]", "null": b"null", "string": b'"edge"', "empty": b"",
    "binary": bytes(range(256)), "bom": b"\xef\xbb\xbf{}", "nan_doc": b"NaN", "deep_doc": b"[" * 5000 + b"]" * 5000,
    "huge_doc": b'{"a": "' + b"z" * 70000 + b'"}', "utf16": '{"a": 1}'.encode("utf-16"),
    "two_digests": b'{"content_sha256": "' + b"0" * 64 + b'", "x": {"content_sha256": "' + b"0" * 64 + b'"}}',
}
