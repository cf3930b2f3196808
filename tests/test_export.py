"""Keras -> TFLite export: every precision of `tiny` and the efficient model, metadata, verification, errors."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from conftest import smooth_image
from edge_deblur.errors import DataError, ModelError
from edge_deblur.export import PRECISIONS, CalibrationWarning, convert, export_model
from edge_deblur.runtime import Deblurrer, read_metadata
from test_runtime import randomized


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A small 'synthetic' dataset: 10 photo-like PNGs (8 train / 1 val / 1 test scenes)."""
    from edge_deblur.images import write_image

    d = tmp_path_factory.mktemp("photos")
    for i in range(10):
        write_image(d / f"p{i}.png", smooth_image(72, 96, seed=100 + i))
    return d


@pytest.fixture(scope="module")
def tiny_keras(tmp_path_factory):
    path = tmp_path_factory.mktemp("keras") / "tiny_run.keras"
    randomized("tiny", seed=1).save(path)
    return path


@pytest.fixture(scope="module")
def exported(tiny_keras, photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("exported")
    results = export_model(tiny_keras, "all", data=photos, out=out, calibration_samples=100, size=(32, 32),
                           verify_images=2, command="pytest")
    return out, results


def test_save_compact_rounds_weights_to_float16_and_deflates(tmp_path):
    """The bundled .keras is stored this way: weights at float16 precision (float32 values), archive deflated."""
    import zipfile

    from edge_deblur.export import load_keras, save_compact

    model = randomized("unet_xs", seed=2)
    model.save(tmp_path / "plain.keras")
    x = smooth_image(64, 64, 3)[None]
    before = np.asarray(model(x))
    rounded = [w.astype(np.float16).astype(np.float32) for w in model.get_weights()]
    save_compact(model, tmp_path / "compact.keras")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["compact.keras", "plain.keras"]  # no temporary left
    with zipfile.ZipFile(tmp_path / "compact.keras") as z:
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_DEFLATED}
    assert (tmp_path / "compact.keras").stat().st_size < 0.75 * (tmp_path / "plain.keras").stat().st_size
    loaded = load_keras(tmp_path / "compact.keras")
    assert all(w.dtype == np.float32 and np.array_equal(w, r) for w, r in zip(loaded.get_weights(), rounded))
    assert 10 * np.log10(1 / np.mean((np.asarray(loaded(x)) - before) ** 2)) > 60


def test_every_precision_exports_with_names_and_sizes(exported):
    out, results = exported
    assert [r.precision for r in results] == list(PRECISIONS)
    for r in results:
        assert r.error is None
        assert r.path == out / f"tiny_{r.precision}.tflite" and r.size_bytes == r.path.stat().st_size > 1000
    sizes = {r.precision: r.size_bytes for r in results}
    assert sizes["int8"] < sizes["float16"] < sizes["float32"]
    assert not list(out.glob(".*tmp*"))  # no temp files left behind


def test_verification_numbers(exported):
    by = {r.precision: r for r in exported[1]}
    assert by["float32"].max_abs_diff < 1e-5
    assert by["float16"].max_abs_diff < 5e-3
    assert by["int8"].psnr_vs_keras > 30 and abs(by["int8"].delta_psnr) < 1.0
    for r in by.values():
        assert r.fully_delegated, r.not_delegated
        assert r.gpu_compatible and r.gpu_issues == [], r.gpu_issues  # the converter's GPU-compatibility analyzer
        assert 10 < r.psnr_keras < 60 and 0 < r.ssim_keras <= 1
        assert r.psnr_tflite == pytest.approx(r.psnr_keras + r.delta_psnr)
        assert "test-split" in r.verified_on


def test_metadata_round_trip(exported, tiny_keras):
    sha = hashlib.sha256(tiny_keras.read_bytes()).hexdigest()
    import edge_deblur

    for r in exported[1]:
        meta = read_metadata(r.path)
        assert meta["model"] == "tiny" and meta["precision"] == r.precision
        assert meta["input_size"] == [32, 32] and meta["layout"] == "NHWC" and meta["value_range"] == [0.0, 1.0]
        assert meta["source_sha256"] == sha and meta["source_file"] == "tiny_run.keras"
        assert meta["toolkit_version"] == edge_deblur.__version__ and meta["stride"] == 4
        assert meta["io_dtype"] == "float32"
        if r.precision == "int8":
            assert meta["calibration"].startswith("100 defocus-blurred 32x32 crops from the train split")
        else:
            assert meta["calibration"] is None
        assert Deblurrer(r.path).metadata == meta


