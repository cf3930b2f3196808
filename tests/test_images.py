"""Image I/O: orientation, bit depths, colour modes, broken files, atomic writes."""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from conftest import smooth_image
from edge_deblur.errors import ImageError
from edge_deblur.image_checks import _png_data_size
from edge_deblur.images import (DEFAULT_MAX_PIXELS, ImageWarning, is_image_file, pixel_limit, read_image, resize,
                                to_uint8, upright_exif, write_image)
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
    assert psnr(out, np.rot90(img, k=1).astype(np.float32) / 255.0) < 12.0  # not the other way round (~8.4 dB)


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
    with pytest.warns(ImageWarning, match=r"a\.png: has transparency, composited on white \(the result has no alpha"):
        out = read_image(tmp_path / "a.png")
    assert out.shape == (8, 10, 3)
    np.testing.assert_allclose(out[:, :5], np.broadcast_to([200 / 255, 0, 0], (8, 5, 3)), atol=1e-7)
    np.testing.assert_allclose(out[:, 5:], 1.0)


def test_half_transparent_gray_alpha_is_blended_with_white_and_said(tmp_path):
    la = np.stack([np.full((6, 8), 40, np.uint8), np.full((6, 8), 128, np.uint8)], -1)  # dark gray, alpha ~0.5
    Image.fromarray(la, mode="LA").save(tmp_path / "la.png")
    with pytest.warns(ImageWarning, match=r"la\.png: has transparency"):
        out = read_image(tmp_path / "la.png")
    np.testing.assert_allclose(out, (40 * 128 + 255 * 127) / 255 / 255, atol=1 / 255)


def test_opaque_alpha_reads_without_a_warning(tmp_path):
    rgba = np.dstack([_u8(8, 10), np.full((8, 10), 255, np.uint8)])
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "opaque.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = read_image(tmp_path / "opaque.png")
    np.testing.assert_array_equal(to_uint8(out), rgba[..., :3])


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
    with pytest.raises(ImageError, match=r"keep\.jpg: cannot write \(No space left on device\)"):
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


# --- hostile files: bombs, huge EXIF, non-RGB TIFFs, unwritable outputs --------------------------------------------


