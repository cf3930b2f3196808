"""Restoring at a smaller scale and adding the enlarged correction to the full-size photo."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import smooth_image
from edge_deblur.multiscale import (COARSE_MAX_WEIGHT, TARGET_LONG_SIDE, add_coarse, auto_scale, check_scaled_size,
                                    coarse_weight, parse_passes, parse_scale, resize_float, restore_scaled)


def test_auto_scale_only_shrinks():
    assert auto_scale(683, 1024) == 1.0
    assert auto_scale(300, 200) == 1.0
    assert auto_scale(3000, 4000) == pytest.approx(TARGET_LONG_SIDE / 4000)
    assert auto_scale(6000, 8000, target=2000) == 0.25
    for h, w in ((40, 3000), (3000, 17), (100, 5000), (16, 4000), (5, 9000)):  # thin strips: the short side >= 16
        s = auto_scale(h, w)
        assert s <= 1 and min(h, w, round(min(h, w) * s)) >= min(16, h, w), (h, w, s)
        check_scaled_size((h, w), s)  # accepted, where 'auto' used to shrink a 3000x40 strip to 1024x14 and refuse
    assert auto_scale(40, 3000) < 1  # still shrunk as far as it can be


def test_parse_scale():
    assert parse_scale("auto") == "auto" and parse_scale(None) is None
    assert parse_scale("0.5") == 0.5 and parse_scale(1) == 1.0
    for bad in ("0", "1.5", "-1", "abc", "nan"):
        with pytest.raises(ValueError, match="'auto' or a number in"):
            parse_scale(bad)


def test_identity_restorer_returns_the_input_exactly_at_any_scale():
    img = smooth_image(90, 130)
    for scale in (1.0, 0.5, 0.3):
        out = restore_scaled(img, lambda x: x.copy(), scale)
        assert out.shape == img.shape and out.dtype == np.float32
        np.testing.assert_allclose(out, img, atol=1e-6)  # zero correction: the photo is untouched, no grain added


def test_correction_is_computed_small_and_added_large():
    img = smooth_image(80, 120) * 0.5
    seen = []

    def brighten(x):
        seen.append(x.shape)
        return x + 0.1

    out = restore_scaled(img, brighten, 0.5)
    assert seen == [(40, 60, 3)]
    np.testing.assert_allclose(out, img + 0.1, atol=1e-5)
    assert restore_scaled(img, lambda x: x + 2.0, 0.5).max() == 1.0  # clipped to [0, 1]


def test_resize_float_box_mean():
    img = np.zeros((4, 4, 3), np.float32)
    img[:2, :2] = 1.0
    small = resize_float(img, 2, 2, shrink=True)
    np.testing.assert_allclose(small[..., 0], [[1, 0], [0, 0]], atol=1e-6)


def test_uint8_photos_take_the_same_path_without_a_float_copy():
    """A uint8 photo gives the float path's result rounded to uint8 (at most 1 level apart from float rounding),
    and the restorer sees the same small float image."""
    img = (smooth_image(90, 130, seed=3) * 255 + 0.5).astype(np.uint8)
    as_float = img.astype(np.float32) / 255
    seen = []

    def sharpen(x):
        seen.append(x)
        return np.power(x, 0.8) * 1.25 - 0.07  # overshoots: the sum is clipped (nonlinear: no exact .5 ties)

    for scale in (0.5, 0.37, 1.0):
        seen.clear()
        out8 = restore_scaled(img, sharpen, scale)
        outf = restore_scaled(as_float, sharpen, scale)
        np.testing.assert_allclose(seen[0], seen[1], atol=1e-6)
        assert out8.dtype == np.uint8 and out8.shape == img.shape
        expect = (np.clip(outf, 0, 1) * 255 + 0.5).astype(np.uint8)
        assert np.abs(out8.astype(int) - expect).max() <= 1 and (out8 != expect).mean() < 0.01
        assert 0 < (out8 == 0).mean() and (out8 != img).mean() > 0.5  # it really changed, and clipped


def test_parse_passes():
    assert parse_passes(1) == 1 and parse_passes("2") == 2 and parse_passes(" 2 ") == 2
    for bad in (0, 3, "3", 1.5, "two", None, True):
        with pytest.raises(ValueError, match="passes must be 1 or 2"):
            parse_passes(bad)
    with pytest.raises(ValueError, match="passes must be 1 or 2, got 3"):  # never run as if it were 1
        restore_scaled(smooth_image(20, 20), lambda x: x, 1.0, passes=3)


def test_coarse_weight_follows_the_share_of_coarse_energy_in_the_correction():
    rng = np.random.default_rng(0)
    fine = np.where((np.indices((64, 96)).sum(0) % 2)[..., None] == 0, 0.05, -0.05) * np.ones(3)  # checkerboard
    smooth = np.full((64, 96, 3), 0.05)
    assert coarse_weight(fine.astype(np.float32)) == 0.0  # small blur: fine detail only, no coarse pass
    assert coarse_weight(smooth.astype(np.float32)) == COARSE_MAX_WEIGHT  # large blur: all coarse
    assert coarse_weight(np.zeros((8, 8, 3), np.float32)) == 0.0  # nothing to correct
    mixed = (smooth + fine * 0.8 + rng.normal(0, 1e-3, smooth.shape)).astype(np.float32)
    assert 0 < coarse_weight(mixed) < COARSE_MAX_WEIGHT  # in between: a partial blend


def test_two_passes_blend_the_half_scale_correction_only_for_coarse_corrections():
    # (guard=False: the image's flat discs would keep the input; the guard has its own test below)
    img = smooth_image(80, 120, seed=5) * 0.4 + 0.2  # room for +0.3 without clipping
    sizes = []

    def brighten(x):  # +0.10 at full size, +0.30 at the coarse pass's half size
        sizes.append(x.shape[:2])
        return x + (0.10 if x.shape[0] == 80 else 0.30)

    out = restore_scaled(img, brighten, 1.0, passes=2, guard=False)
    assert sizes == [(80, 120), (40, 60)]
    np.testing.assert_allclose(out - img, 0.10 * (1 - COARSE_MAX_WEIGHT) + 0.30 * COARSE_MAX_WEIGHT, atol=1e-5)
    one = restore_scaled(img, brighten, 1.0, guard=False)
    np.testing.assert_allclose(one - img, 0.10, atol=1e-6)  # 1 pass: as before

    sizes.clear()
    fine = np.where((np.indices((80, 120)).sum(0) % 2)[..., None] == 0, 0.02, -0.02).astype(np.float32)
    out = restore_scaled(img, lambda x: sizes.append(x.shape[:2]) or x + fine[: x.shape[0], : x.shape[1]], 1.0, 2,
                         guard=False)
    assert sizes == [(80, 120)]  # a fine-detail correction skips the second pass: the one-pass result exactly
    np.testing.assert_allclose(out, img + fine, atol=1e-6)

    sizes.clear()
    out = restore_scaled(img, brighten, 0.5, passes=2, guard=False)  # processing scale 0.5: coarse pass at 0.25
    assert sizes == [(40, 60), (20, 30)]
    np.testing.assert_allclose(out - img, 0.30 * (1 - COARSE_MAX_WEIGHT) + 0.30 * COARSE_MAX_WEIGHT, atol=1e-5)


def test_add_coarse_keeps_a_uint8_photo_uint8_with_the_float_result():
    """The runtime's native-size path: a uint8 first pass in, uint8 out, the float blend rounded (1 level apart
    at most, from rounding the first pass)."""
    img = smooth_image(80, 120, seed=7) * 0.4 + 0.2

    def brighten(x):
        return x + (0.10 if x.shape[0] == 80 else 0.30)

    expect = restore_scaled(img, brighten, 1.0, passes=2, guard=False)
    img8 = (img * 255 + 0.5).astype(np.uint8)
    first8 = (np.clip(brighten(img8 / 255.0), 0, 1) * 255 + 0.5).astype(np.uint8)
    got = add_coarse(img8, first8, brighten)
    assert got.dtype == np.uint8 and got.shape == img8.shape
    assert np.abs(got.astype(int) - (expect * 255 + 0.5).astype(int)).max() <= 1
    assert add_coarse(img8, img8, brighten) is img8  # nothing corrected: no second pass, the first result itself


def test_a_scale_that_leaves_a_few_pixels_is_refused_by_every_caller():
    from edge_deblur.errors import ImageError

    img = np.full((100, 60, 3), 0.5, np.float32)
    with pytest.raises(ImageError, match="scale 0.1 shrinks this 60x100 image to 6x10 px; .* at least 16 px"):
        restore_scaled(img, lambda x: x, 0.1)
    small = np.full((12, 10, 3), 0.5, np.float32)  # an image under 16 px may keep its own size, no less
    assert restore_scaled(small, lambda x: x, 0.99).shape == small.shape
    with pytest.raises(ImageError, match="at least 10 px a side"):
        restore_scaled(small, lambda x: x, 0.5)


def test_flat_areas_keep_the_input_and_everything_else_the_correction():
    from edge_deblur.multiscale import flat_keep, guard_flat

    rng = np.random.default_rng(0)
    grain = lambda shape, sd: rng.normal(0, sd, (*shape, 1)) / 255  # noqa: E731  gray noise, levels of 255
    img = np.empty((120, 240, 3), np.float32)
    img[:60, :80] = 240 / 255 + grain((60, 80), 0.7)  # a white wall with a little noise: bright and flat
    img[60:, :80] = 225 / 255 + grain((60, 80), 8)  # bright texture under it
    img[:, 80:160] = 100 / 255 + grain((120, 80), 1.5)  # mid-gray, flat but not bright, noisy (0.75 at half size)
    img[:, 160:] = 100 / 255  # still: no noise at all (graphics), at the same level
    img = np.clip(img, 0, 1)
    keep = flat_keep(img)
    assert keep[:40, :60].max() == 0.0 and keep[:, 180:].max() == 0.0  # nothing to deblur
    assert keep[:, 100:140].min() == 1.0 and keep[80:, :60].min() == 1.0  # dark flat, bright textured: all of it
    np.testing.assert_allclose(flat_keep(img, rows=7), keep, atol=1e-5)  # strips (with their halo) agree
    lift = lambda x: np.clip(x + 0.02, 0, 1)  # noqa: E731  a model that lifts everything by ~5 levels
    for scale in (1.0, 0.5):
        out = restore_scaled(img, lift, scale)
        np.testing.assert_allclose(out[:40, :60], img[:40, :60], atol=1e-6)
        np.testing.assert_allclose(out[:, 190:], img[:, 190:], atol=1e-6)
        np.testing.assert_allclose(out[:, 105:135], img[:, 105:135] + 0.02, atol=2e-3)
        assert np.abs(out[90:, :50] - img[90:, :50] - 0.02).mean() < 2e-3
    out = lift(img)
    guarded = guard_flat(img, out)
    assert np.array_equal(guarded[:, 100:140], out[:, 100:140])  # unguarded pixels stay the restoration's, to the bit
    np.testing.assert_array_equal(guarded[:40, :60], img[:40, :60])
    np.testing.assert_array_equal(guarded[:, 180:], img[:, 180:])
    small = np.full((5, 4, 3), 0.95, np.float32)  # smaller than the window: nothing is guarded
    assert flat_keep(small).min() == 1.0


def test_flat_keep_of_an_8bit_photo_sums_in_integers_as_the_float_path_does():
    from edge_deblur.multiscale import _local_mean_sd, flat_keep

    rng = np.random.default_rng(3)
    img = np.empty((300, 410, 3), np.uint8)
    img[:150] = 240  # still and bright
    img[150:, :200] = np.clip(236 + rng.normal(0, 1.5, (150, 200, 1)), 0, 255).round()  # bright, a little noisy
    img[150:, 200:] = rng.integers(0, 256, (150, 210, 3))  # texture
    img[:40, :40] = 255  # saturated: the largest sums the integer path meets
    keep8, keepf = flat_keep(img, rows=64), flat_keep(img.astype(np.float32) / 255, rows=64)
    np.testing.assert_allclose(keep8, keepf, atol=1e-5)
    assert keep8[50:140, 50:].max() == 0.0 and keep8[160:, 210:].min() == 1.0 and 0.2 < keep8[160:, :190].mean() < 0.8
    mean, sd = _local_mean_sd(np.full((30, 30, 3), 255, np.uint8))
    assert np.abs(mean - 1.0).max() < 1e-12 and np.all(sd == 0.0)  # the top of the range: no wrap-around left
    m8, s8 = _local_mean_sd(img[150:, 200:])
    mf, sf = _local_mean_sd(img[150:, 200:].astype(np.float32) / 255)
    np.testing.assert_allclose(m8, mf, atol=1e-6)
    np.testing.assert_allclose(s8, sf, atol=1e-6)
    assert s8.mean() > 0.15  # random texture (the channel mean of uniform noise: sd ~0.167), computed alike
