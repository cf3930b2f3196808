"""Devices with only `tflite-runtime` (2.14, numpy<2) and no TensorFlow run the exported files too.

Builds a separate virtual environment once per session (tflite-runtime, numpy<2, pillow, and this package with
--no-deps, so neither TensorFlow nor ai-edge-litert is there), runs the int8 and float16 exports of `tiny` through
`edge_deblur.runtime` in it, and compares with the ai-edge-litert outputs of this environment. Without PyPI the test
skips (fails when the CI variable is set).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, smooth_image
from test_runtime import randomized

pytestmark = pytest.mark.slow


def _pip(python: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="session")
def tflite_runtime_python(tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("tflite_runtime_venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
    python = venv / "bin" / "python"
    deps = _pip(python, "tflite-runtime", "numpy<2", "pillow")
    if deps.returncode != 0:
        why = f"cannot install tflite-runtime, numpy<2 and pillow from PyPI: {deps.stderr.strip()[-400:]}"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    # ai-edge-litert is a core dependency, so the package goes in without its dependencies.
    own = _pip(python, "--no-deps", str(ROOT))
    assert own.returncode == 0, own.stderr[-2000:]
    return python


@pytest.fixture(scope="module")
def tiny_exports(tmp_path_factory):
    from edge_deblur.export import export_model
    from edge_deblur.images import write_image

    base = tmp_path_factory.mktemp("env_exports")
    for i in range(10):
        write_image(base / "photos" / f"p{i}.png", smooth_image(72, 96, seed=200 + i))
    keras_path = base / "tiny.keras"
    randomized("tiny", seed=5).save(keras_path)
    results = export_model(keras_path, ["float16", "int8"], data=base / "photos", out=base / "out",
                           calibration_samples=100, size=(32, 32), verify_images=1)
    return {r.precision: r.path for r in results}


RUNNER = textwrap.dedent("""
    import importlib.util, sys
    import numpy as np
    import edge_deblur.runtime as rt
    assert importlib.util.find_spec("tensorflow") is None and importlib.util.find_spec("ai_edge_litert") is None
    image = np.load(sys.argv[1])
    for path, out in zip(sys.argv[2::2], sys.argv[3::2]):
        d = rt.Deblurrer(path, num_threads=1)
        assert d.backend == "tflite_runtime", d.backend
        assert rt.read_metadata(path) == d.metadata
        np.save(out, d(image))
        print(path, d.precision, d.op_report()["not_delegated"])
        print("STRATEGY", d.precision, d.strategy)  # 'tiles' where this runtime could not resize the input
    print("numpy", np.__version__, "tensorflow imported:", "tensorflow" in sys.modules)
""")


def test_tflite_runtime_matches_ai_edge_litert(tflite_runtime_python, tiny_exports, tmp_path):
    from edge_deblur.runtime import Deblurrer

    image = smooth_image(50, 70, seed=9)  # larger than the 32x32 input: the tiling path runs too
    np.save(tmp_path / "image.npy", image)
    args = []
    for precision, path in tiny_exports.items():
        args += [str(path), str(tmp_path / f"{precision}.npy")]
    proc = subprocess.run([str(tflite_runtime_python), "-c", RUNNER, str(tmp_path / "image.npy"), *args],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "numpy 1." in proc.stdout and "tensorflow imported: False" in proc.stdout

    used = dict(line.split()[1:] for line in proc.stdout.splitlines() if line.startswith("STRATEGY"))
    assert set(used) == set(tiny_exports) and set(used.values()) <= {"strips", "tiles"}
    for precision, path in tiny_exports.items():  # the same strategy here, so only the runtimes differ
        here = Deblurrer(path, num_threads=1, backend="ai_edge_litert", strategy=used[precision])(image)
        there = np.load(tmp_path / f"{precision}.npy")
        assert there.shape == image.shape and there.dtype == np.float32
        diff = np.abs(there - here)
        if precision == "float16":
            assert diff.max() < 1e-4
        else:  # reference int8 kernels (2.14) vs XNNPACK round differently; the steps add up over the layers
            # (measured: 60.8 dB apart, mean 0.013 of an 8-bit step, a few pixels up to 6 steps)
            assert -10 * np.log10(np.mean(diff**2)) > 50 and diff.max() <= 10 / 255