def _png_header_only(path, width: int, height: int):
    """A PNG whose header claims width x height RGB pixels but which holds one row of data (a 'bomb' header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def test_pixel_limit_refuses_a_bomb_header_before_decoding(tmp_path):
    path = _png_header_only(tmp_path / "bomb.png", 15000, 10000)  # 150 MP: ~1.8 GB as float32, ~8 GB to deblur
    with pytest.raises(ImageError, match=r"bomb\.png: 15000x10000 is 150 megapixels, over the limit of 100 "
                                         r"megapixels \(deblurring it needs ~7\.8 GiB\)"):
        read_image(path)
    huge = _png_header_only(tmp_path / "huge.png", 60000, 60000)  # 3.6 gigapixels: Pillow's own bomb check fires
    with pytest.raises(ImageError, match=r"huge\.png: refused as a possible decompression bomb"):
        read_image(huge)


def test_pillow_bomb_error_is_an_image_error_too(tmp_path, monkeypatch):
    # limit raised past Pillow's own bomb check (2 x 89.5 MP): Pillow's DecompressionBombError (not an OSError)
    monkeypatch.setenv("EDGE_DEBLUR_MAX_PIXELS", str(10**12))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    path = _png_header_only(tmp_path / "bomb.png", 200, 200)
    with pytest.raises(ImageError, match=r"bomb\.png: "):
        read_image(path)


def test_pixel_limit_argument_and_environment(tmp_path, monkeypatch):
    path = write_image(tmp_path / "a.png", _u8(40, 50))
    assert pixel_limit() == DEFAULT_MAX_PIXELS
    with pytest.raises(ImageError, match=r"a\.png: 50x40 is 2,000 pixels, over the limit of 1,000 pixels"):
        read_image(path, max_pixels=1000)
    assert read_image(path, max_pixels=2000).shape == (40, 50, 3)
    monkeypatch.setenv("EDGE_DEBLUR_MAX_PIXELS", "1999")
    with pytest.raises(ImageError, match="EDGE_DEBLUR_MAX_PIXELS"):
        read_image(path)
    monkeypatch.setenv("EDGE_DEBLUR_MAX_PIXELS", "lots")
    with pytest.raises(ImageError, match=r"EDGE_DEBLUR_MAX_PIXELS: expected a positive whole number, got 'lots'"):
        read_image(path)


TIFF_VARIANTS = {
    "gray8": lambda g: Image.fromarray(g),
    "gray16": lambda g: Image.fromarray(g.astype(np.uint16) * 257),
    "float": lambda g: Image.fromarray(g.astype(np.float32) / 255),
    "cmyk": lambda g: Image.fromarray(np.stack([g] * 3, -1)).convert("CMYK"),
    "palette": lambda g: Image.fromarray(np.stack([g, 255 - g, g // 2], -1)).quantize(colors=32),
    "rgba": lambda g: Image.fromarray(np.stack([g, g, g, np.full_like(g, 255)], -1)),
    "bit1": lambda g: Image.fromarray(g).convert("1"),
}


@pytest.mark.parametrize("variant", sorted(TIFF_VARIANTS))
def test_non_rgb_tiff_round_trips_into_a_readable_rgb_tiff(tmp_path, variant):
    g = to_uint8(smooth_image(20, 30, 5))[..., 0]
    src = tmp_path / f"{variant}.tif"
    TIFF_VARIANTS[variant](g).save(src)
    img = read_image(src)
    assert img.shape == (20, 30, 3)
    out = write_image(tmp_path / "out.tif", img, exif=upright_exif(src))  # the source's TIFF tags must not leak
    with Image.open(out) as im:
        im.load()
        assert im.mode == "RGB" and im.size == (30, 20)
    np.testing.assert_allclose(read_image(out), img, atol=0.5 / 255 + 1e-6)


def test_upright_exif_keeps_camera_tags_and_resets_orientation(tmp_path):
    exif = Image.Exif()
    exif[0x0112], exif[0x010F] = 6, "edge-deblur-test"
    exif[0x8769] = {0x9003: "2024:01:02 03:04:05"}  # DateTimeOriginal in the Exif sub-IFD
    path = tmp_path / "cam.jpg"
    Image.fromarray(_u8()).save(path, exif=exif.tobytes())
    out = write_image(tmp_path / "out.jpg", read_image(path), exif=upright_exif(path))
    with Image.open(out) as im:
        got = im.getexif()
        assert got[0x0112] == 1 and got[0x010F] == "edge-deblur-test"
        assert got.get_ifd(0x8769)[0x9003] == "2024:01:02 03:04:05"
    assert upright_exif(write_image(tmp_path / "plain.png", _u8())) is None


def _with_description(path, length: int):
    exif = Image.Exif()
    exif[0x0112] = 3
    exif[0x010E] = "x" * length  # ImageDescription
    Image.fromarray(_u8()).save(path, exif=exif.tobytes())
    return path


def test_exif_just_under_64_kb_is_kept(tmp_path):
    src = _with_description(tmp_path / "big_exif.jpg", 65400)  # the APP1 segment just fits JPEG's 64 KB
    out = write_image(tmp_path / "out.jpg", read_image(src), exif=upright_exif(src))
    with Image.open(out) as im:
        assert len(im.getexif()[0x010E]) == 65400 and im.getexif()[0x0112] == 1


def test_exif_over_64_kb_is_dropped_with_a_warning_not_an_error(tmp_path):
    src = _with_description(tmp_path / "big_exif.png", 65600)  # PNG: no size limit; too big for a JPEG
    with pytest.warns(ImageWarning, match=r"out\.jpg: EXIF of 65,[0-9]{3} bytes does not fit a JPEG"):
        out = write_image(tmp_path / "out.jpg", read_image(src), exif=upright_exif(src))
    with Image.open(out) as im:
        im.load()
        assert im.size == (40, 24) and not im.getexif()


@pytest.mark.parametrize("where", ["file_as_folder", "under_a_file"])
def test_unwritable_destination_is_one_clean_error_and_no_file(tmp_path, where):
    (tmp_path / "afile").write_text("not a folder")
    dest = tmp_path / "afile" / "x.png" if where == "file_as_folder" else tmp_path / "afile" / "sub" / "x.png"
    with pytest.raises(ImageError, match=r"x\.png: cannot write \(.+\)"):
        write_image(dest, _u8())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only (0555) folders anyway")
def test_read_only_folder_is_one_clean_error(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(ImageError, match=r"x\.png: cannot write \(Permission denied\)"):
            write_image(ro / "x.png", _u8())
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


# --- issue 16 campaign: write_image accepted arrays and options it then wrote wrongly ---
@pytest.mark.parametrize("bad", [np.full((4, 4, 3), np.nan, np.float32), np.full((4, 4, 3), np.inf),
                                 np.full((4, 4, 3), 1000, np.uint16), np.ones((4, 4, 3), np.int64),
                                 np.ones((4, 4, 3), bool)], ids=["nan", "inf", "uint16", "int64", "bool"])
def test_write_image_refuses_arrays_it_cannot_write_faithfully(tmp_path, bad):
    with pytest.raises(ImageError, match="expected"):
        write_image(tmp_path / "x.png", bad)
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("quality", [0, 101, 500, -1])
def test_write_image_refuses_quality_outside_1_100(tmp_path, quality):
    with pytest.raises(ImageError, match="quality"):
        write_image(tmp_path / "x.jpg", np.zeros((4, 4, 3), np.uint8), quality=quality)


@pytest.mark.parametrize("exif", [b"garbage", "text"])
def test_write_image_refuses_exif_that_is_not_an_exif_block(tmp_path, exif):
    with pytest.raises(ImageError, match="EXIF"):
        write_image(tmp_path / "x.jpg", np.zeros((4, 4, 3), np.uint8), exif=exif)


def test_float_tiff_beyond_0_1_is_refused_not_clipped_to_white(tmp_path):
    # issue 16 campaign: a float TIFF with values up to 10 (HDR/linear) was clipped to an all-white image
    hdr = (np.linspace(0, 10, 40 * 48, dtype=np.float32)).reshape(40, 48)
    Image.fromarray(hdr).save(tmp_path / "hdr.tif")
    with pytest.raises(ImageError, match=r"hdr.tif: .*float pixel values span \[0, 10\], expected \[0, 1\]"):
        read_image(tmp_path / "hdr.tif")
    Image.fromarray(hdr / 10).save(tmp_path / "ok.tif")
    assert read_image(tmp_path / "ok.tif").max() == 1.0


@pytest.mark.parametrize("suffix", [".gif", ".png", ".webp"])
def test_animations_are_refused_but_still_images_and_multi_picture_jpegs_are_read(tmp_path, suffix):
    from PIL import Image

    frames = [Image.new("RGB", (40, 30), (60 * i, 100, 200 - 60 * i)) for i in range(3)]
    path = tmp_path / f"anim{suffix}"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    with pytest.raises(ImageError, match=r"anim\.\w+: an animated (GIF|PNG|WEBP) \(3 frames\); only still images"):
        read_image(path)
    frames[0].save(tmp_path / f"still{suffix}")
    still = read_image(tmp_path / f"still{suffix}")  # (a GIF is a palette image, WebP lossy)
    assert np.abs(np.round(still[0, 0] * 255) - [0, 100, 200]).max() <= 3
    mpo = tmp_path / "phone.jpg"  # a JPEG with a second picture (preview or depth) in it, as some phones write
    frames[1].save(mpo, format="MPO", save_all=True, append_images=[frames[2]], quality=95)
    assert Image.open(mpo).n_frames == 2
    assert np.abs(read_image(mpo, keep_uint8=True)[5, 5].astype(int) - [60, 100, 140]).max() <= 3  # the first one


def test_multi_page_tiff_is_refused_but_a_thumbnail_page_is_not_a_page(tmp_path):
    pages = [Image.new("RGB", (40, 30), (60 * i, 100, 200 - 60 * i)) for i in range(3)]
    pages[0].save(tmp_path / "scan.tif", save_all=True, append_images=pages[1:])
    with pytest.raises(ImageError, match=r"scan\.tif: a multi-page TIFF \(3 pages\); only single images are read"):
        read_image(tmp_path / "scan.tif")
    thumb = Image.new("RGB", (8, 6), (255, 0, 0))
    thumb.encoderinfo = {"tiffinfo": {254: 1}}  # NewSubfileType: a reduced-resolution copy of the page before
    pages[1].save(tmp_path / "photo.tif", save_all=True, append_images=[thumb])
    assert Image.open(tmp_path / "photo.tif").n_frames == 2
    np.testing.assert_array_equal(read_image(tmp_path / "photo.tif", keep_uint8=True)[5, 5], [60, 100, 140])


def test_multi_page_tiff_cut_anywhere_is_one_clean_error(tmp_path):
    """Pillow raises TypeError ("Missing dimensions") counting the pages of a cut multi-page TIFF: an ImageError."""
    pages = [Image.fromarray(_u8(30, 40, i)) for i in range(2)]
    buf = io.BytesIO()
    pages[0].save(buf, format="TIFF", save_all=True, append_images=pages[1:])
    data, path = buf.getvalue(), tmp_path / "cut.tif"
    messages = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's "Corrupt EXIF data" on some cuts
        for n in range(16, len(data), 53):
            path.write_bytes(data[:n])
            with pytest.raises(ImageError, match=r"cut\.tif: ") as e:
                read_image(path)
            messages.add(str(e.value).split(": ", 1)[1][:40])
    assert {"cannot decode image (reading its list of", "a multi-page TIFF (2 pages); only single"} <= messages


def _png(path, width: int, height: int, raw: bytes, colour: int = 2, depth: int = 8, interlace: int = 0):
    """A PNG with the given IHDR and the (filter byte + pixels per row) image data `raw`, deflated in one IDAT."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))
    return path


