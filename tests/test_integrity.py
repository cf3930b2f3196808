"""Model integrity at load (content digest, foreign files, metadata values, graphs the runtime cannot tile,
non-finite output) and one Deblurrer shared by several threads. Every mutant is made here from a tiny export."""

from __future__ import annotations

import hashlib
import json
import threading

import numpy as np
import pytest

from conftest import ROOT, smooth_image
from edge_deblur.errors import ModelError
from edge_deblur.integrity import validate_metadata
from edge_deblur.runtime import Deblurrer, read_metadata
from edge_deblur.tflite_meta import DIGEST_KEY, DIGEST_PLACEHOLDER, restamp, restamp_file, with_metadata
from edge_deblur.tflite_reader import METADATA_NAME, ModelInfo, _Buf, _Corrupt, parse_model
from test_runtime import make_tflite, randomized


@pytest.fixture(scope="module")
def tiny():
    return randomized("tiny", seed=3)


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny):
    d = tmp_path_factory.mktemp("integrity_models")
    return {p: make_tflite(d / f"tiny_{p}.tflite", tiny, 32, p) for p in ("float16", "int8")}


@pytest.fixture(scope="module")
def raw_float16(tiny):
    """The float16 conversion of `tiny` at 32x32, without any edge-deblur metadata (a foreign file)."""
    from edge_deblur.export import convert
    from edge_deblur.models import with_input_size

    return convert(with_input_size(tiny, 32, 32), "float16")


def _tf_model(fn, shape=(1, 32, 32, 3)) -> bytes:
    """Convert a tf.function of one float32 image tensor to TFLite (no metadata)."""
    import tensorflow as tf

    concrete = tf.function(fn, input_signature=[tf.TensorSpec(shape, tf.float32)]).get_concrete_function()
    return tf.lite.TFLiteConverter.from_concrete_functions([concrete]).convert()


def _stamped(data: bytes, stride: int = 1, **extra) -> bytes:
    """`data` with valid edge-deblur metadata for a float32 32x32 model (plus `extra` keys) and its digest."""
    return with_metadata(data, {"model": "crafted", "precision": "float32", "input_size": [32, 32],
                                "io_dtype": "float32", "stride": stride, **extra})


def _weight_offset(data: bytes) -> int:
    """An offset in the middle of the largest weight buffer (metadata buffers excluded)."""
    buf = _Buf(data)
    meta = {start for start, _ in parse_model(data).metadata_spans.values()}
    spans = [s for s in (b.vector(0, 1) for b in buf.table(buf.u32(0)).tables(4)) if s[0] not in meta]
    start, n = max(spans, key=lambda s: s[1])
    assert n >= 500
    return start + n // 2


def _one_line_error(path, match: str, **kwargs) -> str:
    with pytest.raises(ModelError) as e:
        Deblurrer(path, **kwargs)
    text = str(e.value)
    assert "\n" not in text and text.startswith(str(path)) and match in text, text
    return text


# --- the digest ---

@pytest.mark.parametrize("precision", ["float16", "int8"])
def test_export_carries_its_own_digest(files, precision):
    data = files[precision].read_bytes()
    digest = read_metadata(files[precision])[DIGEST_KEY]
    assert len(digest) == 64 and data.count(digest.encode()) == 1
    # the documented rule, recomputed independently: sha256 of the file with the digest's 64 characters zeroed
    assert hashlib.sha256(data.replace(digest.encode(), DIGEST_PLACEHOLDER.encode())).hexdigest() == digest


