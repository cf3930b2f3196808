"""How an alignment run looks to a person: red-cyan overlays of a pair before and after alignment (the preview
PNGs of `data align --previews`) and the report as a terminal table."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from edge_deblur.align import AlignReport, PairResult
    from edge_deblur.registration import Alignment


def red_cyan(blurred: np.ndarray, sharp: np.ndarray) -> np.ndarray:
    """Overlay for eyeballing alignment: blurred luma in red, sharp luma in green and blue (aligned = gray)."""
    import cv2

    b = cv2.cvtColor(np.ascontiguousarray(blurred, dtype=np.float32), cv2.COLOR_RGB2GRAY)
    s = cv2.cvtColor(np.ascontiguousarray(sharp, dtype=np.float32), cv2.COLOR_RGB2GRAY)
    return np.stack([b, s, s], axis=-1)


def preview_image(al: Alignment, row: PairResult | None = None, width: int = 1200) -> np.ndarray:
    """Side by side red-cyan overlays of the blurred photo with the sharp one before and after alignment.

    Red/cyan fringes show misalignment; an aligned pair looks gray. With `row`, each half is labelled with its PSNR.

    Returns:
        uint8 HxWx3 image of about `width` px wide.
    """
    import cv2

    from edge_deblur.images import to_uint8

    halves = [red_cyan(al.blurred, al.sharp_resized), red_cyan(al.blurred, al.sharp)]
    f = min(1.0, (width / 2) / al.blurred.shape[1])
    halves = [to_uint8(cv2.resize(h, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if f < 1 else h) for h in halves]
    if row is not None:  # a black caption bar above each half
        labels = [f"before: {row.psnr_before:.2f} dB", f"after: {row.psnr_after:.2f} dB, ECC {row.ecc:.3f}"]
        bar = np.zeros((22, halves[0].shape[1], 3), np.uint8)
        halves = [np.concatenate([bar.copy(), h], axis=0) for h in halves]
        for h, text in zip(halves, labels):
            cv2.putText(h, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    gap = np.full((halves[0].shape[0], 6, 3), 255, np.uint8)
    return np.concatenate([halves[0], gap, halves[1]], axis=1)


def report_table(report: AlignReport):
    """The report as a `rich.table.Table`: one row per pair, the accept count and mean PSNR/SSIM in the footer, and
    below it a numbered note per rejected pair saying why (its `detail`, input paths shortened to file names)."""
    from rich.table import Table
    from rich.text import Text

    acc = report.accepted
    fmt = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
    mb, ma = report.mean("psnr_before"), report.mean("psnr_after")
    notes = [_note(r) for r in report.pairs if not r.accepted]
    caption = Text("\n".join(f"({i}) {n}" for i, n in enumerate(notes, 1))) if notes else None
    table = Table(title=f"data align: {report.data} ({report.dataset}, {report.blur})", show_footer=True,
                  caption=caption, caption_justify="left", caption_style="none")
    # on a narrow terminal only the pair and result columns give way (report.json has the full names)
    table.add_column("pair", footer=f"{len(acc)}/{len(report.pairs)} ok", overflow="ellipsis")
    for head, key, spec in (("PSNR\nbefore", "psnr_before", ".2f"), ("PSNR\nafter", "psnr_after", ".2f"),
                            ("SSIM\nbefore", "ssim_before", ".3f"), ("SSIM\nafter", "ssim_after", ".3f")):
        table.add_column(head, justify="right", no_wrap=True, min_width=6, footer=fmt(report.mean(key), spec))
    table.add_column("ECC", justify="right", no_wrap=True, min_width=5)
    table.add_column("kept", justify="right", no_wrap=True, min_width=4)
    gain = "" if mb is None else f"mean {ma - mb:+.2f} dB"
    table.add_column("accepted /\nrejected", footer=gain, overflow="fold")
    rejected = 0
    for r in report.pairs:
        kept = "-" if r.overlap is None else f"{100 * r.overlap:.0f}%"
        if r.accepted:
            result = Text("ok", style="green")
        else:
            rejected += 1
            result = Text(f"{r.reason} ({rejected})", style="red")
        table.add_row(Text(r.name), fmt(r.psnr_before, ".2f"), fmt(r.psnr_after, ".2f"), fmt(r.ssim_before, ".3f"),
                      fmt(r.ssim_after, ".3f"), fmt(r.ecc, ".3f"), kept, result)
    return table


def _note(row: PairResult) -> str:
    """Why a pair was rejected, for the table: its detail (or the reason's meaning) with file names, not paths, and
    the pair's name where the detail does not hold it."""
    from pathlib import Path

    from edge_deblur.align import REJECT_REASONS

    text = row.detail or REJECT_REASONS.get(row.reason or "", row.reason or "")
    for path in sorted({row.sharp, row.blurred}, key=len, reverse=True):
        text = text.replace(path, Path(path).name)
    return text if row.name in text else f"{row.name}: {text}"
