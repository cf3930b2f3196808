"""PSNR/SSIM against scikit-image on the same arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import smooth_image
from edge_deblur.blur import defocus
from edge_deblur.metrics import psnr, psnr_ssim, ssim

skm = pytest.importorskip("skimage.metrics")

SHAPES = [(7, 7, 3), (16, 16, 3), (33, 47, 3), (64, 40, 3), (31, 29), (50, 50)]


def _pair(shape, seed):
    rng = np.random.default_rng(seed)
    h, w = shape[:2]
    a = smooth_image(h, w, seed)
    if len(shape) == 2:
        a = a[..., 0]
    b = np.clip(a + rng.normal(0, 0.05, a.shape), 0, 1)
    return a.astype(np.float32), b.astype(np.float32)


@pytest.mark.parametrize("shape", SHAPES)
def test_psnr_matches_skimage(shape):
    a, b = _pair(shape, 1)
    assert psnr(b, a) == pytest.approx(skm.peak_signal_noise_ratio(a, b, data_range=1), rel=1e-9)


@pytest.mark.parametrize("shape", SHAPES)
def test_ssim_matches_skimage(shape):
    a, b = _pair(shape, 2)
    kw = {"channel_axis": -1} if len(shape) == 3 else {}
    ref = skm.structural_similarity(a.astype(np.float64), b.astype(np.float64), data_range=1, **kw)
    assert ssim(a, b) == pytest.approx(ref, abs=1e-7)
    assert ssim(b, a) == pytest.approx(ref, abs=1e-7)  # symmetric


def test_on_a_real_degradation():
    sharp = smooth_image(80, 96, 3)
    blurred = defocus(sharp, 3.0, noise_sigma=1 / 255, rng=0)
    p, s = psnr_ssim(blurred, sharp)
    assert p == pytest.approx(skm.peak_signal_noise_ratio(sharp, blurred, data_range=1), rel=1e-9)
    assert s == pytest.approx(skm.structural_similarity(sharp, blurred, channel_axis=-1, data_range=1), abs=1e-7)
    assert 15 < p < 40 and 0.3 < s < 0.99


def test_known_values():
    a = np.zeros((8, 8, 3), np.float64)
    assert psnr(a + 0.1, a) == pytest.approx(20.0, abs=1e-9)
    assert psnr(a + 0.01, a) == pytest.approx(40.0, abs=1e-9)
    assert psnr(a, a) == math.inf
    img = smooth_image(16, 16, 4)
    assert ssim(img, img) == pytest.approx(1.0, abs=1e-12)
    assert psnr(a * 255 + 25.5, a * 255, data_range=255) == pytest.approx(20.0, abs=1e-9)


def test_uint8_like_and_float64_inputs():
    a, b = _pair((20, 20, 3), 5)
    assert psnr(a.astype(np.float64), b) == pytest.approx(psnr(a, b), rel=1e-6)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match=r"differ in shape: \(8, 8, 3\) vs \(8, 9, 3\)"):
        psnr(np.zeros((8, 8, 3)), np.zeros((8, 9, 3)))
    with pytest.raises(ValueError, match="differ in shape"):
        ssim(np.zeros((8, 8, 3)), np.zeros((8, 8)))
    with pytest.raises(ValueError, match="smaller than the 7x7 SSIM window"):
        ssim(np.zeros((6, 20, 3)), np.zeros((6, 20, 3)))
