"""A phone camera's processing of synthetic blurred images (edge_deblur.blur.isp): what each step must do."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import smooth_image
from edge_deblur.blur.isp import CameraISP, camera_isp, from_ycc, sharpen_luma, smooth_chroma, to_ycc
from edge_deblur.blur.scene import SceneBlurConfig, render_scene
from edge_deblur.errors import DataError


def _step(h: int = 32, w: int = 32, low: float = 0.3, high: float = 0.7) -> np.ndarray:
    img = np.full((h, w, 3), low, np.float32)
    img[:, w // 2 :] = high
    return img


def test_ycc_round_trip_and_gray_has_no_chroma():
    rng = np.random.default_rng(0)
    img = rng.random((8, 9, 3)).astype(np.float32)
    np.testing.assert_allclose(from_ycc(to_ycc(img)), img, atol=1e-5)
    gray = np.full((4, 4, 3), 0.4, np.float32)
    ycc = to_ycc(gray)
    np.testing.assert_allclose(ycc[..., 0], 0.4, atol=1e-6)
    np.testing.assert_allclose(ycc[..., 1:], 0.0, atol=1e-6)


def test_sharpening_leaves_flat_areas_and_adds_halos_at_edges():
    flat = np.full((24, 24, 3), 0.5, np.float32)
    np.testing.assert_allclose(sharpen_luma(flat, 1.5, 1.0, 0.0), flat, atol=1e-6)
    step = _step()
    out = sharpen_luma(step, 1.0, 1.0, 0.0)
    row = out[16, :, 1]
    assert row.max() > 0.7 + 0.05 and row.min() < 0.3 - 0.05  # overshoot on both sides of the edge
    np.testing.assert_allclose(out[:, :4], step[:, :4], atol=1e-4)  # far from the edge: untouched
    np.testing.assert_allclose(row[:16].mean() + row[16:].mean(), 1.0, atol=1e-3)  # halos are symmetric
    stronger = sharpen_luma(step, 2.0, 1.0, 0.0)[16, :, 1]
    np.testing.assert_allclose(stronger - step[16, :, 1], 2 * (row - step[16, :, 1]), atol=1e-4)  # linear in gain


def test_coring_leaves_small_noise_alone():
    rng = np.random.default_rng(1)
    noisy = (0.5 + rng.normal(0, 1 / 255, (32, 32, 1)) * np.ones(3)).astype(np.float32)  # gray noise, ~1 level
    cored = sharpen_luma(noisy, 1.5, 1.0, 8 / 255)
    np.testing.assert_allclose(cored, noisy, atol=1e-5)
    boosted = sharpen_luma(noisy, 1.5, 1.0, 0.0)
    assert boosted.std() > 1.5 * noisy.std()  # without coring the noise is sharpened too


def test_chroma_smoothing_keeps_luma_and_removes_colour_noise():
    rng = np.random.default_rng(2)
    clean = np.ones((48, 48, 3), np.float32) * np.array([0.6, 0.4, 0.3], np.float32)
    img = (clean + rng.normal(0, 0.03, (48, 48, 3))).astype(np.float32)
    out = smooth_chroma(img, 2.0)
    np.testing.assert_allclose(to_ycc(out)[..., 0], to_ycc(img)[..., 0], atol=1e-5)
    noise_in = np.std(to_ycc(img)[..., 1:] - to_ycc(clean)[..., 1:])
    noise_out = np.std(to_ycc(out)[..., 1:] - to_ycc(clean)[..., 1:])
    assert noise_out < 0.25 * noise_in  # a sigma-2 Gaussian leaves ~1/7 of white noise


def test_camera_isp_is_seeded_and_off_draws_nothing():
    img = smooth_image(40, 40, seed=4)
    rng = np.random.default_rng(5)
    assert camera_isp(img, CameraISP(prob=0.0), rng) is img
    assert rng.random() == np.random.default_rng(5).random()  # nothing was drawn
    on = CameraISP(prob=1.0)
    a = camera_isp(_step(), on, np.random.default_rng(6))
    b = camera_isp(_step(), on, np.random.default_rng(6))
    np.testing.assert_array_equal(a, b)
    assert a.min() >= 0 and a.max() <= 1 and np.abs(a - _step()).max() > 0.02


def test_scene_pairs_process_only_the_blurred_image():
    img = smooth_image(96, 96, seed=7)
    plain = render_scene(img, SceneBlurConfig(max_radius=4.0), np.random.default_rng(8))
    off = render_scene(img, SceneBlurConfig(max_radius=4.0, isp=CameraISP(prob=0.0)), np.random.default_rng(8))
    on = render_scene(img, SceneBlurConfig(max_radius=4.0, isp=CameraISP(prob=1.0, amount=(1.5, 1.5))),
                      np.random.default_rng(8))
    np.testing.assert_array_equal(plain[0], off[0])  # off: the same pairs as before the option existed
    np.testing.assert_array_equal(plain[1], on[1])  # the sharp target never changes
    assert np.abs(plain[0] - on[0]).max() > 2 / 255


@pytest.mark.parametrize("kwargs", [{"prob": 1.5}, {"amount": (1.0, 0.5)}, {"sigma": (-1.0, 1.0)},
                                    {"threshold": (0.0, 40.0)}, {"chroma": (0.0, float("nan"))}])
def test_bad_settings_are_refused_by_name(kwargs):
    with pytest.raises(DataError, match="CameraISP"):
        CameraISP(**kwargs)
