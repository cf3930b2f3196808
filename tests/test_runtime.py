"""The TF-free runtime: loading, any-size images, tiling against whole-image Keras, bad input, deblur CLI."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, smooth_image
from edge_deblur.errors import ImageError, ModelError
from edge_deblur.runtime import BACKENDS, Deblurrer, _tile_starts, deblur_files, read_metadata, tile_apply


def randomized(name: str, seed: int = 0, head_scale: float = 0.2):
    """A registry model with random weights everywhere (its head is zero-initialised, i.e. the identity)."""
    from edge_deblur.models import build_model

    model = build_model(name)
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0, np.sqrt(1.0 / np.prod(w.shape[:-1])), w.shape) if w.ndim > 1
               else rng.normal(0, 0.01, w.shape) for w in model.get_weights()]
    model.set_weights([w.astype(np.float32) for w in weights])
    head = model.get_layer("head")
    kernel, bias = head.get_weights()
    head.set_weights([kernel * head_scale, bias])
    return model


def make_tflite(path: Path, model, size: int, precision: str, io_dtype: str = "float32") -> Path:
    """Convert `model` at size x size and write it with edge-deblur metadata."""
    from edge_deblur.export import convert
    from edge_deblur.models import model_stride, with_input_size
    from edge_deblur.tflite_meta import with_metadata

    reps = np.stack([smooth_image(size, size, seed=s) for s in range(16)]) if precision == "int8" else None
    raw = convert(with_input_size(model, size, size), precision, reps, io_dtype)
    meta = {"model": model.name, "precision": precision, "input_size": [size, size], "io_dtype": io_dtype,
            "stride": model_stride(model)}
    path.write_bytes(with_metadata(raw, meta))
    return path


@pytest.fixture(scope="module")
def tiny():
    return randomized("tiny")


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny):
    d = tmp_path_factory.mktemp("runtime_models")
    out = {p: make_tflite(d / f"tiny_{p}.tflite", tiny, 32, p) for p in ("float32", "float16", "int8")}
    out["int8_uint8"] = make_tflite(d / "tiny_int8_u8.tflite", tiny, 32, "int8", "uint8")
    return out


def test_loads_and_reports(files):
    d = Deblurrer(files["int8"], num_threads=2)
    assert d.backend in BACKENDS
    assert (d.precision, d.input_size, d.num_threads, d.stride) == ("int8", (32, 32), 2, 4)
    assert d.metadata["model"] == "tiny" and read_metadata(files["int8"]) == d.metadata
    assert "tiny_int8.tflite" in repr(d)
    assert repr(Deblurrer(files["int8"], scale="auto", passes=2, views=4)).endswith(
        "scale='auto', passes=2, views=4)")  # how it runs photos, not only which file


@pytest.mark.parametrize("precision", ["float32", "float16", "int8"])
def test_run_tile_matches_keras(files, tiny, precision):
    x = smooth_image(32, 32, seed=7)
    ref = np.clip(np.asarray(tiny(x[None]))[0], 0, 1)
    assert np.abs(ref - x).mean() > 0.01  # the random net really changes the image
    y = Deblurrer(files[precision]).run_tile(x)
    assert y.shape == (32, 32, 3) and y.dtype == np.float32
    err = np.abs(y - ref)
    if precision == "float32":
        assert err.max() < 1e-5
    elif precision == "float16":
        assert err.max() < 5e-3  # float16 weights: ~3 significant digits
    else:
        assert 10 * np.log10(1 / np.mean(err**2)) > 30  # int8: within 30 dB PSNR of Keras on a random net


def test_set_input_invoke_get_output_is_run_tile(files):
    d = Deblurrer(files["int8"])
    x = smooth_image(32, 32, seed=3)
    d.set_input(x)
    d.invoke()
    np.testing.assert_array_equal(d.get_output(), d.run_tile(x))


@pytest.mark.parametrize("shape", [(32, 32), (5, 7), (1, 1), (77, 101), (20, 90)])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_any_size_same_shape_and_dtype(files, shape, dtype):
    img = smooth_image(*shape, seed=1) if min(shape) > 3 else np.full((*shape, 3), 0.4)
    img = (img * 255 + 0.5).astype(np.uint8) if dtype == np.uint8 else img.astype(dtype)
    out = Deblurrer(files["float32"])(img)
    assert out.shape == img.shape and out.dtype == img.dtype


def test_uint8_and_float_paths_agree(files):
    d = Deblurrer(files["int8_uint8"])
    u8 = (smooth_image(50, 70, seed=2) * 255 + 0.5).astype(np.uint8)
    a = d(u8).astype(np.int16)
    b = (d(u8.astype(np.float32) / 255) * 255 + 0.5).astype(np.int16)
    assert np.abs(a - b).max() <= 1


def test_small_image_is_reflection_padded(files, tiny):
    img = smooth_image(16, 24, seed=4)
    padded = np.pad(img, ((0, 16), (0, 8), (0, 0)), mode="reflect")
    ref = np.clip(np.asarray(tiny(padded[None]))[0], 0, 1)[:16, :24]
    np.testing.assert_allclose(Deblurrer(files["float32"])(img), ref, atol=1e-5)


def test_tiled_matches_whole_image_keras(tmp_path, tiny):
    path = make_tflite(tmp_path / "tiny128.tflite", tiny, 128, "float32")
    img = smooth_image(136, 200, seed=5)  # several tiles in both directions, sizes a multiple of the stride
    ref = np.clip(np.asarray(tiny(img[None]))[0], 0, 1)
    # Overlap 96: the blend ignores the outer 24 px of each tile, more than the net's receptive-field radius.
    tiled = Deblurrer(path, overlap=96, guard_flat=False)(img)  # the model alone, as Keras gives it
    assert np.abs(tiled - ref).max() < 1e-5
    # The default overlap (32 px) is not exact for this net's receptive field, but stays below one 8-bit step.
    path64 = make_tflite(tmp_path / "tiny64.tflite", tiny, 64, "float32")
    err = np.abs(Deblurrer(path64, guard_flat=False)(img) - ref)
    assert err.max() < 4e-3 and err.mean() < 1e-4


def test_tile_geometry():
    for length, tile, stride, overlap in [(200, 64, 4, 32), (1000, 224, 8, 32), (225, 224, 8, 32), (64, 64, 4, 8)]:
        starts = _tile_starts(length, tile, stride, overlap)
        assert starts[0] == 0 and starts[-1] + tile == length
        assert all(s % stride == 0 for s in starts[:-1])
        assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))
    img = np.random.default_rng(0).random((301, 257, 3)).astype(np.float32)
    np.testing.assert_allclose(tile_apply(img, lambda t: t, (64, 64), 8, 32), img, atol=1e-6)


def test_op_report(files):
    rep = Deblurrer(files["int8"]).op_report()
    # the 2 transposed convolutions are exported as 1x1 convolutions and DEPTH_TO_SPACE (keras_rewrite)
    assert rep["ops"].count("CONV_2D") == 10 and rep["ops"].count("DEPTH_TO_SPACE") == 2
    assert "TRANSPOSE_CONV" not in rep["ops"]
    if rep["backend"] == "ai_edge_litert":
        assert rep["fully_delegated"] and rep["not_delegated"] == [] and rep["delegate_nodes"] == 1
        # uint8 I/O adds uint8<->int8 QUANTIZE ops that XNNPACK leaves to the reference kernels
        rep8 = Deblurrer(files["int8_uint8"]).op_report()
        assert not rep8["fully_delegated"] and rep8["not_delegated"] == ["QUANTIZE", "QUANTIZE"]


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")
def test_tf_lite_backend_agrees(files):
    pytest.importorskip("tensorflow")
    x = smooth_image(32, 32, seed=9)
    a = Deblurrer(files["int8"], backend="tf.lite")
    assert a.backend == "tf.lite"
    np.testing.assert_allclose(a.run_tile(x), Deblurrer(files["int8"]).run_tile(x), atol=1 / 255 + 1e-6)
    with pytest.raises(ModelError, match="unknown interpreter backend"):
        Deblurrer(files["int8"], backend="onnx")


@pytest.mark.parametrize("bad, match", [
    (np.zeros((32, 32), np.float32), r"shape \(H, W, 3\)"),
    (np.zeros((32, 32, 4), np.float32), r"shape \(H, W, 3\)"),
    (np.zeros((1, 32, 32, 3), np.float32), r"shape \(H, W, 3\)"),
    (np.zeros((0, 32, 3), np.float32), r"shape \(H, W, 3\)"),
    (np.zeros((32, 32, 3), np.int16), "dtype int16"),
    (np.full((32, 32, 3), 200.0, np.float32), r"values in \[0, 1\]"),
    (np.full((32, 32, 3), np.nan, np.float32), "NaN"),
    ([[0.0] * 3] * 4, "numpy array"),
])
def test_bad_arrays(files, bad, match):
    with pytest.raises(ImageError, match=match):
        Deblurrer(files["float32"])(bad)


def test_bad_tiles(files):
    d = Deblurrer(files["float32"])
    for bad in (np.zeros((31, 32, 3), np.float32), np.zeros((32, 32, 3), np.float64), np.zeros((32, 32, 3))):
        with pytest.raises(ImageError, match=r"float32 tile of shape \(32, 32, 3\)"):
            d.run_tile(bad)


def test_bad_model_files(tmp_path, files):
    png = tmp_path / "photo.tflite"
    from edge_deblur.images import write_image

    write_image(tmp_path / "p.png", smooth_image(8, 8))
    png.write_bytes((tmp_path / "p.png").read_bytes())
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    data = files["int8"].read_bytes()
    trunc = tmp_path / "trunc.tflite"
    trunc.write_bytes(data[: len(data) // 2])
    cases = [(tmp_path / "missing.tflite", "no such model file"), (png, "not a TFLite model"),
             (empty, "not a TFLite model"), (trunc, "corrupt or truncated"), (tmp_path, "a folder, not a model file")]
    for path, match in cases:
        with pytest.raises(ModelError, match=match):
            Deblurrer(path)
        with pytest.raises(ModelError, match=match):
            read_metadata(path)
    for bad in (0, -1, 2.5, "2", True):  # True was taken for 1 thread (issue 16 campaign)
        with pytest.raises(ModelError, match="num_threads"):
            Deblurrer(files["int8"], num_threads=bad)


def test_model_whose_input_is_not_an_image(tmp_path):
    import keras

    inp = keras.Input((16,), batch_size=1)
    model = keras.Model(inp, keras.layers.Dense(16)(inp), name="vector")
    path = tmp_path / "vector.tflite"
    path.write_bytes(_convert_any(model))
    with pytest.raises(ModelError, match="no edge-deblur metadata"):
        Deblurrer(path)
    with pytest.raises(ModelError, match=r"not an RGB image: shape \[1, 16\]"):  # opting in keeps this check
        Deblurrer(path, allow_foreign=True)
    with pytest.raises(ModelError, match="no edge-deblur metadata"):
        read_metadata(path)


def _convert_any(model) -> bytes:
    """Plain TFLite conversion of a non-image model (the exporter refuses those)."""
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def test_exporter_refuses_non_image_model():
    import keras

    from edge_deblur.export import convert

    inp = keras.Input((16,), batch_size=1)
    with pytest.raises(ModelError, match="fixed input shape"):
        convert(keras.Model(inp, keras.layers.Dense(16)(inp)), "float32")


def test_bundled_model_or_clear_error():
    manifest = ROOT / "export" / "manifest.json"
    if manifest.is_file():
        d = Deblurrer()
        assert d.precision == "int8"
        assert d(np.zeros((40, 50, 3), np.uint8)).shape == (40, 50, 3)
        # a white wall (a little noise, so only the bright rule holds it): the bundled net alone lifts it by several
        # levels (README, "flat content"); deblur leaves bright flat areas as they are, at any processing scale
        noise = np.random.default_rng(0).normal(0, 0.7, (300, 400, 1))
        wall = np.clip(np.round(244 + noise), 0, 255).astype(np.uint8).repeat(3, axis=2)
        assert np.array_equal(d(wall), wall)
        assert np.array_equal(Deblurrer(scale=0.5, passes=1, views=1)(wall), wall)
        raw = d.run_windows(wall.astype(np.float32) / 255)
        assert raw.mean() * 255 > 246  # what the guard holds back
        # a still mid-gray area (no noise at all): the int8 file's rounding alone shifts gray 152 as a whole
        gray = np.full((300, 400, 3), 152, np.uint8)
        assert np.array_equal(d(gray), gray)
        assert abs(Deblurrer(guard_flat=False)(gray).mean() - 152) > 2
    else:
        with pytest.raises(ModelError, match="no bundled model"):
            Deblurrer()


def test_import_without_tensorflow(files):
    code = textwrap.dedent(f"""
        import sys, importlib.abc
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "tensorflow" or name.startswith(("tensorflow.", "keras")):
                    raise ImportError("tensorflow is blocked in this test")
        sys.meta_path.insert(0, Block())
        import numpy as np
        import edge_deblur.runtime as rt
        d = rt.Deblurrer({str(files["int8"])!r})
        out = d(np.full((40, 50, 3), 128, np.uint8))
        assert out.shape == (40, 50, 3) and out.dtype == np.uint8
        assert rt.read_metadata({str(files["int8"])!r})["precision"] == "int8"
        assert "tensorflow" not in sys.modules and "keras" not in sys.modules, "TensorFlow was imported"
        print("ok", d.backend)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("ok ")


