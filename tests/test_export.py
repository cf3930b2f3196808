"""Keras -> TFLite export: every precision of `tiny` and the efficient model, metadata, verification, errors."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from conftest import ROOT, smooth_image
from edge_deblur.errors import DataError, EdgeDeblurError, ModelError
from edge_deblur.export import PRECISIONS, CalibrationWarning, UntrainedWarning, convert, export_model
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
        assert abs(r.psnr_keras - r.psnr_identity) < 2  # a random net with a small head: about the identity
        assert r.psnr_tflite == pytest.approx(r.psnr_keras + r.delta_psnr)
        assert "test-split" in r.verified_on


def test_flat_gray_drift_is_the_files_shift_from_keras_on_uniform_tiles(exported, tiny_keras):
    from edge_deblur.export import FLAT_LEVELS, load_keras

    keras_model = load_keras(tiny_keras)
    by = {r.precision: r for r in exported[1]}
    assert by["float32"].flat_drift < 1e-3 and by["float16"].flat_drift < 0.05  # levels of 255
    for r in by.values():  # recomputed independently at the level each file reports as its worst, and at all levels
        runner = Deblurrer(r.path)
        drifts = {}
        for v in FLAT_LEVELS:
            tile = np.full((1, 32, 32, 3), v / 255, np.float32)
            keras_mean = np.clip(np.asarray(keras_model(tile, training=False)), 0, 1).mean() * 255
            drifts[v] = abs(runner.run_tile(tile[0]).mean() * 255 - keras_mean)
        assert r.flat_drift_level in FLAT_LEVELS and max(drifts.values()) == pytest.approx(r.flat_drift, abs=1e-3)
        assert drifts[r.flat_drift_level] == pytest.approx(r.flat_drift, abs=1e-3)
        assert r.to_dict()["flat_drift"] == pytest.approx(r.flat_drift)


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
    mixed = {"paths": [str(tmp_path), str(photos)], "dataset": "mixed",  # a --source run: its weightiest source
             "sources": [f"smooth={photos}@2", f"synthetic={photos}@0.5", f"pairs={tmp_path}@0.5"]}
    (model.parent / "card.json").write_text(json.dumps({"data": mixed}))
    assert _default_data(None, "pairs", model)[:2] == (photos, "synthetic")
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
    # a new file is verified under a temporary name; only then does the old entry leave the manifest, the file
    # replace the old one and its entry come back: an interrupted file leaves the old one listed and untouched
    assert _manifest_matches_disk(tmp_path) == ["tiny_float16.tflite", "tiny_int8.tflite"]
    replaced = [p for p in ("tiny_float16.tflite", "tiny_int8.tflite")
                if (tmp_path / p).read_bytes() != (two_files / p).read_bytes()]
    assert replaced == ([] if at == "verifying tiny_float16" else ["tiny_float16.tflite"])
    assert not list(tmp_path.glob(".*tmp*"))


def test_gpu_analyzer_report_parsing():
    from edge_deblur.gpu_check import parse_analyzer_report

    ok = "Subgraph#0 main(T#0) -> [T#9]\nYour model looks compatible with GPU delegate on TFLite runtime version 2.21.0."
    assert parse_analyzer_report(ok) == {"gpu_compatible": True, "gpu_issues": []}
    bad = ("Op#3 CUMSUM(T#2) -> [T#3]\nGPU COMPATIBILITY WARNING: Not supported op CUMSUM\n\n"
           "GPU COMPATIBILITY WARNING: Subgraph#0 has GPU delegate compatibility issues at nodes 3 on TFLite runtime")
    rep = parse_analyzer_report(bad)
    assert not rep["gpu_compatible"] and rep["gpu_issues"][0] == "GPU COMPATIBILITY WARNING: Not supported op CUMSUM"
    assert not parse_analyzer_report("")["gpu_compatible"]


# --- refused before any work: options, output folders, models that are not deblurring models -------------------


def _cli(*args: str):
    """`edge-deblur export ARGS` in-process: (exit code, output lines)."""
    from typer.testing import CliRunner

    from edge_deblur.cli import app

    res = CliRunner().invoke(app, ["export", *map(str, args)])
    return res.exit_code, res.output.strip().splitlines()


def test_bad_options_are_one_line_errors_before_any_work(tiny_keras, photos, tmp_path):
    afile = tmp_path / "photo.png"
    afile.write_bytes(b"a user's file")
    cases = [({"out": afile}, EdgeDeblurError, f"--out {afile}: is an existing file, not a folder"),
             ({"out": afile / "sub"}, EdgeDeblurError, f"--out {afile / 'sub'}: {afile} is a file, not a folder"),
             ({"seed": -1}, DataError, "--seed must be >= 0, got -1"),
             ({"size": (8, 8)}, ModelError, "--size 8x8: each side must be in [16, 8192]"),
             ({"size": (32, 8)}, ModelError, "--size 32x8: each side must be in [16, 8192]"),
             ({"size": (16384, 32)}, ModelError, "--size 16384x32: each side must be in [16, 8192]"),
             ({"verify_images": 0}, DataError, "--verify-images must be at least 1, got 0"),
             ({"verify_images": -1}, DataError, "--verify-images must be at least 1, got -1")]
    log = []
    for kwargs, kind, message in cases:
        with pytest.raises(kind) as e:
            export_model(tiny_keras, ["float32"], **{"data": photos, "out": tmp_path / "out", "size": (32, 32),
                                                     "log": log.append, **kwargs})
        assert str(e.value).startswith(message) and "\n" not in str(e.value), str(e.value)
    assert log == []  # refused before reading any data (and before loading the model, for all but the size)
    assert afile.read_bytes() == b"a user's file" and sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]
    for args, message in ((["-o", afile], "is an existing file, not a folder"), (["--seed", "-1"], "--seed must be"),
                          (["--size", "8"], "--size 8x8: each side"), (["--verify-images", "0"], "got 0"),
                          (["--verify-images", "-1"], "got -1")):
        code, lines = _cli(tiny_keras, "-q", "float32", "--data", photos, "-o", tmp_path / "out", *args)
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


def test_repeated_precisions_export_once(tiny_keras, photos, tmp_path):
    kwargs = dict(data=photos, out=tmp_path, size=(32, 32), verify_images=1)
    assert [r.precision for r in export_model(tiny_keras, ["float16", "float32", "float16"], **kwargs)] == [
        "float16", "float32"]
    assert [r.precision for r in export_model(tiny_keras, "float16", **kwargs)] == ["float16"]
    code, lines = _cli(tiny_keras, "-q", "float16", "-q", "float16", "--data", photos, "-o", tmp_path / "cli",
                       "--size", "32", "--verify-images", "1")
    assert code == 0 and sum(line.startswith("tiny_float16.tflite ") for line in lines) == 1, lines
    assert sorted(p.name for p in (tmp_path / "cli").iterdir()) == ["manifest.json", "tiny_float16.tflite"]


def _odd_model(path, kind: str):
    """A saved functional Keras model that is not ours: random weights, seeded."""
    import keras

    shape = {"classifier": (32, 32, 3), "gray": (None, None, 1)}.get(kind, (None, None, 3))
    x = inp = keras.Input(shape)
    if kind == "classifier":  # a Dense head on flattened pixels
        out = keras.layers.Dense(10)(keras.layers.Flatten()(x))
    elif kind == "two_outputs":
        out = [keras.layers.Conv2D(3, 3, padding="same")(x), keras.layers.Conv2D(3, 3, padding="same")(x)]
    else:  # randconv: one random 3x3 conv; halfsize: strided; gray: one channel
        out = keras.layers.Conv2D(shape[-1], 3, strides=2 if kind == "halfsize" else 1, padding="same")(x)
    model = keras.Model(inp, out, name=kind)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])
    model.save(path)
    return path


@pytest.mark.parametrize("kind, size, message", [
    ("classifier", 32, "its output for a (1, 32, 32, 3) image is (1, 10), not an RGB image of the input's size"),
    ("classifier", 64, "cannot be rebuilt with a 64x64 input"),
    ("halfsize", 32, "its output for a (1, 32, 32, 3) image is (1, 16, 16, 3), not an RGB image"),
    ("gray", 32, "not an image-to-image model: it takes (None, None, None, 1)"),
    ("two_outputs", 32, "not an image-to-image model: it takes (None, None, None, 3) and returns [(None"),
])
def test_models_that_are_not_image_to_image_are_refused(photos, tmp_path, kind, size, message):
    path = _odd_model(tmp_path / f"{kind}.keras", kind)
    with pytest.raises(ModelError) as e:
        export_model(path, ["float32"], data=photos, out=tmp_path / "out", size=(size, size), verify_images=1)
    assert str(e.value).startswith(f"{path}: {message}") and "\n" not in str(e.value), str(e.value)
    code, lines = _cli(path, "-q", "float32", "--data", photos, "-o", tmp_path / "out", "--size", size)
    assert code == 2 and lines[-1] == f"error: {e.value}" and not any("Traceback" in ln for ln in lines)
    assert not (tmp_path / "out").exists()


def test_a_model_far_worse_than_the_blurred_input_is_refused_unless_allowed(photos, tmp_path):
    """One random conv maps images to an image-shaped mess: export used to stamp and 'verify' it (float32 matched
    Keras), and `deblur` then ran it as ours."""
    from edge_deblur.export_checks import MAX_DROP_VS_IDENTITY_DB

    path = _odd_model(tmp_path / "randconv.keras", "randconv")
    kwargs = dict(data=photos, out=tmp_path / "out", size=(32, 32), verify_images=2)
    with pytest.raises(ModelError) as e:
        export_model(path, ["float32", "int8"], calibration_samples=100, **kwargs)
    text = str(e.value)
    assert text.startswith(f"{path}: the Keras model scores ") and "\n" not in text
    assert "dB below the blurred input itself" in text and "allow_untrained=True" in text
    assert not (tmp_path / "out").exists()
    with pytest.warns(UntrainedWarning, match="dB below the blurred input itself .*; exported anyway"):
        (r,) = export_model(path, ["float32"], allow_untrained=True, **kwargs)
    assert r.error is None and r.psnr_keras < r.psnr_identity - MAX_DROP_VS_IDENTITY_DB
    (entry,) = json.loads((tmp_path / "out" / "manifest.json").read_text())["files"]
    assert entry["psnr_identity"] == pytest.approx(r.psnr_identity) and entry["psnr_keras"] < 15
    code, lines = _cli(path, "-q", "float32", "--data", photos, "-o", tmp_path / "cli", "--size", "32")
    assert code == 2 and lines[-1].startswith(f"error: {path}: the Keras model scores ")
    assert not (tmp_path / "cli").exists()


def test_a_file_that_fails_verification_is_never_written(tiny_keras, photos, tmp_path, monkeypatch):
    """Verified under a temporary name: a failure leaves no new file and the earlier export listed and intact."""
    import edge_deblur.export as export_module

    kwargs = dict(data=photos, out=tmp_path, size=(32, 32), verify_images=1)
    (good,) = export_model(tiny_keras, ["float32"], **kwargs)
    before = good.path.read_bytes()

    def refuse(result, path, *args):
        assert path.name.startswith(".tiny_") and Deblurrer(path).precision == result.precision  # the temporary
        raise ModelError(f"{path}: the model produced 3 NaN or infinite values of 3072 in a tile")

    monkeypatch.setattr(export_module, "_verify", refuse)
    retrained = tmp_path / "retrained" / "tiny_run.keras"
    retrained.parent.mkdir()
    randomized("tiny", seed=8).save(retrained)
    (r,) = export_model(retrained, ["float32"], **kwargs)
    assert r.path is None and r.error == ("verification failed: tiny_float32.tflite: the model produced 3 NaN or "
                                          "infinite values of 3072 in a tile")
    assert good.path.read_bytes() == before and _manifest_matches_disk(tmp_path) == ["tiny_float32.tflite"]
    assert not list(tmp_path.glob(".*tmp*"))
    (r,) = export_model(retrained, ["float16"], **{**kwargs, "out": tmp_path / "fresh" / "sub"})
    assert r.error and not (tmp_path / "fresh").exists()  # nothing written: the folders it made are gone too


# --- the bundled release folder and the manifest's keys ----------------------------------------------------------


@pytest.fixture
def release(tmp_path, tiny_keras, monkeypatch):
    """A stand-in bundled release (the tiny model; a manifest with keys of its own), patched in as the bundled one."""
    import shutil

    import edge_deblur.export as export_module
    import edge_deblur.export_checks as export_checks

    folder = tmp_path / "release"
    folder.mkdir()
    shutil.copy(tiny_keras, folder / "tiny.keras")
    doc = {"model": "tiny", "keras": {"path": "tiny.keras", "sha256": hashlib.sha256(tiny_keras.read_bytes())
                                      .hexdigest()}, "files": [], "command": "make_release.sh",
           "release_commands": ["edge-deblur train ..."], "measured": {"kodak24": {"psnr": 30.1}}}
    (folder / "manifest.json").write_text(json.dumps(doc))
    monkeypatch.setattr(export_module, "_bundled_keras", lambda: folder / "tiny.keras")
    monkeypatch.setattr(export_checks, "_bundled_folders", lambda: [folder.resolve()])
    return folder


def test_bundled_model_is_exported_only_into_a_folder_named_as_out(release, photos, tmp_path, monkeypatch):
    before = {p.name: p.read_bytes() for p in release.iterdir()}
    kwargs = dict(precisions=["float16"], data=photos, size=(32, 32), verify_images=1)
    for model in (None, release / "tiny.keras", str(release / "tiny.keras")):
        with pytest.raises(EdgeDeblurError) as e:
            export_model(model, **kwargs)
        assert "the bundled model; " in str(e.value) and "pass --out FOLDER" in str(e.value)
    with pytest.raises(EdgeDeblurError, match="a Keras model object has no folder to export beside: pass out="):
        export_model(randomized("tiny", seed=1), **kwargs)
    monkeypatch.chdir(tmp_path)
    code, lines = _cli("-q", "float16", "--data", photos, "--size", "32", "--verify-images", "1")
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "pass --out FOLDER" in lines[0]
    assert {p.name: p.read_bytes() for p in release.iterdir()} == before
    (r,) = export_model(None, out=tmp_path / "mine", **kwargs)  # anywhere else
    assert r.path == tmp_path / "mine" / "tiny_float16.tflite"
    (r,) = export_model(None, out=release, command="again", **kwargs)  # named explicitly: replaced
    doc = json.loads((release / "manifest.json").read_text())
    assert doc["release_commands"] == ["edge-deblur train ..."] and doc["measured"] == {"kodak24": {"psnr": 30.1}}
    assert doc["command"] == "again" and [f["path"] for f in doc["files"]] == ["tiny_float16.tflite"]
    assert doc["keras"] == json.loads(before["manifest.json"])["keras"]


def test_write_manifest_keeps_keys_it_does_not_own_and_never_replaces_another_models(exported, tiny_keras,
                                                                                      tmp_path):
    import dataclasses
    import shutil

    from edge_deblur.export import write_manifest

    out, results = exported
    shutil.copy(out / "tiny_float16.tflite", tmp_path)
    moved = [dataclasses.replace(r, path=tmp_path / r.path.name) for r in results if r.precision == "float16"]
    doc = {"model": "tiny", "files": [], "release_commands": ["a", "b"], "measured": {"x": 1}, "notes": "mine"}
    (tmp_path / "manifest.json").write_text(json.dumps(doc))
    write_manifest(tmp_path, "tiny", moved, command="again")
    new = json.loads((tmp_path / "manifest.json").read_text())
    assert {k: new[k] for k in ("release_commands", "measured", "notes", "command")} == {
        "release_commands": ["a", "b"], "measured": {"x": 1}, "notes": "mine", "command": "again"}
    assert [f["path"] for f in new["files"]] == ["tiny_float16.tflite"]
    for text, message in ((json.dumps({"model": "unet_s3", "files": []}), "describes model 'unet_s3', not 'tiny'"),
                          ("{not json", "unreadable manifest"), ("[1, 2]", "unreadable manifest (not a JSON object)")):
        (tmp_path / "manifest.json").write_text(text)
        with pytest.raises(EdgeDeblurError, match=message.replace("(", r"\(").replace(")", r"\)")):
            write_manifest(tmp_path, "tiny", moved)
        log = []
        with pytest.raises(EdgeDeblurError, match="manifest"):  # refused before any data is read or file written
            export_model(tiny_keras, ["float32"], data=tmp_path, out=tmp_path, size=(32, 32), log=log.append)
        assert log == [] and (tmp_path / "manifest.json").read_text() == text
        assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "tiny_float16.tflite"]


def test_the_real_bundled_release_is_never_rewritten_without_out(photos, tmp_path):
    """QA's case, run on a scratch copy of the package and of the shipped export/ folder (never the real one)."""
    import os
    import shutil
    import subprocess
    import sys

    if not (ROOT / "export" / "manifest.json").is_file():
        pytest.skip("no bundled model in this checkout")
    real = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (ROOT / "export").iterdir()}
    shutil.copytree(ROOT / "edge_deblur", tmp_path / "edge_deblur", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "export", tmp_path / "export")
    copy = {p.name: p.read_bytes() for p in (tmp_path / "export").iterdir()}
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    cmd = [sys.executable, "-m", "edge_deblur", "export", "-q", "float16", "--data", str(photos), "--size", "32",
           "--verify-images", "1"]
    res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    errors = [line for line in res.stderr.splitlines() if line.startswith("error: ")]
    assert res.returncode == 2 and len(errors) == 1 and "pass --out FOLDER" in errors[0], res.stderr[-2000:]
    assert str(tmp_path / "export" / "unet_s3.keras") in errors[0]  # the copy's bundled model, not the real one
    assert {p.name: p.read_bytes() for p in (tmp_path / "export").iterdir()} == copy
    res = subprocess.run(cmd + ["-o", "export"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    doc, shipped = (json.loads(m) for m in ((tmp_path / "export" / "manifest.json").read_text(),
                                            copy["manifest.json"]))
    assert {k: doc[k] for k in ("release_commands", "measured", "keras")} == {
        k: shipped[k] for k in ("release_commands", "measured", "keras")}
    assert [f["path"] for f in doc["files"]] == ["unet_s3_float16.tflite", "unet_s3_int8.tflite"]
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (ROOT / "export").iterdir()} == real


def test_an_export_never_leaves_a_folder_mixing_two_models_of_one_name(tiny_keras, photos, tmp_path):
    # two training runs of one registry model share its name: a second run's float32 beside the first's float16
    other = tmp_path / "run_b" / "model.keras"
    other.parent.mkdir()
    randomized("tiny", seed=8).save(other)
    kwargs = dict(data=photos, out=tmp_path / "ex", size=(32, 32), verify_images=1)
    first = export_model(tiny_keras, ["float32", "float16"], **kwargs)
    before = {r.path.name: r.path.read_bytes() for r in first}
    with pytest.raises(ModelError, match=r"tiny_float16\.tflite was exported from another tiny\.keras than this one; "
                                         r"export all its precisions again \(-q float16 too\)"):
        export_model(other, ["float32"], **kwargs)
    assert {p.name: p.read_bytes() for p in (tmp_path / "ex").glob("*.tflite")} == before
    export_model(tiny_keras, ["float32"], **kwargs)  # the same source again: its other files stay consistent
    again = export_model(other, ["float32", "float16"], **kwargs)  # all of them: the folder is run B's
    assert all(r.path is not None for r in again)
