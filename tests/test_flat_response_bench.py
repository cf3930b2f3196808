"""benchmarks/flat_response.py: how much a model shifts flat gray photos and a slow ramp."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from test_runtime import make_tflite, randomized

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import flat_response  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """An identity net and one that adds 8 levels everywhere (zero head kernel, head bias 8/255)."""
    tmp = tmp_path_factory.mktemp("flat")
    out = {}
    for name, bias in (("same", 0.0), ("bright", 8 / 255)):
        model = randomized("tiny")
        head = model.get_layer("head")
        kernel, b = head.get_weights()
        head.set_weights([kernel * 0, np.full_like(b, bias)])
        out[name] = str(make_tflite(tmp / f"{name}.tflite", model, 32, "float32"))
    return out


def test_an_identity_net_leaves_flat_gray_and_the_ramp_unchanged(files):
    r = flat_response.measure(files["same"], size=(40, 72), levels=(32, 128, 240), scale=1.0, passes=1, views=1)
    assert r["gray_shift"] == {"32": 0.0, "128": 0.0, "240": 0.0}
    assert r["mean_abs_shift"] == 0 and r["levels_off_by_more_than_2"] == 0 and r["ramp_mean_abs_change"] == 0
    assert r["precision"] == "float32" and r["size"] == [40, 72]


def test_a_brightening_net_is_measured_to_the_level(files):
    # (a level that +8 would turn all white is refused by the runtime's blank-output check, not measured)
    r = flat_response.measure(files["bright"], size=(40, 72), levels=(32, 128, 196), scale=1.0, passes=2, views=4,
                              guard=False)
    assert all(v == pytest.approx(8, abs=0.01) for v in r["gray_shift"].values()), r["gray_shift"]
    assert r["mean_abs_shift"] == pytest.approx(8, abs=0.01) and r["levels_off_by_more_than_2"] == 3
    assert r["ramp_mean_abs_change"] == pytest.approx(8, abs=0.01)  # the ramp ends at 210: nothing clips
    assert r["guard"] is False
    # as `deblur` runs photos, an exactly flat area keeps the input at any level (multiscale.guard_flat); the ramp,
    # 2.4 levels a pixel, is not flat and gets the full lift
    r = flat_response.measure(files["bright"], size=(40, 72), levels=(32, 128, 196, 244), scale=1.0, passes=2,
                              views=4)
    assert r["gray_shift"] == {"32": 0.0, "128": 0.0, "196": 0.0, "244": 0.0}, r["gray_shift"]
    assert r["ramp_mean_abs_change"] == pytest.approx(8, abs=0.01) and r["guard"] is True
