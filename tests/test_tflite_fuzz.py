"""Fuzz the model loader: truncated and bit-flipped copies of a real .tflite must end in a clean error.

The content digest alone refuses every changed file, so every other mutant gets a forged (recomputed) digest: those
reach the structural checks and the interpreter, as a crafted file would. Every case runs in a worker subprocess,
so a segfault or abort in the interpreter is seen as a crash (and fails the test) instead of killing pytest. A
worker that dies is restarted after the case that killed it.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from test_runtime import make_tflite, randomized

WORKER = textwrap.dedent("""
    import json, sys
    import numpy as np
    from edge_deblur.errors import EdgeDeblurError
    from edge_deblur.runtime import Deblurrer, read_metadata
    cases = json.load(open(sys.argv[1]))
    for i in range(int(sys.argv[2]), len(cases)):
        print("BEGIN", i, flush=True)
        try:
            read_metadata(cases[i])
            d = Deblurrer(cases[i], num_threads=1)
            d(np.full((40, 44, 3), 0.5, np.float32))
            d.op_report()
            outcome = "ok"
        except EdgeDeblurError as e:
            outcome = "clean " + type(e).__name__ + ": " + str(e).replace(chr(10), " ")[:200]
        except BaseException as e:
            outcome = "UNCLEAN " + type(e).__name__ + ": " + str(e).replace(chr(10), " ")[:200]
        print("RESULT", i, outcome, flush=True)
""")


def _structure_offsets(data: bytes) -> np.ndarray:
    """Byte offsets that are flatbuffer structure (tables, vectors, strings), i.e. not inside weight buffers."""
    from edge_deblur.tflite_reader import _Buf

    buf = _Buf(data)
    model = buf.table(buf.u32(0))
    inside = np.zeros(len(data), dtype=bool)
    for b in model.tables(4):
        start, n = b.vector(0, 1)
        inside[start:start + n] = True
    return np.flatnonzero(~inside)


def _forge_digest(data: bytes) -> bytes:
    """`data` with its content digest recomputed (unchanged if its metadata no longer names one)."""
    from edge_deblur.errors import ModelError
    from edge_deblur.tflite_meta import content_digest, digest_span
    from edge_deblur.tflite_reader import _Corrupt, parse_model

    try:
        span = digest_span(data, parse_model(data))
    except (ModelError, _Corrupt):
        return data
    if span is None:
        return data
    return data[:span[0]] + content_digest(data, span).encode() + data[span[1]:]


def _cases(src: Path, out: Path) -> list[Path]:
    """20 truncations, then 280 mutants: even ones keep the stale digest, odd ones get a forged one."""
    data = src.read_bytes()
    n = len(data)
    rng = np.random.default_rng(1234)
    variants: list[bytes] = []
    for cut in sorted({0, 1, 4, 8, 12, 16, 32, 64, 100, 256, n // 8, n // 4, n // 3, n // 2, 2 * n // 3,
                       3 * n // 4, n - 64, n - 16, n - 4, n - 1}):
        variants.append(data[:cut])
    structure = _structure_offsets(data)
    for k in range(240):
        mutated = bytearray(data)
        pos = int(rng.choice(structure)) if k < 180 else int(rng.integers(n))
        mutated[pos] ^= 1 << int(rng.integers(8))
        variants.append(_forge_digest(bytes(mutated)) if k % 2 else bytes(mutated))
    for k in range(40):  # a whole 32-bit word replaced: wild offsets, counts and indices
        mutated = bytearray(data)
        pos = int(rng.choice(structure[structure < n - 4]))
        mutated[pos:pos + 4] = struct.pack("<I", int(rng.integers(2**32)))
        variants.append(_forge_digest(bytes(mutated)) if k % 2 else bytes(mutated))
    paths = []
    for i, v in enumerate(variants):
        p = out / f"case{i:03d}.tflite"
        p.write_bytes(v)
        paths.append(p)
    return paths


def _run_all(cases: list[Path], tmp: Path) -> dict[int, str]:
    """Outcome per case; a worker that dies mid-case records 'CRASH' (its return code) and is restarted."""
    listing = tmp / "cases.json"
    listing.write_text(json.dumps([str(c) for c in cases]))
    outcomes: dict[int, str] = {}
    start = 0
    while start < len(cases):
        proc = subprocess.run([sys.executable, "-c", WORKER, str(listing), str(start)], capture_output=True,
                              text=True, timeout=300)
        current = None
        for line in proc.stdout.splitlines():
            parts = line.split(" ", 2)
            if parts[0] == "BEGIN":
                current = int(parts[1])
            elif parts[0] == "RESULT":
                outcomes[int(parts[1])] = parts[2]
                current = None
        if current is not None:
            outcomes[current] = f"CRASH (return code {proc.returncode}): {proc.stderr[-300:]}"
            start = current + 1
        elif proc.returncode != 0:
            pytest.fail(f"fuzz worker failed outside a case: {proc.stderr[-2000:]}")
        else:
            start = len(cases)
    return outcomes


@pytest.mark.parametrize("precision", ["int8", "float16"])
def test_corrupt_models_fail_cleanly(tmp_path, precision):
    src = make_tflite(tmp_path / f"tiny_{precision}.tflite", randomized("tiny"), 32, precision)
    cases = _cases(src, tmp_path)
    outcomes = _run_all(cases, tmp_path)
    assert len(outcomes) == len(cases)
    bad = {i: o for i, o in outcomes.items() if not o.startswith(("ok", "clean"))}
    assert not bad, f"{len(bad)} of {len(cases)} cases crashed or raised a non-edge-deblur error: " + \
        "; ".join(f"case {i}: {o}" for i, o in list(bad.items())[:5])
    # every truncation and every mutant with a stale digest is refused; forged ones still mostly fail structurally
    stale = [i for i in range(20, len(cases)) if i % 2 == 0]
    assert all(outcomes[i].startswith("clean ModelError") for i in [*range(20), *stale])
    assert sum("content digest mismatch" in outcomes[i] for i in stale) > 50
    forged = [i for i in range(21, len(cases), 2)]
    assert sum(outcomes[i].startswith("clean") for i in forged) > 50
