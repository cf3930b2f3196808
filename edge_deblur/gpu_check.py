"""Can the LiteRT GPU delegate run every op of a .tflite? Asked of the converter's own model analyzer.

`tf.lite.experimental.Analyzer.analyze(..., gpu_compatibility=True)` checks each op against the GPU delegate's
rules (the same code the delegate uses) and prints its verdict; this module captures that text and turns it into
a yes/no and the lines naming each incompatible op. Needs TensorFlow (export time only).

Example:
    >>> from edge_deblur.gpu_check import gpu_compatibility
    >>> gpu_compatibility(open("unet_s2_int8.tflite", "rb").read())   # doctest: +SKIP
    {'gpu_compatible': True, 'gpu_issues': []}
"""

from __future__ import annotations

import contextlib
import io

COMPATIBLE = "looks compatible with GPU delegate"


def parse_analyzer_report(text: str) -> dict:
    """{'gpu_compatible': bool, 'gpu_issues': [lines]} from the analyzer's printed report."""
    issues = [line.strip() for line in text.splitlines() if "GPU COMPATIBILITY WARNING" in line]
    return {"gpu_compatible": COMPATIBLE in text and not issues, "gpu_issues": issues}


def gpu_compatibility(model_content: bytes) -> dict:
    """Whether the GPU delegate can run all ops of a TFLite model.

    Returns:
        Dict with `gpu_compatible` (bool) and `gpu_issues` (the analyzer's warning lines, naming each op and why).
    """
    import tensorflow as tf

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        tf.lite.experimental.Analyzer.analyze(model_content=model_content, gpu_compatibility=True)
    return parse_analyzer_report(out.getvalue())
