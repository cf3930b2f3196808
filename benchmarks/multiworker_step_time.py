"""Step time of one training process vs a two-worker MultiWorkerMirroredStrategy cluster on this machine.

Both runs train the same model on the same global batch through `edge_deblur.train.train`: "1 worker" is one process
under the default strategy; "2 workers" is two processes on localhost ports, each with its own TF_CONFIG, each
computing half of every batch and all-reducing gradients over gRPC (ring collectives on CPU). The first epoch (graph
tracing, cluster start-up) is not timed; the median and p90 of the later steps' wall time are reported, as seen by
the chief, pooled over `--repeats` runs of each, run in the order 1,2,2,1 so a drifting machine load hits both.
Photos are generated (48 smooth images of 128x128) so the run needs no data folder.

On one machine the two workers share its cores, so expect no speed-up (each worker also generates the whole global
batch of crops, the DATA sharding cost); the point of the multi-worker path is correctness, and on separate machines
the compute per step halves while the all-reduce of the gradients is added.

Usage (from the repository root):
    python benchmarks/multiworker_step_time.py            # -> benchmarks/results/multiworker_step_time.json
    python benchmarks/multiworker_step_time.py --model tiny --size 32 --out /tmp/mw.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Runs in each training process: train() with a callback that times every step after the first epoch.
WORKER = """
import json, sys, time
import keras
from edge_deblur.train import TrainConfig, train

class StepTimer(keras.callbacks.Callback):
    times = []
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
    def on_train_batch_begin(self, batch, logs=None):
        self.t0 = time.perf_counter()
    def on_train_batch_end(self, batch, logs=None):
        if self.epoch >= 1:
            self.times.append(time.perf_counter() - self.t0)

cfg = TrainConfig(**json.loads(sys.argv[1]))
train(cfg, callbacks=[StepTimer()])
print("STEP_TIMES", json.dumps(StepTimer.times))
"""


def _photos(folder: Path) -> Path:
    import numpy as np

    from edge_deblur.images import write_image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:128, 0:128].astype(np.float32)
    for i in range(48):
        waves = [np.sin(xx / (4 + c + i % 5) + yy / (6 + c) + rng.uniform(0, 6)) for c in range(3)]
        img = 0.5 + 0.4 * np.stack(waves, -1)
        write_image(folder / f"photo{i:02d}.png", np.clip(img, 0, 1).astype(np.float32))
    return folder


def _run(workers: int, cfg: dict, timeout: float) -> tuple[list[float], float]:
    """Train with `workers` processes (1: no cluster); the chief's timed step times (ms) and the wall time (s)."""
    from edge_deblur.distribute import localhost_tf_configs

    configs = localhost_tf_configs(workers)
    procs = []
    t0 = time.time()
    for i in range(workers):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
        env.pop("TF_CONFIG", None)
        if workers > 1:
            env["TF_CONFIG"] = configs[i]
        procs.append(subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(cfg)], cwd=ROOT, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [p.communicate(timeout=timeout)[0] for p in procs]
    for p, text in zip(procs, outputs):
        if p.returncode:
            raise SystemExit(f"a training process failed:\n{text[-3000:]}")
    times = json.loads(outputs[0].split("STEP_TIMES", 1)[1])
    return [1000 * t for t in times], time.time() - t0


def _row(workers: int, ms: list[float], walls: list[float]) -> dict:
    ms = sorted(ms)
    return {"workers": workers, "runs": len(walls), "steps_timed": len(ms), "median_ms": round(ms[len(ms) // 2], 1),
            "p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 1), "wall_s_per_run": [round(w, 1) for w in walls]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="unet_xs")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8, help="global batch (split over the workers)")
    ap.add_argument("--steps", type=int, default=10, help="steps per epoch")
    ap.add_argument("--epochs", type=int, default=3, help="epochs (the first is not timed)")
    ap.add_argument("--repeats", type=int, default=2, help="runs of each; ordered 1,2,2,1,... so drift cancels")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "multiworker_step_time.json")
    args = ap.parse_args()

    sys.path.insert(0, str(ROOT))
    from edge_deblur._io import write_json

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        photos = _photos(Path(tmp) / "photos")
        ms, walls = {1: [], 2: []}, {1: [], 2: []}
        order = [w for r in range(args.repeats) for w in ((1, 2) if r % 2 == 0 else (2, 1))]
        for n, workers in enumerate(order):
            cfg = {"data": [str(photos)], "model": args.model, "out": str(Path(tmp) / f"run{n}"),
                   "epochs": args.epochs, "batch_size": args.batch_size, "size": args.size,
                   "steps_per_epoch": args.steps, "val_crops_per_image": 1}
            times, wall = _run(workers, cfg, args.timeout)
            ms[workers] += times
            walls[workers].append(wall)
            print(f"{workers} worker(s): median {sorted(times)[len(times) // 2]:.1f} ms/step", flush=True)
        rows = [_row(w, ms[w], walls[w]) for w in (1, 2)]
    result = {
        "what": "training step time, 1 process vs 2 MultiWorkerMirroredStrategy workers on localhost (CPU)",
        "model": args.model, "crop": args.size, "global_batch": args.batch_size,
        "steps_per_epoch": args.steps, "epochs": args.epochs, "timed": "steps after the first epoch, chief",
        "run_order": order,
        "rows": rows,
        "slowdown_2_vs_1": round(rows[1]["median_ms"] / rows[0]["median_ms"], 2),
        "machine": {"cpus": os.cpu_count(), "load_average_1min_before_after": [round(load_before, 2),
                                                                               round(os.getloadavg()[0], 2)],
                    "tensorflow": version("tensorflow"), "python": platform.python_version(),
                    "platform": platform.platform()},
        "command": "python benchmarks/multiworker_step_time.py " + " ".join(sys.argv[1:]),
    }
    write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
