"""`edge-deblur grid`: before/after grids of real photos through an exported model (real TFLite, real files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from conftest import smooth_image
from edge_deblur.images import read_image, write_image
from edge_deblur.runtime import Deblurrer
from test_batch import cli, model  # noqa: F401 (model: the tiny float32 .tflite fixture)


def _pairs(root: Path) -> Path:
    for i, (h, w) in enumerate([(40, 48), (36, 44)]):
        sharp = smooth_image(h, w, i)
        write_image(root / "sharp" / f"s{i}.png", sharp)
        write_image(root / "blurred" / f"s{i}.png", np.clip(sharp * 0.9 + 0.05, 0, 1))
    return root


def _origin(tile: np.ndarray, image: np.ndarray, band: int) -> tuple[int, int] | None:
    """Top-left corner of the crop of `image` that `tile` shows, matching the rows below its label band, or None."""
    h, w = tile.shape[:2]
    for y in range(image.shape[0] - h + 1):
        for x in range(image.shape[1] - w + 1):
            if np.array_equal(image[y + band : y + h, x : x + w], tile[band:]):
                return y, x
    return None


def test_grid_rows_are_input_output_and_reference_crops(tmp_path, model):
    data = _pairs(tmp_path / "pairs")
    res = cli("grid", "--data", data, "--dataset", "pairs", "--crop", 32, "--long-side", 0, "--model", model,
              "-o", tmp_path / "g.png")
    assert res.exit_code == 0, res.output
    size = (tmp_path / "g.png").stat().st_size
    assert res.stdout.strip() == f"wrote {tmp_path / 'g.png'} " + (f"({size / 1e3:.0f} kB)" if size >= 1000
                                                                   else f"({size} bytes)")
    grid = np.asarray(Image.open(tmp_path / "g.png").convert("RGB"))
    assert grid.shape == (32 * 2 + 4, 32 * 3 + 4 * 2, 3)  # 2 rows x (input | output | reference), 4 px gaps
    band = 26  # rows under the label at the top of each tile
    blurred = read_image(data / "blurred" / "s0.png", keep_uint8=True)
    where = _origin(grid[:32, :32], blurred, band)
    assert where is not None  # the first tile is a 100% crop of the input
    y, x = where
    out = Deblurrer(model, passes=2, views=4)(read_image(data / "blurred" / "s0.png"))  # as `deblur` runs photos
    out = (out * 255 + 0.5).astype(np.uint8)
    np.testing.assert_allclose(grid[band:32, 36:68], out[y + band : y + 32, x : x + 32], atol=1)  # same window
    assert np.abs(grid[band:32, 36:68].astype(int) - grid[band:32, :32]).mean() > 2  # and the model changed it
    sharp = read_image(data / "sharp" / "s0.png", keep_uint8=True)
    assert np.array_equal(grid[band:32, 72:104], sharp[y + band : y + 32, x : x + 32])


def test_grid_refuses_a_file_name_it_would_write_wrongly(tmp_path, model):
    data = _pairs(tmp_path / "pairs")
    res = cli("grid", "--data", data, "--dataset", "pairs", "--model", model, "-o", tmp_path / "g.txt")
    assert res.exit_code == 2
    assert res.stderr.strip() == f"error: {tmp_path / 'g.txt'}: a grid is written as PNG or JPEG; give a .png or .jpg file name"
    assert not (tmp_path / "g.txt").exists()
    res = cli("grid", "--data", data, "--dataset", "pairs", "--model", model, "-o", tmp_path / "g.jpg")
    assert res.exit_code == 0 and Image.open(tmp_path / "g.jpg").format == "JPEG"


def test_a_long_label_shrinks_to_fit_its_tile():
    from edge_deblur.figures import _label

    text = "int8 output, 2 passes, 4 views (run at 0.50x)"  # wider than 256 px at the 13 px font
    tile = _label(Image.new("RGB", (256, 40), (128, 128, 128)), text)
    band = np.asarray(tile)[:14]
    assert (band[:, 4:200] < 40).mean() > 0.5  # the dark band holds the label
    assert (band[:, -3:] == 128).all()  # and ends inside the tile: the whole text fits
    short = np.asarray(_label(Image.new("RGB", (256, 40), (128, 128, 128)), "input"))
    assert (short[:14, 60:] == 128).all()  # a short label keeps its small band


def test_grid_never_overwrites_unasked_and_never_an_input(tmp_path, model):
    photo = tmp_path / "a.png"
    write_image(photo, smooth_image(40, 48, 1))
    before = photo.read_bytes()
    res = cli("grid", photo, "-o", photo, "-m", model)
    assert res.exit_code == 2
    assert res.stderr.strip() == f"error: {photo} is one of the photos: nothing written (inputs are never overwritten)"
    assert photo.read_bytes() == before
    out = tmp_path / "g.png"
    out.write_bytes(b"not yet a grid")
    res = cli("grid", photo, "-o", out, "-m", model)
    assert res.exit_code == 2
    assert res.stderr.strip() == f"error: {out} already exists: nothing written (pass --overwrite to replace it)"
    assert out.read_bytes() == b"not yet a grid"
    assert cli("grid", photo, "-o", out, "-m", model, "--overwrite", "--crop", 32).exit_code == 0
    assert np.asarray(Image.open(out)).shape == (32, 32 * 2 + 4, 3)
    (tmp_path / "g2.png").mkdir()
    res = cli("grid", photo, "-o", tmp_path / "g2.png", "-m", model, "--overwrite")
    assert (res.exit_code, res.stderr.strip()) == (2, f"error: {tmp_path / 'g2.png'} is a folder; give the grid's "
                                                      "file name")


def test_grid_options_and_photos_that_make_no_grid_are_one_line_errors(tmp_path, model):
    photo, tiny, strip = tmp_path / "a.png", tmp_path / "one.png", tmp_path / "strip.png"
    write_image(photo, smooth_image(40, 48, 1))
    write_image(tiny, smooth_image(3, 200, 1))
    write_image(strip, smooth_image(30, 2000, 1))
    cases = {
        ("--crop", "0"): "error: --crop 0: the window shown must be at least 16 px",
        ("--long-side", "-1"): "error: --long-side -1: must be 0 (native size) or at least 16 px",
        ("--split", "val"): "error: --split val chooses among the pairs of --data; give --data too",
        (str(tiny),): f"error: {tiny}: 200x3 px, too small for a grid (at least 16 px a side)",
        (str(strip),): f"error: {strip}: 640x10 px after shrinking, too small for a grid (at least 16 px a side); "
                       "--long-side 0 keeps its native size",
    }
    for extra, message in cases.items():
        res = cli("grid", photo, *extra, "-o", tmp_path / "g.png", "-m", model)
        assert (res.exit_code, res.stderr.strip()) == (2, message)
    res = cli("grid", photo, "--limit", "0", "-o", tmp_path / "g.png", "-m", model)
    assert (res.exit_code, res.stderr.strip()) == (2, "error: Invalid value for '--limit': Input should be greater "
                                                   "than or equal to 1 (see 'edge-deblur grid --help')")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "one.png", "strip.png"]


def test_grid_rows_of_photos_with_one_stem_are_told_apart(tmp_path, model):
    write_image(tmp_path / "good.png", smooth_image(40, 48, 1))
    write_image(tmp_path / "good.jpg", smooth_image(40, 48, 2))
    write_image(tmp_path / "other.png", smooth_image(40, 48, 3))
    from edge_deblur import figures

    labels = []
    real = figures.before_after_grid
    figures.before_after_grid = lambda rows, path: labels.extend(row[0][1] for row in rows) or real(rows, path)
    try:
        figures.deblur_grid([(tmp_path / n, None) for n in ("good.png", "good.jpg", "other.png")],
                            tmp_path / "g.png", model=model, crop=32)
    finally:
        figures.before_after_grid = real
    assert labels == ["input good.png", "input good.jpg", "input other"]
