"""Keras callbacks of a training run: atomic checkpoints and state (`last.keras`, `state.json`, `model.keras`),
an atomic CSV history, the run-time estimate and the epoch lines; plus readers of what they write."""

from __future__ import annotations

import csv
import json
import math
import os
import time
from pathlib import Path

import numpy as np

from edge_deblur._io import atomic_path, write_json, write_text
from edge_deblur._text import counted


class _Checkpointer:
    """Keras callback factory: atomic `last.keras` + `state.json` each epoch, `model.keras` when val PSNR improves
    (passed through `export_fn` first, e.g. to strip QAT layers)."""

    @staticmethod
    def make(out: Path, best: float, best_epoch: int, export_fn=None):
        import keras

        class Checkpointer(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.best, self.best_epoch = best, best_epoch

            def on_epoch_end(self, epoch, logs=None):
                logs = logs or {}
                if not all(math.isfinite(float(v)) for v in logs.values() if np.ndim(v) == 0):
                    return  # never overwrite a good checkpoint with NaN weights
                score = float(logs.get("val_psnr", -logs.get("val_loss", np.inf)))
                if score > self.best:
                    self.best, self.best_epoch = score, epoch + 1
                    with atomic_path(out / "model.keras") as tmp:
                        _without_optimizer(export_fn(self.model) if export_fn else self.model).save(tmp)
                with atomic_path(out / "last.keras") as tmp:
                    self.model.save(tmp)  # with the optimizer state: --resume continues from it
                write_json(out / "state.json", {"epoch": epoch + 1, "best": self.best, "best_epoch": self.best_epoch,
                                                "counting": "from 1"})

        return Checkpointer()


def _without_optimizer(model):
    """The same network (shared layers and weights) without the optimizer: what `model.keras` ships (about a
    third of the size of a file with Adam's two slots per weight)."""
    import keras

    from edge_deblur.models import single_io

    if getattr(model, "optimizer", None) is None or not getattr(model, "inputs", None):
        return model
    return single_io(keras.Model(model.inputs, model.outputs, name=model.name))


def read_state(path: Path) -> dict:
    """`state.json` with epochs counted from 1 (epochs done, best epoch); files written before that counted from 0."""
    state = json.loads(Path(path).read_text())
    if state.get("counting") != "from 1":
        state = {**state, "epoch": state["epoch"] + 1, "best_epoch": state["best_epoch"] + 1, "counting": "from 1"}
    return state


def _duration(seconds: float) -> str:
    """'45 s', '12 min' or '1.6 h'."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{round(seconds / 60)} min"


class _TimeEstimate:
    """Keras callback factory: after the first timed steps, say how long the whole run will take."""

    @staticmethod
    def make(say, steps: int, epochs: int, start_epoch: int, timed_steps: int = 5):
        import keras

        class Estimate(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.t0, self.epoch_t0, self.said = None, None, False

            def on_epoch_begin(self, epoch, logs=None):
                self.epoch_t0 = time.perf_counter()

            def on_train_batch_begin(self, batch, logs=None):
                if batch == 1 and self.t0 is None:  # batch 0 also traces the graph: time from batch 1 on
                    self.t0 = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                if self.said or self.t0 is None or batch < timed_steps:
                    return
                per_step = (time.perf_counter() - self.t0) / batch
                left = epochs - start_epoch
                say(f"estimated training time: about {_duration(per_step * steps * left)} ({per_step:.2f} s/step x "
                    f"{steps} steps x {counted(left, 'epoch')}, plus validation)")
                self.said = True

            def on_epoch_end(self, epoch, logs=None):
                if epoch == start_epoch and epoch + 1 < epochs:
                    took = time.perf_counter() - self.epoch_t0
                    say(f"epoch {epoch + 1} took {_duration(took)}; about {_duration(took * (epochs - epoch - 1))} "
                        "to go")

        return Estimate()


def _metrics_text(logs: dict, prefix: str = "") -> str:
    """'loss 0.0440  PSNR 27.24  SSIM 0.8464' from Keras logs (the keys with `prefix`, e.g. 'val_')."""
    names = {"loss": ("loss", "{:.4f}"), "psnr": ("PSNR", "{:.2f}"), "ssim": ("SSIM", "{:.4f}")}
    return "  ".join(f"{label} {fmt.format(float(logs[prefix + key]))}" for key, (label, fmt) in names.items()
                     if prefix + key in logs)


class _EpochLog:
    """Keras callback factory: one line per epoch that fits a 100-column terminal (Keras' own end-of-epoch line with
    validation metrics runs to ~130 columns and wraps there), and on a terminal a transient bar during the epoch;
    other messages printed through the same rich console appear above the bar, never inside it."""

    @staticmethod
    def make(console, steps: int, epochs: int):
        import keras

        class EpochLog(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.bar, self.task, self.t0, self.epoch = None, None, 0.0, 0

            def on_epoch_begin(self, epoch, logs=None):
                self.t0, self.epoch = time.perf_counter(), epoch
                if console.is_terminal:
                    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

                    self.bar = Progress(TextColumn("{task.description}"), BarColumn(bar_width=24),
                                        MofNCompleteColumn(), TextColumn("{task.fields[metrics]}"),
                                        console=console, transient=True)
                    self.task = self.bar.add_task(f"Epoch {epoch + 1}/{epochs}", total=steps, metrics="")
                    self.bar.start()

            def on_train_batch_end(self, batch, logs=None):
                if self.bar is not None:
                    self.bar.update(self.task, completed=batch + 1, metrics=_metrics_text(logs or {}))

            def on_test_begin(self, logs=None):
                if self.bar is not None:
                    self.bar.update(self.task, description=f"Epoch {self.epoch + 1}/{epochs} validating")

            def on_epoch_end(self, epoch, logs=None):
                self.close()
                logs = logs or {}
                took = time.perf_counter() - self.t0
                line = f"Epoch {epoch + 1}/{epochs}  {_duration(took)}  {_metrics_text(logs)}"
                if any(k.startswith("val_") for k in logs):
                    line += f"  | val {_metrics_text(logs, 'val_')}"
                console.print(line, highlight=False, soft_wrap=True)

            def close(self):
                """Stop the bar (also after an interrupted `fit`, which never calls on_train_end)."""
                if self.bar is not None:
                    self.bar.stop()
                    self.bar = None

            def on_train_end(self, logs=None):
                self.close()

        return EpochLog()


class _AtomicCSVLogger:
    """Keras callback factory: append one row per epoch to history.csv, rewriting the file atomically."""

    @staticmethod
    def make(path: Path):
        import keras

        class Logger(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                logs = dict(logs or {})
                lr = self.model.optimizer.learning_rate
                logs["lr"] = float(lr.numpy() if hasattr(lr, "numpy") else lr)
                rows = read_history(path)
                rows = [r for r in rows if int(r["epoch"]) < epoch + 1]
                rows.append({"epoch": epoch + 1, **{k: float(v) for k, v in logs.items()}})
                keys = list(dict.fromkeys(k for r in rows for k in r))
                lines = [",".join(keys)] + [",".join(str(r.get(k, "")) for k in keys) for r in rows]
                write_text(path, "\n".join(lines) + "\n")

        return Logger()


def read_history(path: str | os.PathLike) -> list[dict]:
    """Rows of a history.csv as dicts (values as strings); [] if the file does not exist."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
