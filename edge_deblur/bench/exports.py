"""TFLite exports made on the fly at the bench frame size, and the int8 calibration crops they use (never the
evaluation images)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

from edge_deblur.bench.sets import CALIBRATION_PHOTOS, PROTOCOLS, EvalSet, _skimage_photo


def _export(keras_model, precision: str, size: tuple[int, int], out: Path, calibration: "_Calibration") -> Path:
    """Convert the Keras model at `size` to a TFLite file (with edge-deblur metadata) of `precision` in `out`."""
    from edge_deblur import export
    from edge_deblur._io import write_bytes
    from edge_deblur.models import model_stride, with_input_size
    from edge_deblur.tflite_meta import metadata_entry, with_metadata

    fixed = with_input_size(keras_model, *size)
    rep = calibration.crops() if precision == "int8" else None
    with contextlib.redirect_stdout(io.StringIO()):  # keras prints "Saved artifact at ..." while converting
        raw = export.convert(fixed, precision, representative=rep)
    meta = metadata_entry(keras_model.name, precision, size, model_stride(keras_model), 32,
                          calibration=calibration.description if precision == "int8" else None,
                          made_by="edge-deblur bench")
    return write_bytes(out / f"{keras_model.name}_{precision}.tflite", with_metadata(raw, meta))


class _Calibration:
    """int8 calibration crops that never come from the evaluation images.

    Source, in order: the train split of the user's `--data` (dataset runs); the shared training photos
    (`default_data_root()/photos/{cbsd68,mcmaster18,sunhays80}`, as `edge-deblur export` uses); scikit-image
    photographs that are not in the sample set (`CALIBRATION_PHOTOS`).
    """

    def __init__(self, eval_set: EvalSet, data, dataset: str | None, size: tuple[int, int], samples: int) -> None:
        """`size`: the crop size, `edge_deblur.export.calibration_size` of the model's input size."""
        from edge_deblur.data import default_training_photos

        self.size, self.samples = size, samples
        self.data, self.dataset = None, None
        if data is not None and dataset is not None and eval_set.name not in PROTOCOLS:
            self.data, self.dataset = data, dataset
        else:
            sets = default_training_photos()
            if sets:
                self.data, self.dataset = sets, "synthetic"
        h, w = size
        if self.data is not None:
            names = "+".join(Path(p).name for p in (self.data if isinstance(self.data, list) else [self.data]))
            self.description = f"{samples} defocus-blurred {h}x{w} crops from the train split of {names}"
        else:
            self.description = (f"{samples} defocus-blurred {h}x{w} crops of scikit-image photos "
                                f"({', '.join(CALIBRATION_PHOTOS)})")

    def crops(self) -> np.ndarray:
        """(samples, h, w, 3) float32 blurred crops."""
        if self.data is not None:
            from edge_deblur.crops import calibration_crops

            return calibration_crops(self.data, self.dataset, self.samples, self.size, seed=0)
        from edge_deblur.blur import BlurConfig

        rng = np.random.default_rng(0)
        photos = [_skimage_photo(n) for n in CALIBRATION_PHOTOS]
        blur, (h, w) = BlurConfig(), self.size
        crops = []
        for i in range(self.samples):
            img = photos[i % len(photos)]
            if img.shape[0] < h or img.shape[1] < w:
                img = np.pad(img, ((0, max(0, h - img.shape[0])), (0, max(0, w - img.shape[1])), (0, 0)),
                             mode="symmetric")
            y = int(rng.integers(0, img.shape[0] - h + 1))
            x = int(rng.integers(0, img.shape[1] - w + 1))
            crops.append(blur.sample(img[y : y + h, x : x + w], rng))
        return np.stack(crops).astype(np.float32)

