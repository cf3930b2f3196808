"""Area 4: Ctrl-C (SIGINT to the process group) at random times to `train`, `export` and `deblur` on a folder;
then what was left on disk is checked, and `train --resume` / a second `deblur` must finish."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.campaign.common import Case, Run, cli, env, failure, image_ok, repo_root, timed
from benchmarks.campaign.fixtures import photos, smooth_image, tiny_exports

AREA = "interrupts"
TRAIN = ["--model", "tiny", "--epochs", "5", "--size", "32", "--batch-size", "2", "--steps-per-epoch", "3"]


def _interrupt(args: list, after: float, second: float | None = None, grace: float = 20,
               wait_for: Path | None = None) -> tuple[Run, float]:
    """Start `python -m edge_deblur ARGS`, SIGINT it after `after` s (counted from when `wait_for` appears, if
    given; again `second` s later); (run, seconds from the first SIGINT to exit). rc None: still alive `grace` s
    after the last signal (killed)."""
    p = subprocess.Popen([sys.executable, "-m", "edge_deblur", *map(str, args)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env(), cwd=repo_root(), start_new_session=True)
    deadline = time.monotonic() + 300
    while wait_for is not None and not wait_for.exists() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(after)
    t0 = time.monotonic()
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGINT)
        if second is not None:
            time.sleep(second)
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGINT)
    try:
        out, err = p.communicate(timeout=grace)
        return Run(p.returncode, out, err, after), time.monotonic() - t0
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        return Run(None, out, err, after), time.monotonic() - t0


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if p.is_file() and (".tmp" in p.name or p.name.startswith(".")
                                                                   or "partial" in p.name)]


def _interrupted(r: Run, took: float, limit: float, out: Path) -> tuple[str, str] | None:
    """What went wrong with a Ctrl-C'd run: a hang, a slow exit, a traceback, or partial files in `out`. Ending
    by the SIGINT itself (exit -2, e.g. when it lands during interpreter shutdown) is how Ctrl-C ends a Unix
    program, not a crash; the files left are still checked."""
    bad = failure(r) if r.rc != -signal.SIGINT else None
    if bad and bad[0] == "hang":
        return "hang", f"still running {took:.0f} s after Ctrl-C"
    if bad:
        return bad
    if took > limit:
        return "hang", f"exit took {took:.1f} s after Ctrl-C (> {limit} s)"
    left = _leftovers(out) if out.is_dir() else []
    return ("wrong", f"partial files left: {left}") if left else None


def _train_case(data: Path, out: Path, after: float, second: float | None, resume: bool) -> tuple[str, str]:
    shutil.rmtree(out, ignore_errors=True)
    # resume cases: Ctrl-C `after` s into the run's first checkpoint, so there is something to resume
    r, took = _interrupt(["train", "--data", data, *TRAIN, "--out", out], after / 20 if resume else after, second,
                         wait_for=out / "last.keras" if resume else None)
    bad = _interrupted(r, took, 2.5 if second is not None else 10, out)
    if bad:
        return bad
    if r.rc not in (0, 130, -2):
        return "wrong", f"exit {r.rc} after Ctrl-C"
    if not resume:
        return "ok", f"exit {r.rc} {took:.1f} s after Ctrl-C"
    if r.rc == 0:
        return "ok", f"finished before the Ctrl-C ({after / 20:.1f} s after its first checkpoint)"
    if not (out / "last.keras").is_file():
        return "ok", f"exit {r.rc} {took:.1f} s after Ctrl-C, before the first epoch (nothing to resume)"
    again = cli("train", "--data", data, *TRAIN, "--out", out, "--resume", timeout=300)
    bad = failure(again)
    if bad:
        return bad[0], "--resume: " + bad[1]
    if again.rc != 0 or not (out / "model.keras").is_file() or not (out / "card.json").is_file():
        return "wrong", f"--resume did not finish: exit {again.rc}: {again.err.strip()[-150:]}"
    return "ok", f"exit {r.rc} {took:.1f} s after Ctrl-C; --resume finished"


def _export_case(keras: Path, data: Path, out: Path, after: float) -> tuple[str, str]:
    shutil.rmtree(out, ignore_errors=True)
    r, took = _interrupt(["export", keras, "-q", "float16", "-q", "int8", "--data", data, "--size", "32",
                          "--calibration-samples", "16", "--verify-images", "1", "--out", out], after)
    bad = _interrupted(r, took, 10, out)
    if bad:
        return bad
    manifest = out / "manifest.json"
    if manifest.is_file():
        doc = json.loads(manifest.read_text())
        missing = [e.get("path") for e in doc.get("files", []) if not (out / e.get("path", "?")).is_file()]
        if missing:
            return "wrong", f"manifest lists missing files {missing}"
    for f in out.glob("*.tflite"):
        check = subprocess.run([sys.executable, "-c", "import sys; from edge_deblur.runtime import read_metadata; "
                                "read_metadata(sys.argv[1])", str(f)], env=env(), capture_output=True, text=True)
        if check.returncode != 0:
            return "wrong", f"{f.name} left after Ctrl-C does not load: {check.stderr.strip()[-120:]}"
    return "ok", f"exit {r.rc} {took:.1f} s after Ctrl-C; {len(list(out.glob('*.tflite')))} files, manifest sound"


def _deblur_case(model: Path, folder: Path, out: Path, after: float) -> tuple[str, str]:
    shutil.rmtree(out, ignore_errors=True)
    r, took = _interrupt(["deblur", folder, "-m", model, "-o", out], after)
    bad = _interrupted(r, took, 5, out)
    if bad:
        return bad
    done = sorted(out.glob("*.png")) if out.is_dir() else []
    for p in done:
        problem = image_ok(p)
        if problem:
            return "wrong", f"after Ctrl-C: {problem}"
    again = cli("deblur", folder, "-m", model, "-o", out, timeout=300)
    bad = failure(again)
    if bad or again.rc != 0 or len(list(out.glob("*.png"))) != len(list(folder.glob("*.png"))):
        return (bad or ("wrong", f"rerun exit {again.rc}"))[0], "rerun after Ctrl-C: " + \
            (bad[1] if bad else f"exit {again.rc}, {len(list(out.glob('*.png')))} files")
    return "ok", f"exit {r.rc} {took:.1f} s after Ctrl-C with {len(done)} complete files; rerun finished"


def run_area(work: Path, workers: int = 2, only: set[str] | None = None) -> list[Case]:
    rng = random.Random(4)
    data = photos(work / "photos")
    files = tiny_exports(work)
    folder = work / "interrupt_photos"
    folder.mkdir(exist_ok=True)
    for k in range(24):
        if not (folder / f"{k:02d}.png").exists():
            Image.fromarray(smooth_image(256, 320, k)).save(folder / f"{k:02d}.png")
    d = work / "runs_interrupts"
    jobs = []
    for k in range(14):
        jobs.append((f"train/ctrl-c_{k}" + ("_then_resume" if k % 2 == 0 else ""), _train_case,
                     (data, d / f"t{k}", rng.uniform(2, 40), None, k % 2 == 0)))
    for k in range(4):
        jobs.append((f"train/double_ctrl-c_{k}", _train_case, (data, d / f"tt{k}", rng.uniform(4, 30), 0.5, False)))
    for k in range(8):
        jobs.append((f"export/ctrl-c_{k}", _export_case, (files["keras"], data, d / f"e{k}", rng.uniform(2, 40))))
    for k in range(8):
        jobs.append((f"deblur/ctrl-c_{k}", _deblur_case, (files["int8"], folder, d / f"d{k}", rng.uniform(0.8, 6))))
    jobs = [j for j in jobs if only is None or j[0] in only]

    def one(job) -> Case:
        name, fn, args = job
        at = args[2] if fn is _train_case else args[-1]
        return timed(AREA, f"{name} (Ctrl-C at {at:.1f} s)", lambda: fn(*args))

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, jobs))