def _adam7_rows(width: int, height: int, pixel: bytes) -> bytes:
    """Image data of an interlaced PNG whose every pixel is `pixel`: the rows of the 7 passes."""
    raw = b""
    adam7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
    for x0, y0, dx, dy in adam7:  # (first column, first row, column step, row step) of each pass
        cols, rows = len(range(x0, width, dx)), len(range(y0, height, dy))
        raw += (b"\0" + pixel * cols) * rows if cols else b""
    return raw


def test_png_whose_image_data_stops_rows_early_is_refused(tmp_path):
    """A valid 200x200 header, data for 20 rows, then IEND: Pillow fills the other 180 rows with black silently."""
    row = b"\0" + bytes([200, 120, 40]) * 200
    path = _png(tmp_path / "short.png", 200, 200, row * 20)
    with pytest.raises(ImageError, match=r"short\.png: cannot decode image \(truncated: its image data ends at 10% "
                                         r"of the 200x200 pixels"):
        read_image(path)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False  # neither we nor Pillow turn it on; this case gets past it
    full = read_image(_png(tmp_path / "full.png", 200, 200, row * 200), keep_uint8=True)
    assert (full == [200, 120, 40]).all()
    cut = _adam7_rows(30, 20, b"\x50")[:-2 * 31]  # interlaced: the last two rows (of pass 7, the odd rows) missing
    with pytest.raises(ImageError, match=r"short_i\.png: cannot decode image \(truncated"):
        read_image(_png(tmp_path / "short_i.png", 30, 20, cut, colour=0, interlace=1))
    for w, h in ((30, 20), (3, 5), (1, 1)):  # (3, 5): passes without columns or rows
        raw = _adam7_rows(w, h, b"\x50")
        assert np.allclose(read_image(_png(tmp_path / "inter.png", w, h, raw, colour=0, interlace=1)), 0x50 / 255)
        assert _png_data_size(tmp_path / "inter.png") == (len(raw), len(raw))


