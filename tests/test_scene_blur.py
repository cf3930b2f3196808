"""Realistic defocus synthesis: lens PSFs, depth-varying blur, occlusion, sensor noise; the physics it must obey."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import smooth_image
from edge_deblur.blur import convolve, disc_psf, linear_to_srgb, srgb_to_linear
from edge_deblur.blur.lens import LensShape, channel_radii, lens_psf
from edge_deblur.blur.scene import (SceneBlurConfig, add_sensor_noise, blur_varying, composite, depth_plane,
                                    object_mask, render_scene)
from edge_deblur.metrics import psnr

SHAPES = [LensShape(), LensShape(soft=0.3, rim=0.6), LensShape(rim=-0.3, ellipticity=0.12, angle=0.7, cateye=0.5)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("radius", [0.0, 0.4, 1.0, 3.3, 8.0, 16.0])
def test_lens_psf_sums_to_one_and_is_non_negative(radius, shape):
    k = lens_psf(radius, shape)
    assert k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
    assert k.sum() == pytest.approx(1.0, abs=1e-12)
    assert k.min() >= 0.0
    if radius < 0.5:
        assert k.tolist() == [[1.0]]  # radius 0 is the identity


@pytest.mark.parametrize("radius", [1.0, 2.5, 5.0, 9.0])
def test_default_lens_is_the_hard_disc(radius):
    k, d = lens_psf(radius, oversample=16), disc_psf(radius, oversample=16)
    pad = (k.shape[0] - d.shape[0]) // 2
    np.testing.assert_allclose(k, np.pad(d, pad), atol=1e-12)


def test_lens_shapes_change_the_psf_as_described():
    r = 8.0
    hard, soft = lens_psf(r), lens_psf(r, LensShape(soft=0.4))
    c = hard.shape[0] // 2
    assert soft.shape[0] > hard.shape[0]  # a soft edge reaches further out
    bright_rim = lens_psf(r, LensShape(rim=0.8))
    assert bright_rim[c, c + 7] > bright_rim[c, c]  # brighter near the rim than at the centre
    centre_heavy = lens_psf(r, LensShape(rim=-0.8))
    assert centre_heavy[c, c] > centre_heavy[c, c + 7]
    eye = lens_psf(r, LensShape(cateye=0.5))  # clipped by a disc shifted along +x: the -x side is cut off
    assert eye[c, c - 7] == 0.0 and eye[c, c + 7] > 0.0
    ell = lens_psf(r, LensShape(ellipticity=0.2))  # stretched along x (to 9.6 px), squeezed along y (to 6.4 px)
    e = ell.shape[0] // 2
    assert ell[e, e + 9] > 0.0 and ell[e + 8, e] == 0.0
    assert channel_radii(10, 0.05) == pytest.approx((10.5, 10.0, 9.5))
    with pytest.raises(ValueError):
        lens_psf(3, LensShape(rim=2.0))
    with pytest.raises(ValueError):
        lens_psf(-1)


def _rgba(img):
    return np.concatenate([img, np.ones(img.shape[:2] + (1,), np.float32)], -1)


@pytest.mark.parametrize("radius", [0.0, 3.0, 6.3])
def test_depth_constant_map_equals_uniform_blur(radius):
    lin = srgb_to_linear(smooth_image(64, 72))
    out = blur_varying(_rgba(lin), np.full((64, 72), radius, np.float32), LensShape(), 0.0)
    expect = convolve(lin, lens_psf(round(radius, 2), oversample=4))
    np.testing.assert_allclose(out[..., :3], expect, atol=1e-5)
    np.testing.assert_allclose(out[..., 3], 1.0, atol=1e-5)
    if radius == 0:
        np.testing.assert_allclose(out[..., :3], lin, atol=1e-6)  # radius 0 is the identity


def test_varying_blur_follows_the_depth_map():
    lin = srgb_to_linear(smooth_image(64, 128, seed=3))
    ramp = np.tile(np.linspace(0, 12, 128, dtype=np.float32), (64, 1))  # in focus at the left, 12 px at the right
    out = blur_varying(_rgba(lin), ramp, LensShape(), 0.0)[..., :3]
    left_err = np.abs(out[8:-8, :10] - lin[8:-8, :10]).mean()
    right_err = np.abs(out[8:-8, -30:] - lin[8:-8, -30:]).mean()
    assert left_err < 0.01 < right_err


def test_occlusion_sharp_object_over_blurred_background_and_the_reverse():
    h, w = 96, 96
    bg = srgb_to_linear(smooth_image(h, w, seed=1))
    tex = np.full((h, w, 3), 0.8, np.float32)
    alpha = np.zeros((h, w), np.float32)
    alpha[32:64, 32:64] = 1.0
    # a sharp (in-focus) near object in front of a blurred background: no background bleeds into it
    blurred, sharp = composite(bg, np.full((h, w), 6.0, np.float32), [(alpha, tex, 0.0)])
    np.testing.assert_allclose(blurred[33:63, 33:63], 0.8, atol=1e-6)
    np.testing.assert_allclose(sharp[33:63, 33:63], 0.8, atol=1e-6)
    assert np.abs(blurred[4:28, 4:28] - bg[4:28, 4:28]).mean() > 0.005  # the background itself is blurred
    # a blurred near object over a sharp background: its blur spreads over the background beyond its edge
    blurred, sharp = composite(bg, np.zeros((h, w), np.float32), [(alpha, tex, 6.0)])
    np.testing.assert_allclose(blurred[4:24, 4:24], bg[4:24, 4:24], atol=1e-6)  # far from it: untouched, sharp
    ring = blurred[28:31, 40:56] - bg[28:31, 40:56]  # just outside the mask edge
    assert np.abs(ring).mean() > 0.02
    np.testing.assert_allclose(sharp[28:31, 40:56], bg[28:31, 40:56], atol=1e-6)


def test_sensor_noise_grows_with_the_signal():
    rng = np.random.default_rng(0)
    dark, bright = np.full((200, 200, 3), 0.02, np.float32), np.full((200, 200, 3), 0.8, np.float32)
    sd = lambda x: float((add_sensor_noise(x, 1e-3, 1e-3, rng) - x).std())  # noqa: E731
    assert sd(bright) > 3 * sd(dark)
    assert sd(bright) == pytest.approx(np.sqrt(0.8 * 1e-3 + 1e-6), rel=0.05)
    assert add_sensor_noise(dark, 0.0, 0.0, rng) is dark


def test_render_scene_is_deterministic_and_sane():
    img = smooth_image(120, 120, seed=5)
    cfg = SceneBlurConfig(max_radius=12, flat_prob=0.0)
    a = render_scene(img, cfg, np.random.default_rng(7))
    b = render_scene(img, cfg, np.random.default_rng(7))
    c = render_scene(img, cfg, np.random.default_rng(8))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    for blurred, sharp in (a, c):
        assert blurred.shape == sharp.shape == img.shape and blurred.dtype == np.float32
        assert 0.0 <= blurred.min() and blurred.max() <= 1.0
        assert np.allclose(blurred * 255, np.round(blurred * 255), atol=1e-3)  # 8-bit levels
    # with no objects the target is the photo itself
    blurred, sharp = render_scene(img, SceneBlurConfig(objects=(0, 0), flat_prob=0.5), np.random.default_rng(1))
    np.testing.assert_allclose(sharp, linear_to_srgb(srgb_to_linear(img)), atol=1e-6)
    assert 15 < psnr(blurred, sharp) < 60


def test_depth_plane_and_masks():
    rng = np.random.default_rng(0)
    maps = [depth_plane(50, 60, 15.0, rng) for _ in range(50)]
    assert all(m.min() >= 0 and m.max() <= 15 for m in maps)
    assert any(m.min() < 0.5 for m in maps) and any(m.max() > 10 for m in maps)  # in-focus bands and big blur
    m = object_mask(64, 64, rng)
    assert m.shape == (64, 64) and 0 <= m.min() and m.max() <= 1
    assert ((m > 0) & (m < 1)).any()  # anti-aliased edge


@pytest.mark.parametrize("kwargs, message", [
    ({"max_radius": 30.0}, "SceneBlurConfig.max_radius 30: must be in [0.5, 24] px"),
    ({"max_radius": 0.0}, "SceneBlurConfig.max_radius 0: must be in [0.5, 24] px"),
    ({"max_radius": float("nan")}, "SceneBlurConfig.max_radius nan: must be in [0.5, 24] px"),
    ({"flat_prob": 1.5}, "SceneBlurConfig.flat_prob 1.5: a probability must be in [0, 1]"),
    ({"jpeg_prob": -0.1}, "SceneBlurConfig.jpeg_prob -0.1: a probability must be in [0, 1]"),
    ({"flat_radius": (6.0, 0.5)}, "SceneBlurConfig.flat_radius 6,0.5: need MIN <= MAX, both in [0, 24]"),
    ({"objects": (3, 1)}, "SceneBlurConfig.objects 3,1: need MIN <= MAX, both in [0, 10]"),
    ({"ellipticity": (0.0, 0.5)}, "SceneBlurConfig.ellipticity 0,0.5: need MIN <= MAX, both in [0, 0.5)"),
    ({"rim": (-1.0, 0.5)}, "SceneBlurConfig.rim -1,0.5: need MIN <= MAX, both in [-0.9, 0.9]"),
    ({"shot": (0.0, -1e-4)}, "SceneBlurConfig.shot 0,-0.0001: need MIN <= MAX, both in [0, 1]"),
])
def test_scene_config_refuses_settings_out_of_range(kwargs, message):
    from edge_deblur.errors import DataError

    with pytest.raises(DataError) as e:
        SceneBlurConfig(**kwargs)
    assert str(e.value).startswith(message), str(e.value)


def test_flat_scenes_never_blur_beyond_max_radius():
    """A flat scene's radius comes from `flat_radius` (0.5-6 px) capped by `max_radius`, so its PSF fits the margin
    (with max_radius 1 an uncapped 6 px disc would read far past the 4 px of context a crop gets)."""
    img = smooth_image(48, 48, seed=2)
    clean = dict(flat_prob=1.0, jpeg_prob=0.0, shot=(0.0, 0.0), read=(0.0, 0.0))
    small, wide = SceneBlurConfig(max_radius=1.0, **clean), SceneBlurConfig(max_radius=16.0, **clean)
    one_px = psnr(linear_to_srgb(convolve(srgb_to_linear(img), disc_psf(1.0))), linear_to_srgb(srgb_to_linear(img)))
    for seed in range(6):
        b_small, sharp = render_scene(img, small, np.random.default_rng(seed))
        b_wide, _ = render_scene(img, wide, np.random.default_rng(seed))
        assert psnr(b_small, sharp) > one_px - 0.5  # no more blur than a 1 px disc (lens shapes vary it a little)
        assert psnr(b_small, sharp) > psnr(b_wide, sharp) + 3  # the same draws; uncapped, up to 6 px