def test_manifest(exported):
    out, results = exported
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"] == "tiny" and manifest["command"] == "pytest"
    assert [f["path"] for f in manifest["files"]] == [f"tiny_{p}.tflite" for p in PRECISIONS]
    for entry, r in zip(manifest["files"], results):
        assert entry["sha256"] == hashlib.sha256(r.path.read_bytes()).hexdigest()
        assert entry["size_bytes"] == r.size_bytes


def test_exported_files_match_keras_independently(exported, tiny_keras):
    """Re-check the exporter's claims with our own Keras run on a fresh 32x32 tile."""
    import keras

    model = keras.models.load_model(tiny_keras, compile=False)
    x = smooth_image(32, 32, seed=77)
    ref = np.clip(np.asarray(model(x[None]))[0], 0, 1)
    out = {r.precision: Deblurrer(r.path).run_tile(x) for r in exported[1]}
    assert np.abs(out["float32"] - ref).max() < 1e-5
    assert np.abs(out["float16"] - ref).max() < 5e-3
    assert 10 * np.log10(1 / np.mean((out["int8"] - ref) ** 2)) > 30


@pytest.mark.parametrize("name, size", [("unet_s", 64), ("paper", 32)])
def test_efficient_and_paper_models_export_all_precisions(tmp_path, name, size):
    """unet_s (the efficient default) and the paper net: all precisions convert, run, and are fully delegated."""
    from edge_deblur.models import with_input_size

    model = randomized(name, seed=2) if name != "paper" else _random_paper()
    fixed = with_input_size(model, size, size)
    reps = np.stack([smooth_image(size, size, seed=s) for s in range(12)])
    x = smooth_image(size, size, seed=50)
    ref = np.clip(np.asarray(fixed(x[None]))[0], 0, 1)
    for precision in PRECISIONS:
        path = tmp_path / f"{name}_{precision}.tflite"
        path.write_bytes(convert(fixed, precision, reps))
        d = Deblurrer(path, allow_foreign=True)  # a bare conversion: no edge-deblur metadata yet
        err = np.abs(d.run_tile(x) - ref)
        if precision == "float32":
            assert err.max() < 1e-4
        elif precision == "float16":
            assert err.max() < 2e-2
        else:
            assert 10 * np.log10(1 / np.mean(err**2)) > 25
        rep = d.op_report()
        if rep["backend"] == "ai_edge_litert":
            assert rep["fully_delegated"], f"{name} {precision}: not delegated: {rep['not_delegated']}"


def _random_paper():
    """The paper net with small random weights (its default init saturates the clip-free output)."""
    from edge_deblur.models import build_model

    model = build_model("paper")
    rng = np.random.default_rng(3)
    model.set_weights([(rng.normal(0, np.sqrt(1.0 / np.prod(w.shape[:-1])), w.shape) if w.ndim > 1
                        else np.zeros(w.shape)).astype(np.float32) for w in model.get_weights()])
    return model


@pytest.mark.filterwarnings("ignore:Statistics for quantized inputs")
def test_int8_identity_clip_ops_are_dropped_without_changing_outputs(tmp_path):
    from edge_deblur.export import _CONVERTERS, _quiet_native
    from edge_deblur.models import with_input_size
    from edge_deblur.tflite_rewrite import drop_identity_clips

    fixed = with_input_size(randomized("tiny", seed=4, head_scale=3.0), 32, 32)
    reps = np.stack([smooth_image(32, 32, seed=s) for s in range(16)])
    with _quiet_native():
        raw = _CONVERTERS["int8"](fixed, reps, "float32").convert()
    pruned, removed = drop_identity_clips(raw)
    assert removed == ["MINIMUM", "RELU"]
    (tmp_path / "raw.tflite").write_bytes(raw)
    (tmp_path / "pruned.tflite").write_bytes(pruned)
    before, after = (Deblurrer(tmp_path / f"{n}.tflite", allow_foreign=True) for n in ("raw", "pruned"))
    assert "MINIMUM" in before.op_report()["ops"] and "MINIMUM" not in after.op_report()["ops"]
    for seed in range(3):
        x = smooth_image(32, 32, seed=seed)
        ref = np.asarray(fixed(x[None]))[0]
        assert (ref == 0).any() and (ref == 1).any()  # the clip is active on this input
        np.testing.assert_array_equal(after.run_tile(x), before.run_tile(x))
    assert drop_identity_clips(pruned) == (pruned, [])  # nothing left to drop; float graphs are untouched too