@pytest.mark.parametrize("mode, bits", [("RGB", 8), ("RGBA", 8), ("L", 8), ("LA", 8), ("I;16", 16), ("1", 1),
                                        ("P", 1), ("P", 2), ("P", 4), ("P", 8)])
def test_complete_png_with_a_black_last_row_is_measured_and_read(tmp_path, monkeypatch, mode, bits):
    """A black last row is what a PNG cut short looks like after Pillow: its data is measured, and a whole file kept
    (odd sizes: rows that end mid-byte at 1, 2 and 4 bits)."""
    import edge_deblur.image_checks as image_checks

    rng = np.random.default_rng(0)
    v = rng.integers(0, 2 ** bits, size=(21, 13))
    v[-1] = 0
    if mode == "P":
        im = Image.fromarray(v.astype(np.uint8), "P")
        im.putpalette([0, 0, 0] + rng.integers(0, 256, 3 * (2 ** bits - 1)).tolist())
    elif mode == "I;16":
        im = Image.fromarray(v.astype(np.uint16))
    else:
        g = Image.fromarray((v * (255 // (2 ** bits - 1))).astype(np.uint8))
        im = g.convert("1", dither=Image.Dither.NONE) if mode == "1" else g.convert(mode)
    alpha = mode in ("LA", "RGBA")
    if alpha:  # the last row transparent black: all zero bytes, too
        im.putalpha(Image.fromarray(np.where(np.arange(21)[:, None] < 20, 255, 0).repeat(13, 1).astype(np.uint8)))
    im.save(tmp_path / "a.png", **({"bits": bits} if mode == "P" else {}))
    with Image.open(tmp_path / "a.png") as check:
        assert check.mode == mode
        expected = _pil_rgb(check)
    expected[-1] = 1.0 if alpha else 0.0  # composited on white
    measured = []
    monkeypatch.setattr(image_checks, "_png_data_size", lambda *a: measured.append(1) or _png_data_size(*a))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImageWarning)
        out = read_image(tmp_path / "a.png")
    assert measured and out.shape == (21, 13, 3)
    np.testing.assert_allclose(out, expected, atol=1 / 255 + 1e-6)
    need, got = _png_data_size(tmp_path / "a.png")  # the size expected from the header is exactly the data's
    assert need == got


def _pil_rgb(im) -> np.ndarray:
    """Pillow's own RGB of a loaded image, as float [0, 1] (16-bit gray scaled down)."""
    if im.mode == "I;16":
        return np.repeat(np.asarray(im, np.float32)[..., None] / 65535, 3, axis=2)
    return np.asarray(im.convert("RGB"), np.float32) / 255
