"""Quantization-aware fine-tuning: FakeQuant layers simulate int8 and vanish from the saved model."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import smooth_image
from edge_deblur.cli import app
from edge_deblur.images import write_image
from edge_deblur.metrics import psnr


@pytest.fixture(scope="module")
def model_and_batch():
    from edge_deblur.models import build_model

    m = build_model("tiny", widths=(4, 8))
    rng = np.random.default_rng(0)
    for w in m.weights:  # random (non-identity) weights so rounding shows
        w.assign(rng.normal(0, 0.3, w.shape).astype("float32"))
    x = np.stack([smooth_image(32, 32, s) for s in range(4)])
    return m, x


def test_fake_quant_is_identity_until_calibrated_then_rounds_to_256_levels(model_and_batch):
    from edge_deblur.qat import with_fake_quant

    m, x = model_and_batch
    q = with_fake_quant(m)
    assert sum(type(layer).__name__ == "FakeQuant" for layer in q.layers) == len(m.layers) - 1
    np.testing.assert_array_equal(np.asarray(q(x, training=False)), np.asarray(m(x)))
    q(x, training=True)  # one training pass learns the ranges
    fq = q.get_layer("stem_fq")
    lo, hi = float(fq.lo.numpy()), float(fq.hi.numpy())
    assert lo <= 0.0 < hi
    stem_out = np.asarray(fq(m.get_layer("stem")(x), training=False))
    levels = np.unique(np.round((stem_out - lo) / ((hi - lo) / 255), 3))
    assert len(levels) <= 256 and np.allclose(levels, np.round(levels), atol=2e-2)
    # simulated int8 output is close to, but not the same as, the float output
    sim = np.asarray(q(x, training=False))
    assert 20.0 < psnr(np.clip(sim, 0, 1), np.clip(np.asarray(m(x)), 0, 1)) < 80.0


def test_strip_gives_back_the_float_network(model_and_batch):
    from edge_deblur.qat import strip_fake_quant, with_fake_quant

    m, x = model_and_batch
    s = strip_fake_quant(with_fake_quant(m))
    assert [layer.name for layer in s.layers] == [layer.name for layer in m.layers]
    np.testing.assert_allclose(np.asarray(s(x)), np.asarray(m(x)), atol=1e-6)


def test_qat_fine_tune_through_cli_saves_a_plain_model(tmp_path):
    from edge_deblur.train import load_keras

    for i in range(6):
        write_image(tmp_path / "photos" / f"p{i}.png", smooth_image(48, 48, i))
    base = ["train", "--model", "tiny", "--data", str(tmp_path / "photos"), "--size", "32", "--steps-per-epoch", "2"]
    r1 = CliRunner().invoke(app, base + ["--epochs", "1", "--out", str(tmp_path / "float")])
    assert r1.exit_code == 0, r1.output
    r2 = CliRunner().invoke(app, base + ["--epochs", "1", "--init", str(tmp_path / "float" / "model.keras"), "--qat",
                                         "--out", str(tmp_path / "qat")])
    assert r2.exit_code == 0, r2.output
    plain = load_keras(tmp_path / "qat" / "model.keras")
    assert not any(type(layer).__name__ == "FakeQuant" for layer in plain.layers)
    assert len(plain.layers) == len(load_keras(tmp_path / "float" / "model.keras").layers)
    resumable = load_keras(tmp_path / "qat" / "last.keras")  # keeps the QAT layers and their ranges for --resume
    assert any(type(layer).__name__ == "FakeQuant" for layer in resumable.layers)
