"""Average the weights of models fine-tuned from the same start (a "model soup": Wortsman et al., 2022).

Runs that start from the same weights stay in one basin, so their mean is a model too, and often a better one than
each: for the release, the mean of the two unet_s3 L1+SSIM runs scored +0.97 dB over identity on the real-dpdd-val
scenes (Keras), against +0.93 and +0.88 for the runs alone.

With one model it writes that model's compact copy (weights at float16 precision, deflated), as every release
file is stored.

Usage: python3 benchmarks/gpu/soup.py OUT.keras A.keras [B.keras ...]
"""

from __future__ import annotations

import sys
from pathlib import Path


def soup(paths: list[Path], out: Path) -> None:
    """Write the weight mean of `paths` (same architecture) to `out`.

    Raises:
        SystemExit: no model, or architectures that differ.
    """
    import keras
    import numpy as np

    from edge_deblur.export import save_compact

    if not paths:
        raise SystemExit("soup needs at least one model")
    models = [keras.models.load_model(p, compile=False) for p in paths]
    shapes = [[w.shape for w in m.get_weights()] for m in models]
    if any(s != shapes[0] for s in shapes) or len({m.name for m in models}) != 1:
        raise SystemExit(f"soup: {', '.join(map(str, paths))} are not the same architecture")
    weights = [m.get_weights() for m in models]
    models[0].set_weights([np.mean([w[i] for w in weights], axis=0) for i in range(len(weights[0]))])
    save_compact(models[0], out)  # weights at float16 precision, deflated: the bundled file stays under 4 MB
    print(f"wrote {out}: mean of {len(paths)} {models[0].name} models")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__.strip().splitlines()[-1])
    soup([Path(p) for p in sys.argv[2:]], Path(sys.argv[1]))