@pytest.mark.parametrize("precision", ["float16", "int8"])
def test_weight_bit_flip_is_refused(files, tmp_path, precision):
    data = bytearray(files[precision].read_bytes())
    data[_weight_offset(data)] ^= 0x40  # a float16 exponent bit / an int8 weight's 7th bit
    bad = tmp_path / "flipped.tflite"
    bad.write_bytes(bytes(data))
    _one_line_error(bad, "content digest mismatch")
    _one_line_error(bad, "content digest mismatch", allow_foreign=True)  # opting in never accepts a changed file
    with pytest.raises(ModelError, match="flipped.tflite: content digest mismatch"):
        read_metadata(bad)
    # the same flip with a forged digest loads: the structure is fine, only the digest tells the damage
    assert Deblurrer(_write(tmp_path / "forged.tflite", restamp(bytes(data), force=True))).precision == precision


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_truncated_and_tampered_metadata(files, raw_float16, tmp_path):
    data = files["int8"].read_bytes()
    _one_line_error(_write(tmp_path / "cut.tflite", data[:-100]), "corrupt or truncated")
    assert b'"stride": 4' in data
    _one_line_error(_write(tmp_path / "stride.tflite", data.replace(b'"stride": 4', b'"stride": 8')),
                    "content digest mismatch")
    digest = read_metadata(files["int8"])[DIGEST_KEY].encode()
    wrong = data.replace(digest, digest[:-1] + (b"0" if digest[-1:] != b"0" else b"1"))
    _one_line_error(_write(tmp_path / "digest.tflite", wrong), "content digest mismatch")
    # a second copy of the digest key (JSON keeps the last): same length, so the flatbuffer stays intact
    padded = _stamped(raw_float16, pad="x" * 100)
    digest = json.loads(parse_model(padded).metadata[METADATA_NAME])[DIGEST_KEY].encode()
    dup = b'"content_sha256": "' + digest + b'", "p": "' + b"x" * 16 + b'"'
    twice = padded.replace(b'"pad": "' + b"x" * 100 + b'"', dup)
    assert len(twice) == len(padded) and twice.count(digest) == 2
    _one_line_error(_write(tmp_path / "twice.tflite", twice), "not written exactly once")


def test_file_without_digest_needs_opt_in(files, tmp_path):
    data = files["float16"].read_bytes()
    old = _write(tmp_path / "old.tflite", data.replace(b'"content_sha256"', b'"content_sha999"'))
    _one_line_error(old, "has no content digest")
    d = Deblurrer(old, allow_foreign=True)
    assert (d.precision, d.stride, d.input_size) == ("float16", 4, (32, 32))
    x = smooth_image(32, 32, seed=1)
    np.testing.assert_array_equal(d.run_tile(x), Deblurrer(files["float16"]).run_tile(x))


def test_foreign_model_needs_opt_in_and_is_still_checked(raw_float16, files, tmp_path):
    path = _write(tmp_path / "foreign.tflite", raw_float16)
    text = _one_line_error(path, "no edge-deblur metadata")
    assert "allow_foreign=True" in text
    with pytest.raises(ModelError, match="no edge-deblur metadata"):
        read_metadata(path)
    assert read_metadata(path, allow_foreign=True) == {}
    d = Deblurrer(path, allow_foreign=True)
    assert (d.metadata, d.precision, d.stride, d.input_size) == ({}, "float16", 1, (32, 32))
    x = smooth_image(32, 32, seed=2)
    np.testing.assert_array_equal(d.run_tile(x), Deblurrer(files["float16"]).run_tile(x))  # the same graph
    # (a foreign model whose signature is not an image: test_runtime.test_model_whose_input_is_not_an_image)


