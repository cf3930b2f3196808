"""Pieces of the command line that are not commands: Ctrl-C handling for training and the export report table."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from pathlib import Path

import typer


@contextlib.contextmanager
def _ctrl_c_stops_training(out: Path):
    """Ctrl-C stops training at the next step and exits 130, keeping the last finished epoch's checkpoint; a second
    Ctrl-C ends the process at once (the default action is restored by the first)."""
    if threading.current_thread() is not threading.main_thread():  # signal handlers live in the main thread
        yield
        return
    fired = []

    def first(signum, frame):
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        fired.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, first)
    try:
        yield
    except KeyboardInterrupt:
        if not fired:
            raise
        kept = f"kept {out / 'last.keras'}; continue with --resume" if (out / "last.keras").is_file() else \
            "no epoch finished, nothing kept"
        typer.echo(f"interrupted: {kept}", err=True)
        sys.stdout.flush()
        sys.stderr.flush()
        # every file is already written atomically; skipping interpreter shutdown avoids a deadlock between its
        # final garbage collection and tf.data's generator threads (seen as a hang after Ctrl-C)
        os._exit(130)
    finally:
        signal.signal(signal.SIGINT, previous)


def _export_report(results, folder) -> list:
    """The export result table (file names and byte counts never cut, even at 80 columns or piped) and the lines
    under it: what each file was verified on, ops left out of XNNPACK, failures."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"export to {folder}", box=box.SIMPLE_HEAD, title_justify="left", show_edge=False,
                  pad_edge=False, padding=(0, 1), collapse_padding=True)
    table.add_column("file", overflow="fold")  # folds a very long name onto two lines, never "unet_s2_…"
    for col in ("bytes", "vs Keras\ndB", "max\ndiff", "dPSNR\ndB", "dSSIM", "XNNPACK"):
        table.add_column(col, justify="right", no_wrap=True)
    after = []
    for r in results:
        if r.error:
            table.add_row(r.precision, "FAILED", "", "", "", "", "")
            after.append(f"{r.precision}: FAILED: {r.error}")
            continue
        table.add_row(r.path.name, f"{r.size_bytes:,}", f"{r.psnr_vs_keras:.2f}", f"{r.max_abs_diff:.2g}",
                      f"{r.delta_psnr:+.3f}", f"{r.delta_ssim:+.4f}", "all ops" if r.fully_delegated else "partly")
        if r.flat_drift >= 1.0:  # levels of 255 (NaN: not measured, never shown)
            after.append(f"{r.path.name}: on a uniform gray tile (level {r.flat_drift_level}) its output is "
                         f"{r.flat_drift:.1f} levels of 255 away from the Keras output (flat areas round alike)")
        if not r.fully_delegated:
            after.append(f"{r.path.name}: not delegated to XNNPACK: {', '.join(r.not_delegated)}")
        after.extend(f"{r.path.name}: GPU delegate: {issue}" for issue in r.gpu_issues)
        if r.gpu_compatible is not None:
            after.append(f"{r.path.name}: LiteRT GPU delegate (converter's analyzer): "
                         + ("all ops" if r.gpu_compatible else "not all ops"))
    verified = next((r.verified_on for r in results if r.verified_on), "")
    notes = [Text(f"verified on {verified}; vs Keras: PSNR of the file's output against the Keras output; "
                  "dPSNR/dSSIM: the file's score against the sharp images minus the Keras model's")] if verified else []
    return [table, *notes, *after]  # prose as Text: wrapped at words to the terminal (plain strings are not)
