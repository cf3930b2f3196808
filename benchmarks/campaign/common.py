"""Cases, subprocess runs and the classifier shared by every area of the campaign.

A case ends in one of: `ok` (a clean one-line error with a non-zero exit, or a correct result), `traceback`
(a Python traceback, or a crash by signal), `hang` (ran past its timeout) or `wrong` (exit 0 but the result is
wrong: NaN/black output, far from the reference, a file overwritten, a foreign model accepted, ...).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

KINDS = ("ok", "traceback", "hang", "wrong")


@dataclass
class Case:
    area: str
    name: str
    kind: str
    reason: str
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Run:
    """What a subprocess did."""

    rc: int | None  # None: timed out (killed)
    out: str
    err: str
    seconds: float

    @property
    def text(self) -> str:
        return self.out + self.err


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def env(**extra: str) -> dict:
    """Environment of every subprocess: this checkout first on the path, quiet TensorFlow, one thread."""
    e = dict(os.environ)
    e["PYTHONPATH"] = str(repo_root()) + os.pathsep + e.get("PYTHONPATH", "")
    e.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    e.setdefault("KERAS_BACKEND", "tensorflow")
    e["COLUMNS"] = "200"
    e.update(extra)
    return e


def run(args: list[str], timeout: float = 60, cwd: Path | None = None, **extra_env: str) -> Run:
    """Run a command; a timeout kills its whole process group and gives rc None."""
    t0 = time.monotonic()
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                         env=env(**extra_env), cwd=cwd or repo_root(), start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
        return Run(p.returncode, out, err, time.monotonic() - t0)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, 9)
        out, err = p.communicate()
        return Run(None, out, err, time.monotonic() - t0)


def cli(*args: str, timeout: float = 60, cwd: Path | None = None, **extra_env: str) -> Run:
    """`python3 -m edge_deblur ARGS...`."""
    return run([sys.executable, "-m", "edge_deblur", *map(str, args)], timeout, cwd, **extra_env)


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ""


def failure(r: Run) -> tuple[str, str] | None:
    """(kind, reason) if the run hung, crashed or printed a traceback; None otherwise."""
    if r.rc is None:
        return "hang", f"no exit after {r.seconds:.0f} s"
    if "Traceback (most recent call last)" in r.text:
        tail = [ln for ln in r.text.strip().splitlines() if ln.strip()]
        return "traceback", "traceback: " + (tail[-1][:200] if tail else "")
    if r.rc < 0:
        return "traceback", f"crashed by signal {-r.rc}"
    return None


def clean_error(r: Run) -> tuple[str, str]:
    """Classify a run that should refuse its input: ok only for a non-zero exit with an error line on stderr."""
    bad = failure(r)
    if bad:
        return bad
    if r.rc == 0:
        return "wrong", "exit 0 where a refusal was expected: " + last_line(r.text)
    line = last_line(r.err)
    if not line:
        return "wrong", f"exit {r.rc} with nothing on stderr"
    return "ok", f"exit {r.rc}: {line}"


def image_ok(path: Path, reference: np.ndarray | None = None, min_psnr: float = 30.0) -> str | None:
    """None if `path` is a readable, finite, non-black image close to `reference`; else what is wrong."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    except Exception as e:  # noqa: BLE001 - any failure to read back is a wrong output
        return f"output {path.name} unreadable ({type(e).__name__})"
    if not np.isfinite(arr).all():
        return f"output {path.name} holds NaN"
    if arr.max() < 2 / 255:
        return f"output {path.name} is black"
    if arr.min() > 253 / 255:  # no input of the campaign is white
        return f"output {path.name} is white"
    if reference is not None:
        if reference.shape != arr.shape:
            return f"output {path.name} has shape {arr.shape}, reference {reference.shape}"
        mse = float(np.mean((arr - reference) ** 2))
        db = 99.0 if mse == 0 else 10 * np.log10(1 / mse)
        if db < min_psnr:
            return f"output {path.name} is {db:.1f} dB from the reference (< {min_psnr})"
    return None


def timed(area: str, name: str, fn) -> Case:
    """Run one check `fn() -> (kind, reason)`; a bug in the campaign itself is reported as its own kind."""
    t0 = time.monotonic()
    try:
        kind, reason = fn()
    except Exception as e:  # noqa: BLE001 - the campaign must go on
        kind, reason = "campaign-error", f"{type(e).__name__}: {e}"[:300]
    case = Case(area, name, kind, reason, round(time.monotonic() - t0, 2))
    mark = "." if kind == "ok" else kind[0].upper()
    print(mark, end="", flush=True, file=sys.stderr)
    return case
