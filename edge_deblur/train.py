"""Training: Keras `fit` on random crops, under a `tf.distribute` strategy, with atomic checkpoints and resume.

`train()` writes into its output folder:
- `model.keras`: best checkpoint by validation PSNR; `last.keras` + `state.json`: for `--resume`;
- `history.csv`: per-epoch loss, PSNR, SSIM (train and val) and learning rate;
- `loss_curve.png`, `predictions.png`: the paper's figures 3 and 2/4 for this run;
- `card.json`: what was trained on what, and how well it did against doing nothing.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from edge_deblur._io import write_json
from edge_deblur.errors import DataError, TrainingError
from edge_deblur.train_callbacks import (  # noqa: F401 (read_history: re-exported)
    _AtomicCSVLogger, _Checkpointer, _EpochLog, _TimeEstimate, read_history, read_state,
)
from edge_deblur.train_checks import _check_config, _run_folder, ignored_options, ssim_weight
from edge_deblur.train_report import PSNR_CAP_DB, _card_of_run, _summary, plot_history, plot_predictions

# Custom objects saved inside .keras files: registered so `keras.models.load_model` finds them.
_CUSTOM: dict = {}


def _register_metrics():
    """Define (once) the PSNR/SSIM Keras metrics, registered for (de)serialisation."""
    if _CUSTOM:
        return _CUSTOM
    import keras
    import tensorflow as tf

    @keras.saving.register_keras_serializable(package="edge_deblur")
    def psnr(y_true, y_pred):  # capped at 100 dB: one identical crop (flat, saturated) would make the mean inf
        y_pred = tf.clip_by_value(tf.cast(y_pred, tf.float32), 0.0, 1.0)
        return tf.minimum(tf.image.psnr(y_pred, tf.cast(y_true, tf.float32), max_val=1.0), PSNR_CAP_DB)

    @keras.saving.register_keras_serializable(package="edge_deblur")
    def ssim(y_true, y_pred):
        y_pred = tf.clip_by_value(tf.cast(y_pred, tf.float32), 0.0, 1.0)
        return tf.image.ssim(y_pred, tf.cast(y_true, tf.float32), max_val=1.0)

    def l1_ssim_of(y_true, y_pred, weight: float):  # per crop, as benchmarks/gpu/train_torch.py's l1+ssimW
        y_true, y_pred = tf.cast(y_true, tf.float32), tf.cast(y_pred, tf.float32)
        l1 = tf.reduce_mean(tf.abs(y_true - y_pred), axis=[1, 2, 3])
        return l1 + weight * (1.0 - tf.image.ssim(tf.clip_by_value(y_pred, 0.0, 1.0), y_true, max_val=1.0))

    @keras.saving.register_keras_serializable(package="edge_deblur")
    def l1_ssim(y_true, y_pred):  # L1 + 0.1 (1 - SSIM): what runs compiled before L1SSIM hold (still loadable)
        return l1_ssim_of(y_true, y_pred, 0.1)

    @keras.saving.register_keras_serializable(package="edge_deblur")
    class L1SSIM(keras.losses.Loss):
        """L1 + `ssim_weight` (1 - SSIM) per crop (`--loss l1+ssimW`; release 5: 0.6)."""

        def __init__(self, ssim_weight: float = 0.1, name: str = "l1_ssim", **kwargs):
            super().__init__(name=name, **kwargs)
            self.ssim_weight = float(ssim_weight)

        def call(self, y_true, y_pred):
            return l1_ssim_of(y_true, y_pred, self.ssim_weight)

        def get_config(self):
            return {**super().get_config(), "ssim_weight": self.ssim_weight}

    _CUSTOM.update(psnr=psnr, ssim=ssim, l1_ssim=l1_ssim, L1SSIM=L1SSIM)
    return _CUSTOM


def load_keras(path: str | os.PathLike, compile: bool = False):
    """Load a .keras model saved by this toolkit (custom metrics and QAT layers known); compiled only if asked
    (that restores the optimizer state, for resuming).

    Raises:
        ModelError: the file is missing or not a Keras model.
    """
    import zipfile

    import keras

    from edge_deblur.errors import ModelError
    from edge_deblur.model_files import require_model_file
    from edge_deblur.models import single_io

    path = Path(path)
    require_model_file(path)
    if not zipfile.is_zipfile(path):  # Keras itself says "File not found" for a file that is there
        raise ModelError(f"{path}: not a Keras model file (a .keras file is a zip archive; this one is not)")
    _register_metrics()
    from edge_deblur.qat import fake_quant_class

    fake_quant_class()  # registers the QAT layer that fine-tuning checkpoints (last.keras) contain
    try:
        model = keras.models.load_model(path, compile=compile)
    except Exception as e:  # keras raises many types for a foreign/corrupt file
        raise ModelError(f"{path}: not a loadable Keras model ({type(e).__name__}: {str(e)[:200]})") from None
    return model if compile else single_io(model)  # files trained before single_io took one-element lists


@dataclass
class TrainConfig:
    """Everything that defines a training run (stored in card.json)."""

    data: list[str]
    model: str = "unet_s2"
    dataset: str = "synthetic"
    out: str = "runs/train"
    epochs: int = 30
    batch_size: int = 16
    size: int = 128
    lr: float = 1e-3
    loss: str = "l1"
    schedule: str = "cosine"
    seed: int = 0
    blur: str = "defocus"
    radius: tuple[float, float] = (1.0, 5.0)
    noise: tuple[float, float] = (0.0, 2.0 / 255.0)
    jpeg_prob: float = 0.0
    steps_per_epoch: int | None = None
    val_crops_per_image: int = 2
    resume: bool = False
    devices: list[str] | None = None
    strategy: str = "auto"  # auto | default | mirrored | multi-worker (see edge_deblur.distribute)
    init: str | None = None  # start from this .keras model's weights (fine-tuning) instead of a fresh model
    warm_start: bool = False  # init is another architecture: build `model` and copy the layers the two share
    qat: bool = False  # quantization-aware: simulate int8 rounding after every layer while training
    precision: str = "float32"  # "bfloat16": mixed precision (bf16 compute, float32 weights); saved models are float32
    sources: list[str] | None = None  # KIND=PATH[,PATH][@WEIGHT] specs; replace data/dataset when given
    blur_model: str = "disc"  # synthetic blur: "disc" (uniform disc) or "scene" (depth layers, lens PSFs, noise)
    max_radius: float = 16.0  # largest blur radius of the "scene" model, px
    isp_prob: float = 0.0  # "scene" model: share of blurred images given a phone camera's processing
    pool: int = 0  # > 0: render that many synthetic pairs up front (needed for "scene" on small CPUs)
    real_scale: tuple[float, float] = (1.0, 1.0)  # random downscale range applied to real pairs
    recipe: str | None = None  # the named preset the recipe fields came from (e.g. "paper"); None: the model's own
    samples_per_epoch: int | None = None  # crops per epoch, the last batch partial (None: steps x batch)
    plateau_factor: float = 0.5  # ReduceLROnPlateau of schedule "plateau"
    plateau_patience: int = 3


BLUR_MODELS = ("disc", "scene")


def training_sources(cfg: TrainConfig) -> list:
    """The run's sources: `cfg.sources` parsed, or the single `--data/--dataset` source."""
    from edge_deblur.sources import Source, parse_source

    if cfg.sources:
        return [parse_source(t) for t in cfg.sources]
    return [Source(cfg.dataset, tuple(str(p) for p in cfg.data), 1.0)]


