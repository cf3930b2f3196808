"""Multi-worker training (tf.distribute.MultiWorkerMirroredStrategy) with real worker processes on localhost."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import ROOT, smooth_image
from edge_deblur.cli import app
from edge_deblur.distribute import backed_up_epoch, localhost_tf_configs
from edge_deblur.images import write_image

TINY = ["train", "--model", "tiny", "--dataset", "synthetic", "--size", "32", "--batch-size", "4"]
OUTPUTS = ["model.keras", "last.keras", "state.json", "history.csv", "loss_curve.png", "predictions.png", "card.json"]
# Two workers all-reduce the gradients of their halves of each global batch; one process takes the mean over the
# whole batch. Only the float summation order differs: measured 1.5e-8 max weight difference after 4 steps.
WEIGHT_ATOL = 1e-5
TIMEOUT = 300  # seconds per cluster run: TensorFlow start-up on 2 busy shared cores is slow


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Ten small photo-like images: 8 train / 1 val / 1 test scenes."""
    root = tmp_path_factory.mktemp("photos")
    for i in range(10):
        write_image(root / f"img{i}.png", smooth_image(48, 56, i))
    return root


def _start_cluster(args: list, logs: Path, tag: str) -> list[subprocess.Popen]:
    """Two worker processes running the same `edge-deblur` command, each with its own TF_CONFIG."""
    procs = []
    for i, tf_config in enumerate(localhost_tf_configs(2)):
        env = dict(os.environ, TF_CONFIG=tf_config, TF_CPP_MIN_LOG_LEVEL="3", COLUMNS="200", PYTHONPATH=str(ROOT))
        log = open(logs / f"{tag}-worker{i}.log", "w")
        procs.append(subprocess.Popen([sys.executable, "-m", "edge_deblur", *map(str, args)], cwd=ROOT, env=env,
                                      stdout=log, stderr=subprocess.STDOUT))
        log.close()
    return procs


def _finish(procs: list[subprocess.Popen], logs: Path, tag: str) -> list[str]:
    """Wait for the workers; their outputs, after asserting that every one exited 0."""
    try:
        for p in procs:
            p.wait(timeout=TIMEOUT)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    texts = [(logs / f"{tag}-worker{i}.log").read_text() for i in range(len(procs))]
    for i, (p, text) in enumerate(zip(procs, texts)):
        assert p.returncode == 0, f"worker {i} exited {p.returncode}:\n{text[-3000:]}"
    return texts


def _digest(text: str) -> str:
    return re.search(r"final weights digest ([0-9a-f]+)", text).group(1)


def _history(out: Path) -> list[dict]:
    with open(out / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow  # three TensorFlow processes: 33-85 s on 2 shared cores at load ~10 (suite: 19 min, not 2.5)
def test_two_workers_train_in_step_with_one_process(photos, tmp_path):
    from edge_deblur.distribute import weights_digest
    from edge_deblur.train import load_keras

    run = [*TINY, "--data", photos, "--epochs", 2, "--steps-per-epoch", 2]
    procs = _start_cluster([*run, "--out", tmp_path / "cluster"], tmp_path, "run")
    # meanwhile, the same run (same global batch of 4) in one process: no TF_CONFIG here, so the default strategy
    single = CliRunner().invoke(app, [str(a) for a in [*run, "--out", tmp_path / "single"]])
    assert single.exit_code == 0, single.output
    texts = _finish(procs, tmp_path, "run")

    out = tmp_path / "cluster"
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)  # no worker folder, no backup left behind
    card = json.loads((out / "card.json").read_text())
    assert card["strategy"] == "multi-worker" and card["replicas"] == 2
    assert "strategy multi-worker (worker 1 of 2, 2 replicas in all)" in " ".join(texts[1].split())
    assert "wrote" not in texts[1]  # only the chief reports writing the run folder
    chief = load_keras(out / "last.keras")
    assert _digest(texts[0]) == _digest(texts[1]) == weights_digest(chief)  # the workers' final weights agree
    alone = load_keras(tmp_path / "single" / "last.keras")
    for a, b in zip(chief.get_weights(), alone.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=WEIGHT_ATOL)
    for ra, rb in zip(_history(out), _history(tmp_path / "single")):
        assert float(ra["loss"]) == pytest.approx(float(rb["loss"]), rel=1e-4)
        assert float(ra["val_psnr"]) == pytest.approx(float(rb["val_psnr"]), abs=1e-3)


@pytest.mark.slow  # two 2-process clusters in a row: 121-251 s on 2 shared cores at load ~10
def test_cluster_resumes_from_its_backups_after_a_worker_is_killed(photos, tmp_path):
    from edge_deblur.train import load_keras

    epochs, steps = 4, 8
    out = tmp_path / "cluster"
    run = [*TINY, "--data", photos, "--epochs", epochs, "--steps-per-epoch", steps, "--out", out]
    backups = [out / "backup", out / "workertemp_1" / "backup"]
    procs = _start_cluster(run, tmp_path, "first")
    deadline = time.time() + TIMEOUT
    try:
        while not all((backed_up_epoch(b) or 0) >= 1 for b in backups):
            assert all(p.poll() is None for p in procs), "a worker ended before the first backup"
            assert time.time() < deadline, "no backup within the time limit"
            time.sleep(0.05)
        procs[1].kill()  # worker 1 dies mid-run; the chief cannot go on without it
        procs[1].wait()
        try:
            procs[0].wait(timeout=30)
        except subprocess.TimeoutExpired:
            procs[0].kill()
            procs[0].wait()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    done = [backed_up_epoch(b) for b in backups]
    assert done[0] == done[1] and 1 <= done[0] < epochs, done
    assert not (out / "card.json").exists()

    texts = _finish(_start_cluster([*run, "--resume"], tmp_path, "again"), tmp_path, "again")
    for text in texts:
        assert f"resuming at epoch {done[0] + 1} of {epochs} from the backup" in text
        assert f"Epoch {done[0] + 1}/{epochs}" in text and f"Epoch 1/{epochs}" not in text
    assert _digest(texts[0]) == _digest(texts[1])
    assert [int(r["epoch"]) for r in _history(out)] == list(range(1, epochs + 1))
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)
    model = load_keras(out / "last.keras", compile=True)
    assert int(model.optimizer.iterations.numpy()) == epochs * steps  # the optimizer state came back from the backup


@pytest.mark.parametrize("env, args, message", [
    ("", ["--strategy", "multi-worker"], "needs TF_CONFIG"),
    ("", ["--strategy", "ring"], "unknown strategy 'ring'"),
    ("{not json", [], "TF_CONFIG is not valid JSON"),
    ('{"cluster": {"ps": ["h:1"]}, "task": {"type": "ps", "index": 0}}', [], "'chief'/'worker' tasks"),
    ('{"cluster": {"worker": ["h:1"]}, "task": {"type": "worker", "index": 0}}', ["--devices", "/cpu:0"],
     "--devices does not apply to multi-worker"),
])
def test_strategy_choice_errors_are_one_line(photos, tmp_path, monkeypatch, env, args, message):
    monkeypatch.setenv("TF_CONFIG", env)
    res = CliRunner().invoke(app, [str(a) for a in [*TINY, "--data", photos, "--out", tmp_path / "o", *args]])
    assert res.exit_code == 2 and message in res.stderr, res.output
