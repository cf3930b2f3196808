"""The benchmark harness end to end on the `tiny` model: real TFLite exports, real interpreters, real photos."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import needs_shared
from edge_deblur.bench import (
    COLUMNS,
    NOT_APPLICABLE,
    BenchResult,
    dataset_set,
    kodak24_set,
    load_eval_set,
    run_bench,
    sample_set,
)
from edge_deblur.cli import app
from edge_deblur.errors import DataError, EdgeDeblurError, ModelError
from edge_deblur.metrics import psnr, ssim

ROWS = ("identity", "classical", "classical-blind", "keras", "tflite-float32", "tflite-float16", "tflite-int8")
LIMIT = 3  # one photo at radius 2, 3 and 4


@pytest.fixture(scope="module")
def tiny_keras(tmp_path_factory):
    """The registry's `tiny` U-Net with random non-zero weights (untrained it starts as the identity), saved."""
    from edge_deblur.models import build_model

    model = build_model("tiny")
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0.0, 0.15, w.shape).astype(np.float32) for w in model.get_weights()])
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def cli_run(tiny_keras, tmp_path_factory):
    """`edge-deblur bench` once on the sample photos, writing every output format."""
    out = tmp_path_factory.mktemp("bench")
    args = ["bench", "--model", str(tiny_keras), "--size", "32", "--runs", "3", "--warmup", "1",
            "--limit", str(LIMIT), "--baseline", "wiener", "--threads", "1",
            "--json", str(out / "r.json"), "--csv", str(out / "r.csv"), "--markdown", str(out / "r.md"),
            "--plot", str(out / "r.png")]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "240"})  # wide enough for the whole table
    assert result.exit_code == 0, result.output
    return out, result.output


def _rows(out) -> dict[str, dict]:
    doc = json.loads((out / "r.json").read_text())
    return {r["kind"] if r["kind"] != "tflite" else r["name"]: r for r in doc["rows"]}


def test_json_has_every_row_and_column_with_finite_values(cli_run):
    out, _ = cli_run
    doc = json.loads((out / "r.json").read_text())
    assert doc["columns"] == list(COLUMNS)
    rows = _rows(out)
    assert list(rows) == list(ROWS)
    for key, row in rows.items():
        assert list(row) == list(COLUMNS)
        for col in COLUMNS:
            value = row[col]
            if (row["kind"], col) in NOT_APPLICABLE:
                assert value is None, f"{key}.{col} should be n/a, got {value}"
                continue
            assert value is not None, f"{key}.{col} is missing"
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                assert math.isfinite(value), f"{key}.{col} = {value}"
        assert row["pairs"] == LIMIT
        assert sorted(row["per_radius"]) == ["r2", "r3", "r4"]
        assert row["latency_ms"] > 0 and row["latency_p90_ms"] >= row["latency_ms"]
        assert row["fps"] == pytest.approx(1000.0 / row["latency_ms"])
        assert row["threads"] >= 1
    for key in ("tflite-float32", "tflite-float16", "tflite-int8"):
        assert rows[key]["backend"] in ("ai_edge_litert", "tflite_runtime", "tf.lite")
        assert rows[key]["threads"] == 1
        assert rows[key]["size_mb"] > 0 and rows[key]["gflop"] > 0 and rows[key]["gflops_per_s"] > 0
        assert rows[key]["xnnpack"] is True, f"{key}: XNNPACK did not take the whole graph"
    header = doc["header"]
    assert header["timing"] == {"size": [32, 32], "runs": 3, "warmup": 1, "threads_requested": 1, "interleaved": True}
    assert header["machine"]["cpu"] and header["versions"]["numpy"] == np.__version__
    assert "scikit-image sample photos" in header["data"]["description"]


