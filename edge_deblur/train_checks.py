"""What a training run's options must be before it starts (names, ranges, the --out folder), and the run folder
that a refused or crashed start leaves behind empty-handed: nothing."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import TYPE_CHECKING

from edge_deblur._io import file_in_the_way, missing_folders, remove_empty
from edge_deblur.errors import DataError

if TYPE_CHECKING:
    from edge_deblur.train import TrainConfig

PRECISIONS = ("float32", "bfloat16")
LOSSES = ("l1", "mse", "l1+ssim")  # l1+ssim may carry its SSIM weight: l1+ssim0.6 (without it: 0.1)
MAX_SSIM_WEIGHT = 10.0
SCHEDULES = ("cosine", "plateau")
SSIM_WINDOW = 11  # px: tf.image.ssim's filter; the SSIM metric of training fails on smaller crops
MAX_SEED = 2**32 - 1  # numpy's legacy seeding (keras.utils.set_random_seed) takes no larger seed


def _check_config(cfg: TrainConfig) -> None:
    """Refuse bad options before any work: unknown names, numbers out of range, an --out that cannot be a folder."""
    from edge_deblur.errors import ModelError
    from edge_deblur.models import get_spec

    spec = get_spec(cfg.model)  # validates the name
    smallest = math.ceil(SSIM_WINDOW / spec.stride) * spec.stride
    if not cfg.size >= smallest:
        raise DataError(f"--size {cfg.size}: must be at least {smallest} for model '{cfg.model}' (a multiple of "
                        f"{spec.stride} no smaller than the {SSIM_WINDOW} px SSIM window)")
    if cfg.size % spec.stride:
        raise DataError(f"--size {cfg.size} must be a multiple of {spec.stride} for model '{cfg.model}'")
    _check_numbers(cfg)
    ssim_weight(cfg.loss)
    for option, value, choices in (("schedule", cfg.schedule, SCHEDULES), ("precision", cfg.precision, PRECISIONS)):
        if value not in choices:
            raise DataError(f"unknown {option} '{value}'; choose one of: {', '.join(choices)}")
    if cfg.qat and cfg.precision != "float32":
        raise DataError("--qat simulates int8 rounding on float32 values; use it with --precision float32")
    if cfg.init and not Path(cfg.init).is_file():
        raise ModelError(f"--init {cfg.init}: no such model file")
    _check_out(Path(cfg.out))


def ssim_weight(loss: str) -> float | None:
    """The SSIM weight W of a loss named `l1+ssimW` (0.1 for plain `l1+ssim`); None for `l1` and `mse`.

    Raises:
        DataError: an unknown loss, or a weight that is not a number in [0, MAX_SSIM_WEIGHT].
    """
    if loss in ("l1", "mse"):
        return None
    if not loss.startswith("l1+ssim"):
        raise DataError(f"unknown loss '{loss}'; choose one of: {', '.join(LOSSES)} (l1+ssimW weighs SSIM by W, "
                        "e.g. l1+ssim0.6)")
    text = loss[len("l1+ssim"):]
    try:
        weight = float(text) if text else 0.1
    except ValueError:
        weight = float("nan")
    if not 0 <= weight <= MAX_SSIM_WEIGHT or text.strip() != text or "_" in text:
        raise DataError(f"--loss {loss}: the SSIM weight after l1+ssim must be a number in [0, {MAX_SSIM_WEIGHT:g}]")
    return weight


def _check_numbers(cfg: TrainConfig) -> None:
    """Refuse numeric options outside their ranges, naming the option and the value."""
    from edge_deblur.blur import MAX_RADIUS, check_probability, check_range
    from edge_deblur.blur.scene import LEVELS

    counts = [  # (option, value, least allowed); None: not set
        ("--epochs", cfg.epochs, 1), ("--batch-size", cfg.batch_size, 1),
        ("--steps-per-epoch", cfg.steps_per_epoch, 1), ("samples per epoch", cfg.samples_per_epoch, 1),
        ("--pool", cfg.pool, 0), ("validation crops per image", cfg.val_crops_per_image, 1),
        ("plateau patience", cfg.plateau_patience, 0),
    ]
    for option, value, least in counts:
        if value is not None and not value >= least:
            raise DataError(f"{option} {value}: must be at least {least}")
    if not (math.isfinite(cfg.lr) and cfg.lr > 0):
        raise DataError(f"--lr {cfg.lr:g}: the learning rate must be a positive number")
    if not 0 <= cfg.seed <= MAX_SEED:
        raise DataError(f"--seed {cfg.seed}: must be between 0 and {MAX_SEED}")
    if not 0 < cfg.plateau_factor < 1:
        raise DataError(f"plateau factor {cfg.plateau_factor:g}: the learning rate multiplier must be in (0, 1)")
    check_range("--radius", cfg.radius, 0.0, MAX_RADIUS)
    lo, hi = cfg.noise
    if not 0 <= lo <= hi <= 1:  # NaN fails too; shown in the option's 1/255 units
        shown = f"{hi * 255:g}" if lo == 0 else f"{lo * 255:g},{hi * 255:g}"
        raise DataError(f"--noise {shown}: the noise sigma must be in [0, 255] (1/255 units)")
    check_probability("--jpeg-prob", cfg.jpeg_prob)
    check_probability("--isp-prob", cfg.isp_prob)
    check_range("--real-scale", cfg.real_scale, 0.0, 1.0, low_open=True)
    if not 0.5 <= cfg.max_radius <= LEVELS[-1]:
        raise DataError(f"--max-radius {cfg.max_radius:g}: must be in [0.5, {LEVELS[-1]:g}] px")


def _check_out(out: Path) -> None:
    """Refuse an --out that is a file, or lies under one (mkdir would fail only after the data is loaded)."""
    blocking = file_in_the_way(out)
    if blocking == out:
        raise DataError(f"--out {out}: exists and is not a folder; choose another --out")
    if blocking is not None:
        raise DataError(f"--out {out}: {blocking} is a file, not a folder; choose another --out")


@contextlib.contextmanager
def _run_folder(out: Path):
    """Create the run folder `out` (and missing parents) for the block; if the block fails, remove the folders this
    created that are still empty (never one that was there before, never one holding files).

    Raises:
        DataError: the folder cannot be created (permissions, a file in the way).
    """
    created = missing_folders(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"--out {out}: cannot create the run folder ({e.strerror or e})") from None
    try:
        yield
    except BaseException:  # also Ctrl-C before the first epoch: a refused or crashed start leaves nothing behind
        remove_empty(created)  # a folder the run already wrote into stays
        raise


# TrainConfig fields of each synthetic blur model (the scene model also draws its own noise and JPEG), and of both
_DISC_OPTIONS, _SCENE_OPTIONS = frozenset({"radius", "noise", "jpeg_prob"}), frozenset({"max_radius", "isp_prob"})
_SYNTHETIC_OPTIONS = _DISC_OPTIONS | _SCENE_OPTIONS | {"pool"}


def ignored_options(cfg: TrainConfig, sources: list) -> list[str]:
    """Options changed from their defaults that this run does not use, each as a sentence (the run goes on: they
    are harmless, but a user who set them expects an effect)."""
    from dataclasses import fields

    def plain(v):  # a range may come as a list (from card.json) or a tuple
        return tuple(v) if isinstance(v, (list, tuple)) else v

    def flags(names):
        return ", ".join("--" + n.replace("_", "-") for n in names)

    default = {f.name: f.default for f in fields(cfg)}
    changed = {name for name in _SYNTHETIC_OPTIONS | {"real_scale"}
               if plain(getattr(cfg, name)) != plain(default[name])}
    kinds = {s.dataset for s in sources}
    notes = []
    disc, scene = sorted(changed & _DISC_OPTIONS), sorted(changed & _SCENE_OPTIONS)
    if "synthetic" not in kinds and changed & _SYNTHETIC_OPTIONS:
        notes.append("the synthetic blur options have no effect: this run has no synthetic source")
    elif cfg.blur_model == "scene" and disc:
        notes.append(f"{flags(disc)}: no effect with --blur-model scene "
                     "(it draws its own blur, noise and JPEG, up to --max-radius)")
    elif cfg.blur_model == "disc" and scene:
        notes.append(f"{flags(scene)}: no effect with --blur-model disc "
                     "(its radii come from --radius; the camera processing is the scene model's)")
    if "real_scale" in changed and not kinds & {"pairs", "kwentar"}:
        notes.append("--real-scale: no effect, this run has no real pairs (it shrinks pairs and kwentar data only)")
    return notes
