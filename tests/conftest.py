"""Shared fixtures: the real data folder, tiny generated images, quiet TensorFlow."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("EDGE_DEBLUR_DATA", ROOT.parent / "shared" / "data"))

needs_shared = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"real data folder {SHARED_DATA} absent (set EDGE_DEBLUR_DATA to use it)"
)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} absent (set EDGE_DEBLUR_DATA to use it)")
    return SHARED_DATA


def smooth_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A photo-like float32 RGB test image: smooth gradients plus a few sharp-edged shapes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([0.5 + 0.4 * np.sin(xx / (5 + 3 * c) + yy / (7 + 2 * c) + rng.uniform(0, 6)) for c in range(3)], -1)
    for _ in range(4):
        cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(3, max(4, min(h, w) // 3))
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.uniform(0, 1, 3)
    return np.clip(img, 0, 1).astype(np.float32)
