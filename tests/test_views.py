"""Test-time augmentation (edge_deblur.views): symmetries, their inverses, the mean, and the runtime using them."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import smooth_image
from edge_deblur.views import averaged, parse_views, unview, view


@pytest.mark.parametrize("k", range(8))
def test_every_view_is_undone_and_the_eight_are_distinct(k):
    x = np.arange(2 * 3 * 2).reshape(2, 3, 2)
    v = view(x, k)
    assert v.flags["C_CONTIGUOUS"]
    assert v.shape == ((3, 2, 2) if k & 4 else (2, 3, 2))
    np.testing.assert_array_equal(unview(v, k), x)
    others = [view(x, j) for j in range(8) if j != k]
    assert not any(o.shape == v.shape and np.array_equal(o, v) for o in others)


def test_one_view_is_the_restore_itself():
    restore = lambda x: x * 0.5  # noqa: E731
    assert averaged(restore, 1) is restore


def _shift_right(x: np.ndarray) -> np.ndarray:
    """A restore with a direction: every column takes its left neighbour's value (edge column repeated)."""
    return np.concatenate([x[:, :1], x[:, :-1]], axis=1)


def test_mirrored_views_cancel_a_directional_bias():
    x = np.zeros((3, 5, 1), np.float32)
    x[:, 2] = 1.0  # a vertical line in the middle column
    two = averaged(_shift_right, 2)(x)
    np.testing.assert_allclose(two[0, :, 0], [0, 0.5, 0, 0.5, 0])  # half moved right, half left: symmetric
    np.testing.assert_allclose(_shift_right(x)[0, :, 0], [0, 0, 0, 1, 0])  # one view: all moved right
    eight = averaged(_shift_right, 8)(x)  # the transposed views shift along the rows: the line stays where it is
    np.testing.assert_allclose(eight[1, :, 0], [0, 0.25, 0.5, 0.25, 0])


def test_uint8_results_are_summed_in_integers_and_rounded():
    x = np.full((2, 2, 3), 10, np.uint8)
    calls = []

    def restore(img):
        calls.append(img.shape)
        return img + np.uint8(len(calls) % 2)  # 11, 10, 11, 10: mean 10.5 rounds up to 11

    out = averaged(restore, 4)(x)
    assert out.dtype == np.uint8 and len(calls) == 4
    np.testing.assert_array_equal(out, 11)
    big = np.full((1, 1, 3), 255, np.uint8)
    np.testing.assert_array_equal(averaged(lambda t: t, 8)(big), 255)  # no overflow in the sum


@pytest.mark.parametrize("bad", [3, 0, 16, True, 4.0, "two", None])
def test_parse_views_refuses_anything_but_1_2_4_8(bad):
    with pytest.raises(ValueError, match="views must be one of 1, 2, 4, 8"):
        parse_views(bad)
    assert [parse_views(v) for v in (1, "2", " 4 ", 8)] == [1, 2, 4, 8]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    from test_runtime import make_tflite, randomized

    return make_tflite(tmp_path_factory.mktemp("views") / "tiny_float32.tflite", randomized("tiny"), 32, "float32")


def test_the_runtime_averages_its_views_in_both_passes(model_file):
    from edge_deblur.multiscale import guard_flat, restore_scaled
    from edge_deblur.runtime import Deblurrer

    img = smooth_image(48, 80, seed=3)
    plain = Deblurrer(model_file, guard_flat=False)  # the model alone: restore_scaled adds the guard
    four = Deblurrer(model_file, views=4, passes=2)
    assert four.views == 4 and plain.views == 1
    expect = restore_scaled(img, averaged(plain, 4), 1.0, passes=2)
    got = four(img)
    np.testing.assert_allclose(got, expect, atol=1e-6)
    assert np.abs(got - Deblurrer(model_file, passes=2)(img)).max() > 1e-3  # the views do change the result
    img8 = (img * 255 + 0.5).astype(np.uint8)
    got8 = Deblurrer(model_file, views=8)(img8)
    ref8 = guard_flat(img8, averaged(plain, 8)(img8))  # the mean, then the flat-area guard
    assert got8.dtype == np.uint8 and np.abs(got8.astype(int) - ref8).max() == 0
    with pytest.raises(ValueError, match="views must be one of"):
        Deblurrer(model_file, views=3)
