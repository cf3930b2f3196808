"""Trained benchmark weights kept small: the float16 weights of a registry architecture in an .npz under
`benchmarks/weights/`, turned back into a .keras file (in a temporary cache) when a benchmark needs one.

Rounding the weights to float16 moves the trained `paper` net's output by 72 dB PSNR on a real photo, as little as
its float16 TFLite file does, and halves the file (paper: 5.5 MB as .keras, 2.4 MB here).

Usage: python benchmarks/stored_weights.py MODEL.keras NAME ARCH   # writes benchmarks/weights/NAME.npz
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "benchmarks" / "weights"


def save(keras_file: Path, name: str, arch: str) -> Path:
    """Store the weights of `keras_file` (an `arch` from the registry) as `WEIGHTS/name.npz`, float16."""
    from edge_deblur.export import load_keras

    weights = load_keras(keras_file).get_weights()
    path = WEIGHTS / f"{name}.npz"
    np.savez_compressed(path, *[w.astype(np.float16) for w in weights], arch=np.array(arch))
    return path


def keras_path(name: str) -> Path | None:
    """A .keras file of the stored weights `name` (made once per content in the temp folder), or None."""
    npz = WEIGHTS / f"{name}.npz"
    if not npz.is_file():
        return None
    digest = hashlib.sha256(npz.read_bytes()).hexdigest()[:12]
    out = Path(tempfile.gettempdir()) / "edge-deblur-weights" / f"{name}-{digest}.keras"
    if not out.is_file():
        from edge_deblur._io import atomic_path
        from edge_deblur.models import build_model

        with np.load(npz) as f:
            model = build_model(str(f["arch"]))
            model.set_weights([f[f"arr_{i}"].astype(np.float32) for i in range(len(f.files) - 1)])
        with atomic_path(out) as tmp:
            model.save(tmp)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__.split("\n\n")[-1])
    print(f"wrote {save(Path(sys.argv[1]), sys.argv[2], sys.argv[3])}")
