"""What a finished training run shows: the loss curve, a validation sample grid and the console summary."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_deblur._io import atomic_path
from edge_deblur._text import counted
from edge_deblur.train_callbacks import read_history


def plot_history(history_csv: Path, path: Path, title: str = "", identity_psnr: float | None = None) -> Path:
    """Train vs val loss and val PSNR per epoch (the paper's Figure 3), saved atomically as PNG; `identity_psnr`
    (the blurred validation input's own PSNR) is drawn as a line, the level a model must beat."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_history(history_csv)
    ep = [int(r["epoch"]) for r in rows]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    a1.plot(ep, [float(r["loss"]) for r in rows], "o-", label="train loss")
    if rows and "val_loss" in rows[0]:
        a1.plot(ep, [float(r["val_loss"]) for r in rows], "s-", label="val loss")
    a1.set_xlabel("epoch"), a1.set_ylabel("loss"), a1.legend(), a1.grid(alpha=0.3)
    if rows and "val_psnr" in rows[0]:
        a2.plot(ep, [float(r["val_psnr"]) for r in rows], "s-", color="C2", label="val PSNR")
        a2.plot(ep, [float(r["psnr"]) for r in rows], "o--", color="C1", label="train PSNR")
    if identity_psnr is not None:
        a2.axhline(identity_psnr, color="0.4", ls=":", label=f"val input (identity) {identity_psnr:.2f} dB")
    a2.set_xlabel("epoch"), a2.set_ylabel("PSNR (dB)"), a2.legend(), a2.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return path


def plot_predictions(x: np.ndarray, y: np.ndarray, pred: np.ndarray, path: Path) -> Path:
    """Rows of input | ground truth | output, each titled with its PSNR/SSIM against the ground truth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edge_deblur.metrics import psnr, ssim

    n = len(x)
    fig, axes = plt.subplots(n, 3, figsize=(9, 3 * n), squeeze=False)
    for i in range(n):
        for j, (img, name) in enumerate(((x[i], "input"), (y[i], "ground truth"), (pred[i], "output"))):
            ax = axes[i, j]
            ax.imshow(np.clip(img, 0, 1))
            ax.set_xticks([]), ax.set_yticks([])
            if j != 1:
                ax.set_title(f"{name}: {psnr(img, y[i]):.2f} dB / {ssim(img, y[i]):.3f}", fontsize=9)
            else:
                ax.set_title(name, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)
    return path


def _summary(console, card: dict, out: Path) -> None:
    from rich.table import Table

    speed = f" ({card['seconds_per_epoch']} s/epoch)" if card["seconds_per_epoch"] is not None else ""
    t = Table(title=f"{card['model']} trained {counted(card['epochs_run'], 'epoch')}{speed}")
    for c in ("", "PSNR (dB)", "SSIM"):
        t.add_column(c)
    ident = card["identity_baseline"]
    t.add_row("identity (blurred input)", f"{ident['psnr']:.2f}", f"{ident['ssim']:.4f}")
    t.add_row(f"{card['model']} (best epoch {card['best_epoch']})", f"{card['metrics']['psnr']:.2f}",
              f"{card['metrics']['ssim']:.4f}")
    console.print(t)
    console.print(f"val: {card['val']['crops']} crops of {card['val']['size']}px; wrote {out}/model.keras, "
                  "history.csv, loss_curve.png, predictions.png, card.json")