def test_identity_row_equals_the_metric_on_the_same_pairs(cli_run):
    out, _ = cli_run
    identity = _rows(out)["identity"]
    pairs = list(sample_set(limit=LIMIT))
    assert len(pairs) == LIMIT and [p.radius for p in pairs] == [2.0, 3.0, 4.0]
    assert identity["psnr"] == pytest.approx(np.mean([psnr(p.blurred, p.sharp) for p in pairs]), abs=1e-9)
    assert identity["ssim"] == pytest.approx(np.mean([ssim(p.blurred, p.sharp) for p in pairs]), abs=1e-9)
    for p in pairs:
        assert identity["per_radius"][f"r{p.radius:g}"]["psnr"] == pytest.approx(psnr(p.blurred, p.sharp), abs=1e-9)


def test_variants_compare_sensibly_with_keras(cli_run):
    rows = _rows(cli_run[0])
    keras = rows["keras"]
    assert keras["d_psnr"] == 0.0 and keras["d_ssim"] == 0.0
    for key, row in rows.items():
        assert row["d_psnr"] == pytest.approx(row["psnr"] - keras["psnr"])
    # float32 TFLite computes the same function as Keras (up to 32x32 tiling seams); int8 loses more than float16
    assert rows["tflite-float32"]["psnr_vs_keras"] > 50
    assert abs(rows["tflite-float32"]["d_psnr"]) < 0.05
    assert rows["tflite-float16"]["psnr_vs_keras"] > 35
    assert rows["tflite-int8"]["psnr_vs_keras"] < rows["tflite-float16"]["psnr_vs_keras"]
    # random weights do damage the image: the identity output is far from the Keras output
    assert rows["identity"]["psnr_vs_keras"] < 40
    assert rows["tflite-int8"]["size_mb"] < rows["tflite-float32"]["size_mb"]
    # the classical row was given the true PSF and beats doing nothing
    assert "true PSF" in rows["classical"]["name"] and rows["classical"]["psnr"] > rows["identity"]["psnr"]
    # ... and its blind twin (one assumed radius for every image) is there too, and no better than the oracle
    assert "assumed r=3" in rows["classical-blind"]["name"]
    assert rows["classical-blind"]["psnr"] <= rows["classical"]["psnr"] + 1e-9