def test_small_calibration_set_warns(tiny_keras, photos, tmp_path):
    with pytest.warns(CalibrationWarning, match="only 8 calibration samples"):
        (r,) = export_model(tiny_keras, ["int8"], data=photos, out=tmp_path, calibration_samples=8,
                            size=(32, 32), verify_images=1)
    assert r.path.is_file() and "8 defocus-blurred" in read_metadata(r.path)["calibration"]


def test_uint8_io(tiny_keras, photos, tmp_path):
    (r,) = export_model(tiny_keras, ["int8"], data=photos, out=tmp_path, calibration_samples=100,
                        size=(32, 32), verify_images=1, io_dtype="uint8")
    d = Deblurrer(r.path)
    assert d.metadata["io_dtype"] == "uint8" and d._in["dtype"] == np.uint8
    scale, zp = d._in["quantization"]
    assert zp == 0 and scale == pytest.approx(1 / 255, rel=1e-4)  # the 0-1 ramp pins the input range
    assert r.not_delegated == ["QUANTIZE", "QUANTIZE"] and r.psnr_vs_keras > 30


def test_bad_requests(tiny_keras, photos, tmp_path):
    from edge_deblur.models import build_model, with_input_size

    fixed = with_input_size(build_model("tiny"), 32, 32)
    with pytest.raises(ModelError, match="unknown precision 'int4'; choose one of: float32, float16, int8"):
        convert(fixed, "int4")
    with pytest.raises(ModelError, match="needs a representative set"):
        convert(fixed, "int8")
    with pytest.raises(ModelError, match="representative set has shape"):
        convert(fixed, "int8", np.zeros((4, 32, 32, 1), np.float32))
    with pytest.raises(ModelError, match="must be a multiple of"):  # crops of another size: a size the net takes
        convert(fixed, "int8", np.zeros((4, 15, 15, 3), np.float32))
    with pytest.raises(ModelError, match="unknown io dtype"):
        convert(fixed, "int8", np.zeros((4, 32, 32, 3), np.float32), io_dtype="int16")
    with pytest.raises(ModelError, match="fixed input shape"):
        convert(build_model("tiny"), "float32")
    with pytest.raises(ModelError, match="unknown precision 'bf16'"):
        export_model(tiny_keras, ["bf16"], data=photos, out=tmp_path)
    with pytest.raises(ModelError, match="must be a multiple of 4"):
        export_model(tiny_keras, ["float32"], data=photos, out=tmp_path, size=(30, 30))
    with pytest.raises(ModelError, match="no such model file"):
        export_model(tmp_path / "missing.keras", data=photos, out=tmp_path)
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(ModelError, match="junk.keras: not a Keras model file"):  # not "File not found", as Keras says
        export_model(junk, data=photos, out=tmp_path)
    import zipfile

    with zipfile.ZipFile(tmp_path / "other.keras", "w") as z:  # a zip, but no Keras model in it
        z.writestr("notes.txt", "hello")
    with pytest.raises(ModelError, match="other.keras: not a loadable Keras model"):
        export_model(tmp_path / "other.keras", data=photos, out=tmp_path)
    with pytest.raises(DataError):
        export_model(tiny_keras, ["int8"], data=tmp_path / "no_such_folder", out=tmp_path, size=(32, 32))
    assert not list(tmp_path.glob("*.tflite"))


