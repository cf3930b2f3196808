"""Dataset loaders, scene splits, crop sampling, calibration and evaluation sets, on real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import smooth_image
from edge_deblur.crops import CropSampler, calibration_crops, tf_dataset, validation_crops
from edge_deblur.data import (
    Pair,
    eval_pairs,
    load_split,
    scan,
    scan_kwentar,
    scan_pairs,
    scan_synthetic,
    split,
)
from edge_deblur.errors import DataError
from edge_deblur.images import read_image, to_uint8, write_image
from edge_deblur.metrics import psnr


def _img(path: Path, h=40, w=48, seed=0) -> Path:
    return write_image(path, smooth_image(h, w, seed))


@pytest.fixture
def kwentar_dir(tmp_path) -> Path:
    """A small kwentar layout with mixed case, suffixes and a few strays."""
    root = tmp_path / "kw"
    s, f, m = root / "Sharp", root / "DEFOCUSED_BLURRED", root / "motion_blurred"
    _img(s / "0_IPHONE-SE_S.jpg", seed=0)
    _img(f / "0_IPHONE-SE_F.JPG", seed=10)
    _img(m / "0_IPHONE-SE_M.png", seed=20)
    _img(s / "1_honor-8x_s.JPEG", seed=1)
    _img(f / "1_HONOR-8X_F.jpeg", seed=11)
    _img(m / "1_honor-8x_m.jpg", seed=21)
    _img(s / "12_NIKON_S.png", seed=2)
    _img(f / "12_NIKON_F.png", seed=12)
    _img(m / "12_NIKON_M.jpg", seed=22)
    _img(s / "50_HONOR-8X_S.jpg", seed=3)  # no defocus partner
    _img(m / "50_HONOR-8X_M.jpg", seed=23)
    _img(f / "7_PIXEL_F.jpg", seed=13)  # no sharp partner
    _img(f / "holiday.jpg", seed=14)  # not a kwentar name
    (f / "notes.txt").write_text("ignored: not an image\n")
    _img(f / ".hidden_F.jpg", seed=15)  # hidden files are ignored
    return root


def test_kwentar_defocus_pairs_and_unpaired(kwentar_dir):
    sc = scan_kwentar(kwentar_dir, "defocus")
    assert [(p.sharp.name, p.blurred.name, p.scene) for p in sc.pairs] == [
        ("0_IPHONE-SE_S.jpg", "0_IPHONE-SE_F.JPG", "0"),
        ("1_honor-8x_s.JPEG", "1_HONOR-8X_F.jpeg", "1"),
        ("12_NIKON_S.png", "12_NIKON_F.png", "12"),
    ]
    assert sorted(p.name for p in sc.unpaired) == ["50_HONOR-8X_S.jpg", "7_PIXEL_F.jpg", "holiday.jpg"]
    text = sc.describe()
    assert text.startswith(f"kwentar data at {kwentar_dir}: 3 pairs; 3 unpaired file(s) skipped (")
    for name in ("50_HONOR-8X_S.jpg", "7_PIXEL_F.jpg", "holiday.jpg"):
        assert name in text
    assert "..." not in text
    assert sc.describe(examples=1).endswith(", ...)")


def test_kwentar_motion(kwentar_dir):
    sc = scan_kwentar(kwentar_dir, "motion")
    assert [p.blurred.name for p in sc.pairs] == ["0_IPHONE-SE_M.png", "1_honor-8x_m.jpg", "12_NIKON_M.jpg",
                                                  "50_HONOR-8X_M.jpg"]
    assert sc.unpaired == []
    assert sc.describe() == f"kwentar data at {kwentar_dir}: 4 pairs"


def test_kwentar_errors(kwentar_dir, tmp_path):
    with pytest.raises(DataError, match="--blur must be one of defocus, motion, got 'gauss'"):
        scan_kwentar(kwentar_dir, "gauss")
    with pytest.raises(DataError, match="kwentar dataset folder does not exist"):
        scan_kwentar(tmp_path / "nowhere")
    only_sharp = tmp_path / "only_sharp"
    _img(only_sharp / "sharp" / "0_A_S.jpg")
    with pytest.raises(DataError, match=r"missing defocused_blurred/"):
        scan_kwentar(only_sharp)
    no_pairs = tmp_path / "no_pairs"
    _img(no_pairs / "sharp" / "0_A_S.jpg")
    _img(no_pairs / "defocused_blurred" / "1_A_F.jpg")
    with pytest.raises(DataError, match="no sharp/defocused_blurred pairs found"):
        scan_kwentar(no_pairs)
    a_file = tmp_path / "file.jpg"
    _img(a_file)
    with pytest.raises(DataError, match="found a file"):
        scan_kwentar(a_file)


def test_scan_pairs(tmp_path):
    root = tmp_path / "pairs"
    for i, stem in enumerate(["GOPR0001_11_00_f1", "GOPR0001_11_00_f2", "GOPR0002_11_01_f1", "street"]):
        _img(root / "sharp" / f"{stem}.png", seed=i)
        _img(root / "blurred" / f"{stem}{'.jpg' if i == 3 else '.png'}", seed=i + 10)  # suffixes may differ
    _img(root / "sharp" / "lonely.png", seed=9)
    sc = scan_pairs(root)
    assert [p.sharp.stem for p in sc.pairs] == ["GOPR0001_11_00_f1", "GOPR0001_11_00_f2", "GOPR0002_11_01_f1",
                                                "street"]
    assert [p.scene for p in sc.pairs] == ["GOPR0001_11_00", "GOPR0001_11_00", "GOPR0002_11_01", "street"]
    assert sc.pairs[3].blurred.suffix == ".jpg"
    assert [p.name for p in sc.unpaired] == ["lonely.png"]
    assert "1 unpaired file(s) skipped (lonely.png)" in sc.describe()
    assert scan(root, "pairs").pairs == sc.pairs


def test_scan_pairs_errors(tmp_path):
    with pytest.raises(DataError, match="paired dataset folder does not exist"):
        scan_pairs(tmp_path / "x")
    (tmp_path / "p" / "sharp").mkdir(parents=True)
    with pytest.raises(DataError, match="blurred/ is missing"):
        scan_pairs(tmp_path / "p")
    _img(tmp_path / "p" / "sharp" / "a.png")
    _img(tmp_path / "p" / "blurred" / "b.png")
    with pytest.raises(DataError, match="no blurred/sharp pairs with matching names"):
        scan_pairs(tmp_path / "p")


def test_scan_synthetic_is_recursive(tmp_path):
    root = tmp_path / "photos"
    _img(root / "a.png")
    _img(root / "trip" / "b.JPG")
    _img(root / "trip" / "day2" / "c.jpeg")
    (root / "trip" / "readme.md").write_text("x")
    _img(root / ".thumb.png")
    sc = scan_synthetic(root)
    assert [p.sharp.relative_to(root).as_posix() for p in sc.pairs] == ["a.png", "trip/b.JPG", "trip/day2/c.jpeg"]
    assert all(p.blurred is None for p in sc.pairs)
    assert [p.scene for p in sc.pairs] == ["photos/a", "photos/trip/b", "photos/trip/day2/c"]
    other = tmp_path / "more"
    _img(other / "d.png")
    both = scan_synthetic([root, other])
    assert len(both.pairs) == 4 and both.root is None
    assert both.describe() == f"synthetic data at {root}, {other}: 4 pairs"  # every folder named, not "None"
    assert scan(str(root), "synthetic").pairs == sc.pairs


def test_scan_synthetic_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty: no image files found"):
        scan_synthetic(tmp_path / "empty")
    with pytest.raises(DataError, match="photo folder does not exist"):
        scan_synthetic(tmp_path / "missing")
    with pytest.raises(DataError, match="unknown dataset 'coco'; choose one of: kwentar, pairs, synthetic"):
        scan(tmp_path, "coco")


def _fake_pairs(n_scenes, per_scene=1):
    return [Pair(Path(f"s{i}_{j}.png"), None, scene=f"scene{i}") for i in range(n_scenes) for j in range(per_scene)]


def test_split_80_10_10_by_scene():
    pairs = _fake_pairs(20, per_scene=3)
    parts = split(pairs, seed=0)
    scenes = {k: {p.scene for p in v} for k, v in parts.items()}
    assert [len(scenes[k]) for k in ("train", "val", "test")] == [16, 2, 2]
    assert [len(parts[k]) for k in ("train", "val", "test")] == [48, 6, 6]
    assert not (scenes["train"] & scenes["val"]) and not (scenes["train"] & scenes["test"])
    assert not (scenes["val"] & scenes["test"])
    assert sorted(p.sharp.name for v in parts.values() for p in v) == sorted(p.sharp.name for p in pairs)


def test_split_is_reproducible_from_the_seed():
    pairs = _fake_pairs(30)
    a, b = split(pairs, seed=3), split(list(reversed(pairs)), seed=3)
    assert {k: {p.scene for p in v} for k, v in a.items()} == {k: {p.scene for p in v} for k, v in b.items()}
    c = split(pairs, seed=4)
    assert {p.scene for p in a["val"] + a["test"]} != {p.scene for p in c["val"] + c["test"]}


@pytest.mark.parametrize("n,expected", [(1, (1, 0, 0)), (2, (1, 1, 0)), (3, (1, 1, 1)), (10, (8, 1, 1)),
                                        (15, (11, 2, 2))])
def test_split_small_counts(n, expected):
    parts = split(_fake_pairs(n), seed=0)
    assert tuple(len(parts[k]) for k in ("train", "val", "test")) == expected


def test_crop_sampler_shapes_and_determinism(tmp_path):
    pairs = scan_synthetic([_img(tmp_path / f"{i}.png", 50, 60, i).parent for i in range(1)][0]).pairs
    a = CropSampler(pairs, 32, seed=5).batch(4)
    b = CropSampler(pairs, 32, seed=5).batch(4)
    c = CropSampler(pairs, 32, seed=6).batch(4)
    for arr in a:
        assert arr.shape == (4, 32, 32, 3) and arr.dtype == np.float32
        assert arr.min() >= 0.0 and arr.max() <= 1.0
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    assert all(psnr(x, y) < 45 for x, y in zip(*a))  # the input really is blurred


def test_real_pairs_are_cropped_in_register(tmp_path):
    # blurred == sharp on disk: any misregistration or unequal augmentation would make the crops differ
    root = tmp_path / "same"
    for i in range(3):
        _img(root / "sharp" / f"{i}.png", 40, 56, i)
        _img(root / "blurred" / f"{i}.png", 40, 56, i)
    x, y = CropSampler(scan_pairs(root).pairs, 24, seed=1).batch(12)
    np.testing.assert_array_equal(x, y)


def test_blurred_of_another_size_is_resized(tmp_path):
    root = tmp_path / "sizes"
    _img(root / "sharp" / "a.png", 40, 40, 1)
    write_image(root / "blurred" / "a.png", smooth_image(80, 80, 1))
    x, y = CropSampler(scan_pairs(root).pairs, 32, seed=0, augment=False).sample()
    assert x.shape == y.shape == (32, 32, 3)


def test_image_smaller_than_crop(tmp_path):
    path = _img(tmp_path / "small" / "tiny.png", 20, 30)
    with pytest.raises(DataError, match=r"tiny\.png: image is 30x20, smaller than the 32x32 crop"):
        CropSampler(scan_synthetic(path.parent).pairs, 32).sample()
    # between the crop and crop + blur margin: padded, not refused
    _img(tmp_path / "edge" / "e.png", 36, 36)
    x, y = CropSampler(scan_synthetic(tmp_path / "edge").pairs, 32).sample()
    assert x.shape == (32, 32, 3)
    with pytest.raises(DataError, match="no pairs"):
        CropSampler([], 32)


def test_check_reads_every_image(tmp_path):
    root = tmp_path / "mixed"
    for i in range(6):
        _img(root / f"ok{i}.png", 40, 40, i)
    bad = root / "zz_broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    pairs = scan_synthetic(root).pairs
    sampler = CropSampler(pairs, 32, seed=0)
    from edge_deblur.errors import ImageError

    with pytest.raises(ImageError, match=r"zz_broken\.jpg"):
        sampler.check()
    CropSampler(pairs[:-1], 32).check()  # the good ones pass


def test_calibration_draws_only_from_train(tmp_path):
    # Each photo is one flat colour, so the colour of a (blurred) crop says which photo it came from.
    root = tmp_path / "flat"
    colours = {}
    for i in range(10):
        c = np.array([(i + 1) * 20, 255 - (i + 1) * 20, (i * 77) % 256], np.uint8)
        write_image(root / f"f{i}.png", np.broadcast_to(c, (40, 40, 3)).copy())
        colours[f"f{i}"] = c / 255.0
    crops = calibration_crops(root, "synthetic", n=40, size=(16, 24), seed=2)
    assert crops.shape == (40, 16, 24, 3) and crops.dtype == np.float32
    parts = split(scan_synthetic(root).pairs, seed=2)
    train = {p.sharp.stem for p in parts["train"]}
    held_out = {p.sharp.stem for p in parts["val"] + parts["test"]}
    assert len(train) == 8 and len(held_out) == 2
    used = set()
    for crop in crops:
        mean = crop.reshape(-1, 3).mean(0)
        name = min(colours, key=lambda k: np.abs(colours[k] - mean).max())
        assert np.abs(colours[name] - mean).max() < 3 / 255
        used.add(name)
    assert used <= train and not used & held_out
    assert len(used) >= 5  # 40 draws over 8 photos


def test_load_split_errors(tmp_path):
    root = tmp_path / "one"
    _img(root / "a.png")
    with pytest.raises(DataError, match="the val split is empty"):
        load_split(root, "synthetic", "val")
    with pytest.raises(DataError, match="unknown split 'dev'"):
        load_split(root, "synthetic", "dev")
    assert len(load_split(root, "synthetic", "all")) == 1


def test_eval_pairs_synthetic_and_real(tmp_path):
    root = tmp_path / "photos"
    for i in range(10):
        _img(root / f"p{i}.png", 36, 44, i)
    out = list(eval_pairs(root, "synthetic", "test", seed=0))
    test_part = split(scan_synthetic(root).pairs, 0)["test"]
    assert [name for _, _, name in out] == [f"{p.sharp.stem}@r2" for p in test_part]
    blurred, sharp, _ = out[0]
    assert blurred.shape == sharp.shape == (36, 44, 3)
    np.testing.assert_array_equal(sharp, read_image(test_part[0].sharp))
    assert 15 < psnr(blurred, sharp) < 40
    again = list(eval_pairs(root, "synthetic", "test", seed=0))
    np.testing.assert_array_equal(again[0][0], blurred)  # fixed degradation

    real = tmp_path / "real"
    for i in range(3):
        _img(real / "sharp" / f"r{i}.png", 36, 44, i)
        write_image(real / "blurred" / f"r{i}.png", smooth_image(18, 22, i + 5))
    got = list(eval_pairs(real, "pairs", "all"))
    assert [n for _, _, n in got] == ["r0", "r1", "r2"]
    assert all(b.shape == s.shape == (36, 44, 3) for b, s, _ in got)


def test_validation_crops_are_fixed(tmp_path):
    root = tmp_path / "v"
    for i in range(2):
        _img(root / f"v{i}.png", 40, 40, i)
    pairs = scan_synthetic(root).pairs
    x, y = validation_crops(pairs, 32, per_image=3, seed=1)
    assert x.shape == y.shape == (6, 32, 32, 3)
    x2, _ = validation_crops(pairs, 32, per_image=3, seed=1)
    np.testing.assert_array_equal(x, x2)


def test_tf_dataset_batches(tmp_path):
    root = tmp_path / "t"
    _img(root / "a.png", 40, 40)
    ds = tf_dataset(CropSampler(scan_synthetic(root).pairs, 16, seed=0), batch_size=3)
    x, y = next(iter(ds))
    assert tuple(x.shape) == tuple(y.shape) == (3, 16, 16, 3)


# --- the real data in ../shared/data -------------------------------------------------------------------------------


def test_shared_kwentar_defocus(shared_data):
    sc = scan_kwentar(shared_data / "kwentar", "defocus")
    assert len(sc.pairs) == 15
    assert [p.name for p in sc.unpaired] == ["50_HONOR-8X_S.jpg"]
    assert "15 pairs; 1 unpaired file(s) skipped (50_HONOR-8X_S.jpg)" in sc.describe()
    assert any(p.blurred.suffix == ".jpeg" for p in sc.pairs)
    assert len({p.scene for p in sc.pairs}) == 15


def test_shared_kwentar_motion(shared_data):
    sc = scan_kwentar(shared_data / "kwentar", "motion")
    assert len(sc.pairs) == 16 and sc.unpaired == []


def test_shared_kwentar_split_and_crops(shared_data):
    parts = split(scan_kwentar(shared_data / "kwentar").pairs, seed=0)
    assert [len(parts[k]) for k in ("train", "val", "test")] == [11, 2, 2]
    assert not {p.scene for p in parts["train"]} & {p.scene for p in parts["val"] + parts["test"]}
    x, y = CropSampler(parts["train"][:2], 64, seed=0).batch(2)
    assert x.shape == y.shape == (2, 64, 64, 3)


def test_shared_gopro_pairs(shared_data):
    sc = scan_pairs(shared_data / "gopro_motion")
    assert len(sc.pairs) == 18 and sc.unpaired == []
    parts = split(sc.pairs, seed=0)
    scenes = [{p.scene for p in parts[k]} for k in ("train", "val", "test")]
    assert not (scenes[0] & scenes[1] or scenes[0] & scenes[2] or scenes[1] & scenes[2])
    b, s = read_image(sc.pairs[0].blurred), read_image(sc.pairs[0].sharp)
    assert b.shape == s.shape == (720, 1280, 3)
    assert 20 < psnr(b, s) < 45  # aligned real pairs


def test_shared_photos_synthetic(shared_data):
    photos = shared_data / "photos"
    sc = scan_synthetic([photos / "cbsd68", photos / "mcmaster18", photos / "sunhays80"])
    assert len(sc.pairs) == 68 + 18 + 80
    parts = split(sc.pairs, seed=0)
    assert [len(parts[k]) for k in ("train", "val", "test")] == [132, 17, 17]


def test_pairs_whose_shapes_differ_are_refused_not_stretched(tmp_path):
    # issue 16 campaign: a 56x48 blurred image was silently stretched onto its 60x40 sharp partner for train and bench
    pair = Pair(_img(tmp_path / "sharp" / "a.png", 40, 60), _img(tmp_path / "blurred" / "a.png", 48, 56), "a")
    with pytest.raises(DataError, match=r"a.png: 56x48, its sharp partner .*a.png is 60x40"):
        CropSampler([pair], 32, augment=False).sample()
    same_shape = Pair(pair.sharp, _img(tmp_path / "blurred" / "b.png", 80, 120), "b")  # resolution may differ
    blurred, sharp = CropSampler([same_shape], 32, augment=False).sample()
    assert blurred.shape == sharp.shape == (32, 32, 3)
