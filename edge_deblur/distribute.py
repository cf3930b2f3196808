"""Training on several devices or machines with TensorFlow's own `tf.distribute` strategies.

`--strategy` (see `make_strategy`):
- `default`: one device (the CPU or the only GPU).
- `mirrored`: `tf.distribute.MirroredStrategy`: one machine, several devices (all its GPUs, or `--devices`).
- `multi-worker`: `tf.distribute.MultiWorkerMirroredStrategy`: several machines ("workers"). Every worker runs the
  same `edge-deblur train` command with its own `TF_CONFIG`; each mirrors the model over all its GPUs (or its CPU)
  and gradients are all-reduced over every replica of every worker (RING on CPUs, NCCL on GPUs: TF's AUTO choice).
- `auto` (the default): `multi-worker` when `TF_CONFIG` is set, else `mirrored` when `--devices` is given or several
  GPUs are visible, else `default`.

Batch and learning rate: `--batch-size` is the global batch; it is split evenly over all replicas, so a run sees the
same batches whatever the number of workers. `--lr` is used as given, never scaled: if you grow the global batch
with the cluster (k times the batch), raise `--lr` yourself (k times is the linear rule; with Adam a factor nearer
sqrt(k) is usually safer).

Input sharding: the training crops come from Python (`tf.data.Dataset.from_generator`), so there are no files for
tf.data's FILE policy to split; `crops.tf_dataset` declares `AutoShardPolicy.DATA`. Every worker runs the same seeded
crop stream and keeps only its own slice of each global batch: each worker trains on different crops and the cluster
sees exactly the crops one process with the same global batch would. The cost: every worker generates the whole
global batch, so the input pipeline's CPU work does not shrink as workers are added.

Files: the chief (worker 0, or the `chief` task) writes the run folder. Every other worker writes the same
checkpoints into `OUT/workertemp_<i>` (the multi-worker saving pattern TensorFlow documents: a save may need every
worker, only the chief's copy is kept) and removes that folder when the run ends. Fault tolerance: each worker keeps a
`keras.callbacks.BackupAndRestore` backup (weights, optimizer state, epoch) in `<its folder>/backup`, written at
every epoch end and deleted when the run finishes. After a worker dies, stop the others and rerun the same commands
with `--resume`: every worker restores its own backup, so the cluster continues at the same epoch.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from edge_deblur.errors import DataError, TrainingError

STRATEGIES = ("auto", "default", "mirrored", "multi-worker")


@dataclass(frozen=True)
class Worker:
    """This process's place in the cluster: `index` 0 is the chief; `count` workers in all (1 without a cluster)."""

    index: int = 0
    count: int = 1

    @property
    def is_chief(self) -> bool:
        return self.index == 0


def _tf_config() -> dict:
    """The parsed `TF_CONFIG` environment variable ({} when unset)."""
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return {}
    try:
        cfg = json.loads(raw)
    except json.JSONDecodeError as e:
        raise DataError(f"TF_CONFIG is not valid JSON ({e})") from None
    jobs = set((cfg.get("cluster") or {})) - {"chief", "worker"}
    if not cfg.get("cluster") or jobs or (cfg.get("task") or {}).get("type") not in ("chief", "worker"):
        raise DataError("TF_CONFIG must name a cluster of 'chief'/'worker' tasks and this process's task, e.g. "
                        '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", '
                        f'"index": 0}}}}; got {raw[:200]}')
    return cfg


def localhost_tf_configs(n: int) -> list[str]:
    """TF_CONFIG values for a cluster of `n` workers on this machine, one per worker (index order).

    The ports are chosen free by the OS a moment before; for trying multi-worker training (and testing it) on one box.

    Example:
        >>> env = dict(os.environ, TF_CONFIG=localhost_tf_configs(2)[1])  # for the second worker's process
    """
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("localhost", 0))
        hosts = [f"localhost:{s.getsockname()[1]}" for s in socks]
    finally:
        for s in socks:
            s.close()
    return [json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}}) for i in range(n)]