def _jpeg_with_orientation(path: Path, img: np.ndarray, orientation: int) -> None:
    from PIL import Image

    im = Image.fromarray((img * 255 + 0.5).astype(np.uint8))
    exif = im.getexif()
    exif[0x0112] = orientation
    exif[0x010F] = "edge-deblur-test"  # Make
    im.save(path, quality=95, exif=exif.tobytes())


def test_deblur_files_and_folders(tmp_path, files):
    from PIL import Image

    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    _jpeg_with_orientation(src / "rot.jpg", smooth_image(40, 60, seed=1), 6)  # 90 degrees: upright is 60x40
    from edge_deblur.images import write_image

    write_image(src / "sub" / "b.png", smooth_image(70, 33, seed=2))
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in src.rglob("*.*")}

    written = deblur_files([src], out_dir=tmp_path / "out", model=files["float32"], progress=False)
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in written) == ["rot.jpg", "sub/b.png"]
    with Image.open(tmp_path / "out" / "rot.jpg") as im:
        assert im.size == (40, 60)  # written upright
        assert im.getexif().get(0x0112) == 1 and im.getexif().get(0x010F) == "edge-deblur-test"
    with Image.open(tmp_path / "out" / "sub" / "b.png") as im:
        assert im.size == (33, 70)

    # no -o: results beside the inputs, never over them; -o onto the input folder: also never over them
    beside = deblur_files([src / "sub" / "b.png"], model=files["float32"], progress=False)
    assert beside == [src / "sub" / "b_deblurred.png"]
    same = deblur_files([src / "rot.jpg"], out_dir=src, model=files["float32"], progress=False)
    assert same == [src / "rot_deblurred.jpg"]
    assert before == {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in before}


