"""Rendering of bench results: the terminal table (rich), markdown, CSV and the speed-vs-quality plot. Results are
data (`edge_deblur.bench.results`); nothing here measures anything."""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Any, Sequence

from edge_deblur._text import counted
from edge_deblur.bench.results import COLUMNS, BenchResult, Row

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
        *(f"{label}: {h['data'][key]}" for key, label in (("processing_scale", "processing scale"),
                                                          ("passes", "passes"), ("views", "views"))
          if key in h["data"]),
        f"timing: {t['size'][0]}x{t['size'][1]} frames, {t['warmup']} warm-up + {counted(t['runs'], 'timed run')} "
        f"per variant, interleaved round-robin; inference only (pre/post apart); measured {h['date']}",
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


_VARIANT_MARKERS = {"keras": "o", "tflite-float32": "s", "tflite-float16": "D", "tflite-int8": "^"}
_REFERENCE_MARKERS = {"classical": "X", "classical-blind": "P"}


def speed_quality(ax, runs: Sequence[tuple[str, Sequence[dict], bool]], frame: Sequence[int], data: str) -> None:
    """Draw latency (log) against PSNR gain over the blurred input on a matplotlib axis: one marker per variant,
    marker area for file size.

    Each run's PSNRs are taken relative to its own identity row (the blurred input scored on the same pairs), so
    runs scored on different subsets (the paper's net on a few pairs, the U-Nets on all) stay comparable; the
    legend names a run's pair count when the runs differ in it.

    Args:
        ax: the axis.
        runs: (model name, rows as dicts with the keys of `COLUMNS`, untrained) per bench run at this frame size.
            Untrained runs are left out (their quality means nothing).
        frame: (h, w) of the timed frame, for the x label.
        data: the data set's name, for the y label.
    """
    from matplotlib.lines import Line2D

    trained = [(m, rows) for m, rows, untrained in runs if not untrained]
    identities = {m: next((r for r in rows if r["kind"] == "identity"), None) for m, rows in trained}
    pair_counts = {r["pairs"] for r in identities.values() if r}
    colours: dict[str, str] = {}
    seen_refs: set = set()
    handles = []
    for model, rows in trained:
        colour = colours.setdefault(model, f"C{len(colours)}")
        ident = identities[model]
        base = ident["psnr"] if ident else 0.0
        for r in rows:
            if r["kind"] == "identity":
                continue
            key = (r["name"], r["pairs"], round(r["psnr"] - base, 3))
            if r["kind"] in _REFERENCE_MARKERS:
                if key not in seen_refs:
                    seen_refs.add(key)
                    ax.scatter(max(r["latency_ms"], 1e-3), r["psnr"] - base, marker=_REFERENCE_MARKERS[r["kind"]],
                               s=60, color="0.5", zorder=2)
                    handles.append(Line2D([], [], ls="", marker=_REFERENCE_MARKERS[r["kind"]], color="0.5",
                                          label=r["name"]))
            else:
                ax.scatter(max(r["latency_ms"], 1e-3), r["psnr"] - base, marker=_VARIANT_MARKERS.get(r["name"], "o"),
                           s=_area(r["size_mb"]), color=colour, alpha=0.75, edgecolors="black", linewidths=0.5,
                           zorder=3)
    ax.axhline(0.0, color="0.45", lw=1, ls="--", zorder=1)
    subsets = "; ".join(f"{r['pairs']} pairs: {r['psnr']:.2f} dB" for r in
                        {(r["pairs"], round(r["psnr"], 3)): r for r in identities.values() if r}.values())
    ax.annotate(f"identity (blurred input){f' ({subsets})' if subsets else ''}", (0.5, 0.0), ha="center",
                va="top", xycoords=("axes fraction", "data"), xytext=(0, -3), textcoords="offset points",
                fontsize=7, color="0.3")  # under the line, mid-axis: the fast models' points sit on it at the left
    handles = list({h.get_label(): h for h in handles}.values())
    variants = [Line2D([], [], ls="", marker=m, color="0.2", label=v) for v, m in _VARIANT_MARKERS.items()]
    models = [Line2D([], [], ls="", marker="o", color=c, label=m + (f" ({identities[m]['pairs']} pairs)" if
                                                                  len(pair_counts) > 1 and identities[m] else ""))
              for m, c in colours.items()]
    sizes = [ax.scatter([], [], s=_area(mb), color="white", edgecolors="black", label=f"{mb:g} MB")
             for mb in (0.5, 1.5, 3.0)]
    ax.legend(handles=models + variants + handles + sizes, fontsize=7, loc="upper center", ncol=4,
              bbox_to_anchor=(0.5, -0.13), title="colour: model; shape: variant; area: file size", title_fontsize=7,
              frameon=False)  # below the axes: it never hides a point
    if trained:  # an untrained run alone plots nothing, and a log axis of no data cannot be drawn
        ax.set_xscale("log")
    else:
        ax.text(0.5, 0.5, "untrained weights only: nothing to plot", transform=ax.transAxes, ha="center", fontsize=9)
    ax.set_xlabel(f"median latency per {frame[0]}x{frame[1]} frame, ms (log; left is faster)")
    ax.set_ylabel(f"{data}: PSNR over the blurred input\non the same pairs, dB (higher is better)")
    ax.grid(True, which="both", alpha=0.3)


def _area(size_mb: float) -> float:
    """Marker area (points^2) of a variant's file size."""
    return 25.0 + 60.0 * max(size_mb, 0.0)


def plot(result: BenchResult, path: str | os.PathLike) -> Path:
    """Latency (log scale) against PSNR gain over the blurred input of every variant (see `speed_quality`), written
    atomically (format from the suffix)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edge_deblur._io import atomic_path

    h = result.header
    fig, ax = plt.subplots(figsize=(7.5, 5), dpi=120)
    speed_quality(ax, [(h["model"]["name"], [r.to_dict() for r in result.rows], bool(h["model"].get("untrained")))],
                  h["timing"]["size"], h["data"]["name"])
    title = f"{h['model']['name']} on {h['data']['name']}: speed vs quality"
    if h["model"].get("untrained"):
        title += " (untrained weights: model rows not shown)"
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=Path(path).suffix.lstrip(".").lower() or "png", bbox_inches="tight")
    plt.close(fig)
    return Path(path)
