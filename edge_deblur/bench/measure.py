"""Scoring and timing the variants of a bench run: PSNR/SSIM pair by pair (at the processing scale, passes and
views asked for), interleaved latency runs, their aggregation into table rows, and the progress bar."""

from __future__ import annotations

import math
import statistics
from typing import Sequence

import numpy as np

from edge_deblur.bench.results import REFERENCE_KINDS, Row
from edge_deblur.bench.runners import _Runner
from edge_deblur.bench.sets import EvalSet
from edge_deblur.errors import ImageError, ModelError


def _mean(xs: Sequence[float]) -> float:
    """Mean of a non-empty list."""
    return float(sum(xs) / len(xs))


class _Steps:
    """The progress bar of a run (or nothing): one task, advanced step by step."""

    def __init__(self, bar) -> None:
        self.bar, self.task = bar, None

    def start(self, total: int) -> None:
        """Create the task with `total` steps."""
        if self.bar is not None:
            self.task = self.bar.add_task("exporting", total=total)

    def describe(self, desc: str) -> None:
        """Change the task's description without advancing."""
        if self.bar is not None:
            self.bar.update(self.task, description=desc)

    def step(self, desc: str | None = None) -> None:
        """Advance one step (and change the description when given)."""
        if self.bar is not None:
            self.bar.update(self.task, advance=1, **({"description": desc} if desc else {}))


def _measure_quality(runners: list[_Runner], eval_set: EvalSet, steps: _Steps, scale: float | str | None = None,
                     passes: int = 1, views: int = 1) -> dict[int, dict[str, list]]:
    """PSNR/SSIM of every variant on the same pair, pair by pair; also each output's PSNR against Keras'.

    With `scale` ('auto' or a number), 2 `passes` or `views` > 1, the models (not identity or classical rows)
    restore each image through `edge_deblur.multiscale.restore_scaled`, as `deblur` runs photos: at that processing
    scale, their correction enlarged back, with the coarse second pass when asked, flat areas left alone; and
    they score the 8-bit image `deblur` writes (rounded; a float result scores ~0.0006 SSIM higher on phone shots).
    Their PSNR against Keras compares the unrounded outputs. With `views` > 1 every model call averages that many
    symmetries of its image (`edge_deblur.views.averaged`), in both passes.
    """
    from edge_deblur.images import to_float, to_uint8
    from edge_deblur.metrics import psnr, ssim
    from edge_deblur.multiscale import resolve_scale, restore_scaled
    from edge_deblur.views import averaged

    scores = {id(r): {"psnr": [], "ssim": [], "vs_keras": [], "radius": []} for r in runners}
    keras_runner = next(r for r in runners if r.kind == "keras")
    as_deblur = not (scale is None and passes == 1 and views == 1)

    def run(r: _Runner, pair) -> np.ndarray:
        if r.kind in REFERENCE_KINDS:
            return r.restore(pair.blurred, pair.radius)
        restore = averaged(lambda x: r.restore(x, pair.radius), views)
        if not as_deblur:  # the model alone
            return restore(pair.blurred)
        try:
            return restore_scaled(pair.blurred, restore, resolve_scale(scale, *pair.blurred.shape[:2]), passes)
        except ImageError as e:
            raise ImageError(f"{pair.name}: {e}") from None

    for pair in eval_set:
        steps.describe(f"quality {pair.name}")
        ref = run(keras_runner, pair)
        for r in runners:
            out = ref if r is keras_runner else run(r, pair)
            if out.shape != pair.sharp.shape:
                raise ModelError(f"{r.name}: output shape {out.shape} differs from the image {pair.sharp.shape}")
            s = scores[id(r)]
            scored = to_float(to_uint8(out)) if as_deblur and r.kind not in REFERENCE_KINDS else out
            s["psnr"].append(psnr(scored, pair.sharp))
            s["ssim"].append(ssim(scored, pair.sharp))
            s["vs_keras"].append(None if r is keras_runner else psnr(out, ref))
            s["radius"].append(pair.radius)
        steps.step()
    return scores


def _measure_latency(runners: list[_Runner], tile: np.ndarray, radius: float | None, runs: int, warmup: int,
                     steps: _Steps) -> tuple[dict[int, list], dict[int, float]]:
    """First run, warm-up, then `runs` timed runs interleaved round-robin over the variants."""
    times = {id(r): [] for r in runners}
    first_ms = {}
    for r in runners:
        r.prepare(tile, radius)
        first_ms[id(r)] = sum(r.time_once()) * 1e3
        steps.step(f"first run {r.name}")
    for _ in range(warmup):
        for r in runners:
            r.time_once()
            steps.step(f"warm-up {r.name}")
    for i in range(runs):
        for r in runners:
            times[id(r)].append(r.time_once())
            steps.step(f"timed run {i + 1}/{runs}")
    return times, first_ms


def _progress(console):
    """A rich progress bar on stderr (transient: it disappears when done)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description:<32}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console or Console(stderr=True), transient=True)


def _row(r: _Runner, s: dict, t: list[tuple[float, float, float]], first_ms: float) -> Row:
    """Aggregate one runner's quality scores and timings into a Row."""
    infer = sorted(x[1] * 1e3 for x in t)
    med = statistics.median(infer)
    p90 = infer[min(len(infer) - 1, math.ceil(0.9 * len(infer)) - 1)]
    per_radius = {}
    for rad in sorted({x for x in s["radius"] if x is not None}):
        idx = [i for i, x in enumerate(s["radius"]) if x == rad]
        per_radius[f"r{rad:g}"] = {"psnr": _mean([s["psnr"][i] for i in idx]),
                                   "ssim": _mean([s["ssim"][i] for i in idx]), "pairs": len(idx)}
    vs = [x for x in s["vs_keras"] if x is not None]
    # identical outputs give an infinite PSNR; cap each pair at 100 dB so the mean stays a number
    vs_keras = _mean([min(x, 100.0) for x in vs]) if vs else None
    gflops_per_s = (r.gflop / (med / 1e3)) if (r.gflop is not None and med > 0) else (None if r.gflop is None else 0.0)
    return Row(
        name=r.name, kind=r.kind, precision=r.precision, backend=r.backend, threads=int(r.threads),
        size_mb=r.size_bytes / 1e6, psnr=_mean(s["psnr"]), ssim=_mean(s["ssim"]), d_psnr=0.0, d_ssim=0.0,
        psnr_vs_keras=vs_keras, latency_ms=med, latency_p90_ms=p90, first_run_ms=first_ms,
        fps=1e3 / med if med > 0 else float("inf"), gflop=r.gflop, gflops_per_s=gflops_per_s,
        pre_ms=statistics.median(x[0] * 1e3 for x in t), post_ms=statistics.median(x[2] * 1e3 for x in t),
        xnnpack=r.xnnpack, pairs=len(s["psnr"]), per_radius=per_radius, note=r.note,
    )
