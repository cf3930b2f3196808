"""The defocus generator: PSF, linear light, identity at radius 0, noise level, cv2 vs FFT paths."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from conftest import smooth_image
from edge_deblur.blur import BlurConfig, convolve, defocus, disc_psf, jpeg_roundtrip, linear_to_srgb, srgb_to_linear
from edge_deblur.images import to_float, to_uint8
from edge_deblur.metrics import psnr


@pytest.mark.parametrize("radius", [0.0, 0.3, 0.5, 1.0, 1.7, 2.5, 3.0, 5.0, 7.3])
def test_psf_sums_to_one_and_is_symmetric(radius):
    k = disc_psf(radius)
    assert k.ndim == 2 and k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
    assert k.sum() == pytest.approx(1.0, abs=1e-12)
    assert k.min() >= 0.0
    np.testing.assert_allclose(k, k[::-1, :], atol=1e-15)
    np.testing.assert_allclose(k, k.T, atol=1e-15)


def test_psf_sizes_and_disc_area():
    assert disc_psf(0).tolist() == [[1.0]]
    assert disc_psf(1.0).shape == (3, 3)
    assert disc_psf(5.0).shape == (11, 11)
    # inner taps are fully covered, so each holds 1 / (disc area)
    for r in (3.0, 5.0):
        assert disc_psf(r)[int(r), int(r)] == pytest.approx(1.0 / (math.pi * r * r), rel=0.02)
    # anti-aliased: an edge tap is partly covered (strictly between 0 and the centre value)
    k = disc_psf(2.5)
    assert 0.0 < k[0, 2] < k[2, 2]
    with pytest.raises(ValueError, match="radius must be >= 0"):
        disc_psf(-1.0)


def test_linear_light_round_trip():
    x = np.linspace(0.0, 1.0, 2001, dtype=np.float32)
    np.testing.assert_allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=2e-6)
    np.testing.assert_allclose(srgb_to_linear(linear_to_srgb(x)), x, atol=2e-6)
    # reference points of IEC 61966-2-1
    assert float(srgb_to_linear(np.float32(0.5))) == pytest.approx(0.21404, abs=1e-5)
    assert float(linear_to_srgb(np.float32(0.18))) == pytest.approx(0.46135, abs=1e-5)
    assert float(srgb_to_linear(np.float32(0.04))) == pytest.approx(0.04 / 12.92, rel=1e-6)


def test_radius_zero_is_identity():
    img = smooth_image(40, 50, 1)
    out = defocus(img, 0.0)
    assert out.shape == img.shape and out.dtype == np.float32
    assert np.abs(out - img).max() <= 0.5 / 255 + 1e-6  # only the 8-bit rounding
    eight_bit = to_float(to_uint8(img))
    np.testing.assert_array_equal(defocus(eight_bit, 0.0), eight_bit)  # 8-bit input comes back unchanged
    np.testing.assert_allclose(defocus(img, 0.0, quantize=False), img, atol=2e-6)


def test_larger_radius_lowers_psnr_monotonically():
    img = smooth_image(96, 96, 2)
    scores = [psnr(defocus(img, r), img) for r in (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0)]
    assert all(a > b for a, b in zip(scores, scores[1:])), scores
    assert scores[0] > 35.0 and scores[-1] < 25.0


def test_blur_happens_in_linear_light():
    # A black/white edge blurred in linear light is brighter at the edge than the same blur done on sRGB values.
    img = np.zeros((32, 32, 3), np.float32)
    img[:, 16:] = 1.0
    lin = defocus(img, 3.0, quantize=False)
    srgb = convolve(img, disc_psf(3.0))
    assert lin[16, 16, 0] > srgb[16, 16, 0] + 0.1
    np.testing.assert_allclose(lin[:, :10], 0.0, atol=1e-6)  # far from the edge: untouched
    np.testing.assert_allclose(lin[:, 24:], 1.0, atol=1e-6)


def test_constant_image_stays_constant():
    img = np.full((24, 24, 3), 0.37, np.float32)
    np.testing.assert_allclose(defocus(img, 4.0, quantize=False), 0.37, atol=1e-5)


@pytest.mark.parametrize("sigma", [1 / 255, 5 / 255, 0.03])
def test_noise_sigma_is_as_asked(sigma):
    img = np.full((256, 256, 3), 0.5, np.float32)
    out = defocus(img, 0.0, noise_sigma=sigma, rng=3, quantize=False)
    assert np.std(out - img) == pytest.approx(sigma, rel=0.03)
    assert abs(np.mean(out - img)) < sigma / 50
    q = defocus(img, 0.0, noise_sigma=sigma, rng=3)  # 8-bit rounding adds 1/(255 sqrt 12) of its own
    assert np.std(q - img) == pytest.approx(math.hypot(sigma, 1 / (255 * math.sqrt(12))), rel=0.05)


def test_noise_is_seeded():
    img = smooth_image(32, 32, 3)
    a = defocus(img, 2.0, noise_sigma=0.01, rng=7)
    np.testing.assert_array_equal(a, defocus(img, 2.0, noise_sigma=0.01, rng=7))
    assert not np.array_equal(a, defocus(img, 2.0, noise_sigma=0.01, rng=8))


@pytest.mark.parametrize("radius", [1.0, 2.5, 4.0])
def test_cv2_path_equals_numpy_fft_path(monkeypatch, radius):
    pytest.importorskip("cv2")
    img = np.random.default_rng(0).random((37, 53, 3)).astype(np.float32)
    psf = disc_psf(radius)
    psf[0, :] *= 1.7  # make it asymmetric so a correlation-vs-convolution mix-up would show
    psf /= psf.sum()
    with_cv2 = convolve(img, psf)
    monkeypatch.setitem(sys.modules, "cv2", None)  # `import cv2` now raises ImportError
    with_fft = convolve(img, psf)
    assert with_cv2.shape == with_fft.shape == img.shape
    np.testing.assert_allclose(with_cv2, with_fft, atol=1e-5)
    # and both are the textbook convolution with mirrored borders
    from scipy.ndimage import convolve as nd_convolve

    ref = np.stack([nd_convolve(img[..., c].astype(np.float64), psf, mode="mirror") for c in range(3)], -1)
    np.testing.assert_allclose(with_fft, ref, atol=1e-5)


def test_jpeg_roundtrip_and_quality():
    img = smooth_image(64, 64, 4)
    lo, hi = jpeg_roundtrip(img, 30), jpeg_roundtrip(img, 95)
    assert lo.shape == img.shape and lo.dtype == np.float32
    assert psnr(hi, img) > psnr(lo, img) + 3.0
    out = defocus(img, 1.0, jpeg_quality=50)
    np.testing.assert_array_equal(out, jpeg_roundtrip(defocus(img, 1.0), 50))


def test_blur_config_sample_is_seeded_and_in_range():
    img = smooth_image(48, 48, 5)
    cfg = BlurConfig(radius=(2.0, 2.0), noise=(0.0, 0.0))
    out = cfg.sample(img, np.random.default_rng(0))
    np.testing.assert_array_equal(out, defocus(img, 2.0))
    rnd = BlurConfig()
    a = rnd.sample(img, np.random.default_rng(1))
    np.testing.assert_array_equal(a, rnd.sample(img, np.random.default_rng(1)))
    assert not np.array_equal(a, rnd.sample(img, np.random.default_rng(2)))
    # default radius 1-5 px: the blurred crop lies between the radius-1 and radius-5 extremes
    p = psnr(a, img)
    assert psnr(defocus(img, 5.0), img) - 1 < p < psnr(defocus(img, 1.0), img) + 1
    always = BlurConfig(radius=(1.0, 1.0), noise=(0.0, 0.0), jpeg_prob=1.0, jpeg_quality=(40, 40))
    np.testing.assert_array_equal(always.sample(img, np.random.default_rng(3)), jpeg_roundtrip(defocus(img, 1.0), 40))


@pytest.mark.parametrize("kwargs, message", [
    ({"radius": (5.0, 1.0)}, "BlurConfig.radius 5,1: need MIN <= MAX, both in [0, 32]"),
    ({"radius": (-1.0, 2.0)}, "BlurConfig.radius -1,2: need MIN <= MAX, both in [0, 32]"),
    ({"radius": (1.0, float("inf"))}, "BlurConfig.radius 1,inf: need MIN <= MAX, both in [0, 32]"),
    ({"radius": (1.0, 2.0, 3.0)}, "BlurConfig.radius (1.0, 2.0, 3.0): expected a MIN,MAX pair of numbers"),
    ({"noise": (0.0, -1 / 255)}, "BlurConfig.noise 0,-0.00392157: need MIN <= MAX, both in [0, 1]"),
    ({"jpeg_prob": 2.0}, "BlurConfig.jpeg_prob 2: a probability must be in [0, 1]"),
    ({"jpeg_prob": float("nan")}, "BlurConfig.jpeg_prob nan: a probability must be in [0, 1]"),
    ({"jpeg_quality": (95, 75)}, "BlurConfig.jpeg_quality 95,75: need MIN <= MAX, both in [1, 100]"),
])
def test_blur_config_refuses_settings_out_of_range(kwargs, message):
    from edge_deblur.errors import DataError

    with pytest.raises(DataError) as e:
        BlurConfig(**kwargs)
    assert str(e.value) == message


def test_blur_config_margin_holds_the_largest_disc():
    assert BlurConfig().margin == 8  # radius <= 8: the fixed margin is wide enough
    for r in (8.4, 8.6, 12.0, 32.0):
        cfg = BlurConfig(radius=(1.0, r))
        assert cfg.margin == max(8, disc_psf(r).shape[0] // 2)
    img = smooth_image(40, 40, 1)
    cfg = BlurConfig(radius=(12.0, 12.0), noise=(0.0, 0.0))
    m = cfg.margin
    padded = np.pad(img, ((m, m), (m, m), (0, 0)), mode="reflect")
    inner = cfg.sample(padded, np.random.default_rng(0))[m:-m, m:-m]
    big = np.pad(img, ((40, 40), (40, 40), (0, 0)), mode="reflect")
    # the margin alone gives the crop the blur it would have inside a larger photo (8 px would be off by 14 levels)
    np.testing.assert_array_equal(inner, cfg.sample(big, np.random.default_rng(0))[40:-40, 40:-40])