def make_blur(cfg: TrainConfig):
    """The synthetic degradation of a run: disc blur (radius/noise/jpeg options) or the layered scene model.

    Raises:
        DataError: unknown blur model.
    """
    from edge_deblur.blur import BlurConfig, SceneBlurConfig
    from edge_deblur.blur.isp import CameraISP

    if cfg.blur_model == "disc":
        return BlurConfig(radius=tuple(cfg.radius), noise=tuple(cfg.noise), jpeg_prob=cfg.jpeg_prob)
    if cfg.blur_model == "scene":
        return SceneBlurConfig(max_radius=float(cfg.max_radius), isp=CameraISP(prob=float(cfg.isp_prob)))
    raise DataError(f"unknown blur model '{cfg.blur_model}'; choose one of: {', '.join(BLUR_MODELS)}")


def as_float32(model):
    """A float32 copy of a model trained under mixed precision (same weights): what ships and exports.

    Every layer's dtype policy in the config is replaced by float32, the model is rebuilt and the float32 master
    weights copied in. A model that is float32 already is returned as is.
    """

    def fix(node):
        if isinstance(node, dict):
            if node.get("class_name") == "DTypePolicy" and isinstance(node.get("config"), dict):
                return {**node, "config": {**node["config"], "name": "float32"}}
            return {k: fix(v) for k, v in node.items()}
        if isinstance(node, list):
            return [fix(v) for v in node]
        return node

    if all(layer.dtype_policy.name == "float32" for layer in model.layers):
        return model
    clone = model.__class__.from_config(fix(model.get_config()))
    clone.set_weights(model.get_weights())
    return clone