def make_strategy(name: str = "auto", devices: Sequence[str] | None = None):
    """The `tf.distribute` strategy to train under (see the module docstring for the choices).

    A multi-worker strategy must be made before TensorFlow runs its first op in the process.

    Args:
        name: "auto", "default", "mirrored" or "multi-worker".
        devices: devices for MirroredStrategy, e.g. ["/gpu:0", "/gpu:1"] (None: all GPUs).

    Returns:
        A `tf.distribute.Strategy`.

    Raises:
        DataError: unknown name, `devices` with a strategy that takes none, multi-worker without TF_CONFIG.
        TrainingError: multi-worker asked for after TensorFlow already started in this process.
    """
    import tensorflow as tf

    if name not in STRATEGIES:
        raise DataError(f"unknown strategy '{name}'; choose one of: {', '.join(STRATEGIES)}")
    cluster = _tf_config()
    if name == "auto":
        name = "multi-worker" if cluster else "mirrored" if devices else "auto"
    if name == "multi-worker":
        if devices:
            raise DataError("--devices does not apply to multi-worker training: every worker uses all its GPUs "
                            "(limit them with CUDA_VISIBLE_DEVICES) or its CPU")
        if not cluster:
            raise DataError("--strategy multi-worker needs TF_CONFIG (the cluster and this worker's place in it); "
                            "see 'Training on several machines' in the README")
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as e:  # "Collective ops must be configured at program startup"
            raise TrainingError(f"multi-worker training must start before TensorFlow runs anything in this process "
                                f"(train in a fresh process): {e}") from None
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(list(devices) if devices else None)
    if devices:
        raise DataError(f"--devices needs --strategy mirrored (or auto), not {name}")
    if name == "auto" and len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def strategy_name(strategy) -> str:
    """The `--strategy` choice that `strategy` implements: "default", "mirrored" or "multi-worker"."""
    import tensorflow as tf

    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "multi-worker"
    if isinstance(strategy, tf.distribute.MirroredStrategy):
        return "mirrored"
    return "default"


def is_multi_worker(strategy) -> bool:
    """True for a MultiWorkerMirroredStrategy (any number of workers)."""
    return strategy_name(strategy) == "multi-worker"


def worker_of(strategy) -> Worker:
    """This process's place in the cluster `strategy` spans (index 0 of 1 outside a multi-worker run)."""
    if not is_multi_worker(strategy):
        return Worker()
    resolver = strategy.cluster_resolver
    jobs = resolver.cluster_spec().as_dict()
    chiefs = len(jobs.get("chief", []))
    index = 0 if resolver.task_type == "chief" else chiefs + int(resolver.task_id)
    return Worker(index=index, count=chiefs + len(jobs.get("worker", [])))


def describe(strategy) -> str:
    """A readable line about `strategy`, e.g. "multi-worker (worker 1 of 2, 2 replicas in all)"."""
    name, worker, replicas = strategy_name(strategy), worker_of(strategy), strategy.num_replicas_in_sync
    where = f"worker {worker.index} of {worker.count}, " if name == "multi-worker" else ""
    return f"{name} ({where}{replicas} replica{'s' if replicas > 1 else ''} in all)"


def worker_dir(out: Path, worker: Worker) -> Path:
    """Where `worker` writes: the run folder on the chief, a temporary `workertemp_<i>` inside it elsewhere."""
    return Path(out) if worker.is_chief else Path(out) / f"workertemp_{worker.index}"


def backed_up_epoch(backup: str | os.PathLike) -> int | None:
    """Epochs completed according to the BackupAndRestore backup in folder `backup` (None: no readable backup)."""
    meta = Path(backup) / "training_metadata.json"  # written by keras.callbacks.BackupAndRestore with the weights
    try:
        return int(json.loads(meta.read_text())["epoch"])
    except (OSError, ValueError, KeyError):  # absent, or cut short by a kill (Keras does not write it atomically)
        return None


def _on_every_worker(strategy, value: int) -> list[int]:
    """`value` as each worker of the cluster holds it, in worker order (an all-gather over the replicas)."""
    import tensorflow as tf

    local = strategy.experimental_distribute_values_from_function(lambda _: tf.constant([value], tf.int64))
    per_replica = [int(v) for v in strategy.gather(local, axis=0).numpy()]
    return per_replica[:: len(strategy.extended.worker_devices)]  # replicas are in worker order


