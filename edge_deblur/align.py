"""Alignment of real blurred/sharp photo pairs (e.g. the kwentar Blur Dataset, whose shots are hand-held and
not pixel-aligned) into a paired folder that `scan_pairs` reads.

Per pair, the sharp photo is warped into the blurred photo's frame:

1. Both photos are read as RGB (grayscale/RGBA handled by `read_image`); a sharp photo of another size but the same
   aspect ratio is resized to the blurred photo's size. The blurred photo is the reference and is never resampled.
2. A homography is estimated on grayscale copies downscaled to `work_size` (long side) and Gaussian-smoothed (so
   the sharp copy looks about as soft as the defocused one): ECC (`cv2.findTransformECC`, MOTION_HOMOGRAPHY)
   coarse-to-fine over a small pyramid, started from the identity, from a phase-correlation shift (large hand-held
   offsets) and from SIFT matches + RANSAC; the result that correlates best wins.
3. The homography is scaled to full resolution; the crop is the largest axis-aligned rectangle inside the area the
   warped sharp photo covers, and the full-resolution sharp photo is warped once (bicubic) straight into it.
4. Exposure/colour: per channel gain and offset that match the mean and standard deviation of the warped sharp
   crop to the blurred one, measured on heavily low-passed copies (sigma 2% of the diagonal; gain kept in
   [0.5, 2]). Why not least squares or histogram matching: defocus removes contrast, so a least-squares fit of
   blurred on sharp, or matching the histograms, would shrink the sharp target's contrast toward the blurred one
   and teach a model to deliver flat images; low-passed copies of both photos are nearly free of the defocus, so
   their moments measure the exposure difference alone.
5. Both photos are cropped to that rectangle; the blurred pixels are not resampled.

A pair is rejected, with a reason, when it cannot be read, is tiny, the aspect ratios differ, ECC does not
converge, the homography is degenerate, the overlap is too small or the fitted images correlate poorly.
"""

from __future__ import annotations

import functools
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from edge_deblur.align_out import _check_out, _check_replaceable, _discard, _make_tmp, _replace_dir
from edge_deblur.errors import DataError, EdgeDeblurError
from edge_deblur.metrics import psnr, ssim
from edge_deblur.registration import (  # noqa: F401 (largest_rectangle: re-exported, part of align's API)
    AlignmentRejected, Alignment, AlignParams, _check_sizes, _resize_to, align_images, largest_rectangle,
)

ALIGN_DATASETS = ("kwentar", "pairs")
REJECT_REASONS = {
    "unreadable": "an image cannot be decoded",
    "tiny": "an image is smaller than --min-size",
    "aspect": "sharp and blurred aspect ratios differ",
    "no_convergence": "ECC did not converge from any start",
    "degenerate": "the homography flips, folds or rescales the image implausibly",
    "low_overlap": "the aligned region is smaller than --min-overlap of the frame",
    "low_corr": "the aligned images correlate less than --min-corr",
}
FIELDS = {
    "blurred_hw, sharp_hw": "image sizes as [height, width] (the sharp photo is resized to the blurred size first)",
    "start": "the ECC start that won: identity, shift (phase correlation) or features (SIFT + RANSAC)",
    "ecc": "zero-mean normalised correlation of the smoothed work-size copies over the valid region",
    "overlap": "crop area / blurred frame area",
    "crop": "[x, y, width, height] of the kept rectangle in the blurred frame",
    "gain, offset": "per-channel (R, G, B) colour fit applied to the warped sharp photo: gain * sharp + offset",
    "homography": "3x3, maps blurred pixel (x, y, 1) to sharp pixel coordinates (full resolution)",
}
METRIC_REGION = (
    "PSNR/SSIM (RGB, [0,1], native resolution of the blurred photo) of the blurred photo against the sharp one, "
    "both computed on the same crop rectangle: 'before' uses the sharp photo only resized to the blurred photo's "
    "size, 'after' the warped and colour-matched sharp photo. Rejected pairs report 'before' on the full frame."
)


@dataclass
class PairResult:
    """One row of the alignment report (JSON-ready); see `FIELDS` for the meaning of each field."""

    name: str
    sharp: str
    blurred: str
    accepted: bool
    reason: str | None = None
    detail: str = ""
    blurred_hw: tuple[int, int] | None = None
    sharp_hw: tuple[int, int] | None = None
    start: str | None = None
    ecc: float | None = None
    overlap: float | None = None
    crop: tuple[int, int, int, int] | None = None
    psnr_before: float | None = None
    ssim_before: float | None = None
    psnr_after: float | None = None
    ssim_after: float | None = None
    gain: list[float] | None = None
    offset: list[float] | None = None
    homography: list[list[float]] | None = None
    seconds: float = 0.0