@contextlib.contextmanager
def _policy(precision: str):
    """Build models under `precision` ("bfloat16" -> Keras "mixed_bfloat16"), restoring the global policy after."""
    import keras

    before = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if precision == "bfloat16" else "float32")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(before)


def _compile(model, cfg: TrainConfig, total_steps: int):
    import keras

    metrics = _register_metrics()  # cfg.schedule and cfg.loss are checked by _check_config
    if cfg.schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(cfg.lr, decay_steps=max(total_steps, 1), alpha=0.01)
    else:
        lr = cfg.lr
    weight = ssim_weight(cfg.loss)
    loss = {"l1": "mean_absolute_error", "mse": "mean_squared_error"}.get(cfg.loss) or metrics["L1SSIM"](weight)
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss,
                  metrics=[metrics["psnr"], metrics["ssim"]])


def train(cfg: TrainConfig, console=None, callbacks: Sequence | None = None) -> dict:
    """Train `cfg.model` on `cfg.data` and write the run folder (see module docstring).

    Args:
        cfg: the run definition; `cfg.resume` continues from `out/last.keras`.
        console: a rich Console for the summary (None: a new one).
        callbacks: extra Keras callbacks, run after the built-in ones (e.g. to log or to stop a run).

    Returns:
        The model card (also written to `out/card.json`).

    Raises:
        DataError: bad data, sizes or options (checked before the run folder is made; a start that fails later
            removes the folders it made). ModelError: unknown model, or an --init that is not a model file.
            TrainingError: the loss became NaN.
    """
    import keras
    from rich.console import Console

    from edge_deblur import distribute
    from edge_deblur.models import count_params, gflops
    from edge_deblur.qat import strip_fake_quant
    from edge_deblur.sources import build_sources

    console = console or Console()
    _check_config(cfg)
    sources = training_sources(cfg)
    for note in ignored_options(cfg, sources):
        console.print(f"warning: {note}", highlight=False)
    blur_cfg = make_blur(cfg)

    strategy = distribute.make_strategy(cfg.strategy, cfg.devices)  # multi-worker: before TensorFlow runs any op
    multi_worker = distribute.is_multi_worker(strategy)
    out = distribute.worker_dir(Path(cfg.out), distribute.worker_of(strategy))  # non-chief workers: a temporary copy
    start_epoch, best, best_epoch = _start_point(cfg, strategy, out, console)

    keras.utils.set_random_seed(cfg.seed)
    sampler, x_val, y_val, splits = build_sources(
        sources, cfg.size, blur_cfg, cfg.seed, start_epoch, pool_items=cfg.pool, scale=tuple(cfg.real_scale),
        val_per_image=cfg.val_crops_per_image, blur_kind=cfg.blur)
    for sp in splits:
        console.print(sp.describe())
    scenes = [sp for sp in splits if sp.source.dataset != "smooth"]  # smooth content: a regulariser, no scenes
    parts = {k: [p for sp in scenes for p in sp.parts[k]] for k in ("train", "val", "test")}
    sampler.check()  # surface every unreadable / too-small image before the model is built (not inside tf.data)
    with _run_folder(out):  # only now, after every check; a start that fails removes the folder it made
        steps = _steps_per_epoch(cfg, len(parts["train"]))

        model, warm = _build(cfg, out, steps, strategy, from_last=cfg.resume and not multi_worker)
        if warm:
            console.print(f"warm start from {warm['from']}: {warm['copied']} layers copied, {len(warm['fresh'])} new "
                          f"({', '.join(warm['fresh'])})")
        distribute.prepare(model, strategy, cfg.batch_size, cfg.size)
        plain = strip_fake_quant(model) if cfg.qat else model
        n_params, flops = count_params(plain), gflops(plain, cfg.size, cfg.size)
        console.print(f"model {cfg.model}: {n_params:,} params, {flops:.2f} GFLOP per {cfg.size}x{cfg.size} frame; "
                      f"{len(parts['train'])} train / {len(parts['val'])} val / {len(parts['test'])} test scenes; "
                      f"{_epoch_text(cfg, steps)}; strategy {distribute.describe(strategy)}")

        epoch_log, all_callbacks = _run_callbacks(cfg, strategy, out, steps, start_epoch, (best, best_epoch), console)
        all_callbacks += list(callbacks or ())
        try:
            epochs_run, seconds = _fit(model, cfg, sampler, (x_val, y_val), steps, start_epoch, all_callbacks, out)
        finally:
            epoch_log.close()  # an interrupted fit leaves its bar running

        card, pred = _card_of_run(cfg, sources, splits, parts, strategy, (n_params, flops), (x_val, y_val), out,
                                  (start_epoch + epochs_run, round(seconds / epochs_run, 2) if epochs_run else None),
                                  warm)
        if not distribute.finish(strategy, model, out, console):  # only the chief writes the card and the figures
            return card
        plot_history(out / "history.csv", out / "loss_curve.png", title=_run_title(cfg),
                     identity_psnr=card["identity_baseline"]["psnr"])
        plot_predictions(x_val[:4], y_val[:4], pred[:4], out / "predictions.png")
        write_json(out / "card.json", card)  # last: a card marks a finished run (`--resume` finishes one without it)
        _summary(console, card, out)
        return card


