"""What a finished training run shows: its model card, the loss curve, a validation sample grid and the console
summary."""

from __future__ import annotations

import platform
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edge_deblur import __version__
from edge_deblur._io import atomic_path
from edge_deblur._text import counted
from edge_deblur.train_callbacks import read_history, read_state

if TYPE_CHECKING:
    from edge_deblur.train import TrainConfig

PSNR_CAP_DB = 100.0  # per-crop PSNR ceiling of the training metric and of card.json (identical crops)


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


def _card_of_run(cfg: TrainConfig, sources, splits, parts: dict, strategy, cost: tuple, val: tuple, out: Path,
                 epochs: tuple, warm: dict | None) -> tuple[dict, np.ndarray]:
    """The model card of a finished fit, scored with the best checkpoint, and that model's validation predictions.

    `cost` is (params, GFLOP), `val` (x_val, y_val), `epochs` (epochs done in all, seconds per epoch of this run)."""
    from edge_deblur.train import load_keras

    best_model = load_keras(out / "model.keras")
    pred = _predict(best_model, val[0])
    card = _model_card(cfg, sources, splits, parts, strategy, best_model, *cost, pred, val, *epochs)
    card["best_epoch"] = read_state(out / "state.json")["best_epoch"]
    if warm:
        card["warm_start"] = warm
    return card, pred


def _model_card(cfg: TrainConfig, sources, splits, parts, strategy, best_model, n_params: int, flops: float,
                pred: np.ndarray, val: tuple, epochs_run: int, seconds_per_epoch: float | None) -> dict:
    """card.json: model, data, split, config, strategy, epochs, validation metrics beside identity, versions."""
    import keras
    import tensorflow as tf

    from edge_deblur import distribute
    from edge_deblur.models import gflops
    from edge_deblur.sources import source_paths

    x_val, y_val = val
    return {
        "model": cfg.model,
        "params": n_params,
        "gflop_per_frame": {f"{cfg.size}x{cfg.size}": round(flops, 4),
                            "224x224": round(gflops(best_model, 224, 224), 4)},
        "data": {"paths": source_paths(sources), "dataset": cfg.dataset if not cfg.sources else "mixed",
                 "blur": cfg.blur, "blur_model": cfg.blur_model, "sources": [str(s) for s in sources],
                 "pairs": sum(len(sp.scan.pairs) for sp in splits),
                 "unpaired": [str(p) for sp in splits for p in sp.scan.unpaired]},
        "split": {k: len(v) for k, v in parts.items()} | {"by": "scene", "seed": cfg.seed,
                                                          "val_scenes": sorted({p.scene for p in parts["val"]}),
                                                          "recorded": [str(sp.source) for sp in splits if sp.recorded]},
        "config": asdict(cfg),
        "strategy": distribute.strategy_name(strategy),
        "replicas": int(strategy.num_replicas_in_sync),
        "epochs_run": epochs_run,
        "seconds_per_epoch": seconds_per_epoch,  # None: the run was only finished by this call
        "best_epoch": None,
        "val": {"crops": len(x_val), "size": cfg.size},
        "metrics": {k: v for k, v in _quality(pred, y_val).items() if not k.startswith("per_")},
        "identity_baseline": {k: v for k, v in _quality(x_val, y_val).items() if not k.startswith("per_")},
        "versions": {"edge_deblur": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
                     "numpy": np.__version__, "python": platform.python_version()},
    }


def _predict(model, x: np.ndarray, batch: int = 8) -> np.ndarray:
    return np.clip(model.predict(x, batch_size=batch, verbose=0), 0.0, 1.0)


def _quality(pred: np.ndarray, ref: np.ndarray) -> dict:
    """Mean PSNR/SSIM over validation crops, each PSNR capped like the training metric: a crop whose input already
    equals its target (an in-focus pair, a flat saturated patch) would make the mean, and card.json, infinite."""
    from edge_deblur.metrics import psnr, ssim

    p = [min(psnr(a, b), PSNR_CAP_DB) for a, b in zip(pred, ref)]
    s = [ssim(a, b) for a, b in zip(pred, ref)]
    return {"psnr": float(np.mean(p)), "ssim": float(np.mean(s)), "per_image_psnr": p, "per_image_ssim": s}
