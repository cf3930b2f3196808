"""Resizing in row strips gives what resizing each channel whole gives, for photos of any size."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import smooth_image
from edge_deblur.multiscale import _add_enlarged
from edge_deblur.resample import resize_channel, resize_float, resize_rows


def _whole(image: np.ndarray, height: int, width: int, shrink: bool) -> np.ndarray:
    """Each channel resized whole (the reference)."""
    f = image.astype(np.float32) / 255 if image.dtype == np.uint8 else image
    return np.stack([resize_channel(f[..., c], height, width, shrink) for c in range(image.shape[2])], axis=2)


@pytest.mark.parametrize("hw,to", [((700, 532), (175, 133)), ((1000, 36), (250, 9)), ((512, 300), (256, 150))])
def test_shrinking_in_strips_by_whole_factors_is_exactly_the_whole_channel_resize(hw, to):
    rng = np.random.default_rng(sum(hw) + sum(to))
    photo = rng.integers(0, 256, (*hw, 3), dtype=np.uint8)
    got = resize_float(photo, *to, shrink=True)
    assert got.dtype == np.float32 and got.shape == (*to, 3)
    np.testing.assert_array_equal(got, _whole(photo, *to, shrink=True))
    np.testing.assert_array_equal(resize_float(photo.astype(np.float32) / 255, *to, shrink=True), got)


@pytest.mark.parametrize("hw,to", [((683, 1024), (342, 512)), ((2668, 4000), (683, 1024)), ((1000, 37), (256, 9)),
                                   ((517, 300), (1, 1))])
def test_shrinking_in_strips_by_any_factor_matches_the_whole_channel_resize(hw, to):
    """Pillow's box filter counts a source row whose centre lies exactly on a filter edge by float rounding, which
    differs between a strip and the whole channel: such a row can go to the next output row instead (683 -> 342:
    source row 341, centred on 341.5 = 171 x 683 / 342, is counted in row 170 by one and in row 171 by the other)."""
    photo = (smooth_image(*hw) * 255).astype(np.uint8)
    got, want = resize_float(photo, *to, shrink=True), _whole(photo, *to, shrink=True)
    rows = np.abs(got - want).max(axis=(1, 2)) > 0
    assert rows.mean() <= 0.02  # at most 2% of the rows hold such a tie (683 -> 342: rows 170 and 171)
    assert np.abs(got.mean(axis=(0, 1)) - want.mean(axis=(0, 1))).max() < 1e-4


@pytest.mark.parametrize("hw,to", [((179, 136), (700, 530)), ((9, 256), (37, 1000)), ((1, 1), (300, 7)),
                                   ((40, 60), (41, 61))])
def test_enlarging_in_strips_matches_the_whole_channel_resize(hw, to):
    corr = np.random.default_rng(sum(hw)).normal(0, 0.1, (*hw, 3)).astype(np.float32)
    got = resize_float(corr, *to, shrink=False)
    np.testing.assert_allclose(got, _whole(corr, *to, shrink=False), atol=1e-5)  # float rounding of positions
    assert np.abs(got).max() > 0.05  # a real signal was resized, not zeros


def test_a_strip_reads_only_its_own_rows():
    """Rows 256:384 of a 2000-row enlargement from 500 rows: changing source rows far outside leaves them alone."""
    src = np.random.default_rng(0).random((500, 80)).astype(np.float32)
    strip = resize_rows(src, 2000, 320, False, 256, 384)
    far = src.copy()
    far[:50] = far[150:] = 0.0  # rows 256:384 out come from about rows 64:96 in
    np.testing.assert_array_equal(resize_rows(far, 2000, 320, False, 256, 384), strip)
    near = src.copy()
    near[80] += 0.5
    assert np.abs(resize_rows(near, 2000, 320, False, 256, 384) - strip).max() > 0.1


def test_enlarged_correction_added_in_strips_as_whole():
    photo = (smooth_image(613, 411) * 255).astype(np.uint8)
    corr = np.random.default_rng(1).normal(0, 0.05, (157, 105, 3)).astype(np.float32)
    want = np.clip(photo.astype(np.float32) / 255 + _whole(corr, 613, 411, shrink=False), 0, 1)
    got = _add_enlarged(photo, corr, rows=100)
    assert got.dtype == np.uint8
    diff = np.abs(got.astype(np.int16) - (want * 255 + 0.5).astype(np.int16))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-4  # at most a rounding tie apart
    np.testing.assert_allclose(_add_enlarged(photo.astype(np.float32) / 255, corr, rows=100), want, atol=1e-5)