def _run_callbacks(cfg: TrainConfig, strategy, out: Path, steps: int, start_epoch: int, best: tuple, console):
    """The built-in callbacks of a run, in order, and the epoch log among them (which must be closed after fit).

    `best` is (best validation loss, its epoch) so far, from `_start_point`."""
    import keras

    from edge_deblur import distribute
    from edge_deblur.qat import strip_fake_quant

    epoch_log = _EpochLog.make(console, steps, cfg.epochs)  # first: its epoch line comes before the others' lines
    return epoch_log, distribute.callbacks(strategy, out) + [
        epoch_log,
        keras.callbacks.TerminateOnNaN(),
        _Checkpointer.make(out, *best, strip_fake_quant if cfg.qat else as_float32),
        _AtomicCSVLogger.make(out / "history.csv"),
        _TimeEstimate.make(console.print, steps, cfg.epochs, start_epoch),
    ] + schedule_callbacks(cfg)


def schedule_callbacks(cfg: TrainConfig) -> list:
    """The learning-rate callbacks of a run: ReduceLROnPlateau on the validation loss for schedule "plateau"
    (cosine decay lives in the optimizer instead)."""
    import keras

    if cfg.schedule != "plateau":
        return []
    return [keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=cfg.plateau_factor,
                                              patience=cfg.plateau_patience, verbose=1)]


def _steps_per_epoch(cfg: TrainConfig, n_train: int) -> int:
    """Batches per epoch: --steps-per-epoch, else enough for `samples_per_epoch`, else ~4 crops per train image."""
    if cfg.steps_per_epoch:
        return cfg.steps_per_epoch
    if _epoch_samples(cfg):
        return math.ceil(cfg.samples_per_epoch / cfg.batch_size)
    return max(1, math.ceil(n_train * 4 / cfg.batch_size))


def _epoch_samples(cfg: TrainConfig) -> int | None:
    """Crops per epoch when the recipe fixes them (`--steps-per-epoch` overrides it), else None."""
    return None if cfg.steps_per_epoch else cfg.samples_per_epoch


def _epoch_text(cfg: TrainConfig, steps: int) -> str:
    """'6 steps (172 crops, batch 32) per epoch' / '100 steps x 8 crops per epoch'."""
    if _epoch_samples(cfg):
        return f"{steps} steps ({cfg.samples_per_epoch} crops, batch {cfg.batch_size}) per epoch"
    return f"{steps} steps x {cfg.batch_size} crops per epoch"


def _run_title(cfg: TrainConfig) -> str:
    """'paper on mixed sources, paper recipe, 160 px crops' for the loss curve."""
    data = "mixed sources" if cfg.sources else cfg.dataset
    recipe = f", {cfg.recipe} recipe" if cfg.recipe else ""
    return f"{cfg.model} on {data}{recipe}, {cfg.size} px crops"


