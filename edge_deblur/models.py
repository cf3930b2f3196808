"""Model registry: the paper's baseline network, efficient int8-friendly U-Nets, and a tiny test net.

Every model maps a float32 NHWC batch in [0, 1] to a batch of the same shape. `build_model(name)` builds one
with a dynamic spatial size; `with_input_size(model, h, w)` fixes the size (export needs static shapes).

Example:
    >>> from edge_deblur.models import build_model, count_params, gflops
    >>> m = build_model("unet_s")
    >>> count_params(m), round(gflops(m, 224, 224), 2)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from edge_deblur.errors import ModelError


@dataclass(frozen=True)
class Recipe:
    """How a model is trained by default (each field can be overridden on the command line)."""

    loss: str = "l1"
    optimizer: str = "adam"
    lr: float = 1e-3
    schedule: str = "cosine"  # "cosine" decay to 1% over the run, or "plateau" (ReduceLROnPlateau)
    batch_size: int = 16
    epochs: int = 30
    size: int = 128  # square training crop
    samples_per_epoch: int | None = None  # None: about 4 crops per training image; else the last batch is partial
    plateau_factor: float = 0.5  # "plateau": learning rate x this after `plateau_patience` epochs without a better
    plateau_patience: int = 3  # validation loss


@dataclass(frozen=True)
class ModelSpec:
    """A registered architecture: its builder, default arguments, stride and training recipe."""

    name: str
    builder: Callable
    kwargs: dict = field(default_factory=dict)
    stride: int = 1  # input height/width must be a multiple of this
    recipe: Recipe = Recipe()
    description: str = ""


def _paper(leak: float = 0.2):
    """The paper's network: Conv2D 64/128/256, Conv2DTranspose 256/128/64/32/3; all 3x3, stride 1."""
    import keras
    from keras import layers

    inp = keras.Input((None, None, 3), name="blurred")
    x = inp
    for i, f in enumerate((64, 128, 256)):
        x = layers.Conv2D(f, 3, padding="same", name=f"conv{i + 1}")(x)
        x = layers.LeakyReLU(leak, name=f"lrelu{i + 1}")(x)
    for i, f in enumerate((256, 128, 64, 32)):
        x = layers.Conv2DTranspose(f, 3, padding="same", name=f"deconv{i + 1}")(x)
        x = layers.LeakyReLU(leak, name=f"lrelu{i + 4}")(x)
    # float32 output layer: under mixed precision the image (and the MSE on it) stays float32, as in the U-Nets
    out = layers.Conv2DTranspose(3, 3, padding="same", name="deconv5", dtype="float32")(x)
    return keras.Model(inp, out, name="paper")


def res_block(x, filters: int, name: str):
    """conv3x3-ReLU-conv3x3 plus identity (no normalisation: it folds badly into int8)."""
    from keras import layers

    y = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{name}_c1")(x)
    y = layers.Conv2D(filters, 3, padding="same", name=f"{name}_c2")(y)
    return layers.Add(name=f"{name}_add")([x, y])


def _unet(name: str, widths: tuple[int, ...] = (24, 48, 96), blocks: tuple[int, ...] = (1, 2, 2),
          stem_stride: int = 2):
    """Residual U-Net for phones: stride-2 stem, len(widths) levels, transposed-conv upsampling, additive skips.

    Every op (CONV_2D, TRANSPOSE_CONV, ADD, ReLU, MINIMUM/MAXIMUM) is XNNPACK-friendly in float and int8 (export
    writes the 2x2 stride-2 transposed convolutions as CONV_2D + DEPTH_TO_SPACE, faster: `keras_rewrite`). The net
    predicts a correction that is added to the input; the sum is clipped to [0, 1]. With `stem_stride=1` the first
    level runs at full resolution (more fine-detail capacity, more FLOPs).
    """
    import keras
    from keras import layers

    if len(widths) != len(blocks):
        raise ModelError(f"{name}: widths {widths} and blocks {blocks} must have the same length")
    inp = keras.Input((None, None, 3), name="blurred")
    if stem_stride not in (1, 2):
        raise ModelError(f"{name}: stem_stride must be 1 or 2, got {stem_stride}")
    x = layers.Conv2D(widths[0], 3, strides=stem_stride, padding="same", activation="relu", name="stem")(inp)
    skips = []
    for level, (w, n) in enumerate(zip(widths, blocks)):
        if level:
            skips.append(x)
            x = layers.Conv2D(w, 3, strides=2, padding="same", activation="relu", name=f"down{level}")(x)
        for b in range(n):
            x = res_block(x, w, name=f"enc{level}_{b}")
    for level in reversed(range(len(widths) - 1)):
        w = widths[level]
        x = layers.Conv2DTranspose(w, 2, strides=2, padding="same", name=f"up{level}")(x)
        x = layers.Add(name=f"skip{level}")([x, skips[level]])
        x = layers.ReLU(name=f"skip{level}_relu")(x)
        x = res_block(x, w, name=f"dec{level}")
    # Zero-initialised head: the untrained net is the identity, so training starts from "do no harm". The head and
    # the sum stay float32 under mixed precision: bf16 would round the output to ~2^-9, coarser than the target.
    if stem_stride == 2:
        residual = layers.Conv2DTranspose(3, 2, strides=2, padding="same", kernel_initializer="zeros", name="head",
                                          dtype="float32")(x)
    else:
        residual = layers.Conv2D(3, 3, padding="same", kernel_initializer="zeros", name="head", dtype="float32")(x)
    out = layers.Add(name="residual", dtype="float32")([inp, residual])
    out = layers.ReLU(max_value=1.0, name="clip01", dtype="float32")(out)
    return keras.Model(inp, out, name=name)


