"""What a decoded image file must be before it is deblurred: one still picture (not an animation or a multi-page
TIFF) with all of its image data (a PNG whose data stops early decodes without an error, its missing rows black)."""

from __future__ import annotations

import struct
from pathlib import Path

from edge_deblur.errors import ImageError

# formats whose extra frames are an animation; in MPO files (phone JPEGs with a preview or depth image) the first
# frame is the photo itself. TIFF pages are counted by `_tiff_pages`.
ANIMATED_FORMATS = ("GIF", "PNG", "WEBP")
_TIFF_NOT_A_PAGE = 0b101  # NewSubfileType (tag 254) bits: reduced-resolution copy (1), transparency mask (4)


def check_still(path: Path, im) -> None:
    """Refuse an animation or a multi-page TIFF: deblurring the first frame alone would silently drop the rest."""
    try:  # counting frames reads every frame's header: Pillow raises TypeError, too, for a broken one
        frames = getattr(im, "n_frames", 1)
        pages = _tiff_pages(im) if im.format == "TIFF" and frames > 1 else 1
    except (OSError, EOFError, SyntaxError, TypeError, ValueError, struct.error) as e:
        raise ImageError(f"{path}: cannot decode image (reading its list of frames: {str(e) or type(e).__name__})"
                         ) from None
    if im.format in ANIMATED_FORMATS and frames > 1:
        raise ImageError(f"{path}: an animated {im.format} ({frames} frames); only still images are read "
                         "(save the frames as separate images first)")
    if pages > 1:
        raise ImageError(f"{path}: a multi-page TIFF ({pages} pages); only single images are read (save the pages "
                         "as separate images first)")


def _tiff_pages(im) -> int:
    """Full-size pages of a TIFF: its frames less reduced-resolution copies (thumbnails) and transparency masks."""
    pages = 0
    for i in range(im.n_frames):
        im.seek(i)
        pages += not int(im.tag_v2.get(254, 0)) & _TIFF_NOT_A_PAGE
    im.seek(0)
    return pages


# Pillow's zlib decoder stops without an error where the compressed stream ends, even rows before the image does
# (its check "The image and the data should end simultaneously" is commented out), and leaves the missing rows
# black: https://github.com/python-pillow/Pillow/blob/main/src/libImaging/ZipDecode.c
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # per IHDR colour type
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_INFLATE_STEP = 1 << 22  # bytes of decompressed data held at once by `_png_data_size`


def check_png_rows(path: Path, im) -> None:
    """Refuse a decoded PNG whose compressed image data ended before its last row (see the comment above)."""
    w, h = im.size
    interlaced = bool(im.info.get("interlace"))
    if h >= 2:  # the row decoded last (Adam7: the last pass fills the odd rows) is all zero if missing (or black)
        row = h - 1 if not interlaced or (h - 1) % 2 else h - 2
        if any(im.crop((0, row, w, row + 1)).tobytes()):
            return
    need, got = _png_data_size(path)
    if got < need:
        raise ImageError(f"{path}: cannot decode image (truncated: its image data ends at {got / need:.0%} of the "
                         f"{w}x{h} pixels; the rest would be black)")


def _png_data_size(path: Path) -> tuple[int, int]:
    """(bytes the decompressed IDAT stream must hold per the IHDR, bytes it holds, counted up to the former)."""
    import zlib

    with open(path, "rb") as f:
        f.seek(16)
        w, h, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", f.read(13))
        need = _png_raw_size(w, h, depth * _PNG_CHANNELS.get(colour, 4), bool(interlace))
        f.seek(4, 1)  # IHDR's CRC
        z, got = zlib.decompressobj(), 0
        while got < need and not z.eof and len(head := f.read(8)) == 8:
            length, kind = struct.unpack(">I4s", head)
            if kind != b"IDAT":
                f.seek(length + 4, 1)
                continue
            data = f.read(length)
            f.seek(4, 1)
            while got < need:  # `max_length` bounds memory; an empty call drains what zlib still holds
                try:
                    out = z.decompress(data, _INFLATE_STEP)
                except zlib.error as e:
                    raise ImageError(f"{path}: cannot decode image (broken PNG data: {e})") from None
                got, data = got + len(out), z.unconsumed_tail
                if not data and len(out) < _INFLATE_STEP:
                    break
    return need, got


def _png_raw_size(w: int, h: int, bits: int, interlaced: bool) -> int:
    """Bytes of a PNG's decompressed image data: per row (of each Adam7 pass) a filter byte and the pixels."""
    total = 0
    for x0, y0, dx, dy in _ADAM7 if interlaced else ((0, 0, 1, 1),):
        cols, rows = -(-max(w - x0, 0) // dx), -(-max(h - y0, 0) // dy)
        if cols and rows:
            total += rows * (1 + (cols * bits + 7) // 8)
    return total
