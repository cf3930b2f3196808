"""Model registry: the paper's exact size and cost, shapes of every model, identity U-Nets, recipes, errors."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import smooth_image
from edge_deblur.errors import ModelError
from edge_deblur.models import (
    REGISTRY,
    build_model,
    count_params,
    get_spec,
    gflops,
    list_models,
    model_stride,
    recipe_for,
    with_input_size,
)

UNETS = ["unet_xs", "unet_s", "unet_s2", "unet_s3", "unet_m", "tiny"]


def test_registry_names():
    names = list_models()
    assert names[0] == "paper" and {"unet_xs", "unet_s", "unet_s2", "unet_m", "tiny"} <= set(names)
    assert len(set(names)) == len(names) == len(REGISTRY)


def test_unet_s3_is_unet_s2_plus_a_fourth_level():
    s2, s3 = build_model("unet_s2"), build_model("unet_s3")
    assert model_stride(s3) == 16 and model_stride(s2) == 8
    assert count_params(s3) == 1_676_195
    shared = {l.name for l in s2.layers if l.weights} & {l.name for l in s3.layers if l.weights}
    assert {"stem", "down1", "down2", "enc2_2_c2", "up1", "up0", "head"} <= shared
    assert {"down3", "enc3_1_c2", "up2", "dec2_c1"}.isdisjoint(shared)


def test_warm_start_copies_matching_layers_only():
    from edge_deblur.models import warm_start

    src, dst = build_model("unet_s2"), build_model("unet_s3")
    for layer in src.layers:  # recognisable weights, unlike the zero/random init of dst
        layer.set_weights([np.full(w.shape, 0.25, np.float32) for w in layer.get_weights()])
    before = {l.name: [w.copy() for w in l.get_weights()] for l in dst.layers}
    copied, fresh = warm_start(dst, src)
    assert len(copied) == 24 and sorted(fresh) == sorted(
        ["down3", "enc3_0_c1", "enc3_0_c2", "enc3_1_c1", "enc3_1_c2", "up2", "dec2_c1", "dec2_c2"])
    for name in copied:
        assert all(np.all(w == 0.25) for w in dst.get_layer(name).get_weights())
    for name in fresh:
        assert all(np.array_equal(a, b) for a, b in zip(dst.get_layer(name).get_weights(), before[name]))
    # quiet_new: the new layers that add into a shared path start at zero, the others keep their initialisation
    quiet = build_model("unet_s3")
    warm_start(quiet, src, quiet_new=True)
    for name in ("up2", "enc3_0_c2", "enc3_1_c2", "dec2_c2"):
        assert all(not np.any(w) for w in quiet.get_layer(name).get_weights()), name
    assert np.any(quiet.get_layer("down3").get_weights()[0]) and np.any(quiet.get_layer("dec2_c1").get_weights()[0])
    # same architecture: everything is copied and the outputs agree
    twin = build_model("unet_s2")
    assert warm_start(twin, src)[1] == []
    x = np.random.default_rng(0).random((1, 32, 32, 3), np.float32)
    np.testing.assert_array_equal(np.asarray(twin(x)), np.asarray(src(x)))


def test_unet_s3d_warm_starts_from_unet_s3_as_the_same_function():
    """The deeper candidate starts where the release is: its extra block adds zero, so the outputs agree."""
    from edge_deblur.models import warm_start

    src, dst = build_model("unet_s3"), build_model("unet_s3d")
    rng = np.random.default_rng(1)
    for layer in src.layers:  # a trained-like net: every weight non-zero, the head included
        layer.set_weights([rng.normal(0, 0.05, w.shape).astype(np.float32) for w in layer.get_weights()])
    copied, fresh = warm_start(dst, src, quiet_new=True)
    assert sorted(fresh) == ["enc0_2_c1", "enc0_2_c2"] and len(copied) == 32
    assert count_params(dst) - count_params(src) == 2 * (9 * 32 * 32 + 32)
    x = rng.random((1, 64, 48, 3), np.float32)
    want = np.asarray(src(x))
    assert 0.05 < float(np.abs(want - x).mean())  # the source really changes the image
    np.testing.assert_allclose(np.asarray(dst(x)), want, atol=1e-6)


def test_paper_has_exactly_1349059_params():
    m = build_model("paper")
    assert count_params(m) == 1_349_059
    fixed = with_input_size(m, 224, 224)
    assert tuple(fixed.inputs[0].shape) == (1, 224, 224, 3)
    assert count_params(fixed) == 1_349_059
    # 3x3 everywhere: Conv2D 64/128/256, then Conv2DTranspose 256/128/64/32/3
    convs = [(type(l).__name__, l.filters, tuple(l.kernel_size)) for l in m.layers if hasattr(l, "filters")]
    assert convs == [("Conv2D", 64, (3, 3)), ("Conv2D", 128, (3, 3)), ("Conv2D", 256, (3, 3)),
                     ("Conv2DTranspose", 256, (3, 3)), ("Conv2DTranspose", 128, (3, 3)),
                     ("Conv2DTranspose", 64, (3, 3)), ("Conv2DTranspose", 32, (3, 3)),
                     ("Conv2DTranspose", 3, (3, 3))]


def test_paper_gflop_per_224_frame():
    m = build_model("paper")
    g = gflops(m, 224, 224)
    assert g == pytest.approx(135.29, abs=0.05)  # 2 * 224^2 * 1,348,128 weights
    assert gflops(with_input_size(m, 224, 224), 224, 224) == pytest.approx(g, rel=1e-12)
    assert gflops(m, 112, 112) == pytest.approx(g / 4, rel=1e-9)  # stride 1: cost grows with the pixel count


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_model_maps_nhwc_to_same_shape(name):
    m = build_model(name)
    stride = get_spec(name).stride
    assert model_stride(m) == stride
    h, w = 2 * max(stride, 8), 3 * max(stride, 8)
    x = smooth_image(h, w, 1)[None]
    y = np.asarray(m(x, training=False))
    assert y.shape == (1, h, w, 3) and y.dtype == np.float32
    assert np.isfinite(y).all()
    fixed = with_input_size(m, h, w)
    np.testing.assert_allclose(np.asarray(fixed(x, training=False)), y, atol=1e-5)  # same weights
    assert count_params(m) > 0 and gflops(m, h, w) > 0


def test_strides_and_wrong_size():
    assert {n: get_spec(n).stride for n in ("paper", "unet_xs", "unet_s", "unet_m", "tiny")} == {
        "paper": 1, "unet_xs": 8, "unet_s": 8, "unet_m": 8, "tiny": 4}
    with pytest.raises(ModelError, match="input size 30x32 must be a multiple of 4"):
        with_input_size(build_model("tiny"), 30, 32)


@pytest.mark.parametrize("name", UNETS)
def test_untrained_unet_is_identity(name):
    m = build_model(name)
    x = smooth_image(32, 48, 2)[None]
    np.testing.assert_allclose(np.asarray(m(x, training=False)), x, atol=1e-6)


@pytest.mark.parametrize("name", ["unet_xs", "tiny"])
def test_unet_output_is_clipped_to_unit_range(name):
    import keras

    keras.utils.set_random_seed(0)  # the body's weights are random: unseeded, some draws never reach 0 on this input
    m = build_model(name)
    head = m.get_layer("head")
    rng = np.random.default_rng(0)
    head.set_weights([rng.normal(0, 3.0, w.shape).astype(np.float32) for w in head.get_weights()])
    y = np.asarray(m(smooth_image(32, 32, 3)[None], training=False))
    assert y.min() >= 0.0 and y.max() <= 1.0
    assert (y == 0.0).any() and (y == 1.0).any()  # the big random head really pushes past both bounds


def test_unknown_model_lists_valid_names():
    for fn in (build_model, get_spec, recipe_for):
        with pytest.raises(ModelError) as e:
            fn("resnet9000")
        msg = str(e.value)
        assert "unknown model 'resnet9000'" in msg
        for name in list_models():
            assert name in msg


def test_overrides():
    small = build_model("unet_s", widths=(8, 16, 32))
    assert count_params(small) < count_params(build_model("unet_s"))
    assert count_params(build_model("unet_s", widths=None)) == count_params(build_model("unet_s"))
    with pytest.raises(ModelError, match="bad override"):
        build_model("paper", depth=3)
    with pytest.raises(ModelError, match="same length"):
        build_model("unet_s", widths=(8, 16))


def test_recipes():
    r = recipe_for("paper")
    assert (r.loss, r.batch_size, r.epochs, r.schedule, r.lr, r.size) == ("mse", 32, 70, "plateau", 1e-3, 224)
    r2 = recipe_for("paper", epochs=3, lr=None)
    assert (r2.epochs, r2.lr, r2.loss) == (3, 1e-3, "mse")
    t = recipe_for("tiny")
    assert (t.size, t.batch_size, t.epochs) == (32, 4, 1)
    assert recipe_for("unet_s").schedule == "cosine"


def test_models_command_prints_the_table():
    from typer.testing import CliRunner

    from edge_deblur.cli import app

    res = CliRunner().invoke(app, ["models", "--size", "224"])
    assert res.exit_code == 0, res.output
    assert "1,349,059" in res.output
    assert "135.287" in res.output
    for name in list_models():
        assert name in res.output


def test_the_default_model_is_the_bundled_release():
    """`train`'s default architecture is the one that ships in export/, with the size the README quotes."""
    from edge_deblur.models import DEFAULT_MODEL
    from edge_deblur.runtime import bundled_manifest

    _, manifest = bundled_manifest()
    assert manifest["model"] == DEFAULT_MODEL == "unet_s3"
    model = build_model(DEFAULT_MODEL)
    assert count_params(model) == 1_676_195
    assert gflops(model, 224, 224) == pytest.approx(3.752, abs=1e-3)