@dataclass
class AlignReport:
    """What `align_dataset` did: one `PairResult` per pair, the unpaired files, the settings."""

    pairs: list[PairResult]
    params: AlignParams
    data: str
    out: str
    dataset: str
    blur: str
    unpaired: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def accepted(self) -> list[PairResult]:
        return [p for p in self.pairs if p.accepted]

    def mean(self, key: str) -> float | None:
        """Mean of a metric (e.g. 'psnr_after') over the accepted pairs; None when none was accepted."""
        vals = [getattr(p, key) for p in self.accepted]
        return float(np.mean(vals)) if vals else None

    def summary(self) -> str:
        """One line: accepted count and mean PSNR before/after over the accepted pairs."""
        text = f"accepted {len(self.accepted)}/{len(self.pairs)} pairs"
        if self.accepted:
            b, a = self.mean("psnr_before"), self.mean("psnr_after")
            text += f"; mean PSNR over accepted {b:.2f} -> {a:.2f} dB ({a - b:+.2f} dB)"
        return text

    def to_dict(self) -> dict:
        """JSON-ready dict: parameters, how metrics are computed, summary means, per-pair rows, unpaired files."""
        return {
            "tool": "edge-deblur data align",
            "data": self.data,
            "dataset": self.dataset,
            "blur": self.blur,
            "out": self.out,
            "params": asdict(self.params),
            "metric_region": METRIC_REGION,
            "reject_reasons": REJECT_REASONS,
            "fields": FIELDS,
            "summary": {
                "pairs": len(self.pairs),
                "accepted": len(self.accepted),
                "rejected": len(self.pairs) - len(self.accepted),
                "unpaired": len(self.unpaired),
                **{f"mean_{k}": _r(self.mean(k)) for k in ("psnr_before", "psnr_after", "ssim_before", "ssim_after")},
                "seconds": round(self.seconds, 2),
            },
            "pairs": [asdict(p) for p in self.pairs],
            "unpaired": self.unpaired,
        }


# --- one pair, a folder of pairs --------------------------------------------------------------------------------


def _pair_name(pair, dataset: str) -> str:
    """Output stem: the kwentar key without its blur tag ('0_IPHONE-SE'), or the paired file's stem."""
    stem = Path(pair.blurred).stem
    if dataset == "kwentar" and len(stem) > 2 and stem[-2] == "_":
        return stem[:-2]
    return stem


def _r(x, nd: int = 4):
    return None if x is None else round(float(x), nd)


def align_pair_files(sharp: str | os.PathLike, blurred: str | os.PathLike, name: str, params: AlignParams
                     ) -> tuple[PairResult, Alignment | None]:
    """Read, align and measure one pair of files. Never raises for a bad pair: the result says why it was rejected.

    Returns:
        (the report row, the `Alignment` when accepted else None).
    """
    from edge_deblur.images import read_image

    t0 = time.perf_counter()
    row = PairResult(name=name, sharp=str(sharp), blurred=str(blurred), accepted=False)
    try:
        try:
            s_img, b_img = read_image(sharp), read_image(blurred)
        except EdgeDeblurError as e:
            raise AlignmentRejected("unreadable", str(e)) from None
        row.sharp_hw, row.blurred_hw = list(s_img.shape[:2]), list(b_img.shape[:2])
        _check_sizes(s_img.shape[:2], b_img.shape[:2], params)
        s_img = _resize_to(s_img, b_img.shape[:2])
        try:
            al = align_images(s_img, b_img, params)
        except AlignmentRejected:
            row.psnr_before, row.ssim_before = _r(psnr(b_img, s_img), 3), _r(ssim(b_img, s_img))
            raise
    except AlignmentRejected as e:
        row.reason, row.detail = e.reason, e.detail
        row.seconds = _r(time.perf_counter() - t0, 2)
        return row, None
    row.accepted = True
    row.start, row.ecc, row.overlap, row.crop = al.start, _r(al.corr), _r(al.overlap, 3), list(al.crop)
    for when, ref in (("before", al.sharp_resized), ("after", al.sharp)):
        setattr(row, f"psnr_{when}", _r(psnr(al.blurred, ref), 3))
        setattr(row, f"ssim_{when}", _r(ssim(al.blurred, ref)))
    row.gain, row.offset = [_r(g) for g in al.gain], [_r(o) for o in al.offset]
    row.homography = [[float(v) for v in r] for r in al.homography]
    row.seconds = _r(time.perf_counter() - t0, 2)
    return row, al


def _check_options(dataset: str, limit: int | None, workers: int) -> None:
    """Refuse an unknown dataset, a limit below 1 or a negative worker count before anything is read."""
    if dataset not in ALIGN_DATASETS:
        raise DataError(f"--dataset must be one of {', '.join(ALIGN_DATASETS)} for alignment, got '{dataset}'")
    if limit is not None and limit < 1:
        raise DataError(f"--limit must be at least 1, got {limit}")
    if workers < 0:
        raise DataError(f"--workers must be 0 (automatic) or more, got {workers}")


def _align_and_write(pair, dataset: str, params: AlignParams, tmp: Path, previews: bool) -> PairResult:
    """Align one pair and, when accepted, write its crops (and preview) into `tmp`; the report row either way."""
    from edge_deblur.align_view import preview_image
    from edge_deblur.images import write_image

    name = _pair_name(pair, dataset)
    row, al = align_pair_files(pair.sharp, pair.blurred, name, params)
    if al is not None:
        write_image(tmp / "blurred" / f"{name}.png", al.blurred)
        write_image(tmp / "sharp" / f"{name}.png", al.sharp)
        if previews:
            write_image(tmp / "previews" / f"{name}.jpg", preview_image(al, row), quality=90)
    return row