def test_export_cli(tiny_keras, photos, tmp_path):
    from typer.testing import CliRunner

    from edge_deblur.cli import app

    res = CliRunner().invoke(app, ["export", str(tiny_keras), "-q", "float16", "-q", "int8", "--data", str(photos),
                                   "--out", str(tmp_path), "--size", "32", "--calibration-samples", "20",
                                   "--verify-images", "1"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in tmp_path.glob("*.tflite")) == ["tiny_float16.tflite", "tiny_int8.tflite"]
    assert "warning: only 20 calibration samples" in res.output
    assert "tiny_int8" in res.output and "all ops" in res.output
    res = CliRunner().invoke(app, ["export", str(tmp_path / "none.keras"), "--data", str(photos)])
    assert res.exit_code == 2 and "error: " in res.output and "no such model file" in res.output
    res = CliRunner().invoke(app, ["export", str(tiny_keras), "-q", "int3", "--data", str(photos)])
    assert res.exit_code == 2 and "unknown precision 'int3'" in res.output


def _activation_scales(raw: bytes) -> list[float]:
    """Sorted scales of the int8 activation tensors (tensor names differ between conversion paths; if every range
    of one model lies inside the matching range of the other, its sorted scales are element-wise smaller too)."""
    from ai_edge_litert.interpreter import Interpreter

    details = Interpreter(model_content=raw).get_tensor_details()
    return sorted(d["quantization"][0] for d in details
                  if d["dtype"] == np.int8 and d["quantization"][0] > 0 and len(d["shape"]) == 4 and d["shape"][0] == 1)


def _outlier_calibration_case():
    """A fixed-size random `tiny` net and 32 calibration crops: 3 batches of smooth photos-like images, then one
    batch of uniform noise that drives its activations to extremes."""
    from edge_deblur.models import with_input_size

    model = with_input_size(randomized("tiny", seed=3), 32, 32)
    calm = np.stack([smooth_image(32, 32, seed=s) for s in range(24)])
    wild = np.random.default_rng(0).random((8, 32, 32, 3)).astype(np.float32)
    return model, np.concatenate([calm, wild])


@pytest.mark.parametrize("io_dtype", ["float32", "uint8", "int8"])
def test_batch_mean_ranges_are_narrower_than_global_min_max(io_dtype):
    """int8 ranges as the mean of per-batch min/max: every activation range inside the global min/max one, the
    ones that see the outlier batch clearly narrower; the I/O contract is unchanged."""
    from ai_edge_litert.interpreter import Interpreter

    model, reps = _outlier_calibration_case()
    global_raw = convert(model, "int8", reps, io_dtype, calibration_batch=0)
    mean_raw = convert(model, "int8", reps, io_dtype, calibration_batch=8)
    g, m = _activation_scales(global_raw), _activation_scales(mean_raw)
    assert len(g) == len(m) >= 4
    assert all(a <= b * (1 + 1e-6) for a, b in zip(m, g))
    assert sum(a < 0.9 * b for a, b in zip(m, g)) >= 2
    for raw in (global_raw, mean_raw):
        it = Interpreter(model_content=raw)
        assert it.get_input_details()[0]["dtype"] == np.dtype(io_dtype)
        assert it.get_output_details()[0]["dtype"] == np.dtype(io_dtype)


def test_batch_mean_int8_tracks_keras_closer_on_calm_images():
    """With outliers in the calibration set, batch-mean ranges keep more precision on ordinary images."""
    from edge_deblur.metrics import psnr
    from ai_edge_litert.interpreter import Interpreter

    model, reps = _outlier_calibration_case()
    tests = [smooth_image(32, 32, seed=100 + s) for s in range(4)]
    ref = [np.asarray(model(t[None]))[0] for t in tests]

    def score(raw):
        it = Interpreter(model_content=raw)
        it.allocate_tensors()
        i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
        out = []
        for t in tests:
            it.set_tensor(i, t[None].astype(np.float32))
            it.invoke()
            out.append(it.get_tensor(o)[0])
        return float(np.mean([psnr(a, b) for a, b in zip(out, ref)]))

    assert score(convert(model, "int8", reps, calibration_batch=8)) > score(convert(model, "int8", reps,
                                                                                     calibration_batch=0)) + 0.2


def _named_scales(raw: bytes) -> dict[str, tuple[float, int]]:
    """(scale, zero point) of every per-tensor-quantized int8 activation, by tensor name."""
    from ai_edge_litert.interpreter import Interpreter

    return {d["name"]: (float(d["quantization"][0]), int(d["quantization"][1]))
            for d in Interpreter(model_content=raw).get_tensor_details()
            if d["dtype"] == np.int8 and d["quantization"][0] > 0 and len(d["shape"]) == 4 and d["shape"][0] == 1}


@pytest.mark.parametrize("batch", [0, 8])
def test_ranges_measured_on_small_crops_move_onto_a_bigger_graph(batch):
    """A 64x64 net calibrated on 32x32 crops gets exactly the ranges of the 32x32 net on the same crops, and still
    tracks its Keras model."""
    from ai_edge_litert.interpreter import Interpreter

    from edge_deblur.metrics import psnr
    from edge_deblur.models import with_input_size

    small, reps = _outlier_calibration_case()
    big = with_input_size(small, 64, 64)
    want, got = (_named_scales(convert(m, "int8", reps, calibration_batch=batch)) for m in (small, big))
    assert len(want) >= 4 and want.keys() == got.keys()
    assert all(got[k][1] == want[k][1] and got[k][0] == pytest.approx(want[k][0], rel=1e-6) for k in want)

    raw = convert(big, "int8", reps, calibration_batch=batch)
    it = Interpreter(model_content=raw)
    it.allocate_tensors()
    assert tuple(it.get_input_details()[0]["shape"]) == (1, 64, 64, 3)
    image = smooth_image(64, 64, seed=7)
    it.set_tensor(it.get_input_details()[0]["index"], image[None])
    it.invoke()
    assert psnr(it.get_tensor(it.get_output_details()[0]["index"])[0], np.asarray(big(image[None]))[0]) > 30


def test_calibration_crops_are_at_most_224_a_side():
    from edge_deblur.export import calibration_size

    assert calibration_size((512, 512), 4) == (224, 224)
    assert calibration_size((32, 48), 4) == (32, 48)
    assert calibration_size((128, 1024), 8) == (128, 224)
    assert calibration_size((480, 480), 64) == (192, 192)  # a multiple of the stride


def test_export_at_512_describes_its_224_calibration(tiny_keras, photos, tmp_path, monkeypatch):
    """The metadata says the crops were smaller than the model and that their ranges were moved onto it."""
    import edge_deblur.convert as convert_module

    monkeypatch.setattr(convert_module, "CALIBRATION_SIZE", 32)  # the test photos are 72x96; keep the same logic, smaller
    (r,) = export_model(tiny_keras, ["int8"], data=photos, out=tmp_path, calibration_samples=100, size=(64, 64),
                        verify_images=1)
    assert r.error is None and r.psnr_vs_keras > 30
    meta = read_metadata(r.path)
    assert meta["input_size"] == [64, 64]
    assert meta["calibration"].startswith("100 defocus-blurred 32x32 crops")
    assert meta["calibration"].endswith("measured at 32x32 and applied at 64x64")


def test_real_pairs_with_a_recorded_split_verify_on_its_validation_scenes(tiny_keras, shared_data, tmp_path):
    (r,) = export_model(tiny_keras, ["int8"], data=shared_data / "dpdd_dev", dataset="pairs", out=tmp_path,
                        calibration_samples=16, size=(32, 32), verify_images=2)
    assert r.error is None and r.path.is_file()
    assert r.verified_on.startswith("2 val-split images of pairs data dpdd_dev")
    assert "from the train split of pairs data dpdd_dev" in read_metadata(r.path)["calibration"]


def test_without_data_export_uses_the_training_data_of_the_model_card(tmp_path):
    from edge_deblur.export import _default_data

    photos = tmp_path / "my_photos"
    photos.mkdir()
    model = tmp_path / "run" / "model.keras"
    model.parent.mkdir()
    (model.parent / "card.json").write_text(json.dumps({"data": {"paths": [str(photos)], "dataset": "synthetic"}}))
    data, dataset, why = _default_data(None, "pairs", model)
    assert (data, dataset) == (photos, "synthetic") and "card.json" in why
    assert _default_data(tmp_path, "pairs", model)[:2] == (tmp_path, "pairs")  # --data wins
    photos.rmdir()  # the card names data that is gone: say so, fall back to the shared photos
    assert "no usable card.json" in _default_data(None, "pairs", model)[2]


# --- an export interrupted between its files: the manifest never describes a file that is not there -------------


class _Interrupt:
    """A `log` callback that presses Ctrl-C (raises KeyboardInterrupt) when a progress message starts with `at`."""

    def __init__(self, at: str):
        self.at = at

    def __call__(self, msg: str) -> None:
        if msg.startswith(self.at):
            raise KeyboardInterrupt


def _manifest_matches_disk(out) -> list[str]:
    """The files the manifest lists, after checking each exists with the listed digest and size."""
    manifest = json.loads((out / "manifest.json").read_text())
    for entry in manifest["files"]:
        data = (out / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["path"]
        assert len(data) == entry["size_bytes"], entry["path"]
    return [entry["path"] for entry in manifest["files"]]


def test_interrupted_two_precision_export_lists_only_finished_files(tiny_keras, photos, tmp_path):
    kwargs = dict(data=photos, out=tmp_path, calibration_samples=100, size=(32, 32), verify_images=1)
    with pytest.raises(KeyboardInterrupt):
        export_model(tiny_keras, ["float16", "int8"], log=_Interrupt("converting tiny to int8"), **kwargs)
    assert _manifest_matches_disk(tmp_path) == ["tiny_float16.tflite"]
    assert not (tmp_path / "tiny_int8.tflite").exists()


@pytest.fixture(scope="module")
def two_files(tiny_keras, photos, tmp_path_factory):
    """A finished float16 + int8 export of `tiny_keras`, to be copied."""
    out = tmp_path_factory.mktemp("two_files")
    export_model(tiny_keras, ["float16", "int8"], data=photos, out=out, calibration_samples=100, size=(32, 32),
                 verify_images=1)
    assert _manifest_matches_disk(out) == ["tiny_float16.tflite", "tiny_int8.tflite"]
    return out


@pytest.mark.parametrize("at", ["verifying tiny_float16", "converting tiny to int8", "verifying tiny_int8"])
def test_interrupted_re_export_never_leaves_a_stale_entry(two_files, photos, tmp_path, at):
    import shutil

    shutil.copytree(two_files, tmp_path, dirs_exist_ok=True)
    kwargs = dict(data=photos, out=tmp_path, calibration_samples=100, size=(32, 32), verify_images=1)
    retrained = tmp_path / "retrained" / "tiny_run.keras"
    retrained.parent.mkdir()
    randomized("tiny", seed=7).save(retrained)  # other weights: every file's bytes change
    with pytest.raises(KeyboardInterrupt):
        export_model(retrained, ["float16", "int8"], log=_Interrupt(at), **kwargs)
    listed = _manifest_matches_disk(tmp_path)
    # a file being replaced leaves the manifest first and comes back once written and verified
    expected = {"verifying tiny_float16": ["tiny_int8.tflite"],
                "converting tiny to int8": ["tiny_float16.tflite", "tiny_int8.tflite"],
                "verifying tiny_int8": ["tiny_float16.tflite"]}[at]
    assert listed == expected


def test_gpu_analyzer_report_parsing():
    from edge_deblur.gpu_check import parse_analyzer_report

    ok = "Subgraph#0 main(T#0) -> [T#9]\nYour model looks compatible with GPU delegate on TFLite runtime version 2.21.0."
    assert parse_analyzer_report(ok) == {"gpu_compatible": True, "gpu_issues": []}
    bad = ("Op#3 CUMSUM(T#2) -> [T#3]\nGPU COMPATIBILITY WARNING: Not supported op CUMSUM\n\n"
           "GPU COMPATIBILITY WARNING: Subgraph#0 has GPU delegate compatibility issues at nodes 3 on TFLite runtime")
    rep = parse_analyzer_report(bad)
    assert not rep["gpu_compatible"] and rep["gpu_issues"][0] == "GPU COMPATIBILITY WARNING: Not supported op CUMSUM"
    assert not parse_analyzer_report("")["gpu_compatible"]
