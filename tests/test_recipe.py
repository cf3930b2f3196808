"""`train --recipe paper`: the paper's optimizer, loss, schedule, batch and epoch size on any architecture."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import smooth_image
from edge_deblur.cli import app
from edge_deblur.errors import ModelError
from edge_deblur.images import write_image
from edge_deblur.models import RECIPES, recipe_for


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    for i in range(10):
        write_image(root / f"img{i}.png", smooth_image(48, 56, i))
    return root


def test_paper_preset_holds_the_papers_recipe_for_any_model():
    for model in ("paper", "unet_s2", "tiny"):
        r = recipe_for(model, "paper")
        assert (r.optimizer, r.loss, r.lr, r.schedule, r.batch_size, r.epochs, r.size) == \
            ("adam", "mse", 1e-3, "plateau", 32, 70, 224)
        assert r.samples_per_epoch == 172  # 80% of the paper's 216 pairs
        assert (r.plateau_factor, r.plateau_patience) == (0.1, 10)  # Keras's ReduceLROnPlateau defaults
    assert recipe_for("unet_s2", "paper", size=160).size == 160
    assert recipe_for("unet_s2").loss == "l1"  # without the preset, the model's own recipe
    with pytest.raises(ModelError, match="unknown recipe 'nope'; choose one of: paper"):
        recipe_for("unet_s2", "nope")
    assert set(RECIPES) == {"paper"}


def test_an_epoch_is_172_samples_in_batches_of_32(photos):
    from edge_deblur.crops import CropSampler, tf_dataset
    from edge_deblur.data import scan_synthetic

    sampler = CropSampler(scan_synthetic(photos).pairs, 16, seed=0)
    sizes = [int(x.shape[0]) for x, _ in tf_dataset(sampler, 32, epoch_samples=172).take(12)]
    assert sizes == [32, 32, 32, 32, 32, 12] * 2
    first, again = (np.asarray(x) for x, _ in tf_dataset(sampler, 32, epoch_samples=172).take(2))
    assert not np.array_equal(first[:12], again[:12])  # each epoch draws new crops, the stream goes on


def test_plateau_callback_uses_the_recipe_values():
    from edge_deblur.train import TrainConfig, schedule_callbacks

    r = recipe_for("paper", "paper")
    cfg = TrainConfig(data=[], schedule=r.schedule, plateau_factor=r.plateau_factor,
                      plateau_patience=r.plateau_patience)
    (cb,) = schedule_callbacks(cfg)
    assert (type(cb).__name__, cb.monitor, cb.factor, cb.patience) == ("ReduceLROnPlateau", "val_loss", 0.1, 10)
    assert schedule_callbacks(TrainConfig(data=[], schedule="cosine")) == []


def test_train_with_the_paper_recipe_compiles_adam_mse_and_runs_172_samples(photos, tmp_path):
    import keras

    from edge_deblur.train import TrainConfig, train

    seen = {}

    class Probe(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            opt = self.model.optimizer
            seen.update(optimizer=type(opt).__name__, lr=float(np.asarray(opt.learning_rate)), loss=self.model.loss)

        def on_train_batch_end(self, batch, logs=None):
            seen["steps"] = seen.get("steps", 0) + 1

    r = recipe_for("tiny", "paper", epochs=2, size=16)
    out = tmp_path / "run"
    cfg = TrainConfig(data=[str(photos)], model="tiny", out=str(out), epochs=r.epochs, batch_size=r.batch_size,
                      size=r.size, lr=r.lr, loss=r.loss, schedule=r.schedule, recipe="paper",
                      samples_per_epoch=r.samples_per_epoch, plateau_factor=r.plateau_factor,
                      plateau_patience=r.plateau_patience)
    card = train(cfg, callbacks=[Probe()])
    assert seen == {"optimizer": "Adam", "lr": pytest.approx(1e-3), "loss": "mean_squared_error", "steps": 12}
    assert card["config"]["recipe"] == "paper" and card["config"]["batch_size"] == 32
    assert card["epochs_run"] == 2 and np.isfinite(card["metrics"]["psnr"])
    assert json.loads((out / "card.json").read_text())["config"]["samples_per_epoch"] == 172


def test_cli_recipe_option(photos, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["train", "--recipe", "nope", "--model", "tiny", "--data", str(photos),
                              "--out", str(tmp_path / "x")])
    assert res.exit_code == 2
    assert res.stderr.strip() == "error: unknown recipe 'nope'; choose one of: paper"
    res = runner.invoke(app, ["train", "--recipe", "paper", "--model", "tiny", "--data", str(photos), "--size", "16",
                              "--epochs", "1", "--out", str(tmp_path / "ok")])
    assert res.exit_code == 0, res.output
    assert "6 steps (172 crops, batch 32) per epoch" in " ".join(res.output.split())
