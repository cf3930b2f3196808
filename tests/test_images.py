"""Image I/O: orientation, bit depths, colour modes, broken files, atomic writes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from conftest import smooth_image
from edge_deblur.errors import ImageError
from edge_deblur.images import is_image_file, read_image, resize, to_uint8, write_image
from edge_deblur.metrics import psnr


def _u8(h=24, w=40, seed=0):
    return to_uint8(smooth_image(h, w, seed))


def test_png_round_trip_is_exact(tmp_path):
    img = _u8()
    path = write_image(tmp_path / "a.png", img)
    out = read_image(path)
    assert out.dtype == np.float32 and out.shape == (24, 40, 3)
    np.testing.assert_array_equal(to_uint8(out), img)
    assert out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("suffix,min_psnr", [(".jpg", 25), (".JPEG", 25), (".webp", 25), (".bmp", 99), (".tif", 99)])
def test_other_formats_round_trip(tmp_path, suffix, min_psnr):
    img = smooth_image(32, 48, 1)
    out = read_image(write_image(tmp_path / f"a{suffix}", img))
    assert out.shape == (32, 48, 3)
    assert psnr(out, img) > (min_psnr if min_psnr < 99 else 45.0)  # lossless: only the 8-bit rounding (~59 dB)


def test_exif_orientation_6_is_applied(tmp_path):
    img = _u8(20, 36, 2)  # landscape 36 wide x 20 high
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "rotated.jpg"
    Image.fromarray(img).save(path, quality=98, exif=exif.tobytes())
    out = read_image(path)
    assert out.shape == (36, 20, 3)  # portrait after rotation
    expected = np.rot90(img, k=-1).astype(np.float32) / 255.0  # clockwise
    assert psnr(out, expected) > 22.0  # JPEG of a 20x36 image with hard edges: ~24.6 dB
    assert psnr(out, np.rot90(img, k=1).astype(np.float32) / 255.0) < 12.0  # not the other way round (~8.4 dB)  # not the other way round


def test_grayscale_becomes_three_equal_channels(tmp_path):
    g = (np.arange(12 * 16).reshape(12, 16) % 256).astype(np.uint8)
    Image.fromarray(g, mode="L").save(tmp_path / "g.png")
    out = read_image(tmp_path / "g.png")
    assert out.shape == (12, 16, 3)
    for c in range(3):
        np.testing.assert_allclose(out[..., c], g / 255.0, atol=1e-7)


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.zeros((8, 10, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:, :5, 3] = 255  # left half opaque red-ish, right half fully transparent
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    assert out.shape == (8, 10, 3)
    np.testing.assert_allclose(out[:, :5], np.broadcast_to([200 / 255, 0, 0], (8, 5, 3)), atol=1e-7)
    np.testing.assert_allclose(out[:, 5:], 1.0)


def test_palette_image(tmp_path):
    img = _u8(16, 16, 3)
    pal = Image.fromarray(img).quantize(colors=16)
    assert pal.mode == "P"
    pal.save(tmp_path / "p.png")
    out = read_image(tmp_path / "p.png")
    np.testing.assert_allclose(out, np.asarray(pal.convert("RGB")) / 255.0, atol=1e-7)


def test_16bit_gray_png_is_scaled_by_65535(tmp_path):
    a = np.array([[0, 200, 1000], [32768, 60000, 65535]], np.uint16)  # 200 must NOT read as 200/255
    Image.fromarray(a).save(tmp_path / "g16.png")
    out = read_image(tmp_path / "g16.png")
    assert out.shape == (2, 3, 3)
    np.testing.assert_allclose(out[..., 1], a / 65535.0, atol=1e-6)


def test_16bit_gray_png_dark_image(tmp_path):
    a = np.full((4, 4), 200, np.uint16)  # a very dark 16-bit frame: 0.3% grey, not 78%
    Image.fromarray(a).save(tmp_path / "dark16.png")
    np.testing.assert_allclose(read_image(tmp_path / "dark16.png"), 200 / 65535.0, atol=1e-6)


def test_16bit_rgb_png(tmp_path):
    cv2 = pytest.importorskip("cv2")
    rgb = (smooth_image(10, 12, 4) * 65535).astype(np.uint16)
    assert cv2.imwrite(str(tmp_path / "c16.png"), rgb[..., ::-1])  # OpenCV writes BGR
    out = read_image(tmp_path / "c16.png")
    assert out.shape == (10, 12, 3)
    np.testing.assert_allclose(out, rgb / 65535.0, atol=1.0 / 255)


def test_truncated_jpeg_names_the_file(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(_u8(64, 64)).save(buf, format="JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageError, match="cut.jpg"):
        read_image(path)


def test_truncated_png_names_the_file(tmp_path):
    write_image(tmp_path / "full.png", _u8(64, 64))
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="cut.png"):
        read_image(tmp_path / "cut.png")


def test_non_image_and_missing_files(tmp_path):
    (tmp_path / "notes.png").write_text("this is not a picture\n")
    with pytest.raises(ImageError, match=r"notes\.png: not an image"):
        read_image(tmp_path / "notes.png")
    with pytest.raises(ImageError, match=r"nope\.jpg: no such image file"):
        read_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match="no such image file"):
        read_image(tmp_path)  # a folder is not an image file


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "out.png"
    write_image(path, _u8())
    write_image(path, _u8(seed=5))  # overwrite in place
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
    np.testing.assert_array_equal(to_uint8(read_image(path)), _u8(seed=5))


def test_write_bad_suffix_or_shape_writes_nothing(tmp_path):
    with pytest.raises(ImageError, match=r"cannot write '\.gif'"):
        write_image(tmp_path / "a.gif", _u8())
    with pytest.raises(ImageError, match=r"expected an HxWx3 RGB array, got shape \(8, 8\)"):
        write_image(tmp_path / "b.png", np.zeros((8, 8), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "keep.jpg"
    write_image(path, _u8())
    before = path.read_bytes()

    def disk_full(self, fp, *args, **kwargs):  # a real partial write, then the failure a full disk gives
        with open(fp, "wb") as f:
            f.write(b"\xff\xd8\xff partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_image(path, _u8(seed=9))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.jpg"]


def test_write_float_is_rounded_and_clipped(tmp_path):
    img = np.array([[[-0.5, 0.5, 2.0], [1 / 255 * 0.49, 1 / 255 * 0.51, 1.0]]], np.float32)
    out = to_uint8(read_image(write_image(tmp_path / "c.png", img)))
    np.testing.assert_array_equal(out, [[[0, 128, 255], [0, 1, 255]]])


def test_is_image_file_any_case():
    assert is_image_file("x.JPG") and is_image_file("a/b.Jpeg") and is_image_file("c.png")
    assert not is_image_file("x.txt") and not is_image_file("README")


def test_resize_shapes_and_mean():
    img = smooth_image(40, 60, 7)
    small = resize(img, 20, 30)
    big = resize(img, 80, 120)
    assert small.shape == (20, 30, 3) and big.shape == (80, 120, 3)
    assert abs(small.mean() - img.mean()) < 2e-3  # area averaging keeps the mean
    assert resize(img, 40, 60) is img
