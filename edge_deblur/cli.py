"""The `edge-deblur` command line. Each command parses options, calls one library function and prints its result.

User errors (`EdgeDeblurError`) print one line `error: ...` on stderr and exit with code 2.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import List, Optional

import typer

from edge_deblur.errors import EdgeDeblurError

app = typer.Typer(
    name="edge-deblur",
    help="Train, export (float16/int8 TFLite), run and benchmark deblurring CNNs for phones.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Dataset tools.", no_args_is_help=True)
app.add_typer(data_app, name="data")


def _user_errors(fn):
    """Turn `EdgeDeblurError` into one line on stderr and exit code 2; Ctrl-C into exit code 130."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except EdgeDeblurError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper


def _parse_size(text: Optional[str]) -> Optional[tuple[int, int]]:
    """'224', '224x320' or '224,320' -> (h, w)."""
    if text is None:
        return None
    parts = text.lower().replace(",", "x").split("x")
    try:
        nums = [int(p) for p in parts]
    except ValueError:
        raise EdgeDeblurError(f"--size: expected N or HxW, got '{text}'") from None
    if len(nums) == 1:
        nums = nums * 2
    if len(nums) != 2 or min(nums) <= 0:
        raise EdgeDeblurError(f"--size: expected N or HxW with positive numbers, got '{text}'")
    return nums[0], nums[1]


@app.command("models")
@_user_errors
def models_cmd(size: int = typer.Option(224, help="Square frame size for the GFLOP column.")):
    """List the registered models with parameters and GFLOP per frame."""
    from rich.console import Console
    from rich.table import Table

    from edge_deblur.models import REGISTRY, build_model, count_params, gflops

    table = Table(title=f"edge-deblur models (GFLOP at {size}x{size})")
    for col in ("name", "params", "GFLOP", "stride", "description"):
        table.add_column(col)
    for name, spec in REGISTRY.items():
        m = build_model(name)
        table.add_row(name, f"{count_params(m):,}", f"{gflops(m, size, size):.3f}", str(spec.stride), spec.description)
    Console().print(table)


# --- commands below are added by their modules' owners; keep each a thin wrapper ---


def main() -> None:  # pragma: no cover - entry point for `python -m edge_deblur`
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
