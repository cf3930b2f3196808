"""A bounds-checked TFLite flatbuffer reader without TensorFlow: it validates a .tflite before any interpreter sees
it and describes what the file declares (inputs, outputs, tensor types, op codes, named metadata buffers).

It needs only the standard library, so it works on a device with just `tflite-runtime` and numpy. What the
edge-deblur metadata entry holds, and how it is written and digested, is `edge_deblur.tflite_meta`.

Example:
    >>> from edge_deblur.tflite_reader import parse_model
    >>> info = parse_model(open("unet_s_int8.tflite", "rb").read(), "unet_s_int8.tflite")
    >>> [t.shape for t in info.inputs]
    [(1, 224, 224, 3)]
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field

from edge_deblur.errors import ModelError

METADATA_NAME = "edge_deblur"
FILE_IDENTIFIER = b"TFL3"

# TensorType -> bytes per element (None: variable size or packed sub-byte types, not size-checked).
_TYPE_SIZE = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 5: None, 6: 1, 7: 2, 8: 8, 9: 1, 10: 8, 11: 16, 12: 8, 13: None,
              14: None, 15: 4, 16: 2, 17: None, 18: 2, 19: None, 20: None, 21: 1}
TYPE_NAMES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string", 6: "bool", 7: "int16",
              8: "complex64", 9: "int8", 10: "float64", 11: "complex128", 12: "uint64", 13: "resource",
              14: "variant", 15: "uint32", 16: "uint16", 17: "int4", 18: "bfloat16", 19: "int2", 20: "uint4",
              21: "float8_e4m3fn"}
MAX_METADATA_BYTES = 64 * 1024  # ours is < 2 KB; a huge entry is a crafted file, not metadata
_MAX_ELEMENTS = 1 << 28  # a tensor larger than this (1 GiB of float32) is a corrupt shape, not a deblurring model
_MAX_BUILTIN = 1000


class _Corrupt(Exception):
    """Raised inside the reader; turned into a ModelError naming the file."""


@dataclass
class TensorInfo:
    """What a tensor declares: name, shape, element type and quantization."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: tuple[float, ...] = ()
    zero_point: tuple[int, ...] = ()
    signature: tuple[int, ...] = ()  # shape_signature: -1 marks a dynamic dimension; () when the file has none


@dataclass
class ModelInfo:
    """A validated .tflite: its main subgraph's inputs/outputs, tensor types, builtin op codes (all subgraphs),
    named metadata buffers and where each of those lies in the file ((start, end) byte offsets)."""

    version: int
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    tensor_types: set[str]
    num_operators: int
    metadata: dict[str, bytes] = field(default_factory=dict)
    op_codes: set[int] = field(default_factory=set)
    num_subgraphs: int = 1
    metadata_spans: dict[str, tuple[int, int]] = field(default_factory=dict)

    def metadata_json(self) -> dict:
        """The edge-deblur metadata as a dict ({} when the file has none).

        Raises:
            _Corrupt: the entry is over `MAX_METADATA_BYTES`, not UTF-8 JSON, nested too deeply, holds NaN or
                Infinity, or is not a JSON object.
        """
        raw = self.metadata.get(METADATA_NAME)
        if raw is None:
            return {}
        if len(raw) > MAX_METADATA_BYTES:
            raise _Corrupt(f"its '{METADATA_NAME}' metadata is {len(raw):,} bytes (at most {MAX_METADATA_BYTES:,})")
        try:
            meta = json.loads(raw.rstrip(b"\x00").decode("utf-8"), parse_constant=_no_constant)
        except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as e:
            raise _Corrupt(f"its '{METADATA_NAME}' metadata is not valid JSON ({e})") from None
        except RecursionError:
            raise _Corrupt(f"its '{METADATA_NAME}' metadata is nested too deeply") from None
        if not isinstance(meta, dict):
            raise _Corrupt(f"its '{METADATA_NAME}' metadata is not a JSON object")
        return meta


def _no_constant(name: str):
    """json.loads hook: NaN and Infinity are not JSON and never valid metadata values."""
    raise ValueError(f"{name} is not a number JSON allows")


