"""benchmarks/in_focus.py: how much a model changes photos (or regions) that are already in focus."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import uniform_filter

from conftest import smooth_image
from edge_deblur.images import write_image
from edge_deblur.splits import DPDD_DEV_VAL
from test_runtime import make_tflite, randomized

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import in_focus  # noqa: E402


def _scenes(root: Path) -> None:
    """Each validation scene: the left 32 columns match the sharp shot within 1 level, the right ones do not; below
    them, rows 48-95 of the left half are a strong fine texture that the blurred shot keeps but for +-4 levels."""
    rng = np.random.default_rng(0)
    for i, name in enumerate(DPDD_DEV_VAL):
        sharp = np.concatenate([smooth_image(48, 64, seed=i), smooth_image(48, 64, seed=i + 10)])
        sharp[48:, :32] = np.clip(sharp[48:, :32] + rng.choice([-0.15, 0.15], (48, 32, 1)), 0, 1)
        blurred = np.clip(sharp + rng.integers(-1, 2, sharp.shape) / 255, 0, 1)
        blurred[48:, :32] = np.clip(sharp[48:, :32] + rng.choice([-4, 4], (48, 32, 3)) / 255, 0, 1)
        blurred[:, 32:] = np.clip(uniform_filter(sharp, (9, 9, 1))[:, 32:] + 0.1, 0, 1)
        write_image(root / "dpdd_dev" / "sharp" / f"{name}.png", sharp)
        write_image(root / "dpdd_dev" / "blurred" / f"{name}.png", blurred)


@pytest.mark.parametrize("passes", [1, 2])
def test_in_focus_regions_and_changes_are_measured_on_the_8_bit_results(tmp_path, passes):
    _scenes(tmp_path)
    identity = randomized("tiny")
    head = identity.get_layer("head")
    head.set_weights([w * 0 for w in head.get_weights()])  # the net's output is its input
    changer = randomized("tiny", head_scale=1.0)
    kw = dict(data_root=tmp_path, passes=passes)

    same = in_focus.measure(str(make_tflite(tmp_path / "id.tflite", identity, 32, "float32")), **kw)
    m = same["mean"]
    assert len(same["rows"]) == 10 and same["passes"] == passes
    assert m["sharp_changed_4_255"] == 0 and m["blurred_changed_4_255"] == 0
    for key in ("in_focus", "textured"):
        assert m[f"{key}_changed_4_255"] == 0 and m[f"{key}_fine_changed_4_255"] == 0
        assert m[f"{key}_psnr_output"] == pytest.approx(m[f"{key}_psnr_input"])
        assert m[f"{key}_fine_rms_output"] == pytest.approx(m[f"{key}_fine_rms_input"])
    assert 44 < m["in_focus_psnr_input"] < 60  # the top left differs by at most 1 level
    assert 0.12 < m["in_focus_share"] < 0.25  # about 25 of 64 columns of the top half (the 15 px window spills)
    assert 0.12 < m["textured_share"] < 0.25 and 35 < m["textured_psnr_input"] < 38  # +-4 levels: 36.1 dB
    assert 30 < m["textured_fine_rms_reference"] < 45 and m["in_focus_fine_rms_reference"] < 20  # +-0.15 texture
    assert m["sharp_fine_rms_output"] == pytest.approx(m["sharp_fine_rms_input"])

    m = in_focus.measure(str(make_tflite(tmp_path / "ch.tflite", changer, 32, "float32")), **kw)["mean"]
    assert m["in_focus_changed_4_255"] > 0.01 and m["in_focus_psnr_output"] < m["in_focus_psnr_input"] - 1
    assert m["textured_fine_changed_4_255"] > 0.05 and m["textured_fine_rms_output"] != m["textured_fine_rms_input"]
    assert m["sharp_psnr_out_vs_in"] < 60
