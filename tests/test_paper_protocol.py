"""The paper's own protocol on the real kwentar files: defocus pairs squeezed to 224x224, with and without
registration, scored by `bench` beside identity."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import needs_shared
from edge_deblur.errors import DataError


def test_squeeze_ignores_the_aspect_ratio():
    from edge_deblur.bench.paper_sets import squeeze

    img = np.random.default_rng(0).random((300, 450, 3), dtype=np.float32)
    out = squeeze(img)
    assert out.shape == (224, 224, 3) and out.dtype == np.float32
    assert abs(float(out.mean()) - float(img.mean())) < 1e-3  # area averaging keeps the mean


@needs_shared
def test_kwentar_pairs_squeezed_to_224_score_what_the_paper_reported(shared_data):
    from edge_deblur.bench import load_eval_set
    from edge_deblur.data import scan_kwentar
    from edge_deblur.images import read_image
    from edge_deblur.metrics import psnr, ssim

    s = load_eval_set(protocol="paper-kwentar224")
    pairs = list(s)
    assert s.count == len(pairs) == len(scan_kwentar(shared_data / "kwentar").pairs) == 15
    assert all(p.blurred.shape == p.sharp.shape == (224, 224, 3) for p in pairs)
    first = scan_kwentar(shared_data / "kwentar").pairs[0]
    assert read_image(first.sharp).shape[:2] != (224, 224)  # real photos of their own size, squeezed here
    scores = np.array([(psnr(p.blurred, p.sharp), ssim(p.blurred, p.sharp)) for p in pairs])
    # doing nothing already scores about the paper's 15.3 dB / 0.39: the shots are not aligned
    assert 13.0 < scores[:, 0].mean() < 17.5 and 0.25 < scores[:, 1].mean() < 0.5
    assert "15.3 dB" in s.description and "224x224" in s.description


@needs_shared
def test_registration_first_raises_the_identity_score(shared_data):
    from edge_deblur.bench import load_eval_set
    from edge_deblur.metrics import psnr

    raw = list(load_eval_set(protocol="paper-kwentar224", limit=3))
    reg = list(load_eval_set(shared_data / "kwentar", protocol="paper-kwentar224-aligned", limit=3))
    assert [p.name for p in raw] == [p.name for p in reg]
    for a, b in zip(raw, reg):
        assert b.sharp.shape == (224, 224, 3)
        assert psnr(b.blurred, b.sharp) > psnr(a.blurred, a.sharp) + 3.0


def test_missing_folder_is_a_clear_error(tmp_path):
    from edge_deblur.bench import load_eval_set

    with pytest.raises(DataError, match="does not exist|not found|no such"):
        load_eval_set(tmp_path / "nope", protocol="paper-kwentar224")


@needs_shared
def test_bench_runs_the_paper_protocol_at_224(shared_data, tmp_path):
    from edge_deblur.bench import load_eval_set, run_bench
    from edge_deblur.metrics import psnr

    res = run_bench(model="tiny", protocol="paper-kwentar224", size=(224, 224), runs=1, warmup=0, limit=2,
                    baseline="wiener", threads=1, precisions=("float16",), progress=False,
                    json_path=tmp_path / "r.json")
    rows = {r.name if r.kind == "tflite" else r.kind: r for r in res.rows}
    pairs = list(load_eval_set(protocol="paper-kwentar224", limit=2))
    assert rows["identity"].psnr == pytest.approx(np.mean([psnr(p.blurred, p.sharp) for p in pairs]), abs=1e-3)
    assert res.header["data"]["protocol"] == "paper-kwentar224" and rows["identity"].pairs == 2
    assert (tmp_path / "r.json").is_file()