def _map_pairs(one: Callable, pairs: list, workers: int, track: Callable | None) -> list[PairResult]:
    """`one` over `pairs`, through `track` when given; threads, as OpenCV, numpy and the PNG encoder release the GIL,
    and `map`, as it keeps the pairs' order."""
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        results = pool.map(one, pairs) if workers > 1 else map(one, pairs)
        return list(track(results, total=len(pairs)) if track else results)
    finally:  # on Ctrl-C or an error: drop queued pairs, let running ones finish before tmp is removed
        pool.shutdown(wait=True, cancel_futures=True)


def _publish(report: AlignReport, tmp: Path, out: Path, overwrite: bool) -> None:
    """Write `report.json` into `tmp` and move `tmp` onto `out`; refuse when no pair was accepted (nothing written),
    or when files appeared in `out` during the run that it may not replace."""
    from edge_deblur._io import write_json

    if not report.accepted:
        reasons = sorted({r.reason for r in report.pairs})
        raise DataError(f"{report.data}: none of {len(report.pairs)} pairs could be aligned "
                        f"(rejected: {', '.join(reasons)}); nothing written")
    write_json(tmp / "report.json", report.to_dict())
    if out.is_dir() and any(out.iterdir()):  # checked before the run too; this catches files added meanwhile
        if not overwrite:
            raise DataError(f"--out {out} was filled by something else during the run; nothing written")
        _check_replaceable(out)
    _replace_dir(tmp, out)


def align_dataset(
    data: str | os.PathLike,
    out: str | os.PathLike,
    dataset: str = "kwentar",
    blur: str = "defocus",
    params: AlignParams | None = None,
    overwrite: bool = False,
    limit: int | None = None,
    previews: bool = False,
    workers: int = 0,
    track: Callable | None = None,
) -> AlignReport:
    """Align every pair of a kwentar (or paired) folder and write the accepted ones as a paired folder.

    `out` receives `blurred/NAME.png`, `sharp/NAME.png` (cropped, aligned, readable by `data.scan_pairs`),
    `report.json`, and with `previews` a `previews/NAME.jpg` red-cyan overlay (before | after) per accepted pair.
    Everything is written into a temporary sibling folder that is renamed onto `out` at the end, so an
    interrupted or failed run leaves no `out` behind (and an existing `out` untouched).

    Args:
        data: the input folder.
        out: the output folder; must not exist or be empty unless `overwrite`, and must lie outside the input
            data (and every folder holding an input file) and not contain it.
        dataset: 'kwentar' (sharp/ + defocused_blurred/ or motion_blurred/) or 'pairs' (sharp/ + blurred/).
        blur: kwentar blur kind, 'defocus' or 'motion'.
        params: alignment settings; `AlignParams()` when None.
        overwrite: replace a non-empty `out`, if it holds only an earlier `align_dataset` result (its
            report.json, blurred/, sharp/, previews/ with the files of that report's accepted pairs).
        limit: align only the first `limit` pairs.
        previews: also write preview overlays.
        workers: pairs aligned at once (threads); 0 = min(4, CPU count). Each holds a few full-size images.
        track: wraps the iterator of finished pairs for progress display, e.g. `rich.progress.track`; called as
            `track(results, total=n)` and must yield what it is given.

    Returns:
        The `AlignReport` (also written to `out/report.json`).

    Raises:
        DataError: bad folder layout, unknown dataset, no pair could be aligned, or an unusable `out` (inside,
            or holding, the input data; not empty without `overwrite`; holding files other than an earlier
            result with it); nothing is written or deleted.

    Example:
        >>> report = align_dataset("shared/data/kwentar", "runs/kwentar_aligned")  # doctest: +SKIP
        >>> report.summary()
    """
    from edge_deblur.data import scan_kwentar, scan_pairs

    t0 = time.perf_counter()
    params = params or AlignParams()
    _check_options(dataset, limit, workers)
    data, out = Path(data), Path(out)
    scan = scan_kwentar(data, blur) if dataset == "kwentar" else scan_pairs(data)
    _check_out(out, data, overwrite, [p for pair in scan.pairs for p in (pair.sharp, pair.blurred)] + scan.unpaired)
    pairs = scan.pairs[:limit] if limit else scan.pairs

    tmp, created = _make_tmp(out)
    one = functools.partial(_align_and_write, dataset=dataset, params=params, tmp=tmp, previews=previews)
    try:
        rows = _map_pairs(one, pairs, workers or min(4, os.cpu_count() or 1), track)
        report = AlignReport(pairs=rows, params=params, data=str(data), out=str(out), dataset=dataset, blur=blur,
                             unpaired=[str(p) for p in scan.unpaired], seconds=time.perf_counter() - t0)
        _publish(report, tmp, out, overwrite)
    except BaseException:
        _discard(tmp, created)
        raise
    return report