# The paper's recipe: Adam (lr 1e-3), MSE, ReduceLROnPlateau, batch 32, 70 epochs of 172 samples (80% of its 216
# pairs) at 224x224. The paper gives no ReduceLROnPlateau values, so Keras's defaults (factor 0.1, patience 10).
_PAPER_RECIPE = Recipe(loss="mse", lr=1e-3, schedule="plateau", batch_size=32, epochs=70, size=224,
                       samples_per_epoch=172, plateau_factor=0.1, plateau_patience=10)

RECIPES: dict[str, Recipe] = {"paper": _PAPER_RECIPE}  # named presets for `train --recipe`, on any architecture

REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("paper", _paper, {}, 1, _PAPER_RECIPE,
                  "the paper's 1.35M-parameter stride-1 conv autoencoder (~135 GFLOP at 224x224)"),
        ModelSpec("unet_xs", _unet, {"widths": (16, 32, 64), "blocks": (1, 1, 2)}, 8, Recipe(),
                  "3-level residual U-Net, 16-64 channels"),
        ModelSpec("unet_s", _unet, {"widths": (24, 48, 96), "blocks": (1, 2, 2)}, 8, Recipe(),
                  "3-level residual U-Net, 24-96 channels (the previous release model)"),
        ModelSpec("unet_s2", _unet, {"widths": (32, 48, 96), "blocks": (2, 2, 3)}, 8, Recipe(),
                  "3-level residual U-Net, 32-96 channels, 2/2/3 residual blocks (release 3)"),
        ModelSpec("unet_s3", _unet, {"widths": (32, 48, 96, 128), "blocks": (2, 2, 3, 2)}, 16,
                  Recipe(loss="l1+ssim"), "4-level residual U-Net: unet_s2 plus a 128-channel level at 1/16 scale "
                  "(receptive field for large real defocus; the default)"),
        ModelSpec("unet_s3d", _unet, {"widths": (32, 48, 96, 128), "blocks": (3, 2, 3, 2)}, 16,
                  Recipe(loss="l1+ssim"), "unet_s3 plus a third residual block at its finest (1/2 scale) level "
                  "(a capacity candidate, tried, not shipped)"),
        ModelSpec("unet_m", _unet, {"widths": (32, 64, 128), "blocks": (1, 2, 3)}, 8, Recipe(),
                  "3-level residual U-Net, 32-128 channels"),
        ModelSpec("unet_s_fr", _unet, {"widths": (12, 24, 48, 96), "blocks": (1, 1, 2, 2), "stem_stride": 1}, 8,
                  Recipe(), "4-level residual U-Net whose first level (12 channels) runs at full resolution"),
        ModelSpec("tiny", _unet, {"widths": (4, 8), "blocks": (1, 1)}, 4, Recipe(epochs=1, size=32, batch_size=4),
                  "2-level U-Net with 4-8 channels, for tests"),
    )
}

DEFAULT_MODEL = "unet_s3"


def list_models() -> list[str]:
    """Names of the registered models."""
    return list(REGISTRY)


def get_spec(name: str) -> ModelSpec:
    """The registry entry for `name`.

    Raises:
        ModelError: unknown name; the message lists the valid ones.
    """
    try:
        return REGISTRY[name]
    except KeyError:
        raise ModelError(f"unknown model '{name}'; choose one of: {', '.join(REGISTRY)}") from None


def saved_model_name(path) -> str | None:
    """The registered model name a saved `.keras` file holds, read from its config without loading it; None when
    the file is unreadable, not a Keras archive, or holds a model the registry does not know."""
    import json
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            name = json.loads(z.read("config.json")).get("config", {}).get("name")
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, AttributeError):
        return None
    return name if name in REGISTRY else None


