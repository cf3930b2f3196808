"""edge-deblur: train, quantize, run and benchmark image-deblurring CNNs for phones.

The public API is re-exported lazily so `import edge_deblur` stays light (no TensorFlow at import time).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "read_image": "edge_deblur.images",
    "write_image": "edge_deblur.images",
    "defocus": "edge_deblur.blur",
    "disc_psf": "edge_deblur.blur",
    "psnr": "edge_deblur.metrics",
    "ssim": "edge_deblur.metrics",
    "list_models": "edge_deblur.models",
    "build_model": "edge_deblur.models",
    "EdgeDeblurError": "edge_deblur.errors",
    "Deblurrer": "edge_deblur.runtime",
    "read_metadata": "edge_deblur.runtime",
    "export_model": "edge_deblur.export",
    "run_bench": "edge_deblur.bench",
    "TrainConfig": "edge_deblur.train",
}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'edge_deblur' has no attribute '{name}'")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_EXPORTS))
