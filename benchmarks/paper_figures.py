"""The paper's figures, from a training run of this toolkit: its Figure 3 (loss curve) and Figures 2/4 (input /
ground truth / prediction), written small enough to commit.

Usage: python benchmarks/paper_figures.py RUN_FOLDER LOSS_PNG GRID_PNG|GRID_JPG [--width 720]
The loss curve is redrawn from the run's history.csv with the validation input's own PSNR (card.json) as a line;
the grid is the run's predictions.png (four validation crops, each titled with PSNR/SSIM) scaled to --width.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from PIL import Image

    from edge_deblur._io import atomic_path
    from edge_deblur.train import _run_title, TrainConfig
    from edge_deblur.train_report import plot_history

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path)
    p.add_argument("loss_png", type=Path)
    p.add_argument("grid_png", type=Path)
    p.add_argument("--width", type=int, default=720)
    args = p.parse_args(argv)
    card = json.loads((args.run / "card.json").read_text())
    cfg = TrainConfig(**{k: v for k, v in card["config"].items() if k in TrainConfig.__dataclass_fields__})
    plot_history(args.run / "history.csv", args.loss_png, title=_run_title(cfg),
                 identity_psnr=card["identity_baseline"]["psnr"])
    grid = Image.open(args.run / "predictions.png").convert("RGB")
    small = grid.resize((args.width, round(grid.height * args.width / grid.width)), Image.LANCZOS)
    jpeg = args.grid_png.suffix.lower() in (".jpg", ".jpeg")  # photos: a JPEG is a tenth of the PNG
    with atomic_path(args.grid_png) as tmp:
        small.save(tmp, format="JPEG", quality=88) if jpeg else small.save(tmp, format="PNG", optimize=True)
    print(f"wrote {args.loss_png} and {args.grid_png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