def build_model(name: str, **overrides):
    """Build a registered model with dynamic spatial size.

    Args:
        name: a name from `list_models()`.
        **overrides: builder arguments to change (e.g. `widths=(8, 16, 32)`); a value of None keeps the default.

    Returns:
        An uncompiled `keras.Model`.

    Raises:
        ModelError: unknown name or bad override.
    """
    spec = get_spec(name)
    kwargs = dict(spec.kwargs)
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    if spec.builder is _unet:
        kwargs.setdefault("name", name)
    try:
        return spec.builder(**kwargs)
    except TypeError as e:
        raise ModelError(f"model '{name}': bad override ({e})") from None


def warm_start(model, source, quiet_new: bool = False) -> tuple[list[str], list[str]]:
    """Copy `source`'s weights into `model` layer by layer wherever name and weight shapes match (e.g. unet_s2 into
    the first three levels of unet_s3); the other layers keep their fresh initialisation.

    Args:
        quiet_new: zero the new U-Net layers whose output is added into a path the two share (`up*` upsamplings,
            the second conv `*_c2` of residual blocks), so the new parts start as no-ops and the warm-started net
            computes what `source` did, up to a ReLU where a new level joins.

    Returns:
        (names of the layers copied, names of the weighted layers left as initialised).
    """
    by_name = {layer.name: layer for layer in source.layers}
    copied, fresh = [], []
    for layer in model.layers:
        if not layer.weights:
            continue
        src = by_name.get(layer.name)
        if src is not None and [w.shape for w in src.weights] == [w.shape for w in layer.weights]:
            layer.set_weights(src.get_weights())
            copied.append(layer.name)
        else:
            fresh.append(layer.name)
            if quiet_new and (layer.name.startswith("up") or layer.name.endswith("_c2")):
                layer.set_weights([np.zeros(w.shape, np.float32) for w in layer.get_weights()])
    return copied, fresh


def single_io(model):
    """The same network (shared layers and weights) taking and returning one tensor, not a one-element list.

    A functional model built from `[input]` (as `keras.Model(model.inputs, model.outputs)` does) warns on every
    call with a plain tensor that its input structure does not match; export and bench call it hundreds of times.
    Models that already take one tensor, or several inputs, are returned as they are.
    """
    import keras

    if not isinstance(model.input, (list, tuple)) or len(model.inputs) != 1:
        return model
    outputs = model.outputs[0] if len(model.outputs) == 1 else model.outputs
    return keras.Model(model.inputs[0], outputs, name=model.name)


def model_stride(model) -> int:
    """The factor input sizes must be a multiple of: the product of the strides of its strided convolutions."""
    stride = 1
    for layer in model.layers:
        s = getattr(layer, "strides", None)
        if s and type(layer).__name__ == "Conv2D":
            stride *= int(s[0])
    return stride


def with_input_size(model, height: int, width: int):
    """A copy of a functional model whose input is fixed to (1, height, width, 3), sharing no state.

    Raises:
        ModelError: the size is not a multiple of the model's stride.
    """
    import keras

    stride = model_stride(model)
    if height % stride or width % stride:
        raise ModelError(f"{model.name}: input size {height}x{width} must be a multiple of {stride}")
    config = model.get_config()
    for layer in config["layers"]:
        if layer["class_name"] == "InputLayer":
            layer["config"]["batch_shape"] = (1, height, width, 3)
    fixed = keras.Model.from_config(config)
    fixed.set_weights(model.get_weights())
    return fixed


def count_params(model) -> int:
    """Number of weights in the model."""
    return int(model.count_params())


def gflops(model, height: int, width: int) -> float:
    """Multiply-adds x 2 of the convolutions for one height x width frame, in GFLOP (elementwise ops excluded)."""
    fixed = with_input_size(model, height, width) if model.inputs[0].shape[1] != height else model
    total = 0
    for layer in fixed.layers:
        kind = type(layer).__name__
        if kind not in ("Conv2D", "Conv2DTranspose"):
            continue
        kh, kw = layer.kernel_size
        cin = layer.input.shape[-1]
        cout = layer.filters
        grid = layer.output.shape if kind == "Conv2D" else layer.input.shape
        total += 2 * grid[1] * grid[2] * kh * kw * cin * cout
    return total / 1e9


def recipe_for(name: str, recipe: str | None = None, **overrides) -> Recipe:
    """The training recipe of model `name` (or the named preset `recipe`, e.g. "paper") with non-None overrides.

    Raises:
        ModelError: unknown model or recipe name.
    """
    spec = get_spec(name)
    if recipe is not None and recipe not in RECIPES:
        raise ModelError(f"unknown recipe '{recipe}'; choose one of: {', '.join(RECIPES)}")
    base = RECIPES[recipe] if recipe is not None else spec.recipe
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})