def test_deblur_bad_inputs(tmp_path, files):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(ImageError, match="broken.png"):
        deblur_files([bad], out_dir=tmp_path / "o", model=files["float32"], progress=False)
    assert not (tmp_path / "o" / "broken.png").exists()
    with pytest.raises(ImageError, match="no such file"):
        deblur_files([tmp_path / "nope.jpg"], model=files["float32"], progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageError, match="holds no image files"):
        deblur_files([tmp_path / "empty"], model=files["float32"], progress=False)


def test_deblur_cli(tmp_path, files):
    from typer.testing import CliRunner

    from edge_deblur.cli import app
    from edge_deblur.images import write_image

    for i in range(3):
        write_image(tmp_path / "in" / f"{i}.png", smooth_image(30, 40, seed=i))
    res = CliRunner().invoke(app, ["deblur", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                                   "--model", str(files["int8"]), "--threads", "1"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0.png", "1.png", "2.png"]
    res = CliRunner().invoke(app, ["deblur", str(tmp_path / "in"), "--model", str(tmp_path / "in" / "0.png")])
    assert res.exit_code == 2 and "not a TFLite model" in res.output


def test_processing_scale_auto_restores_large_photos_at_1024_px(files, tmp_path):
    from typer.testing import CliRunner

    from edge_deblur.cli import app
    from edge_deblur.images import read_image, write_image
    from edge_deblur.metrics import psnr
    from edge_deblur.multiscale import restore_scaled
    from edge_deblur.views import averaged

    img = smooth_image(300, 1200, seed=11)
    native, auto = Deblurrer(files["float32"], guard_flat=False), Deblurrer(files["float32"], scale="auto")
    expect = restore_scaled(img, native, 1024 / 1200)
    np.testing.assert_allclose(auto(img), expect, atol=1e-6)  # the model ran at 256x1024, correction enlarged
    assert psnr(auto(img), native(img)) < 60  # and that differs from a native-size run
    img8 = (img * 255 + 0.5).astype(np.uint8)  # a decoded photo: the same result, with no float copy of it
    ref = (np.clip(restore_scaled(img8.astype(np.float32) / 255, native, 1024 / 1200), 0, 1) * 255 + 0.5)
    got = auto(img8)
    assert got.dtype == np.uint8 and np.abs(got.astype(int) - ref.astype(np.uint8)).max() <= 1
    small = smooth_image(100, 120, seed=12)
    np.testing.assert_array_equal(auto(small), Deblurrer(files["float32"])(small))  # up to 1024 px: never rescaled
    with pytest.raises(ValueError, match="'auto' or a number in"):
        Deblurrer(files["float32"], scale=3)
    write_image(tmp_path / "wide.png", img)
    res = CliRunner().invoke(app, ["deblur", str(tmp_path / "wide.png"), "-m", str(files["float32"]), "--scale", "0"])
    assert res.exit_code == 2 and "--scale: scale must be 'auto' or a number in (0, 1]" in res.output
    res = CliRunner().invoke(app, ["deblur", str(tmp_path / "wide.png"), "-m", str(files["float32"]), "--passes", "1",
                                   "--views", "1"])
    assert res.exit_code == 0, res.output
    out = read_image(tmp_path / "wide_deblurred.png")
    assert psnr(out, np.round(expect * 255) / 255) > 45  # the CLI defaults to --scale auto
    two = restore_scaled(img, averaged(native, 4), 1024 / 1200, passes=2)  # and to 2 passes of 4 views
    res = CliRunner().invoke(app, ["deblur", str(tmp_path / "wide.png"), "-m", str(files["float32"]), "-o",
                                   str(tmp_path / "two.png")])
    assert res.exit_code == 0, res.output
    assert psnr(read_image(tmp_path / "two.png"), np.round(two * 255) / 255) > 45
    res = CliRunner().invoke(app, ["deblur", str(tmp_path / "wide.png"), "-m", str(files["float32"]), "--views", "3"])
    assert res.exit_code == 2 and "--views must be one of 1, 2, 4, 8, got 3" in res.output



def test_two_passes_in_the_runtime_match_restore_scaled(files):
    from edge_deblur.multiscale import restore_scaled

    img = smooth_image(120, 160, seed=13)
    native = Deblurrer(files["float32"], guard_flat=False)  # the model alone: restore_scaled adds the guard
    two = Deblurrer(files["float32"], passes=2)
    assert two.passes == 2 and native.passes == 1
    np.testing.assert_allclose(two(img), restore_scaled(img, native, 1.0, passes=2), atol=1e-6)
    img8 = (img * 255 + 0.5).astype(np.uint8)
    assert two(img8).dtype == np.uint8
    with pytest.raises(ValueError, match="passes must be 1 or 2"):
        Deblurrer(files["float32"], passes=3)


def test_the_coarse_pass_has_its_own_window_interpreter(files):
    """Two passes on photos of one size prepare each window size once, not twice a photo."""
    from edge_deblur.multiscale import coarse_weight

    img = (smooth_image(120, 160, seed=13) * 255 + 0.5).astype(np.uint8)
    two = Deblurrer(files["float32"], passes=2)
    assert coarse_weight(Deblurrer(files["float32"])(img) / 255.0 - img / 255.0) > 0  # the second pass runs here
    for _ in range(3):
        two(img)
    assert [s["shape"] for s in two.window_setups] == [[120, 160], [60, 80]]


def test_the_coarse_pass_reuses_the_learned_window_bound(files, monkeypatch):
    """The coarse interpreter runs the same model: it takes a quarter of the measured bound, not a second probe."""
    import edge_deblur.window_runner as wr

    reads = []
    monkeypatch.setattr(wr, "heap_in_use", lambda: reads.append(1) or 1000 * len(reads) * 256 * 256)
    img = (smooth_image(120, 160, seed=13) * 255 + 0.5).astype(np.uint8)
    two = Deblurrer(files["float32"], passes=2)
    two(img)
    assert len(reads) == 3  # one probe of three windows
    fine, coarse = (s["window_pixels"] for s in two.window_setups)
    assert two.window_memory["source"] == "measured" and coarse == fine // 4


# --- whole images in resized windows (edge_deblur.strips) ---
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_gather_reflects_past_the_edges_exactly_like_numpy_padding(dtype):
    """Edge windows are sliced where they lie inside the photo and reflected only past its edges; the result is
    bit-identical to indexing the reflect-padded photo (uint8 divided by 255)."""
    from edge_deblur.strips import gather

    rng = np.random.default_rng(0)
    for h, w in [(1, 1), (5, 7), (30, 40), (100, 37)]:
        src = rng.integers(0, 256, (h, w, 3)).astype(dtype) if dtype == np.uint8 else rng.random((h, w, 3), dtype)
        padded = np.pad(src, ((0, 300), (0, 300), (0, 0)), mode="reflect" if min(h, w) > 1 else "edge")
        for th, tw in [(16, 16), (32, 48), (64, 112)]:
            for y0, x0 in [(0, 0), (h // 2, w // 3), (max(0, h - 5), max(0, w - 3))]:
                got = np.empty((th, tw, 3), np.float32)
                gather(src, y0, x0, got)
                want = padded[y0:y0 + th, x0:x0 + tw].astype(np.float32)
                if dtype == np.uint8:
                    want = np.divide(want, np.float32(255.0))
                np.testing.assert_array_equal(got, want)


def test_window_plan_geometry():
    from edge_deblur.strips import spans, window_plan

    for length, window, halo in [(1000, 224, 32), (4000, 2120, 32), (225, 200, 48), (64, 64, 8)]:
        sp = spans(length, window, halo)
        assert sp[0].start == sp[0].lo == 0 and sp[-1].hi == length and sp[-1].start + window >= length
        for a, b in zip(sp, sp[1:]):
            assert a.hi == b.lo and a.start + window - a.hi >= halo and b.lo - b.start >= halo
    for h, w in [(3000, 4000), (6000, 8000), (4000, 3000), (17, 5000), (1, 1)]:
        plan = window_plan(h, w, 8, 32, 1 << 20, (224, 224))
        assert plan.shape[0] * plan.shape[1] <= 1 << 20 and all(n % 8 == 0 for n in plan.shape)
        assert plan.computed_pixels <= 1.25 * max(h, 224) * max(w, 224) + (1 << 20)
    assert window_plan(100, 120, 8, 32, 1 << 20, (224, 224)).shape == (224, 224)  # small: padded to the tile



def test_window_plan_computes_the_fewest_pixels_under_its_bound():
    # the window bound now comes from a memory budget: a larger bound must never plan more computed pixels
    from edge_deblur.strips import WindowPlan, spans, window_plan

    def fewest(hp, wp, stride, halo, bound):
        low = 4 * halo + stride
        return min(WindowPlan((th, tw), spans(hp, th, halo), spans(wp, tw, halo)).computed_pixels
                   for th in range(min(low, hp), hp + 1, stride) for tw in range(min(low, wp), wp + 1, stride)
                   if th * tw <= bound)

    for h, w, stride, halo, bound in [(200, 328, 8, 16, 9000), (97, 301, 4, 8, 4000), (300, 40, 1, 3, 2500),
                                      (256, 256, 8, 8, 20000)]:
        plan = window_plan(h, w, stride, halo, bound)
        assert plan.shape[0] * plan.shape[1] <= bound
        assert plan.computed_pixels == fewest(-(-h // stride) * stride, -(-w // stride) * stride, stride, halo, bound)
    last = None
    for bound in range(600_000, 1_200_000, 50_000):  # 12 MP: monotone in the bound
        pixels = window_plan(3000, 4000, 8, 16, bound).computed_pixels
        assert last is None or pixels <= last
        last = pixels
    assert window_plan(3000, 4000, 8, 16, 1 << 20).shape == (1024, 1024)  # 12 windows, 4.9% more pixels
def test_strips_match_whole_image_keras(tmp_path, tiny):
    """Seams: windows much smaller than the image, against one whole-image Keras pass (float32 export)."""
    path = make_tflite(tmp_path / "tiny32.tflite", tiny, 32, "float32")
    img = smooth_image(203, 317, seed=5)  # not a multiple of the stride: reflected bottom/right edges
    padded = np.pad(img, ((0, 1), (0, 3), (0, 0)), mode="reflect")  # to a multiple of the stride (4)
    ref = np.clip(np.asarray(tiny(padded[None]))[0], 0, 1)[:203, :317]
    # a 24 px halo covers the net's receptive-field radius: windows of 120x120 give the whole-image result
    exact = Deblurrer(path, halo=24, window_pixels=120 * 120, guard_flat=False)  # the model alone, like Keras
    np.testing.assert_allclose(exact(img), ref, atol=1e-5)
    assert len(exact.window_setups) == 1
    h, w = exact.window_setups[0]["shape"]
    assert h * w <= 120 * 120 and h < 203 and w < 317
    from edge_deblur.metrics import psnr

    short = Deblurrer(path, halo=8, window_pixels=64 * 64, guard_flat=False)
    assert psnr(short(img), ref) > 45  # a short halo: no visible seam
    u8 = (img * 255 + 0.5).astype(np.uint8)
    assert np.abs(exact(u8).astype(int) - (ref * 255 + 0.5).astype(np.uint8)).max() <= 1


@pytest.mark.parametrize("precision", ["float16", "int8", "int8_uint8"])
def test_strips_agree_with_tiles(files, precision):
    """Every size gives what the tiled path gave, within the precision's tolerance."""
    img = smooth_image(150, 230, seed=6)
    strips = Deblurrer(files[precision], window_pixels=64 * 96)(img)
    tiles = Deblurrer(files[precision], strategy="tiles")(img)
    from edge_deblur.metrics import psnr

    assert psnr(strips, tiles) > (45 if precision == "float16" else 35)


@pytest.mark.parametrize("shape", [(1, 1), (1, 70001), (70001, 1), (9, 40000), (3, 5)])
def test_strips_odd_shapes_memory_bounded(files, shape):
    img = np.full((*shape, 3), 77, np.uint8)
    d = Deblurrer(files["float32"], window_pixels=1 << 16)
    out = d(img)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert all(s["shape"][0] * s["shape"][1] <= 1 << 16 for s in d.window_setups)


def test_window_resized_once_per_size(files):
    d = Deblurrer(files["int8"], window_pixels=64 * 64, halo=32)  # the sizes below need two window shapes at 32
    a, b = smooth_image(100, 140, seed=1), smooth_image(100, 140, seed=2)
    d(a), d(b), d(a)
    assert len(d.window_setups) == 1
    d(smooth_image(300, 90, seed=3))
    assert len(d.window_setups) == 2
    np.testing.assert_array_equal(d(a), Deblurrer(files["int8"], window_pixels=64 * 64, halo=32)(a))
    with pytest.raises(ValueError, match="strategy must be one of"):
        Deblurrer(files["int8"], strategy="grid")


# --- the window bound from a memory budget (edge_deblur.window_runner) ---
def test_window_bound_follows_the_memory_budget(files):
    # issue 13: one pixel count per window fits int8 (~260 B a pixel) but costs float models (more bytes a pixel)
    # more memory; under one byte budget a float model gets the smaller windows, and the photo is unchanged
    from edge_deblur.metrics import psnr
    from edge_deblur.window_runner import HOST_BYTES_PER_PIXEL, heap_in_use

    budget, img = 24 << 20, smooth_image(600, 800, seed=8)
    mem = {}
    for precision in ("float16", "int8"):
        d = Deblurrer(files[precision], window_budget=budget)
        assert d.window_pixels is None and d.window_memory is None  # nothing is probed before a photo needs it
        out = d(img)
        mem[precision] = m = d.window_memory
        assert m["source"] == ("measured" if heap_in_use() is not None else "default")
        assert m["bytes_per_pixel"] == m["interpreter_bytes_per_pixel"] + HOST_BYTES_PER_PIXEL
        assert d.window_pixels == m["window_pixels"] == int(budget // m["bytes_per_pixel"])
        (setup,) = d.window_setups
        assert setup["shape"][0] * setup["shape"][1] <= d.window_pixels < 600 * 800
        assert (setup["window_pixels"], setup["bytes_per_pixel"]) == (d.window_pixels, m["bytes_per_pixel"])
        np.testing.assert_array_equal(out, Deblurrer(files[precision], window_pixels=d.window_pixels)(img))
        whole = Deblurrer(files[precision], window_pixels=600 * 800)(img)
        assert psnr(out, whole) > (45 if precision == "float16" else 35)
    assert mem["float16"]["bytes_per_pixel"] > mem["int8"]["bytes_per_pixel"]
    assert mem["float16"]["window_pixels"] < mem["int8"]["window_pixels"]


def test_explicit_window_pixels_win_over_the_budget(files):
    d = Deblurrer(files["float16"], window_pixels=96 * 96, window_budget=1 << 40)
    assert d.window_pixels == 96 * 96
    d(smooth_image(150, 230, seed=9))
    assert d.window_memory["source"] == "explicit" and d.window_memory["bytes_per_pixel"] is None
    (setup,) = d.window_setups
    assert setup["shape"][0] * setup["shape"][1] <= 96 * 96 and setup["window_pixels"] == 96 * 96


@pytest.mark.parametrize("heap, source, interp", [
    ([0, 200 << 16, 401 << 16], "measured", 201),  # the probe windows step by 256x256 px: 200 and 201 B a pixel
    ([0, 200 << 16, 800 << 16], "default", None),  # steps disagree: another thread allocated meanwhile
    ([None, None, None], "default", None),  # no glibc heap to read
])
def test_window_bytes_per_pixel_measured_or_the_precision_default(files, monkeypatch, heap, source, interp):
    import edge_deblur.window_runner as wr

    readings = iter(heap)
    monkeypatch.setattr(wr, "heap_in_use", lambda: next(readings))
    d = Deblurrer(files["int8"], window_budget=64 << 20)
    d.window_plan(600, 800)
    m = d.window_memory
    assert m["source"] == source
    assert m["interpreter_bytes_per_pixel"] == (interp or wr.DEFAULT_BYTES_PER_PIXEL["int8"])
    assert m["window_pixels"] == (64 << 20) // (m["interpreter_bytes_per_pixel"] + wr.HOST_BYTES_PER_PIXEL)
    readings = iter(heap)
    tiny_budget = Deblurrer(files["int8"], window_budget=1000)
    tiny_budget.window_plan(600, 800)
    assert tiny_budget.window_pixels == wr.MIN_WINDOW_PIXELS  # a bound of a few pixels would never finish


def test_bundled_float16_gets_smaller_windows_than_int8_within_the_budget():
    from edge_deblur.runtime import bundled_model

    try:
        paths = {p: bundled_model(p) for p in ("int8", "float16")}
    except ModelError as e:
        pytest.skip(str(e))
    mem = {}
    for precision, path in paths.items():
        d = Deblurrer(path, num_threads=1)
        plan = d.window_plan(3000, 4000)
        mem[precision] = m = d.window_memory
        assert plan.shape[0] * plan.shape[1] * m["bytes_per_pixel"] <= d.window_budget
    assert mem["float16"]["window_pixels"] < mem["int8"]["window_pixels"]


def test_strips_thread_safe(files):
    from concurrent.futures import ThreadPoolExecutor

    d = Deblurrer(files["int8"], window_pixels=64 * 64)
    imgs = [smooth_image(60 + 13 * k, 90 + 7 * k, seed=k) for k in range(6)]
    serial = [d(x) for x in imgs]
    with ThreadPoolExecutor(3) as pool:
        for got, want in zip(pool.map(d, imgs * 2), serial * 2):
            np.testing.assert_array_equal(got, want)


def test_slow_int8_backend_reason():
    from edge_deblur.runtime import slow_int8_reason

    assert "XNNPACK" in slow_int8_reason("tflite_runtime", "int8")
    assert slow_int8_reason("tflite_runtime", "float16") is None
    assert slow_int8_reason("ai_edge_litert", "int8") is None


def test_int8_on_slow_backend_warns_once(files, monkeypatch):
    import warnings

    import edge_deblur.interpreters
    import edge_deblur.runtime as rt

    cls, _ = rt.interpreter_class()
    monkeypatch.setattr(rt, "interpreter_class", lambda backend=None: (cls, "tflite_runtime"))
    monkeypatch.setattr(edge_deblur.interpreters, "_warned", set())
    with pytest.warns(RuntimeWarning, match="int8 model on tflite_runtime.*float16 file or install ai-edge-litert"):
        rt.Deblurrer(files["int8"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rt.Deblurrer(files["int8"])  # once per process
        rt.Deblurrer(files["float16"])


def test_huge_model_file_is_refused_before_reading(tmp_path):
    # issue 16 campaign: a 3 GB (sparse) .tflite was read whole into memory, past the 40 s timeout
    import time

    huge = tmp_path / "huge.tflite"
    with open(huge, "wb") as f:
        f.truncate(3 << 30)
    t0 = time.monotonic()
    with pytest.raises(ModelError, match=r"huge.tflite: 3.0 GiB, larger than any deblurring model \(at most 1 GiB"):
        Deblurrer(huge)
    with pytest.raises(ModelError, match="larger than any deblurring model"):
        read_metadata(huge)
    assert time.monotonic() - t0 < 5


def test_a_backend_that_cannot_resize_falls_back_to_tiles_with_one_warning(files):
    # tflite-runtime 2.14 cannot re-prepare some float16 graphs at a new input size (an ADD fails): the photo must
    # still come out, as the tiles give it, with a one-line warning, and later photos go straight to the tiles
    d = Deblurrer(files["float16"])
    real_cls = d._interp_cls

    class NoResize:
        def __init__(self, *a, **k):
            self._it = real_cls(*a, **k)

        def resize_tensor_input(self, *a, **k):
            raise RuntimeError("tensorflow/lite/kernels/add.cc Node number 3 (ADD) failed to prepare.")

    d._interp_cls = NoResize
    x = smooth_image(70, 90, seed=4)
    with pytest.warns(RuntimeWarning, match=r"cannot resize the model input to .* \(tensorflow/lite/kernels/add.cc"
                                            r".*running it in 32x32 tiles instead"):
        y = d(x)
    want = Deblurrer(files["float16"], strategy="tiles")(x)
    np.testing.assert_array_equal(y, want)
    assert d.strategy == "tiles"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(d(x), want)
