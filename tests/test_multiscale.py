"""Restoring at a smaller scale and adding the enlarged correction to the full-size photo."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import smooth_image
from edge_deblur.multiscale import TARGET_LONG_SIDE, auto_scale, parse_scale, resize_float, restore_scaled


def test_auto_scale_only_shrinks():
    assert auto_scale(683, 1024) == 1.0
    assert auto_scale(300, 200) == 1.0
    assert auto_scale(3000, 4000) == pytest.approx(TARGET_LONG_SIDE / 4000)
    assert auto_scale(6000, 8000, target=2000) == 0.25


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
