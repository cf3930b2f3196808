"""Area 1: corrupt, crafted and foreign .tflite files, each run through the runtime API (in its own process, so
a crash shows as a signal) and through `edge-deblur deblur`."""

from __future__ import annotations

import os
import random
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.campaign import mutate
from benchmarks.campaign.common import Case, cli, clean_error, failure, image_ok, run, timed
from benchmarks.campaign.fixtures import foreign_models, smooth_image, tiny_exports

AREA = "tflite"
SEVERITY = {"ok": 0, "wrong": 1, "hang": 2, "traceback": 3, "campaign-error": 4}
_API = r'''
import sys, numpy as np
from edge_deblur.errors import EdgeDeblurError
from edge_deblur.images import read_image
from edge_deblur.runtime import Deblurrer
try:
    y = Deblurrer(sys.argv[1], allow_foreign=sys.argv[3] == "1")(read_image(sys.argv[2]))
except EdgeDeblurError as e:
    print("error:", str(e).splitlines()[0][:300], file=sys.stderr)
    sys.exit(2)
np.save(sys.argv[4], y)
'''


@dataclass
class Mutant:
    name: str
    path: Path
    expect: str  # refuse | reference | any (a valid file with other weights: any finite, non-black result)
    foreign: bool = False


def _mutants(work: Path) -> list[Mutant]:
    """Every file to attack, written under work/mutants."""
    out = work / "mutants"
    out.mkdir(parents=True, exist_ok=True)
    found: list[Mutant] = []

    def add(name: str, data: bytes, expect: str = "refuse") -> None:
        path = out / f"{name}.tflite"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        found.append(Mutant(name, path, expect))

    rng = random.Random(16)
    for precision, path in tiny_exports(work).items():
        if precision == "keras":
            continue
        data = path.read_bytes()
        p = precision
        found.append(Mutant(f"{p}/pristine", path, "reference"))
        for cut in sorted({0, 1, 4, 8, 15, 16, 17, 64, len(data) - 1, len(data) - 16, len(data) // 2,
                           *(rng.randrange(len(data)) for _ in range(12))}):
            add(f"{p}/truncated_at_{cut}", data[:cut])
        add(f"{p}/appended_garbage", data + os.urandom(100))
        reg = mutate.regions(data)
        for region, n_plain, n_stamped in (("header", 8, 5), ("tables", 10, 6), ("weights", 10, 6)):
            for k in range(n_plain):
                add(f"{p}/flip_{region}_{k}", mutate.flip(data, rng.sample(reg[region], rng.choice([1, 1, 2, 8])), rng))
            for k in range(n_stamped):
                flipped = mutate.flip(data, rng.sample(reg[region], rng.choice([1, 4])), rng)
                stamped = mutate.restamp_bytes(flipped)
                if stamped is not None:
                    add(f"{p}/flip_{region}_{k}_restamped", stamped, "any")
        for key in mutate.KEYS:
            for label, value in list(mutate.BAD_VALUES.items())[::1 if p == "int8" else 3]:
                valid = label in mutate.VALID.get(key, ())
                add(f"{p}/meta_{key}={label}_restamped", mutate.edited(data, key, value, True),
                    "reference" if valid else "refuse")
            add(f"{p}/meta_{key}=string_unstamped", mutate.edited(data, key, '"x"', False))
        add(f"{p}/meta_unknown_deep_restamped", mutate.edited(data, "extra", mutate.BAD_VALUES["deep"], True))
        add(f"{p}/meta_unknown_nan_restamped", mutate.edited(data, "extra", "NaN", True))
        add(f"{p}/meta_unknown_shallow_restamped", mutate.edited(data, "extra", '{"a": [1, 2]}', True), "reference")
        add(f"{p}/meta_digest_uppercase", mutate.edited(data, "content_sha256", '"' + "A" * 64 + '"', False))
        for label, text in mutate.DOCUMENTS.items():
            add(f"{p}/doc_{label}", mutate.with_raw_metadata(data, text))
    return found + _foreign(work) + _odd_files(work, out)


def _foreign(work: Path) -> list[Mutant]:
    accept = {"plain": "any", "plain_int8": "any", "identity": "reference"}
    found = []
    for name, path in foreign_models(work).items():
        found.append(Mutant(f"foreign/{name}", path, "refuse"))
        found.append(Mutant(f"foreign/{name}+allow", path, accept.get(name, "refuse"), foreign=True))
    return found


