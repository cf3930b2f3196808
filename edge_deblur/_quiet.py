"""Keep TensorFlow's, absl's and LiteRT's C++ start-up chatter off the terminal, and let real messages through.

TensorFlow (oneDNN, "Could not find cuda drivers", `E0000 ... failed call to cuInit`, CPU feature notes) and LiteRT
("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.") write from C++ straight to file descriptor 2, some of it
before absl logging is set up, so neither `TF_CPP_MIN_LOG_LEVEL` nor Python's logging can hold it back. `filtered()`
points fd 2 at a pipe for the duration of a command; a thread copies every line to the real stderr except the
start-up lines listed in `NOISE`. Python's own `sys.stderr` keeps writing to the terminal directly (when it was fd 2),
so progress bars still see a terminal.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import threading
from typing import Iterator

# Start-up lines that say nothing a user can act on. A C++ log line looks like
# "I0000 00:00:1795633367.938659   12652 port.cc:153] message".
NOISE = tuple(re.compile(p) for p in (
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"^I\d{4} [\d:. ]+\d+ \S+:\d+\] ",  # absl INFO lines from C++ (never a warning)
    r"^[WE]\d{4} [\d:. ]+\d+ \S+:\d+\] .*(cuInit|cuda|CUDA|TF-TRT|TensorRT|cuDNN|cuFFT|cuBLAS|computation placer)",
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IW] tensorflow/.*(cuda|oneDNN|cpu_feature_guard|TF-TRT|TensorRT)",
    r"^To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags",
    r"^INFO: Created TensorFlow Lite XNNPACK delegate for CPU",
    r"^INFO: Initialized TensorFlow Lite runtime",
))


def is_noise(line: str) -> bool:
    """Whether one stderr line is TensorFlow/absl/LiteRT start-up chatter."""
    return any(p.search(line) for p in NOISE)


@contextlib.contextmanager
def filtered() -> Iterator[None]:
    """Drop start-up chatter written to file descriptor 2 while the block runs; pass every other line on.

    Example:
        >>> with filtered():
        ...     import tensorflow as tf  # no oneDNN / CUDA lines reach the terminal
    """
    try:
        sys.stderr.flush()
        real = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable fd 2 (embedded interpreter): nothing to filter
        yield
        return
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    swapped = _python_stderr_to(real)
    copier = threading.Thread(target=_copy, args=(read_end, real), name="stderr-filter", daemon=True)
    copier.start()
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        if swapped is not None:
            sys.stderr = swapped
        os.dup2(real, 2)  # closes the pipe's last write end: the copier reads EOF and ends
        copier.join(timeout=2.0)
        os.close(real)


def _python_stderr_to(fd: int):
    """Point Python's `sys.stderr` at `fd` when it was fd 2 (so isatty() stays true); return the old one or None."""
    old = sys.stderr
    try:
        if old.fileno() != 2:
            return None
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):  # a test runner's stand-in: keep it
        return None
    sys.stderr = io.TextIOWrapper(io.FileIO(fd, "wb", closefd=False), encoding=old.encoding,
                                  errors=old.errors, line_buffering=True, write_through=True)
    return old


def _copy(read_end: int, out: int) -> None:
    """Copy lines from the pipe to `out`, leaving out the noise."""
    with os.fdopen(read_end, "rb") as pipe:
        for raw in pipe:
            if not is_noise(raw.decode("utf-8", "replace")):
                with contextlib.suppress(OSError):
                    os.write(out, raw)