def test_other_formats_and_console_output(cli_run):
    out, text = cli_run
    csv_lines = (out / "r.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + len(ROWS)
    assert csv_lines[0].startswith("name,kind,precision") and csv_lines[0].endswith("psnr_r4,ssim_r4")
    md = (out / "r.md").read_text()
    assert "| tflite-int8 |" in md and "Mean per blur radius" in md and "machine:" in md
    assert (out / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "tflite-float16" in text and "machine:" in text
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")], "temporary files left behind"


def _bench_fails(tmp_path, *args) -> str:
    """Run `bench` with bad input: exit code 2, one error line, and no result file written."""
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["bench", *args, "--runs", "2", "--json", str(out / "r.json"),
                                      "--markdown", str(out / "r.md"), "--plot", str(out / "r.png")])
    assert result.exit_code == 2, result.output
    assert not out.exists() or not any(out.iterdir())
    return result.output


def test_bad_input_is_a_clear_error_with_no_files(tmp_path, tiny_keras):
    model = str(tiny_keras)
    assert "unknown protocol 'kodak99'" in _bench_fails(tmp_path, "--model", model, "--protocol", "kodak99")
    assert "unknown dataset 'flickr'" in _bench_fails(tmp_path, "--model", model, "--data", str(tmp_path),
                                                     "--dataset", "flickr")
    (tmp_path / "empty" / "sharp").mkdir(parents=True)
    (tmp_path / "empty" / "blurred").mkdir()
    assert "no blurred/sharp pairs" in _bench_fails(tmp_path, "--model", model, "--data", str(tmp_path / "empty"),
                                                   "--dataset", "pairs")
    result = CliRunner().invoke(app, ["bench", "--model", model, "--runs", "0", "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 2 and "--runs must be at least 1" in result.output
    assert not (tmp_path / "r.json").exists()
    fake = tmp_path / "fake.keras"
    fake.write_text("not a model")
    assert "fake.keras: not a Keras model file (a .keras file is a zip archive" in _bench_fails(tmp_path, "--model",
                                                                                                str(fake))
    tfl = tmp_path / "model.tflite"
    tfl.write_bytes(b"TFL3" * 10)
    assert "expected a .keras model" in _bench_fails(tmp_path, "--model", str(tfl))
    assert "no such model" in _bench_fails(tmp_path, "--model", str(tmp_path / "missing.keras"))
    assert "multiple of 4" in _bench_fails(tmp_path, "--model", model, "--size", "30")
    assert "unknown precision" in _bench_fails(tmp_path, "--model", model, "--precision", "int4")


def test_library_validation_happens_before_work(tmp_path):
    with pytest.raises(EdgeDeblurError, match="--warmup"):
        run_bench("tiny", warmup=-1)
    with pytest.raises(EdgeDeblurError, match="--limit"):
        run_bench("tiny", limit=0)
    with pytest.raises(EdgeDeblurError, match="is a folder"):
        run_bench("tiny", json_path=tmp_path)
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"a user's photo")  # `--json photo.png` replaced the photo with the results
    for kw, suffixes in (("json_path", ".json"), ("csv_path", ".csv"), ("markdown_path", ".md or .markdown")):
        with pytest.raises(EdgeDeblurError, match=f"{photo}: use a {suffixes} file name"):
            run_bench("tiny", **{kw: photo})
    assert photo.read_bytes() == b"a user's photo"
    plot = tmp_path / "input.png"  # --plot onto an existing photo (even one of the inputs) replaced it
    plot.write_bytes(b"a user's photo")
    with pytest.raises(EdgeDeblurError, match=f"--plot {plot}: already exists; nothing run \\(pass --overwrite"):
        run_bench("tiny", plot_path=plot)
    assert plot.read_bytes() == b"a user's photo"
    with pytest.raises(EdgeDeblurError, match="needs --dataset"):
        load_eval_set(data=tmp_path)
    with pytest.raises(ModelError, match="unknown model|no such model"):
        run_bench("resnet9000")


def test_sample_set_is_fixed_and_cropped_to_the_stride():
    a, b = list(sample_set(limit=2)), list(sample_set(limit=2))
    assert [p.name for p in a] == ["astronaut@r2", "astronaut@r3"]
    for p, q in zip(a, b):
        assert np.array_equal(p.blurred, q.blurred)
        assert p.sharp.shape[0] % 8 == 0 and p.sharp.shape[1] % 8 == 0
        assert p.blurred.dtype == np.float32 and p.blurred.shape == p.sharp.shape
    assert sample_set().count == 12


def test_registry_model_runs_untrained_and_says_so(tmp_path):
    result = run_bench("tiny", size=(16, 16), runs=1, warmup=0, precisions=("float32",), limit=1,
                       baseline="wiener", progress=False, plot_path=tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000  # the plot of an untrained run is drawn (it was a crash)
    assert isinstance(result, BenchResult)
    assert [r.kind for r in result.rows] == ["identity", "classical", "classical-blind", "keras", "tflite"]
    assert result.header["model"]["untrained"] is True
    assert any("UNTRAINED" in n for n in result.header["notes"])


def test_speed_plot_puts_runs_on_different_pairs_on_one_scale():
    """Each run's points sit at its PSNR minus its own identity row: a run scored on 12 easy pairs (identity 27 dB)
    and one on 72 (identity 25 dB) are compared by their gain, not by their subsets' difficulty."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edge_deblur.bench.render import speed_quality

    def rows(identity, keras, pairs):
        base = {"pairs": pairs, "latency_ms": 5.0, "size_mb": 1.0}
        return [{**base, "name": "identity", "kind": "identity", "psnr": identity},
                {**base, "name": "keras", "kind": "keras", "psnr": keras}]

    fig, ax = plt.subplots()
    speed_quality(ax, [("a", rows(27.0, 28.0, 12), False), ("b", rows(25.0, 28.5, 72), False),
                       ("c", rows(20.0, 40.0, 3), True)], (224, 224), "x")
    ys = sorted(float(y) for c in ax.collections for _, y in c.get_offsets())
    assert ys == pytest.approx([1.0, 3.5])  # gains; the untrained run is left out
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "a (12 pairs)" in labels and "b (72 pairs)" in labels
    plt.close(fig)


def test_untrained_registry_weights_are_the_same_on_every_run():
    from edge_deblur.bench import ModelSource, _load_keras

    src = ModelSource("unet_xs", None, {}, True, "unet_xs (registry, untrained)")
    first, second = (_load_keras(src).get_weights() for _ in range(2))
    assert len(first) > 4 and all(np.array_equal(a, b) for a, b in zip(first, second))
    assert any(np.abs(w).sum() > 0 for w in first)


def test_a_training_runs_model_keras_is_named_by_its_network(tmp_path):
    from edge_deblur.bench.sources import resolve_model
    from edge_deblur.models import build_model

    build_model("tiny").save(tmp_path / "model.keras")  # what `train` writes
    build_model("tiny").save(tmp_path / "mine.keras")
    assert resolve_model(tmp_path / "model.keras").name == "tiny"
    assert resolve_model(tmp_path / "mine.keras").name == "mine"  # a name the user gave is kept


@needs_shared
def test_kodak24_protocol_pairs(shared_data):
    full = kodak24_set(shared_data / "photos" / "kodak24")
    assert full.count == 72 and full.name == "defocus-kodak24"
    pairs = list(kodak24_set(shared_data / "photos" / "kodak24", limit=3))
    assert [p.name for p in pairs] == ["kodim01@r2", "kodim01@r3", "kodim01@r4"]
    assert pairs[0].sharp.shape in ((512, 768, 3), (768, 512, 3))
    scores = [psnr(p.blurred, p.sharp) for p in pairs]
    assert scores[0] > scores[1] > scores[2]  # more blur, lower PSNR
    again = next(iter(kodak24_set(shared_data / "photos" / "kodak24", limit=1)))
    assert np.array_equal(again.blurred, pairs[0].blurred)  # fixed seed
    with pytest.raises(DataError, match="24 Kodak images"):
        kodak24_set(shared_data / "photos" / "set14")


@needs_shared
def test_kwentar_uses_all_pairs_and_an_assumed_radius(shared_data):
    s = dataset_set(shared_data / "kwentar", "kwentar")
    assert s.count == 15 and not s.known_radius  # every defocus pair, no split
    first = next(iter(dataset_set(shared_data / "kwentar", "kwentar", limit=1)))
    assert first.radius is None and first.blurred.shape == first.sharp.shape


@pytest.mark.slow
@needs_shared
def test_bench_on_real_kwentar_pairs(shared_data, tiny_keras):
    result = run_bench(tiny_keras, data=shared_data / "kwentar", dataset="kwentar", size=(64, 64), runs=2,
                       warmup=0, limit=1, baseline="wiener", calibration_samples=16, progress=False)
    classical = result.row("classical")
    assert "assumed r=3" in classical.name and classical.per_radius == {}
    assert result.row("tflite-float32").psnr_vs_keras > 50


@needs_shared
def test_no_argument_bench_uses_the_bundled_model_and_its_shipped_exports(tmp_path, tiny_keras, monkeypatch):
    """A release folder (manifest + .keras + float16/int8 exports, as `edge-deblur export` writes it) standing in
    for the bundled one: bench with no model uses its exports and exports only float32 on the fly."""
    import shutil

    import edge_deblur.bench as bench
    from edge_deblur.export import export_model

    release = tmp_path / "export"
    release.mkdir()
    shutil.copy(tiny_keras, release / "tiny.keras")
    export_model(release / "tiny.keras", precisions=("float16", "int8"), out=release, size=(32, 32),
                 calibration_samples=100, verify_images=1, allow_untrained=True)  # random weights: far below identity
    monkeypatch.setattr(bench, "bundled_dir", lambda: release)
    result = run_bench(runs=2, warmup=0, limit=1, baseline="wiener", progress=False)
    exports = result.header["model"]["exports"]
    assert exports["float32"] == "exported on the fly"
    assert exports["float16"] == "shipped tiny_float16.tflite" and exports["int8"] == "shipped tiny_int8.tflite"
    assert result.header["timing"]["size"] == [32, 32]  # the shipped exports' input size
    assert result.row("tflite-int8").size_mb == pytest.approx((release / "tiny_int8.tflite").stat().st_size / 1e6)
    # asking for another frame size re-exports everything at that size
    other = run_bench(size=(64, 64), runs=1, warmup=0, limit=1, baseline="wiener", precisions=("float16",),
                      progress=False)
    assert other.header["model"]["exports"] == {"float16": "exported on the fly"}


@needs_shared
def test_real_dpdd_val_protocol_pairs(shared_data, tmp_path):
    from edge_deblur.bench import load_eval_set
    from edge_deblur.metrics import psnr
    from edge_deblur.splits import DPDD_DEV_VAL

    full = load_eval_set(protocol="real-dpdd-val")
    assert full.count == 10 and full.name == "real-dpdd-val" and not full.known_radius
    pairs = list(load_eval_set(shared_data / "dpdd_dev", protocol="real-dpdd-val", limit=2))
    assert [p.name for p in pairs] == list(DPDD_DEV_VAL[:2])
    for p in pairs:
        assert p.blurred.shape == p.sharp.shape == (683, 1024, 3) and p.radius is None
        assert 16 < psnr(p.blurred, p.sharp) < 37  # real defocus, pixel-aligned
    from edge_deblur.images import write_image

    for sub in ("blurred", "sharp"):  # a pairs folder without the validation scenes
        write_image(tmp_path / sub / "other.png", np.zeros((8, 8, 3), np.float32))
    with pytest.raises(DataError, match="missing 1P0A0994"):
        load_eval_set(tmp_path, protocol="real-dpdd-val")


def test_processing_scale_applies_to_models_only(tiny_keras, tmp_path):
    from edge_deblur.bench import run_bench

    kw = dict(model=str(tiny_keras), size=(32, 32), runs=1, warmup=0, limit=1, baseline="wiener", threads=1,
              precisions=("float32",), progress=False)
    key = lambda r: r.kind if r.kind != "tflite" else r.name  # noqa: E731
    native = {key(r): r for r in run_bench(**kw).rows}
    half = run_bench(**kw, scale=0.5, json_path=tmp_path / "half.json")
    scaled = {key(r): r for r in half.rows}
    assert scaled["identity"].psnr == native["identity"].psnr  # reference rows are never rescaled
    assert scaled["keras"].psnr != pytest.approx(native["keras"].psnr, abs=1e-3)  # the model ran at half size
    assert scaled["tflite-float32"].psnr_vs_keras > 40  # TFLite still tracks Keras at the same scale
    assert "0.5 scale" in json.loads((tmp_path / "half.json").read_text())["header"]["data"]["processing_scale"]
    res = CliRunner().invoke(app, ["bench", "--model", str(tiny_keras), "--scale", "2", "--runs", "1"])
    assert res.exit_code == 2 and "--scale: scale must be 'auto' or a number in (0, 1]" in res.output
    out = tmp_path / "tiny.json"  # a scale that leaves the model a few pixels: refused as `deblur` refuses it
    res = CliRunner().invoke(app, ["bench", "--model", str(tiny_keras), "--size", "32", "--limit", "1", "--runs", "1",
                                   "--warmup", "0", "--precision", "float32", "--scale", "0.01", "--json", str(out)])
    assert res.exit_code == 2 and "shrinks this 512x512 image to 5x5 px; the model needs at least 16 px" in res.output
    assert not out.exists()


def _one_pair_bench(tiny_keras):
    """Options of a one-pair, one-run bench of the tiny model; that pair; the model's Keras restore function."""
    import keras

    from edge_deblur.bench.sets import load_eval_set

    kw = dict(model=str(tiny_keras), size=(32, 32), runs=1, warmup=0, limit=1, baseline="wiener", threads=1,
              precisions=("float32",), progress=False)
    net = keras.models.load_model(tiny_keras, compile=False)
    return kw, next(iter(load_eval_set(limit=1))), lambda x: np.asarray(net(x[None], training=False))[0]


def test_two_passes_score_the_models_as_deblur_runs_them(tiny_keras, tmp_path):
    from edge_deblur.bench import run_bench
    from edge_deblur.errors import EdgeDeblurError
    from edge_deblur.images import to_float, to_uint8
    from edge_deblur.metrics import psnr
    from edge_deblur.multiscale import coarse_weight, restore_scaled

    kw, pair, restore = _one_pair_bench(tiny_keras)
    two = run_bench(**kw, passes=2, markdown_path=tmp_path / "two.md")
    assert coarse_weight(restore(pair.blurred) - pair.blurred) > 0  # this model's correction does take 2 passes
    expect = restore_scaled(pair.blurred, restore, 1.0, passes=2)
    written = to_float(to_uint8(expect))  # the 8-bit image `deblur` would write is what is scored
    assert two.row("keras").psnr == pytest.approx(psnr(written, pair.sharp), abs=1e-4)
    assert abs(psnr(written, pair.sharp) - psnr(expect, pair.sharp)) > 1e-3  # the rounding shows in the score
    assert two.row("tflite-float32").psnr_vs_keras > 70  # compared unrounded: the export's own fidelity
    assert two.row("identity").psnr == pytest.approx(psnr(pair.blurred, pair.sharp), abs=1e-9)
    md = (tmp_path / "two.md").read_text()
    assert "passes: 2: the models also restore" in md
    assert ("on full images (the models at the processing scale, passes and views above, their outputs rounded to "
            "the 8 bits `deblur` writes)") in md  # not "at native size"
    assert "0 warm-up + 1 timed run per variant" in md and "the first 1 pair only (limit 1)" in md
    with pytest.raises(EdgeDeblurError, match="passes must be 1 or 2, got 3"):
        run_bench(**kw, passes=3)
    res = CliRunner().invoke(app, ["bench", "--model", str(tiny_keras), "--passes", "3", "--runs", "1"])
    assert res.exit_code == 2 and "--passes" in res.output


def test_views_score_the_models_with_test_time_augmentation(tiny_keras, tmp_path):
    from edge_deblur.bench import run_bench
    from edge_deblur.errors import EdgeDeblurError
    from edge_deblur.images import to_float, to_uint8
    from edge_deblur.metrics import psnr
    from edge_deblur.views import averaged

    kw, pair, restore = _one_pair_bench(tiny_keras)
    from edge_deblur.multiscale import guard_flat

    four = run_bench(**kw, views=4, markdown_path=tmp_path / "four.md")
    expect = guard_flat(pair.blurred, averaged(restore, 4)(pair.blurred))  # as `deblur` runs photos
    assert psnr(expect, restore(pair.blurred)) < 60  # the views change this model's output
    assert four.row("keras").psnr == pytest.approx(psnr(to_float(to_uint8(expect)), pair.sharp), abs=1e-4)
    assert four.row("tflite-float32").psnr_vs_keras > 70  # TFLite gets the same views (and the same guard, once)
    assert four.row("identity").psnr == pytest.approx(psnr(pair.blurred, pair.sharp), abs=1e-9)
    assert "views: 4: the models restore each image and its first 3 mirrored" in (tmp_path / "four.md").read_text()
    with pytest.raises(EdgeDeblurError, match="views must be one of 1, 2, 4, 8, got 3"):
        run_bench(**kw, views=3)
    res = CliRunner().invoke(app, ["bench", "--model", str(tiny_keras), "--views", "5", "--runs", "1"])
    assert res.exit_code == 2 and "--views must be one of 1, 2, 4, 8, got 5" in res.output


def test_below_identity_counts_pairs_worse_than_the_input(cli_run):
    out, _ = cli_run
    rows = _rows(out)
    assert rows["identity"]["below_identity"] == 0
    assert rows["classical"]["below_identity"] == 0  # the true-PSF deconvolution helps on every pair
    for key in ("keras", "tflite-float32", "tflite-int8"):  # random weights: ~5 dB worse than the input on each
        assert rows[key]["psnr"] < rows["identity"]["psnr"] - 3 and rows[key]["below_identity"] == LIMIT
