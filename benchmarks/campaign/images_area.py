"""Area 2: hostile image files and output places, each run through `edge-deblur deblur` with the tiny int8 model.

Expectations: `refuse` (a clean error, nothing under the output name), `accept` (an output of the expected size,
readable, not black; equal to the reference when one is given) or `either`.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.campaign.common import Case, clean_error, cli, failure, image_ok, last_line, timed
from benchmarks.campaign.fixtures import smooth_image, tiny_exports

AREA = "images"


@dataclass
class Attack:
    name: str
    inputs: list[Path]
    expect: str  # refuse | accept | either
    size: tuple[int, int] | None = None  # expected output (w, h)
    out: Path | None = None  # -o folder (default: a fresh folder)
    args: list[str] = field(default_factory=list)
    exact: bool = False  # an accepted output must equal the intact file's (good_png / good_jpg) output


def _png(arr: np.ndarray, path: Path, **kw) -> Path:
    Image.fromarray(arr).save(path, **kw)
    return path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_declaring(w: int, h: int) -> bytes:
    """A PNG header that declares w x h pixels with a few bytes of (too little) data."""
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + ihdr + _chunk(b"IDAT", zlib.compress(b"\0" * 100)) + _chunk(b"IEND", b"")


def _bomb(path: Path, side: int = 20000) -> Path:
    """A real, valid PNG of side x side gray zeros (a few hundred KB, gigapixels decoded)."""
    raw = zlib.compressobj(9)
    row = b"\0" + bytes(side)
    body = b"".join(raw.compress(row) for _ in range(side)) + raw.flush()
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + ihdr + _chunk(b"IDAT", body) + _chunk(b"IEND", b""))
    return path


def _formats(d: Path, rgb: np.ndarray) -> list[Attack]:
    im = Image.fromarray(rgb)
    wh = im.size
    gray = im.convert("L")
    made = {
        "tiff_gray8": (gray, "tif", {}), "tiff_gray16": (Image.fromarray((np.asarray(gray, np.uint16) * 257)), "tif",
                                                         {}),
        "tiff_float": (Image.fromarray(np.asarray(gray, np.float32) / 255), "tif", {}),
        "tiff_int32": (gray.convert("I"), "tif", {}), "tiff_cmyk": (im.convert("CMYK"), "tif", {}),
        "tiff_palette": (im.convert("P"), "tif", {}), "tiff_rgba": (im.convert("RGBA"), "tif", {}),
        "tiff_1bit": (gray.convert("1"), "tif", {}), "tiff_la": (im.convert("LA"), "tif", {}),
        "tiff_lzw": (im, "tif", {"compression": "tiff_lzw"}), "tiff_ycbcr_jpeg": (im, "tif", {"compression": "jpeg"}),
        "jpeg_cmyk": (im.convert("CMYK"), "jpg", {}), "jpeg_gray": (gray, "jpg", {}),
        "jpeg_progressive": (im, "jpg", {"progressive": True}), "png_palette": (im.convert("P"), "png", {}),
        "png_rgba": (im.convert("RGBA"), "png", {}), "png_la": (im.convert("LA"), "png", {}),
        "png_1bit": (gray.convert("1"), "png", {}), "bmp": (im, "bmp", {}), "webp": (im, "webp", {}),
        "ppm": (im, "ppm", {}), "gif_single": (im, "gif", {}),
    }
    attacks = []
    for name, (img, ext, kw) in made.items():
        path = d / f"{name}.{ext}"
        img.save(path, **kw)
        attacks.append(Attack(name, [path], "accept", wh))
    nan = np.asarray(gray, np.float32) / 255
    nan[3:9, 3:9] = np.nan
    Image.fromarray(nan).save(d / "tiff_float_nan.tif")
    attacks.append(Attack("tiff_float_nan", [d / "tiff_float_nan.tif"], "either", wh))
    Image.fromarray(np.asarray(gray, np.float32) / 25).save(d / "tiff_float_hdr.tif")  # values up to ~10
    attacks.append(Attack("tiff_float_hdr", [d / "tiff_float_hdr.tif"], "either", wh))
    frames = [Image.fromarray(smooth_image(40, 52, s)) for s in range(3)]
    frames[0].save(d / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    frames[0].save(d / "multipage.tif", save_all=True, append_images=frames[1:])
    attacks += [Attack("gif_animated", [d / "animated.gif"], "accept", wh),
                Attack("tiff_multipage", [d / "multipage.tif"], "accept", wh)]
    try:
        import cv2

        cv2.imwrite(str(d / "png_rgb16.png"), (rgb[..., ::-1].astype(np.uint16) * 257))
        attacks.append(Attack("png_rgb16", [d / "png_rgb16.png"], "accept", wh))
    except ImportError:
        pass
    return attacks


def _broken(d: Path, rgb: np.ndarray, good_png: Path, good_jpg: Path) -> list[Attack]:
    attacks = []
    for src, offsets in ((good_png, (8, 16, 33, 60, 200, 0.5, 0.9, -12)), (good_jpg, (2, 20, 150, 0.3, 0.6, -2))):
        data = src.read_bytes()
        for off in offsets:
            cut = int(off * len(data)) if isinstance(off, float) else (off if off > 0 else len(data) + off)
            p = d / f"trunc_{cut}_{src.name}"
            p.write_bytes(data[:cut])
            # a file cut after its last pixel may decode: then it must give the whole image's result
            attacks.append(Attack(f"truncated_{src.suffix[1:]}_at_{cut}", [p], "either", exact=True))
    flipped = bytearray(good_png.read_bytes())
    flipped[len(flipped) // 2] ^= 0xFF
    (d / "crc_broken.png").write_bytes(bytes(flipped))
    attacks.append(Attack("png_idat_byte_flipped", [d / "crc_broken.png"], "refuse"))
    (d / "huge_dims.png").write_bytes(_png_declaring(100000, 100000))
    (d / "zero_dims.png").write_bytes(_png_declaring(0, 0))
    (d / "empty.png").write_bytes(b"")
    (d / "text.png").write_text("not an image\n")
    (d / "random.jpg").write_bytes(np.random.default_rng(0).bytes(5000))
    (d / "page.jpg").write_text("<html><body>hello</body></html>")
    (d / "vector.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>')
    attacks += [Attack("bomb_20000x20000_png", [_bomb(d / "bomb.png")], "refuse"),
                Attack("declared_100000x100000", [d / "huge_dims.png"], "refuse"),
                Attack("declared_0x0", [d / "zero_dims.png"], "refuse"),
                Attack("zero_byte_png", [d / "empty.png"], "refuse"), Attack("text_as_png", [d / "text.png"], "refuse"),
                Attack("random_bytes_as_jpg", [d / "random.jpg"], "refuse"),
                Attack("html_as_jpg", [d / "page.jpg"], "refuse"), Attack("svg", [d / "vector.svg"], "refuse"),
                Attack("missing_file", [d / "nope.png"], "refuse"),
                Attack("over_max_pixels", [good_png], "refuse", args=["--max-pixels", "100"])]
    return attacks


def _shapes(d: Path, rgb: np.ndarray, good_png: Path) -> list[Attack]:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 on display
    im = Image.fromarray(rgb)
    im.save(d / "rotated.jpg", exif=exif)
    big = Image.Exif()
    big[0x9286] = b"ASCII\0\0\0" + b"c" * 65000  # UserComment near the 64 KB APP1 limit
    im.save(d / "exif_64k.jpg", exif=big)
    _png(rgb, d / "png_named.jpg", format="PNG")
    (d / "dir.png").mkdir(exist_ok=True)
    uni = d / "ünï cødé name.png"
    _png(rgb, uni)
    return [Attack("one_pixel", [_png(rgb[:1, :1], d / "1x1.png")], "accept", (1, 1)),
            Attack("one_row", [_png(rgb[:1], d / "1xN.png")], "accept", (rgb.shape[1], 1)),
            Attack("one_column", [_png(rgb[:, :1], d / "Nx1.png")], "accept", (1, rgb.shape[0])),
            Attack("extreme_aspect_3x4000", [_png(np.tile(rgb[:3, :40], (1, 100, 1)), d / "wide.png")], "accept",
                   (4000, 3)),
            Attack("exif_rotated", [d / "rotated.jpg"], "accept", (rgb.shape[0], rgb.shape[1])),
            Attack("exif_near_64KB", [d / "exif_64k.jpg"], "accept", (rgb.shape[1], rgb.shape[0])),
            Attack("png_with_jpg_extension", [d / "png_named.jpg"], "accept", (rgb.shape[1], rgb.shape[0])),
            Attack("folder_named_png", [d / "dir.png"], "refuse"),
            Attack("unicode_name", [uni], "accept", (rgb.shape[1], rgb.shape[0]))]


def _places(d: Path, rgb: np.ndarray, good_png: Path) -> list[Attack]:
    (d / "a_file").write_text("x")
    a, b = d / "twin_a", d / "twin_b"
    for f in (a, b):
        f.mkdir(exist_ok=True)
        _png(rgb, f / "same.png")
    mixed = d / "mixed"
    mixed.mkdir(exist_ok=True)
    _png(rgb, mixed / "good.png")
    (mixed / "bad.png").write_bytes(good_png.read_bytes()[:100])
    eio = d / "read_fails.png"  # root reads any mode bits; /proc/1/mem is a file whose read() fails (EIO)
    eio.unlink(missing_ok=True)
    eio.symlink_to("/proc/1/mem")
    locked = d / "mode_000.png"
    _png(rgb, locked)
    locked.chmod(0)
    (d / "loop.png").unlink(missing_ok=True)
    (d / "loop.png").symlink_to(d / "loop.png")
    wh = (rgb.shape[1], rgb.shape[0])
    return [Attack("out_is_a_file", [good_png], "refuse", out=d / "a_file"),
            Attack("out_below_a_file", [good_png], "refuse", out=d / "a_file" / "sub"),
            Attack("two_inputs_same_name", [a / "same.png", b / "same.png"], "refuse"),
            Attack("out_is_input_folder", [good_png], "accept", wh, out=good_png.parent),
            Attack("folder_with_one_bad_file", [mixed], "either", wh),
            Attack("unreadable_read_fails_EIO", [eio], "refuse"),
            Attack("mode_000_as_root_reads_it", [locked], "accept", wh),
            Attack("symlink_loop_input", [d / "loop.png"], "refuse")]


def _mounted(d: Path, name: str, options: str) -> Path | None:
    """A fresh tmpfs at d/name mounted with `options`, None where mounting is not allowed."""
    where = d / name
    where.mkdir(exist_ok=True)
    subprocess.run(["umount", str(where)], capture_output=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    return where if r.returncode == 0 else None


def _digests(paths: list[Path]) -> dict[Path, str]:
    out = {}
    for root in paths:
        for p in ([root] if root.is_file() else sorted(root.rglob("*")) if root.is_dir() else []):
            if p.is_file() and not p.is_symlink():
                out[p] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _judge(a: Attack, r, out: Path, before: dict, refs: dict) -> tuple[str, str]:
    bad = failure(r)
    if bad:
        return bad
    changed = [p.name for p, h in before.items() if not p.is_file() or hashlib.sha256(p.read_bytes()).hexdigest() != h]
    if changed:
        return "wrong", f"input overwritten or removed: {changed}"
    beside_inputs = out in [i.parent for i in a.inputs]
    made = sorted(out.glob("*_deblurred*")) if beside_inputs else \
        sorted(p for p in out.rglob("*") if p.is_file()) if out.is_dir() else []
    partial = [p.name for p in made if p.name.startswith(".") or ".tmp" in p.name or "partial" in p.name]
    if partial:
        return "wrong", f"temporary file left behind: {partial}"
    if a.expect == "refuse" or (a.expect == "either" and r.rc != 0):
        kind, why = clean_error(r)
        if kind == "ok" and made and a.expect == "refuse":
            return "wrong", f"refused but wrote {[p.name for p in made]}"
        if a.name == "folder_with_one_bad_file" and kind == "ok":
            if r.rc != 1 or [p.name for p in made] != ["good.png"] or "bad.png" not in r.err:
                return "wrong", f"exit {r.rc}, wrote {[p.name for p in made]}; bad file named: {'bad.png' in r.err}"
        return kind, why
    if r.rc != 0:
        return "wrong", f"refused an image it should read: exit {r.rc}: {last_line(r.err)}"
    if len(made) != 1:
        return "wrong", f"exit 0 but {len(made)} output files"
    ref = refs.get(a.inputs[0].suffix) if a.exact else None
    problem = image_ok(made[0], ref, min_psnr=45)
    if problem:
        return "wrong", problem
    with Image.open(made[0]) as im:
        if a.size and im.size != a.size:
            return "wrong", f"output is {im.size[0]}x{im.size[1]}, expected {a.size[0]}x{a.size[1]}"
    return "ok", f"wrote {made[0].name}"


def _one(a: Attack, model: Path, scratch: Path, refs: dict) -> Case:
    def check():
        out = a.out or scratch / a.name
        if a.out is None:
            shutil.rmtree(out, ignore_errors=True)
        before = _digests(a.inputs)
        r = cli("deblur", *a.inputs, "-m", model, "-o", out, *a.args, timeout=60)
        return _judge(a, r, out, before, refs)

    return timed(AREA, a.name, check)


def run_area(work: Path, only: set[str] | None = None) -> list[Case]:
    d = work / "images"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    rgb = smooth_image(40, 52, seed=5)
    good_png, good_jpg = _png(rgb, d / "good.png"), d / "good.jpg"
    Image.fromarray(rgb).save(good_jpg, quality=90)
    wh = (rgb.shape[1], rgb.shape[0])
    attacks = [Attack("good_png", [good_png], "accept", wh), Attack("good_jpg", [good_jpg], "accept", wh)]
    attacks += _formats(d, rgb) + _broken(d, rgb, good_png, good_jpg) + _shapes(d, rgb, good_png)
    attacks += _places(d, rgb, good_png)
    readonly = _mounted(d, "readonly", "ro,size=1m")
    full = _mounted(d, "full", "size=12k")
    noise = np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    if readonly:
        attacks.append(Attack("out_on_read_only_fs", [good_png], "refuse", out=readonly))
    if full:
        attacks.append(Attack("disk_full", [_png(noise, d / "noise.png")], "refuse", out=full))
    model, refs = tiny_exports(work)["int8"], {}
    try:
        cases = [_one(a, model, work / "runs_images", refs) for a in attacks[:2]]
        for a, suffix in zip(attacks[:2], (".png", ".jpg")):
            with Image.open(work / "runs_images" / a.name / a.inputs[0].name) as im:
                refs[suffix] = np.asarray(im.convert("RGB"), np.float32) / 255
        return cases + [_one(a, model, work / "runs_images", refs) for a in attacks[2:]
                        if only is None or a.name in only]
    finally:
        for m in (readonly, full):
            if m:
                subprocess.run(["umount", str(m)], capture_output=True)
