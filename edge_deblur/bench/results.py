"""What a bench run produces, as data: one `Row` per variant and a `BenchResult` (header + rows).

Rendering (terminal table, markdown, CSV, plot) lives in `edge_deblur.bench.render`; the methods here delegate to it.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REFERENCE_KINDS = ("identity", "classical", "classical-blind")  # rows that are not the model
PRECISIONS = ("float32", "float16", "int8")

# Every row of the json/csv has these keys; `None` appears only in the cells of NOT_APPLICABLE.
COLUMNS = ("name", "kind", "precision", "backend", "threads", "size_mb", "psnr", "ssim", "d_psnr", "d_ssim",
           "psnr_vs_keras", "latency_ms", "latency_p90_ms", "first_run_ms", "fps", "gflop", "gflops_per_s",
           "pre_ms", "post_ms", "xnnpack", "pairs", "below_identity", "per_radius", "note")
NOT_APPLICABLE = {
    ("keras", "psnr_vs_keras"),  # the Keras output against itself
    ("classical", "gflop"), ("classical", "gflops_per_s"),  # FFT deconvolution is not counted in conv FLOPs
    ("classical-blind", "gflop"), ("classical-blind", "gflops_per_s"),
    ("identity", "xnnpack"), ("classical", "xnnpack"), ("classical-blind", "xnnpack"),  # only TFLite rows have
    ("keras", "xnnpack"),  # a delegate
    ("identity", "precision"), ("classical", "precision"), ("classical-blind", "precision"),
}



@dataclass
class Row:
    """One variant's numbers. Latencies in ms (inference only; pre/post apart), sizes in MB (10^6 bytes).

    `per_radius` maps "r2", "r3", ... to {"psnr", "ssim", "pairs"} when the data has known blur radii;
    `below_identity` counts the pairs on which the variant scores a lower PSNR than the blurred input.
    """

    name: str
    kind: str
    precision: str | None
    backend: str
    threads: int
    size_mb: float
    psnr: float
    ssim: float
    d_psnr: float
    d_ssim: float
    psnr_vs_keras: float | None
    latency_ms: float
    latency_p90_ms: float
    first_run_ms: float
    fps: float
    gflop: float | None
    gflops_per_s: float | None
    pre_ms: float
    post_ms: float
    xnnpack: bool | None
    pairs: int
    below_identity: int = 0  # pairs on which this variant's PSNR is below the blurred input's
    per_radius: dict[str, dict[str, float]] = field(default_factory=dict)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The row as a plain dict with the keys of `COLUMNS`, in that order."""
        d = asdict(self)
        return {k: d[k] for k in COLUMNS}


@dataclass
class BenchResult:
    """What a bench run measured: a header (machine, versions, data, timing set-up, notes) and one row per variant."""

    header: dict[str, Any]
    rows: list[Row]

    def row(self, name_or_kind: str) -> Row:
        """The first row whose name or kind is `name_or_kind`."""
        for r in self.rows:
            if name_or_kind in (r.name, r.kind):
                return r
        raise KeyError(name_or_kind)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: header, column names, rows."""
        return {"header": self.header, "columns": list(COLUMNS), "rows": [r.to_dict() for r in self.rows]}

    def radii(self) -> list[str]:
        """Radius keys ("r2", ...) present in the rows, in numeric order."""
        keys = {k for r in self.rows for k in r.per_radius}
        return sorted(keys, key=lambda k: float(k[1:]))

    def to_csv(self) -> str:
        """One CSV line per row: the flat columns, then psnr_rN/ssim_rN per radius."""
        from edge_deblur.bench.render import csv_text

        return csv_text(self)

    def header_lines(self) -> list[str]:
        """Human-readable header: machine, versions, model, data, timing set-up."""
        from edge_deblur.bench.render import header_lines

        return header_lines(self)

    def to_markdown(self) -> str:
        """A markdown report: header lines, the main table, per-radius means and notes."""
        from edge_deblur.bench.render import markdown

        return markdown(self)

    def rich_table(self, wide: bool = False):
        """The result as a `rich.table.Table`: the compact columns, or every column when `wide`."""
        from edge_deblur.bench.render import rich_table

        return rich_table(self, wide=wide)

    def plot(self, path: str | os.PathLike) -> Path:
        """Latency (log scale) against PSNR for every row, written atomically (format from the suffix)."""
        from edge_deblur.bench.render import plot

        return plot(self, path)