def resume_point(strategy, out: Path, resume: bool, epochs: int, console=None) -> tuple[int, float, int]:
    """Where a multi-worker run starts: (epoch, best val PSNR so far, its epoch), from this worker's backup.

    Without `resume`, a folder that holds a backup or a previous run is refused. With it, the backup's epoch is
    where `fit` continues (BackupAndRestore restores the weights and optimizer); the best score comes from the
    worker's `state.json`. Every worker must hold a backup of the same epoch.

    Raises:
        DataError: nothing to resume, a run in the way, the backups of the workers disagree, or no epochs left.
    """
    backup = out / "backup"
    done = backed_up_epoch(backup)
    if not resume:
        if done is not None or (out / "last.keras").exists():
            raise DataError(f"{out}: holds a previous run; pass --resume to continue it or choose another --out")
        return 0, -np.inf, 0
    seen = _on_every_worker(strategy, -1 if done is None else done)
    if min(seen) < 0:
        raise DataError(f"{backup}: no backup on worker(s) {[i for i, e in enumerate(seen) if e < 0]} (a finished "
                        "multi-worker run deletes its backups); to train a finished run further, start a new --out "
                        "with --init OUT/model.keras")
    if len(set(seen)) > 1:
        raise DataError(f"the workers' backups are of different epochs {seen}: a worker died while the others "
                        "were saving; delete OUT/backup and OUT/workertemp_* and resume on one machine (no "
                        "TF_CONFIG) from the chief's last.keras")
    if done >= epochs:
        raise DataError(f"{out}: already trained {done} of {epochs} epochs; raise --epochs to continue")
    from edge_deblur.train import read_state

    state = read_state(out / "state.json") if (out / "state.json").is_file() else {}
    if state.get("epoch", 0) > done:  # last.keras is further on (the backup is written first each epoch)
        raise DataError(f"{backup} is older ({done} epochs) than {out}/last.keras ({state['epoch']} epochs): "
                        "the run went on without this cluster; delete the backups and resume on one machine")
    if console is not None:
        console.print(f"resuming at epoch {done + 1} of {epochs} from the backup in {backup}")
    return done, float(state.get("best", -np.inf)), int(state.get("best_epoch", 0))


def callbacks(strategy, out: Path) -> list:
    """The fault-tolerance callback of a multi-worker run (a BackupAndRestore in `out/backup`); [] otherwise."""
    import keras

    if not is_multi_worker(strategy):
        return []
    return [keras.callbacks.BackupAndRestore(str(out / "backup"), save_freq="epoch", delete_checkpoint=True)]


def prepare(model, strategy, batch_size: int, size: int) -> None:
    """Ready a model compiled under a multi-worker `strategy` for Keras `fit` (nothing to do for other strategies).

    Keras 3 `fit` fails under MultiWorkerMirroredStrategy (https://github.com/keras-team/keras/issues/20585): it
    reduces a whole input batch across workers to build the model, and all-reduces scalar metrics along axis 0.
    Here the model is built from the input shape instead, its optimizer built inside the strategy, and each step's
    metrics reported as 1-element vectors, which Keras then averages over the workers into scalars.

    Raises:
        DataError: the global batch does not split evenly over the replicas.
    """
    import tensorflow as tf

    if not is_multi_worker(strategy):
        return
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise DataError(f"--batch-size {batch_size} is the global batch; it must split evenly over the "
                        f"{replicas} replicas of the cluster")
    spec = (tf.TensorSpec((batch_size // replicas, size, size, 3), tf.float32),) * 2

    def symbolic_build(iterator=None, data_batch=None):
        with strategy.scope():
            model._symbolic_build(data_batch=spec if data_batch is None else data_batch)

    model._maybe_symbolic_build = symbolic_build
    with strategy.scope():
        model.optimizer.build(model.trainable_variables)
    if worker_of(strategy).count > 1:  # Keras takes its all-reduce path only with several workers
        for step in ("train_step", "test_step"):
            setattr(model, step, _as_vectors(getattr(model, step)))


def _as_vectors(step):
    """Wrap a Keras train/test step so that its scalar logs become shape-(1,) tensors."""
    import tensorflow as tf

    def wrapped(data):
        return {k: tf.reshape(v, [1]) for k, v in step(data).items()}

    return wrapped


def weights_digest(model) -> str:
    """sha256 (first 16 hex digits) of a model's weights: equal on every worker of a run that stayed in sync."""
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w, dtype=np.float32).tobytes())
    return h.hexdigest()[:16]


def finish(strategy, model, out: Path, console) -> bool:
    """End a run on this worker: print its weights digest (multi-worker runs) and remove a non-chief's folder.

    Returns:
        True on the chief (it goes on to write the card and figures), False on any other worker.
    """
    worker = worker_of(strategy)
    if is_multi_worker(strategy):
        console.print(f"worker {worker.index} of {worker.count}: final weights digest {weights_digest(model)}")
    if worker.is_chief:
        return True
    shutil.rmtree(out, ignore_errors=True)
    return False