def _odd_files(work: Path, out: Path) -> list[Mutant]:
    good = tiny_exports(work)["int8"]
    odd = out / "odd"
    odd.mkdir(exist_ok=True)
    files = {"empty": b"", "one_byte": b"\0", "zeros_1k": bytes(1024), "zeros_1m": bytes(1 << 20),
             "random_1m": random.Random(1).randbytes(1 << 20), "header_only": b"\x18\0\0\0TFL3" + bytes(8),
             "text": b"hello, I am not a model\n", "png": (work / "img" / "in.png").read_bytes()}
    found = []
    for name, data in files.items():
        (odd / f"{name}.tflite").write_bytes(data)
        found.append(Mutant(f"file/{name}", odd / f"{name}.tflite", "refuse"))
    huge = odd / "sparse_3g.tflite"
    if not huge.exists():
        with open(huge, "wb") as f:
            f.write(good.read_bytes()[:64])
            f.truncate(3 << 30)
    links = {"symlink_good": good, "symlink_dangling": odd / "missing.tflite", "symlink_loop": odd / "loop.tflite"}
    for name, target in links.items():
        link = odd / f"{name}.tflite"
        if not link.is_symlink():
            link.symlink_to(target)
    fifo = odd / "fifo.tflite"
    if not fifo.exists():
        os.mkfifo(fifo)
    (odd / "a_folder.tflite").mkdir(exist_ok=True)
    found += [Mutant("file/sparse_3GB", huge, "refuse"), Mutant("file/symlink_to_good", odd / "symlink_good.tflite",
              "reference"), Mutant("file/symlink_dangling", odd / "symlink_dangling.tflite", "refuse"),
              Mutant("file/symlink_loop", odd / "symlink_loop.tflite", "refuse"),
              Mutant("file/fifo", fifo, "refuse"), Mutant("file/folder", odd / "a_folder.tflite", "refuse"),
              Mutant("file/missing", odd / "nope.tflite", "refuse"), Mutant("file/dev_zero", Path("/dev/zero"),
              "refuse"), Mutant("file/newline_in_name", _copy(good, odd / "new\nline.tflite"), "reference")]
    return found


def _copy(src: Path, dest: Path) -> Path:
    dest.write_bytes(src.read_bytes())
    return dest


def _judge_output(m: Mutant, r, y: np.ndarray | None, reference: np.ndarray, source: np.ndarray,
                  out_file: Path | None) -> tuple[str, str]:
    """Classify one run of mutant `m` (API: `y` is its array; CLI: `out_file` its image)."""
    bad = failure(r)
    if bad:
        return bad
    if m.expect == "refuse" or r.rc != 0:
        if m.expect != "refuse" and r.rc != 0:
            kind, why = clean_error(r)
            return ("ok", why) if m.expect == "any" and kind == "ok" else ("wrong", "refused a valid file: " + why)
        return clean_error(r)
    ref = source if m.name.startswith("foreign/identity") else reference
    if out_file is not None:
        problem = image_ok(out_file, ref if m.expect == "reference" else None)
        return ("wrong", problem) if problem else ("ok", "correct output")
    if y is None or not np.isfinite(y).all():
        return "wrong", "API result holds NaN or is missing"
    y = y.astype(np.float32) / (255.0 if y.dtype == np.uint8 else 1.0)
    if y.max() < 2 / 255:
        return "wrong", "API result is black"
    if m.expect == "reference" and np.abs(y - ref).max() > 4 / 255:
        return "wrong", f"API result differs from the reference by {np.abs(y - ref).max() * 255:.0f}/255"
    return "ok", "correct output"


def _one(m: Mutant, image: Path, reference: np.ndarray, source: np.ndarray, scratch: Path) -> Case:
    def check() -> tuple[str, str]:
        slot = scratch / m.name.replace("/", "__").replace("\n", "_")
        shutil.rmtree(slot, ignore_errors=True)
        slot.mkdir(parents=True)
        npy = slot / "api.npy"
        npy.unlink(missing_ok=True)
        r = run([sys.executable, "-c", _API, str(m.path), str(image), "1" if m.foreign else "0", str(npy)], 40)
        api = _judge_output(m, r, np.load(npy) if npy.exists() and r.rc == 0 else None, reference, source, None)
        flags = ["--allow-foreign"] if m.foreign else []
        c = cli("deblur", image, "-m", m.path, "-o", slot / "out", *flags, timeout=40)
        out_file = slot / "out" / image.name
        cmd = _judge_output(m, c, None, reference, source, out_file if out_file.exists() else None)
        if c.rc == 0 and not out_file.exists() and cmd[0] == "ok" and m.expect != "refuse":
            cmd = ("wrong", "exit 0 but no output file")
        worst = max((api, cmd), key=lambda kr: SEVERITY.get(kr[0], 4))
        which = "api" if worst is api else "cli"
        return worst[0], f"[{which}] {worst[1]}" if worst[0] != "ok" else f"api: {api[1]}; cli: {cmd[1]}"

    return timed(AREA, m.name, check)


def run_area(work: Path, workers: int = 2, only: set[str] | None = None) -> list[Case]:
    from PIL import Image

    from edge_deblur.runtime import Deblurrer

    (work / "img").mkdir(parents=True, exist_ok=True)
    image = work / "img" / "in.png"
    pixels = smooth_image(40, 52, seed=3)
    Image.fromarray(pixels).save(image)
    source = pixels.astype(np.float32) / 255.0
    mutants = [m for m in _mutants(work) if only is None or m.name in only]
    references = {p: Deblurrer(path)(pixels).astype(np.float32) / 255.0
                  for p, path in tiny_exports(work).items() if p != "keras"}
    scratch = work / "runs_tflite"
    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(_one, m, image, references["float16" if m.name.startswith("float16") else "int8"],
                               source, scratch) for m in mutants]
        return [f.result() for f in futures]
