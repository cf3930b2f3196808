"""Real files the campaign attacks: a tiny exported model (float16, int8), foreign TFLite models, small photos.

Everything is made once under the work folder (default /tmp/edge_deblur_campaign) and reused by later runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from benchmarks.campaign.common import env, repo_root


def smooth_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """The test suite's photo-like image (tests/conftest.py), as uint8 RGB."""
    tests = str(repo_root() / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    from conftest import smooth_image as smooth

    return (smooth(h, w, seed) * 255 + 0.5).astype(np.uint8)


def photos(folder: Path, n: int = 12, size: int = 72, seed: int = 0) -> Path:
    """`n` PNG photos of `size` px in `folder` (made once)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        p = folder / f"p{k:02d}.png"
        if not p.exists():
            Image.fromarray(smooth_image(size, size + 8, seed + k)).save(p)
    return folder


def tiny_exports(work: Path) -> dict[str, Path]:
    """{'keras', 'float16', 'int8'}: a tiny model with random weights, exported at 32x32 by the real CLI."""
    out = work / "tiny"
    files = {"keras": out / "tiny.keras", "float16": out / "tiny_float16.tflite", "int8": out / "tiny_int8.tflite"}
    if all(p.is_file() for p in files.values()):
        return files
    out.mkdir(parents=True, exist_ok=True)
    data = photos(work / "photos")
    code = ("import keras, sys; from edge_deblur.models import build_model; keras.utils.set_random_seed(0); "
            "build_model('tiny').save(sys.argv[1])")
    subprocess.run([sys.executable, "-c", code, str(files["keras"])], check=True, env=env(), cwd=repo_root())
    subprocess.run([sys.executable, "-m", "edge_deblur", "export", str(files["keras"]), "-q", "float16", "-q", "int8",
                    "--data", str(data), "--size", "32", "--calibration-samples", "16", "--verify-images", "1",
                    "--out", str(out)], check=True, env=env(), cwd=repo_root(), capture_output=True)
    return files


_FOREIGN = r'''
import sys, numpy as np, tensorflow as tf
out = sys.argv[1]
def save(name, fn, specs, int8=False):
    conv = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function(*specs)], fn)
    if int8:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([np.random.rand(*[d or 32 for d in s.shape]).astype(np.float32)]
                                               for s in specs for _ in range(4))
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    open(f"{out}/{name}.tflite", "wb").write(conv.convert())
S = lambda *shape, dt=tf.float32: tf.TensorSpec(shape, dt)
k = tf.constant(np.random.default_rng(0).normal(0, .1, (3, 3, 3, 3)).astype(np.float32))
conv2d = lambda x: tf.nn.conv2d(x, k, 1, "SAME")
save("plain", tf.function(lambda x: tf.clip_by_value(x + conv2d(x), 0., 1.)), [S(1, 32, 32, 3)])
save("plain_int8", tf.function(lambda x: tf.clip_by_value(x + conv2d(x), 0., 1.)), [S(1, 32, 32, 3)], int8=True)
save("identity", tf.function(lambda x: x * 1.0), [S(1, 32, 32, 3)])
save("nan_out", tf.function(lambda x: tf.math.log(x - 2.0)), [S(1, 32, 32, 3)])
save("inf_out", tf.function(lambda x: x / (x - x)), [S(1, 32, 32, 3)])
save("black_out", tf.function(lambda x: x * 0.0), [S(1, 32, 32, 3)])
save("dynamic", tf.function(lambda x: x + conv2d(x)), [S(1, None, None, 3)])
save("dynamic_batch", tf.function(lambda x: x + conv2d(x)), [S(None, 32, 32, 3)])
save("gray_in", tf.function(lambda x: tf.concat([x, x, x], -1)), [S(1, 32, 32, 1)])
save("rgba_io", tf.function(lambda x: x * 0.5), [S(1, 32, 32, 4)])
save("two_inputs", tf.function(lambda x, y: x + y), [S(1, 32, 32, 3), S(1, 32, 32, 3)])
save("two_outputs", tf.function(lambda x: (x, x * 2)), [S(1, 32, 32, 3)])
save("smaller_out", tf.function(lambda x: x[:, :16, :16]), [S(1, 32, 32, 3)])
save("tiny_input", tf.function(lambda x: x * 1.0), [S(1, 8, 8, 3)])
save("int32_in", tf.function(lambda x: tf.cast(x, tf.float32) / 255.), [S(1, 32, 32, 3, dt=tf.int32)])
save("flat_in", tf.function(lambda x: x * 1.0), [S(1, 3072)])
save("while_loop", tf.function(lambda x: tf.while_loop(lambda i, y: i < 3, lambda i, y: (i + 1, y * 0.9),
                                                       [tf.constant(0), x])[1]), [S(1, 32, 32, 3)])
save("cond", tf.function(lambda x: tf.cond(tf.reduce_mean(x) > 0.5, lambda: x * 0.5, lambda: x)), [S(1, 32, 32, 3)])
'''


def foreign_models(work: Path) -> dict[str, Path]:
    """Plain tf.lite models without edge-deblur metadata: name -> path (made once)."""
    out = work / "foreign"
    if not (out / "cond.tflite").is_file():
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-c", _FOREIGN, str(out)], check=True, env=env(), cwd=repo_root(),
                       capture_output=True)
    return {p.stem: p for p in sorted(out.glob("*.tflite"))}


def work_dir() -> Path:
    """The campaign's scratch folder."""
    return Path(os.environ.get("EDGE_DEBLUR_CAMPAIGN_DIR", "/tmp/edge_deblur_campaign"))
