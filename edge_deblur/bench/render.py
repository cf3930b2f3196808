"""Rendering of bench results: the terminal table (rich), markdown, CSV and the speed-vs-quality plot. Results are
data (`edge_deblur.bench.results`); nothing here measures anything."""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Any

from edge_deblur.bench.results import COLUMNS, REFERENCE_KINDS, BenchResult, Row

_TABLE_HEAD = ("variant", "MB", "PSNR", "SSIM", "dPSNR", "dSSIM", "PSNR vs Keras", "ms", "p90 ms", "first ms",
               "FPS", "GFLOP", "GFLOP/s", "pre/post ms", "thr", "backend")


def _fmt(x: float | None, digits: int = 2) -> str:
    """Format a number for a table; None as '-'."""
    if x is None:
        return "-"
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return f"{x:.{digits}f}"


def _fmt_pair(d: dict | None) -> str:
    """'PSNR / SSIM' from a per-radius entry."""
    return "-" if not d else f"{d['psnr']:.2f} / {d['ssim']:.4f}"


def _table_cells(r: Row) -> list[str]:
    """The cells of one table row, in `_TABLE_HEAD` order."""
    ms = 3 if r.latency_ms < 10 else 1
    return [r.name, _fmt(r.size_mb, 3), _fmt(r.psnr), _fmt(r.ssim, 4), _fmt(r.d_psnr), _fmt(r.d_ssim, 4),
            _fmt(r.psnr_vs_keras), _fmt(r.latency_ms, ms), _fmt(r.latency_p90_ms, ms), _fmt(r.first_run_ms, 1),
            _fmt(r.fps, 1), _fmt(r.gflop, 3), _fmt(r.gflops_per_s, 1), f"{r.pre_ms:.2f}/{r.post_ms:.2f}",
            str(r.threads), r.backend]


def _csv_cell(v: Any) -> str:
    """CSV text of a value (None as empty)."""
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(round(v, 6))
    return str(v)



def csv_text(result: BenchResult) -> str:
    """One CSV line per row: the flat columns, then psnr_rN/ssim_rN per radius."""
    flat = [c for c in COLUMNS if c != "per_radius"]
    extra = [f"{m}_{k}" for k in result.radii() for m in ("psnr", "ssim")]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(flat + extra)
    for r in result.rows:
        d = r.to_dict()
        vals = [_csv_cell(d[c]) for c in flat]
        vals += [_csv_cell(r.per_radius.get(k, {}).get(m)) for k in result.radii() for m in ("psnr", "ssim")]
        w.writerow(vals)
    return buf.getvalue()


def header_lines(result: BenchResult) -> list[str]:
    """Human-readable header: machine, versions, model, data, timing set-up."""
    h = result.header
    m, t = h["machine"], h["timing"]
    versions = ", ".join(f"{k} {v}" for k, v in h["versions"].items())
    lines = [
        f"machine: {m['cpu']} ({m['cores']} logical cores), {m['platform']}",
        f"versions: {versions}",
        f"model: {h['model']['description']}",
        f"data: {h['data']['description']}",
        f"timing: {t['size'][0]}x{t['size'][1]} frames, {t['warmup']} warm-up + {t['runs']} timed runs per "
        f"variant, interleaved round-robin; inference only (pre/post apart); measured {h['date']}",
    ]
    return lines


def markdown(result: BenchResult) -> str:
    """A markdown report: header lines, the main table, per-radius means and notes."""
    out = [f"## edge-deblur bench: {result.header['model']['name']}", ""]
    out += [f"- {line}" for line in header_lines(result)]
    out += ["", "| " + " | ".join(_TABLE_HEAD) + " |", "|" + "|".join("---" for _ in _TABLE_HEAD) + "|"]
    out += ["| " + " | ".join(_table_cells(r)) + " |" for r in result.rows]
    radii = result.radii()
    if radii:
        head = ["variant"] + [f"{k[1:]} px PSNR / SSIM" for k in radii]
        out += ["", "Mean per blur radius:", "", "| " + " | ".join(head) + " |",
                "|" + "|".join("---" for _ in head) + "|"]
        for r in result.rows:
            cells = [r.name] + [_fmt_pair(r.per_radius.get(k)) for k in radii]
            out.append("| " + " | ".join(cells) + " |")
    notes = result.header.get("notes", []) + [r.note for r in result.rows if r.note]
    if notes:
        out += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    return "\n".join(out) + "\n"


_COMPACT_HEAD = ("variant", "MB", "PSNR", "SSIM", "dPSNR", "ms", "FPS")  # what a person compares, in 100 columns


def _compact_cells(r: Row) -> list[str]:
    """The cells of one row of the default terminal table, in `_COMPACT_HEAD` order."""
    ms = 3 if r.latency_ms < 10 else 1
    return [r.name, _fmt(r.size_mb, 3), _fmt(r.psnr), _fmt(r.ssim, 4), _fmt(r.d_psnr), _fmt(r.latency_ms, ms),
            _fmt(r.fps, 1)]


def rich_table(result: BenchResult, wide: bool = False):
    """The result as a `rich.table.Table`, the header lines as its caption.

    Args:
        result: what a bench run measured.
        wide: every column (as in the markdown report); default: the columns a person compares (variant, size,
            PSNR, SSIM, change vs Keras, latency, FPS), which fit a 100-column terminal.

    Returns:
        The table; numbers are never wrapped or cut (only the variant name may fold onto a second line).
    """
    from rich.table import Table

    head, cells = (_TABLE_HEAD, _table_cells) if wide else (_COMPACT_HEAD, _compact_cells)
    caption = header_lines(result)
    if not wide:
        caption.append("dPSNR: the row's PSNR minus the Keras model's; ms: median inference per frame; "
                       "--wide or --json/--csv/--markdown for every column.")
    table = Table(title=f"edge-deblur bench: {result.header['model']['name']}", caption="\n".join(caption),
                  caption_justify="left")
    for i, col in enumerate(head):
        if i == 0 or col == "backend":
            table.add_column(col, justify="left", overflow="fold")
        else:  # a narrow terminal must never turn a number into "26.\n80" or "12.…"
            table.add_column(col, justify="right", no_wrap=True)
    for r in result.rows:
        table.add_row(*cells(r))
    return table


def plot(result: BenchResult, path: str | os.PathLike) -> Path:
    """Latency (log scale) against PSNR for every row, written atomically (format from the suffix)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edge_deblur._io import atomic_path

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for i, r in enumerate(result.rows):
        x = max(r.latency_ms, 1e-3)
        ax.scatter([x], [r.psnr], s=40, marker="s" if r.kind in REFERENCE_KINDS else "o")
        # stagger labels vertically: exported variants often sit on top of each other
        ax.annotate(r.name, (x, r.psnr), textcoords="offset points", xytext=(5, 4 - 11 * (i % 3)), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel(f"latency per {result.header['timing']['size'][0]}x{result.header['timing']['size'][1]} "
                  "frame, median ms (log)")
    ax.set_ylabel("PSNR, dB (higher is better)")
    ax.set_title(f"{result.header['model']['name']} on {result.header['data']['name']}: speed vs quality",
                 fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=Path(path).suffix.lstrip(".").lower() or "png")
    plt.close(fig)
    return Path(path)
