"""benchmarks/borders.py: the Keras model with zero padding at the photo's border against a mirrored margin."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import smooth_image
from edge_deblur.bench.runners import _KerasRunner
from edge_deblur.blur import defocus
from test_runtime import randomized

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import borders  # noqa: E402


def test_margin_0_is_the_benchs_keras_row_and_a_mirrored_margin_changes_only_the_border():
    model = randomized("tiny", head_scale=1.0)
    stride = 4  # the tiny net's
    blurred = defocus(smooth_image(90, 110, seed=3), 2.0)  # neither side a multiple of the stride
    runner = _KerasRunner(model, 0, 1, 0.0)
    assert runner.stride == stride
    np.testing.assert_array_equal(borders.restore_mirrored(model, blurred, 0, stride), runner.restore(blurred, None))

    mirrored = borders.restore_mirrored(model, blurred, 8, stride)
    diff = np.abs(mirrored - runner.restore(blurred, None)).max(axis=2)
    assert mirrored.shape == blurred.shape and diff[:2].max() > 1e-3  # the top rows see a mirror instead of zeros
    assert diff[20:-20, 20:-20].max() < 1e-6  # beyond the tiny net's reach (< 20 px), nothing changes


def test_measure_reports_each_margin_beside_identity():
    model = randomized("tiny")
    sharp = [smooth_image(32, 40, seed=s) for s in range(2)]
    pairs = [(f"p{i}", defocus(s, 2.0), s) for i, s in enumerate(sharp)]
    result = borders.measure(model, pairs, [0, 4])
    assert result["pairs"] == 2 and [r["margin"] for r in result["rows"]] == [0, 4]
    assert 15 < result["identity_psnr"] < 40
    for row in result["rows"]:
        assert row["psnr_over_identity"] == pytest.approx(row["psnr"] - result["identity_psnr"])
        assert row["psnr"] != pytest.approx(result["identity_psnr"], abs=1e-3)  # the random net changes the image
