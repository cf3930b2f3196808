"""Mixed training sources: parsing, weights, the recorded dpdd_dev split, the pre-rendered synthetic pool."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import smooth_image
from edge_deblur.blur import BlurConfig, SceneBlurConfig
from edge_deblur.crops import CropSampler
from edge_deblur.data import scan_pairs
from edge_deblur.errors import DataError
from edge_deblur.images import write_image
from edge_deblur.sources import MixedSampler, PooledSampler, Source, build_sources, parse_source
from edge_deblur.splits import DPDD_DEV_VAL, recorded_split


def test_parse_source():
    assert parse_source("pairs=data/dpdd_dev@0.5") == Source("pairs", ("data/dpdd_dev",), 0.5)
    assert parse_source("synthetic=a,b") == Source("synthetic", ("a", "b"), 1.0)
    assert str(parse_source("synthetic=a,b@2")) == "synthetic=a,b@2"
    for bad, msg in [("dpdd_dev", "KIND=PATH"), ("foo=x", "unknown kind 'foo'"), ("pairs=x@-1", "positive"),
                     ("pairs=x@abc", "positive"), ("pairs=x@nan", "positive"), ("pairs=", "KIND=PATH")]:
        with pytest.raises(DataError, match=msg):
            parse_source(bad)


@pytest.fixture
def photo_dirs(tmp_path):
    """A pairs folder (5 scenes, blurred = darker copy) and a synthetic photo folder (4 photos)."""
    pairs = tmp_path / "pairs"
    for i in range(5):
        img = smooth_image(48, 56, seed=i)
        write_image(pairs / "sharp" / f"s{i}.png", img)
        write_image(pairs / "blurred" / f"s{i}.png", img * 0.5)
    photos = tmp_path / "photos"
    for i in range(4):
        write_image(photos / f"p{i}.png", smooth_image(60, 60, seed=10 + i))
    return pairs, photos


def test_mixed_sampler_follows_the_weights(photo_dirs):
    pairs, photos = photo_dirs
    real = CropSampler(scan_pairs(pairs).pairs, 32, seed=1)
    synth = CropSampler([p for p in scan_pairs(pairs).pairs], 32, seed=2)
    mixed = MixedSampler([real, synth], [3.0, 1.0], seed=0)
    picks = [int(mixed.rng.choice(2, p=mixed.p)) for _ in range(4000)]
    assert np.mean(picks) == pytest.approx(0.25, abs=0.03)
    with pytest.raises(DataError, match="one crop size"):
        MixedSampler([real, CropSampler(scan_pairs(pairs).pairs, 16)], [1, 1])


def test_build_sources_mixes_real_and_synthetic(photo_dirs):
    pairs, photos = photo_dirs
    sources = [parse_source(f"pairs={pairs}@0.5"), parse_source(f"synthetic={photos}@0.5")]
    sampler, x_val, y_val, splits = build_sources(sources, 32, BlurConfig(radius=(2, 3)), seed=0)
    assert [sp.source.dataset for sp in splits] == ["pairs", "synthetic"]
    assert all(sp.parts["train"] and sp.parts["val"] for sp in splits)
    n_real_val, n_syn_val = len(splits[0].parts["val"]), len(splits[1].parts["val"])
    assert len(x_val) == n_real_val * 8 + n_syn_val * 2  # real pairs get 4x the crops per image
    assert x_val.shape[1:] == (32, 32, 3) and x_val.shape == y_val.shape
    # real crops: blurred is the darker copy of sharp, exactly as on disk (no synthetic blur applied)
    real = x_val[: n_real_val * 8], y_val[: n_real_val * 8]
    np.testing.assert_allclose(real[0], np.round(real[1] * 0.5 * 255) / 255, atol=1.5 / 255)
    x, y = sampler.sample()
    assert x.shape == y.shape == (32, 32, 3)


def test_smooth_source_adds_in_focus_pairs_and_no_validation_crops(photo_dirs):
    from edge_deblur.blur.smooth import SmoothInFocus, smoothed

    pairs, photos = photo_dirs
    assert parse_source(f"smooth={photos}@0.25") == Source("smooth", (str(photos),), 0.25)
    sources = [parse_source(f"pairs={pairs}"), parse_source(f"smooth={photos}@0.25")]
    sampler, x_val, y_val, splits = build_sources(sources, 32, BlurConfig(radius=(2, 3)), seed=0)
    assert len(splits[1].parts["train"]) == 4 and not splits[1].parts["val"]  # every photo trains
    assert len(x_val) == len(splits[0].parts["val"]) * 8  # validation: the real pairs' crops alone
    smooth = sampler.samplers[1]
    for _ in range(20):
        x, y = smooth.sample()
        assert np.abs(x - y).max() < 13 / 255  # only noise of sigma <= 2.5 levels separates input and target
        # no texture at the net's scale: enlarged >= 8x (bilinear), the target moves <= 1/8 of full range a pixel
        assert max(np.abs(np.diff(y, axis=a)).max() for a in (0, 1)) <= 1 / 8 + 1e-6
    with pytest.raises(DataError, match="a smooth source only adds in-focus content to the crops of other sources"):
        build_sources(sources[1:], 32, BlurConfig(), seed=0)
    noise = np.random.default_rng(1).random((64, 64, 3)).astype(np.float32)
    assert np.abs(np.diff(smoothed(noise, 8), axis=0)).mean() < np.abs(np.diff(noise, axis=0)).mean() / 20
    img = smooth_image(64, 64, seed=3)
    flat = smoothed(img, 0)  # factor 0: the crop's mean colour everywhere
    np.testing.assert_allclose(flat, np.broadcast_to(img.mean(axis=(0, 1), dtype=np.float64), img.shape), atol=1e-6)
    x, y = SmoothInFocus(noise=(0.0, 0.0)).pair(img, np.random.default_rng(0))
    np.testing.assert_array_equal(x, y)  # no noise: the target is exactly the input
    rng = np.random.default_rng(2)  # relevel: smooth content at every brightness, near-white walls included
    means = [SmoothInFocus(relevel=1.0).pair(img, rng)[1].mean() for _ in range(200)]
    assert min(means) < 0.1 and max(means) > 0.9 and np.mean(np.array(means) > 0.9) > 0.05
    kept = [SmoothInFocus(relevel=0.0).pair(img, rng)[1].mean() for _ in range(20)]
    np.testing.assert_allclose(kept, img.mean(), atol=0.01)  # as the photo came: its own brightness
    a, b = (SmoothInFocus().pair(img, np.random.default_rng(7)) for _ in range(2))
    np.testing.assert_array_equal(a[0], b[0])  # reproducible from the seed
    with pytest.raises(DataError, match="whole numbers >= 0"):
        SmoothInFocus(factors=(-2,))
    with pytest.raises(DataError, match="relevel"):
        SmoothInFocus(relevel=1.5)


def test_real_pairs_rescale_keeps_alignment(photo_dirs):
    pairs, _ = photo_dirs
    s = CropSampler(scan_pairs(pairs).pairs, 32, seed=3, scale=(0.6, 0.8))
    for _ in range(10):
        x, y = s.sample()
        np.testing.assert_allclose(x, y * 0.5, atol=2 / 255)  # both images shrunk by the same factor


def test_pooled_scene_sampler_is_deterministic_and_independent_of_workers(photo_dirs):
    _, photos = photo_dirs
    from edge_deblur.data import scan_synthetic

    photo_pairs = scan_synthetic(photos).pairs
    cfg = SceneBlurConfig(max_radius=6)
    a = PooledSampler(photo_pairs, 24, cfg, items=6, pool_size=32, seed=4, workers=0)
    b = PooledSampler(photo_pairs, 24, cfg, items=6, pool_size=32, seed=4, workers=2)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert a.x.shape == (6, 32, 32, 3) and a.x.dtype == np.uint8
    assert not np.array_equal(a.x, a.y)  # blurred differs from sharp
    x, y = a.sample()
    assert x.shape == y.shape == (24, 24, 3) and x.dtype == np.float32


def test_pool_items_shrink_to_the_smallest_photo(photo_dirs):
    """A pool item larger than a photo could not be cut from it: the 60 px photos get 60 px items, not 1.5 x 48."""
    _, photos = photo_dirs
    from edge_deblur.data import scan_synthetic

    p = PooledSampler(scan_synthetic(photos).pairs, 48, SceneBlurConfig(max_radius=4), items=3, pool_size=72,
                      seed=0, workers=0)
    assert p.pool_size == 60 and p.x.shape == (3, 60, 60, 3)
    assert p.sample()[0].shape == (48, 48, 3)


def test_recorded_dpdd_split(shared_data):
    found = scan_pairs(shared_data / "dpdd_dev")
    parts = recorded_split(found.root, found.pairs)
    assert sorted(p.sharp.stem for p in parts["val"]) == sorted(DPDD_DEV_VAL)
    assert len(parts["train"]) == 39 and parts["test"] == []
    assert not {p.sharp.stem for p in parts["train"]} & set(DPDD_DEV_VAL)
    assert recorded_split(shared_data / "gopro_motion", found.pairs) is None
