"""Classical baselines: identity and disc-PSF deconvolution on a real photograph."""

from __future__ import annotations

import numpy as np
import pytest

from edge_deblur.baselines import IDENTITY, METHODS, classical_baseline, deconvolve, identity
from edge_deblur.blur import defocus
from edge_deblur.errors import EdgeDeblurError
from edge_deblur.metrics import psnr, ssim


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    from skimage import data

    return data.astronaut()[40:200, 160:320].astype(np.float32) / 255.0  # face and helmet: edges and texture


def test_identity_is_the_input(photo):
    out = identity(photo)
    assert out.dtype == np.float32 and np.array_equal(out, photo)
    assert np.array_equal(IDENTITY(photo, 3.0), photo)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("radius", [2, 4])
def test_deconvolution_with_true_psf_beats_the_blurred_input(photo, method, radius):
    blurred = defocus(photo, radius, noise_sigma=1 / 255, rng=radius)
    out = deconvolve(blurred, radius, method=method)
    assert out.shape == photo.shape and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    gain = psnr(out, photo) - psnr(blurred, photo)
    assert gain > 0.5, f"{method} r={radius}: only {gain:.2f} dB better than the blurred input"
    assert ssim(out, photo) > ssim(blurred, photo)


def test_wrong_radius_is_worse_than_the_true_one(photo):
    blurred = defocus(photo, 2, noise_sigma=1 / 255, rng=0)
    assert psnr(deconvolve(blurred, 2), photo) > psnr(deconvolve(blurred, 5), photo) + 1.0


def test_uint8_input_and_zero_radius(photo):
    u8 = (photo * 255 + 0.5).astype(np.uint8)
    assert np.allclose(deconvolve(u8, 0), u8 / 255.0, atol=1e-6)
    assert deconvolve(u8, 2).shape == photo.shape


def test_bad_inputs_raise(photo):
    with pytest.raises(EdgeDeblurError, match="unknown deconvolution method"):
        deconvolve(photo, 2, method="magic")
    with pytest.raises(EdgeDeblurError, match="radius"):
        deconvolve(photo, -1)
    with pytest.raises(EdgeDeblurError, match="HxWx3"):
        deconvolve(photo[..., 0], 2)
    with pytest.raises(EdgeDeblurError, match="unknown deconvolution method"):
        classical_baseline(True, method="magic")


def test_baseline_labels_say_which_psf_it_was_given(photo):
    true = classical_baseline(True)
    assumed = classical_baseline(False, assumed_radius=2.5)
    assert "true PSF" in true.name and true.true_psf
    assert "assumed r=2.5" in assumed.name and not assumed.true_psf
    blurred = defocus(photo, 4, noise_sigma=1 / 255, rng=1)
    # The assumed-radius baseline ignores the radius it is handed; the true-PSF one uses it.
    assert np.array_equal(assumed(blurred, 4), deconvolve(blurred, 2.5))
    assert np.array_equal(true(blurred, 4), deconvolve(blurred, 4))
