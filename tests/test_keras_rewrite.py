"""The export-time rewrite of 2x2 stride-2 transposed convolutions into a 1x1 convolution and DEPTH_TO_SPACE."""

import numpy as np
import pytest

from conftest import smooth_image
from test_runtime import randomized


@pytest.fixture(scope="module")
def net():
    model = randomized("tiny", seed=3, head_scale=1.0)
    for layer in model.layers:  # nonzero biases too, so their 4x tiling is checked
        if type(layer).__name__ == "Conv2DTranspose":
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, np.linspace(-0.3, 0.3, bias.size, dtype=np.float32)])
    return model


def test_the_rewritten_net_gives_the_same_numbers_with_no_transposed_convolution(net):
    from edge_deblur.keras_rewrite import upsampling_as_depth_to_space

    rewritten = upsampling_as_depth_to_space(net)
    kinds = [type(layer).__name__ for layer in rewritten.layers]
    assert "Conv2DTranspose" not in kinds and kinds.count("DepthToSpace") == 2
    assert rewritten.get_layer("head_1x1").get_weights()[0].shape == (1, 1, 4, 12)  # 3 channels x 4 positions
    x = np.stack([smooth_image(40, 56, seed=s) for s in range(2)])
    want = np.asarray(net(x))
    assert np.abs(want - x).max() > 0.05  # the net really changes the image
    np.testing.assert_allclose(np.asarray(rewritten(x)), want, atol=1e-6)
    # the model it came from is left as it was; a net with nothing to rewrite comes back itself
    assert any(type(layer).__name__ == "Conv2DTranspose" for layer in net.layers)
    from edge_deblur.models import build_model

    paper = build_model("paper")  # 3x3 stride-1 transposed convolutions: their outputs overlap, not rewritten
    assert upsampling_as_depth_to_space(paper) is paper


def test_export_runs_the_rewritten_graph_to_the_keras_numbers(net, tmp_path):
    from edge_deblur.runtime import Deblurrer
    from test_runtime import make_tflite

    x = smooth_image(32, 32, seed=9)
    want = np.clip(np.asarray(net(x[None]))[0], 0, 1)
    path = make_tflite(tmp_path / "tiny_float32.tflite", net, 32, "float32")
    runner = Deblurrer(path, guard_flat=False)
    ops = runner.op_report()["ops"]
    assert "TRANSPOSE_CONV" not in ops and ops.count("DEPTH_TO_SPACE") == 2
    np.testing.assert_allclose(runner.run_tile(x), want, atol=1e-5)
    int8 = Deblurrer(make_tflite(tmp_path / "tiny_int8.tflite", net, 32, "int8"), guard_flat=False)
    assert int8.op_report()["fully_delegated"] or int8.backend != "ai_edge_litert"
    assert np.abs(int8.run_tile(x) - want).mean() < 0.01