def test_deblur_cli_allow_foreign(raw_float16, tmp_path):
    from typer.testing import CliRunner

    from edge_deblur.cli import app
    from edge_deblur.images import write_image

    model = _write(tmp_path / "foreign.tflite", raw_float16)
    write_image(tmp_path / "in" / "a.png", smooth_image(40, 36, seed=3))
    args = ["deblur", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--model", str(model)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2 and "no edge-deblur metadata" in res.output and "--allow-foreign" in res.output
    assert not (tmp_path / "out" / "a.png").exists()
    res = CliRunner().invoke(app, args + ["--allow-foreign"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "a.png").is_file()


# --- metadata values ---

@pytest.mark.parametrize("text", ["[" * 600 + "]" * 600, '{"a": ' * 600 + "1" + "}" * 600], ids=["lists", "objects"])
def test_deep_unknown_value_is_refused_without_recursion_error(text):
    # issue 16 campaign: hundreds of levels (the JSON parser takes them) overflowed the depth check's recursion
    with pytest.raises(ModelError, match="'notes' is nested more than 4 levels deep"):
        validate_metadata({"notes": json.loads(text)}, "m.tflite")


@pytest.mark.parametrize("key, value, match", [
    ("stride", "abc", "'stride' is 'abc', expected an integer in [1, 256]"),
    ("stride", 1e9, "'stride' is 1000000000.0, expected an integer"),
    ("stride", 10**9, "'stride' is 1000000000, expected an integer"),
    ("stride", 0, "'stride' is 0"),
    ("stride", True, "'stride' is True"),
    ("stride", 3, "input_size [32, 32] is not a multiple of its stride 3"),
    ("precision", "int4", "'precision' is 'int4', expected one of float32, float16, int8"),
    ("input_size", [32, "32"], "'input_size' is [32, '32']"),
    ("input_size", [64, 64], "metadata says input_size [64, 64], the model's input is [32, 32]"),
    ("io_dtype", "uint8", "metadata says io_dtype uint8, the model's input is float32"),
    ("value_range", [0, 255], "'value_range' is [0, 255], expected [0.0, 1.0]"),
    ("model", {"a": 1}, "'model' is {'a': 1}, expected a string"),
    ("notes", json.loads("[" * 200 + "]" * 200), "'notes' is nested more than 4 levels deep"),
])
def test_bad_metadata_values_one_clean_error(raw_float16, tmp_path, key, value, match):
    path = _write(tmp_path / "bad.tflite", _stamped(raw_float16, **{key: value}))
    _one_line_error(path, match)
    with pytest.raises(ModelError, match="bad.tflite"):
        read_metadata(path)


@pytest.mark.parametrize("value", [b"NaN ", b"-Infinity"])
def test_non_finite_metadata_value(raw_float16, tmp_path, value):
    data = _stamped(raw_float16, stride=1, notes=123456789)
    digest = json.loads(parse_model(data).metadata[METADATA_NAME])[DIGEST_KEY].encode()
    zero = DIGEST_PLACEHOLDER.encode()
    zeroed = data.replace(b'"notes": 123456789', b'"notes": ' + value.rjust(9)).replace(digest, zero)
    forged = zeroed.replace(zero, hashlib.sha256(zeroed).hexdigest().encode())  # a valid digest over the NaN
    assert len(forged) == len(data)
    _one_line_error(_write(tmp_path / "nan.tflite", forged), f"{value.strip().decode().lstrip('-')} is not a number")
    with pytest.raises(ModelError, match="NaN or Infinity"):
        with_metadata(raw_float16, {"stride": float("nan")})  # the writer refuses them too


@pytest.mark.parametrize("raw, match", [
    (b"[" * 100_000 + b"]" * 100_000, r"200,000 bytes \(at most 65,536\)"),  # over the size limit before any parsing
    (b"[" * 30_000 + b"]" * 30_000, "nested too deeply"),
    (b'{"stride": Infinity}', "Infinity is not a number"),
    (b"\xff\xfe", "not valid JSON"),
    (b"[1, 2]", "not a JSON object"),
])
def test_metadata_json_limits(raw, match):
    info = ModelInfo(3, [], [], set(), 0, {METADATA_NAME: raw})
    with pytest.raises(_Corrupt, match=match):
        info.metadata_json()


# --- graphs the runtime cannot tile, non-finite output ---

def test_control_flow_model_is_refused(tmp_path):
    import tensorflow as tf

    def loop(x):  # trip count from the data, so the converter keeps the WHILE
        n = tf.cast(tf.reduce_mean(x) * 4.0, tf.int32) + 1
        return tf.while_loop(lambda i, y: i < n, lambda i, y: (i + 1, y * 0.9 + 0.05), [0, x])[1]

    path = _write(tmp_path / "loop.tflite", _stamped(_tf_model(loop)))
    _one_line_error(path, "control-flow ops (WHILE)")


def test_dynamic_or_tiny_input_is_refused(tmp_path, tiny):
    from edge_deblur.export import convert
    from edge_deblur.models import with_input_size

    dynamic = _tf_model(lambda x: x * 0.5 + 0.25, shape=(1, None, None, 3))
    assert parse_model(dynamic).inputs[0].shape == (1, 1, 1, 3)  # tiling by this would be one call per pixel
    _one_line_error(_write(tmp_path / "dyn.tflite", dynamic), "dynamic shape [1, -1, -1, 3]", allow_foreign=True)
    small = _write(tmp_path / "small.tflite", convert(with_input_size(tiny, 8, 8), "float32"))
    _one_line_error(small, "model input 8x8 is smaller than 16x16", allow_foreign=True)


def test_nan_output_is_an_error_never_an_image(tmp_path):
    import tensorflow as tf
    from typer.testing import CliRunner

    from edge_deblur.cli import app
    from edge_deblur.images import write_image

    path = _write(tmp_path / "nan.tflite", _stamped(_tf_model(lambda x: tf.sqrt(x - 0.5))))
    d = Deblurrer(path)
    img = smooth_image(40, 50, seed=4)
    assert (img < 0.5).any() and (img >= 0.5).any()
    with pytest.raises(ModelError, match=r"nan.tflite: the model produced \d+ NaN or infinite values of \d+"):
        d(img)
    write_image(tmp_path / "in" / "a.png", img)
    res = CliRunner().invoke(app, ["deblur", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--model", str(path)])
    assert res.exit_code != 0 and "NaN or infinite" in res.output
    assert not (tmp_path / "out" / "a.png").exists()


@pytest.mark.parametrize("fn, what", [(lambda x: x * 0.0, "black"), (lambda x: x * 0.0 + 1.0, "white")])
def test_all_black_or_white_output_of_a_real_image_is_an_error(tmp_path, fn, what):
    # issue 16 campaign: a (foreign) model that outputs zeros wrote a black image with exit 0
    path = _write(tmp_path / "flat.tflite", _tf_model(fn))
    img = smooth_image(40, 50, seed=4)
    for x in (img, (img * 255 + 0.5).astype(np.uint8)):
        with pytest.raises(ModelError, match=f"flat.tflite: the model turned a non-blank image all {what}"):
            Deblurrer(path, allow_foreign=True)(x)
    blank = np.zeros((40, 50, 3), np.float32) + (0.0 if what == "black" else 1.0)
    assert (Deblurrer(path, allow_foreign=True)(blank) == blank).all()  # a blank photo may stay blank


# --- re-stamping and the bundled files ---

def test_restamp_keeps_the_model_and_is_idempotent(files, tmp_path):
    path = _write(tmp_path / "copy.tflite", files["int8"].read_bytes())
    x = smooth_image(32, 32, seed=5)
    before = Deblurrer(path).run_tile(x)
    restamp_file(path, {"notes": "re-stamped"})
    meta = read_metadata(path)
    assert meta["notes"] == "re-stamped" and meta["stride"] == 4 and meta["precision"] == "int8"
    np.testing.assert_array_equal(Deblurrer(path).run_tile(x), before)
    once = path.read_bytes()
    assert restamp(once) == once and parse_model(once).metadata.keys() == parse_model(files["int8"].read_bytes()
                                                                                        ).metadata.keys()
    with pytest.raises(ModelError, match="no edge-deblur metadata to re-stamp"):
        restamp(_tf_model(lambda x: x * 0.5))


def _flipped_copy(src, dst):
    """A copy of `src` at `dst` with a few bytes of its largest weight buffer flipped (its digest left as it was)."""
    data = bytearray(src.read_bytes())
    at = _weight_offset(data)
    for k in range(4):
        data[at + 16 * k] ^= 0x40
    return _write(dst, bytes(data))


@pytest.mark.parametrize("source", ["tiny", "bundled"])
def test_restamp_refuses_a_changed_file_unless_forced(files, tmp_path, source):
    """Re-stamping a tampered file would give it a valid digest the runtime then trusts: refused, file untouched."""
    src = files["int8"] if source == "tiny" else ROOT / "export" / "unet_s3_int8.tflite"
    if not src.is_file():
        pytest.skip("no bundled unet_s3_int8.tflite in this checkout")
    path = _flipped_copy(src, tmp_path / "tampered.tflite")
    before = path.read_bytes()
    _one_line_error(path, "content digest mismatch")
    for call in (lambda: restamp_file(path), lambda: restamp_file(path, {"notes": "x"}),
                 lambda: restamp(before, source=str(path))):
        with pytest.raises(ModelError) as e:
            call()
        text = str(e.value)
        assert "\n" not in text and text.startswith(f"{path}: content digest mismatch") and "force=True" in text
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["tampered.tflite"]
    _one_line_error(path, "content digest mismatch")  # still refused by the runtime
    restamp_file(path, force=True)  # the caller vouches for the change
    assert Deblurrer(path).metadata[DIGEST_KEY] != read_metadata(src)[DIGEST_KEY]


def test_restamp_refuses_a_malformed_digest_but_stamps_a_file_without_one(files, tmp_path):
    data = files["float16"].read_bytes()
    meta = read_metadata(files["float16"])
    digest = meta[DIGEST_KEY].encode()
    bad = _write(tmp_path / "bad.tflite", data.replace(digest, digest.upper()))  # not lowercase hex any more
    with pytest.raises(ModelError, match="bad.tflite: its 'content_sha256' is .*; refusing to re-stamp it"):
        restamp_file(bad)
    # an export from before digests (metadata without one): re-stamping is what it is for
    old = _write(tmp_path / "old.tflite", data.replace(b'"content_sha256"', b'"content_sha999"'))
    restamp_file(old)
    assert len(Deblurrer(old).metadata[DIGEST_KEY]) == 64
    with pytest.raises(ModelError, match="missing.tflite: no such model file"):
        restamp_file(tmp_path / "missing.tflite")


def test_bundled_files_carry_digests_listed_in_the_manifest():
    manifest = ROOT / "export" / "manifest.json"
    if not manifest.is_file():
        pytest.skip("no bundled model in this checkout")
    doc = json.loads(manifest.read_text())
    assert {e["precision"] for e in doc["files"]} >= {"float16", "int8"}
    for entry in doc["files"]:
        path = ROOT / "export" / entry["path"]
        data = path.read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["size_bytes"] == len(data)
        meta = read_metadata(path)
        assert meta["precision"] == entry["precision"] and len(meta[DIGEST_KEY]) == 64


# --- one Deblurrer, several threads ---

@pytest.mark.parametrize("precision", ["float16", "int8"])
def test_threads_give_exactly_the_serial_results(files, precision):
    d = Deblurrer(files[precision], num_threads=1)
    images = [smooth_image(56 + 4 * (i % 3), 72, seed=10 + i) for i in range(24)]  # several tiles each
    serial = [d(img) for img in images]
    threaded: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def work(t: int) -> None:
        start.wait()
        try:
            for i in range(t, len(images), 4):  # 4 threads x 6 calls
                threaded[i] = d(images[i])
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and sorted(threaded) == list(range(24))
    assert sum(np.array_equal(threaded[i], serial[i]) for i in range(24)) == 24
    assert len({hashlib.sha256(s.tobytes()).hexdigest() for s in serial}) == 24  # 24 different results


def test_step_api_race_is_named_not_blamed_on_the_model(files):
    d = Deblurrer(files["int8"])
    x, other = smooth_image(32, 32, seed=6), smooth_image(32, 32, seed=7)
    d.set_input(x)
    t = threading.Thread(target=d.set_input, args=(other,))
    t.start()
    t.join()
    with pytest.raises(RuntimeError, match="another thread replaced this thread's input") as e:
        d.invoke()
    assert "model" not in str(e.value) and "failed" not in str(e.value)
    with pytest.raises(RuntimeError, match="Deblurrer.get_output: another thread"):
        d.get_output()
    np.testing.assert_array_equal(d.run_tile(x), Deblurrer(files["int8"]).run_tile(x))  # run_tile takes over