def _start_point(cfg: TrainConfig, strategy, out: Path, console) -> tuple[int, float, int]:
    """(first epoch, best val PSNR so far, its epoch): a fresh run, a `--resume`, or a multi-worker backup."""
    from edge_deblur import distribute

    if distribute.is_multi_worker(strategy):  # the cluster resumes from its workers' BackupAndRestore backups
        return distribute.resume_point(strategy, out, cfg.resume, cfg.epochs, console)
    state_path = out / "state.json"
    if cfg.resume:
        if not (out / "last.keras").is_file() or not state_path.is_file():
            raise DataError(f"{out}: nothing to resume (no last.keras/state.json); run without --resume")
        state = read_state(state_path)
        if state["epoch"] > cfg.epochs or (state["epoch"] == cfg.epochs and _card_written(out, state["epoch"])):
            raise DataError(f"{out}: already trained {state['epoch']} of {cfg.epochs} epochs; raise --epochs to "
                            "continue")
        # epoch == cfg.epochs without its card: stopped after the last epoch; train() finishes it (card, plots)
        return state["epoch"], state["best"], state["best_epoch"]
    if (out / "last.keras").exists():
        raise DataError(f"{out}: holds a previous run; pass --resume to continue it or choose another --out")
    return 0, -np.inf, 0


def _build(cfg: TrainConfig, out: Path, steps: int, strategy, from_last: bool):
    """(compiled model under the strategy, warm-start info or None): resumed from `last.keras`, initialised from
    `--init` (warm-started when that file is another architecture and `cfg.warm_start`), or new."""
    from edge_deblur.models import build_model, warm_start
    from edge_deblur.qat import with_fake_quant

    info = None
    with strategy.scope(), _policy(cfg.precision):
        if from_last:
            model = load_keras(out / "last.keras", compile=True)
            saved_optimizer = model.optimizer
        elif cfg.init:
            model = load_keras(cfg.init)
            if cfg.warm_start and model.name != cfg.model:  # the layers the two share; new ones start as no-ops
                source, model = model, build_model(cfg.model)
                copied, fresh = warm_start(model, source, quiet_new=True)
                info = {"from": source.name, "copied": len(copied), "fresh": fresh}
        else:
            model = build_model(cfg.model)
        if cfg.qat and not from_last:
            model = with_fake_quant(model)
        _compile(model, cfg, steps * cfg.epochs)
        if from_last:  # the new optimizer (schedule planned for the new --epochs) takes the saved slots and step
            model.optimizer.build(model.trainable_variables)
            for v, s in zip(model.optimizer.variables, saved_optimizer.variables):
                v.assign(s)
    return model, info


def _fit(model, cfg: TrainConfig, sampler, val: tuple, steps: int, start_epoch: int, callbacks: list,
         out: Path) -> tuple[int, float]:
    """Run Keras `fit` from `start_epoch` (nothing when the run only needs finishing); (epochs run, seconds).

    Raises:
        TrainingError: a training or validation loss became NaN.
    """
    from edge_deblur.crops import tf_dataset

    t0 = time.time()
    history = {}
    if start_epoch < cfg.epochs:
        history = model.fit(tf_dataset(sampler, cfg.batch_size, _epoch_samples(cfg)), epochs=cfg.epochs,
                            initial_epoch=start_epoch, steps_per_epoch=steps, validation_data=val,
                            validation_batch_size=cfg.batch_size, callbacks=callbacks,
                            verbose=0,  # _EpochLog prints the epochs
                            shuffle=False).history  # the crop sampler shuffles; Keras would warn each epoch
    seconds = time.time() - t0
    epochs_run = len(history.get("loss", []))
    # NaN can show in the training loss or only in the validation loss (weights blown up by the last step)
    bad = [i for i in range(epochs_run) if not all(math.isfinite(float(history[k][i]))
                                                  for k in ("loss", "val_loss") if len(history.get(k, [])) > i)]
    if bad:
        kept = "model.keras" if (out / "model.keras").exists() else "no checkpoint (NaN in the first epoch)"
        raise TrainingError(f"loss became NaN in epoch {start_epoch + bad[0] + 1}; training stopped, kept {kept} in "
                            f"{out}; try a lower --lr")
    return epochs_run, seconds


def _card_written(out: Path, epochs: int) -> bool:
    """True if `out/card.json` describes a run of at least `epochs` epochs (a run stopped before writing it is not)."""
    try:
        return json.loads((out / "card.json").read_text())["epochs_run"] >= epochs
    except (OSError, ValueError, KeyError, TypeError):
        return False