class _Buf:
    """Bounds-checked little-endian access to flatbuffer bytes."""

    def __init__(self, data: bytes):
        self.data = memoryview(data)
        self.n = len(data)

    def _get(self, fmt: str, pos: int):
        size = struct.calcsize(fmt)
        if pos < 0 or pos + size > self.n:
            raise _Corrupt(f"offset {pos} points outside the file ({self.n} bytes)")
        return struct.unpack_from(fmt, self.data, pos)[0]

    def u8(self, pos):
        return self._get("<B", pos)

    def u16(self, pos):
        return self._get("<H", pos)

    def i32(self, pos):
        return self._get("<i", pos)

    def u32(self, pos):
        return self._get("<I", pos)

    def table(self, pos: int) -> "_Table":
        vt = pos - self.i32(pos)
        vt_size, t_size = self.u16(vt), self.u16(vt + 2)
        if vt_size < 4 or vt_size % 2 or vt + vt_size > self.n or pos + t_size > self.n:
            raise _Corrupt(f"bad table or vtable at offset {pos}")
        return _Table(self, pos, vt, (vt_size - 4) // 2)

    def deref(self, pos: int) -> int:
        return pos + self.u32(pos)

    def vector(self, pos: int, elem_size: int) -> tuple[int, int]:
        """(start of elements, length) of the vector at `pos`, checked to lie inside the file."""
        length = self.u32(pos)
        start = pos + 4
        if start + length * elem_size > self.n:
            raise _Corrupt(f"vector of {length} elements at offset {pos} runs past the end of the file")
        return start, length


class _Table:
    """One flatbuffer table: field lookup through its vtable."""

    def __init__(self, buf: _Buf, pos: int, vt: int, nfields: int):
        self.buf, self.pos, self.vt, self.nfields = buf, pos, vt, nfields

    def _field(self, i: int) -> int:
        if i >= self.nfields:
            return 0
        off = self.buf.u16(self.vt + 4 + 2 * i)
        if off and self.pos + off >= self.buf.n:
            raise _Corrupt(f"field {i} of the table at offset {self.pos} lies outside the file")
        return self.pos + off if off else 0

    def scalar(self, i: int, fmt: str, default=0):
        p = self._field(i)
        return self.buf._get(fmt, p) if p else default

    def table(self, i: int) -> "_Table | None":
        p = self._field(i)
        return self.buf.table(self.buf.deref(p)) if p else None

    def vector(self, i: int, elem_size: int) -> tuple[int, int]:
        p = self._field(i)
        return self.buf.vector(self.buf.deref(p), elem_size) if p else (0, 0)

    def scalars(self, i: int, fmt: str) -> list:
        start, n = self.vector(i, struct.calcsize(fmt))
        return list(struct.unpack_from(f"<{n}{fmt[-1]}", self.buf.data, start)) if n else []

    def tables(self, i: int) -> list["_Table"]:
        start, n = self.vector(i, 4)
        return [self.buf.table(self.buf.deref(start + 4 * k)) for k in range(n)]

    def bytes_(self, i: int) -> bytes | None:
        p = self._field(i)
        if not p:
            return None
        start, n = self.buf.vector(self.buf.deref(p), 1)
        return bytes(self.buf.data[start:start + n])

    def string(self, i: int) -> str:
        raw = self.bytes_(i)
        return "" if raw is None else raw.decode("utf-8", errors="replace")


def parse_model(data: bytes, source: str = "model") -> ModelInfo:
    """Validate the structure of a .tflite flatbuffer and describe its main subgraph, without TensorFlow.

    Every offset, vector, tensor/buffer/operator index and constant-buffer size is checked, so a truncated,
    bit-flipped or foreign file is rejected here instead of crashing an interpreter.

    Args:
        data: the file's bytes.
        source: the name used in error messages (usually the path).

    Returns:
        A `ModelInfo`.

    Raises:
        ModelError: the bytes are not a valid TFLite model.
    """
    if len(data) < 16:
        raise ModelError(f"{source}: not a TFLite model (only {len(data)} bytes)")
    if bytes(data[4:8]) != FILE_IDENTIFIER:
        raise ModelError(f"{source}: not a TFLite model (no '{FILE_IDENTIFIER.decode()}' file identifier)")
    try:
        return _parse(_Buf(data))
    except _Corrupt as e:
        raise ModelError(f"{source}: corrupt or truncated TFLite model ({e})") from None
    except (struct.error, RecursionError, UnicodeDecodeError, OverflowError, MemoryError) as e:
        raise ModelError(f"{source}: corrupt or truncated TFLite model ({type(e).__name__})") from None


def _parse(buf: _Buf) -> ModelInfo:
    """Walk the Model table, checking everything an interpreter would trust."""
    model = buf.table(buf.u32(0))
    version = model.scalar(0, "<I")
    if version != 3:
        raise _Corrupt(f"schema version {version}, expected 3")
    opcodes = model.tables(1)
    codes = set()
    for k, oc in enumerate(opcodes):
        code = max(oc.scalar(0, "<b"), oc.scalar(3, "<i"))
        if not 0 <= code <= _MAX_BUILTIN:
            raise _Corrupt(f"operator code {k} has unknown builtin {code}")
        codes.add(code)
        oc.string(1)
    buffers = model.tables(4)
    buffer_sizes = []
    for k, b in enumerate(buffers):
        start, n = b.vector(0, 1)
        offset, size = b.scalar(1, "<Q"), b.scalar(2, "<Q")
        if offset > 1:  # data stored after the flatbuffer (models > 2 GB)
            if offset + size > buf.n:
                raise _Corrupt(f"buffer {k} points past the end of the file")
            n = size
        buffer_sizes.append(n)
    subgraphs = model.tables(2)
    if not subgraphs:
        raise _Corrupt("no subgraphs")
    infos = [_parse_subgraph(sg, k, buffer_sizes, len(opcodes)) for k, sg in enumerate(subgraphs)]
    metadata, spans = {}, {}
    for m in model.tables(6):
        name, idx = m.string(0), m.scalar(1, "<I")
        if idx >= len(buffers):
            raise _Corrupt(f"metadata '{name}' names buffer {idx} of {len(buffers)}")
        start, n = buffers[idx].vector(0, 1)
        metadata[name] = bytes(buf.data[start:start + n])
        spans[name] = (start, start + n)
    for idx in model.scalars(5, "<i"):
        if not 0 <= idx < len(buffers):
            raise _Corrupt(f"metadata buffer index {idx} out of range")
    inputs, outputs, _, nops = infos[0]
    types = set().union(*(i[2] for i in infos))
    return ModelInfo(version, inputs, outputs, types, nops, metadata, codes, len(subgraphs), spans)


def _parse_subgraph(sg: _Table, k: int, buffer_sizes: list[int], nopcodes: int):
    """Check one subgraph's tensors and operators; return (inputs, outputs, tensor types, operator count)."""
    tensors = []
    types = set()
    for t_idx, t in enumerate(sg.tables(0)):
        shape = tuple(t.scalars(0, "<i"))
        ttype = t.scalar(1, "<b")
        if ttype not in TYPE_NAMES:
            raise _Corrupt(f"subgraph {k} tensor {t_idx} has unknown type {ttype}")
        types.add(TYPE_NAMES[ttype])
        if any(d < 0 for d in shape):
            raise _Corrupt(f"subgraph {k} tensor {t_idx} has negative dimension {shape}")
        elements = math.prod(shape)
        if elements > _MAX_ELEMENTS:
            raise _Corrupt(f"subgraph {k} tensor {t_idx} has implausible shape {shape}")
        b_idx = t.scalar(2, "<I")
        if b_idx >= len(buffer_sizes):
            raise _Corrupt(f"subgraph {k} tensor {t_idx} names buffer {b_idx} of {len(buffer_sizes)}")
        item = _TYPE_SIZE[ttype]
        nbytes = buffer_sizes[b_idx]
        if b_idx and nbytes and item is not None and nbytes != elements * item:
            raise _Corrupt(f"subgraph {k} tensor {t_idx}: {nbytes} bytes of data for shape {shape}")
        scale, zp = (), ()
        q = t.table(4)
        if q is not None:
            scale, zp = tuple(q.scalars(2, "<f")), tuple(q.scalars(3, "<q"))
            qdim = q.scalar(6, "<i")
            if len(scale) > 1 and (not 0 <= qdim < max(len(shape), 1) or len(scale) != shape[qdim]):
                raise _Corrupt(f"subgraph {k} tensor {t_idx} has per-channel scales that do not fit its shape")
            if zp and len(zp) != len(scale):
                raise _Corrupt(f"subgraph {k} tensor {t_idx} has {len(scale)} scales but {len(zp)} zero points")
        signature = tuple(t.scalars(7, "<i"))
        tensors.append(TensorInfo(t_idx, t.string(3), shape, TYPE_NAMES[ttype], scale, zp, signature))
    n = len(tensors)
    io = []
    for field_i, what in ((1, "input"), (2, "output")):
        idxs = sg.scalars(field_i, "<i")
        if any(not 0 <= i < n for i in idxs):
            raise _Corrupt(f"subgraph {k} {what} index out of range")
        io.append([tensors[i] for i in idxs])
    operators = sg.tables(3)
    for o_idx, op in enumerate(operators):
        if op.scalar(0, "<I") >= nopcodes:
            raise _Corrupt(f"subgraph {k} operator {o_idx} has an unknown operator code")
        if any(not -1 <= i < n for i in op.scalars(1, "<i")) or any(not 0 <= i < n for i in op.scalars(2, "<i")):
            raise _Corrupt(f"subgraph {k} operator {o_idx} names a tensor out of range")
        if any(not 0 <= i < n for i in op.scalars(8, "<i")):
            raise _Corrupt(f"subgraph {k} operator {o_idx} has an intermediate out of range")
        opts = op.table(4)
        if opts is not None:
            for f in range(opts.nfields):  # touch every field so a wild offset fails here
                opts._field(f)
        op.bytes_(5)
    return io[0], io[1], types, len(operators)
