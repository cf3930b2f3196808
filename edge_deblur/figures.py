"""Figures made with Pillow only (no matplotlib), so they work on a device install: before/after grids."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from edge_deblur._io import atomic_path
from edge_deblur.errors import ImageError
from edge_deblur.images import to_uint8
from edge_deblur.integrity import MIN_TILE as MIN_SIDE  # the smallest crop, long side and photo side of a grid


def _label(tile, text: str):
    """Draw `text` on a dark band at the top of a PIL image, in a smaller font (down to 9 px) where 13 px would not
    fit the tile's width."""
    from PIL import ImageDraw, ImageFont

    draw = ImageDraw.Draw(tile)
    for size in range(13, 8, -1):
        try:
            font = ImageFont.load_default(size=size)  # Pillow >= 10.1 with FreeType: a scalable font
        except TypeError:
            font = ImageFont.load_default()
        box = draw.textbbox((4, 2), text, font=font)
        if box[2] + 4 <= tile.width:
            break
    draw.rectangle((0, 0, box[2] + 4, box[3] + 3), fill=(0, 0, 0))
    draw.text((4, 2), text, fill=(255, 255, 255), font=font)
    return tile


def before_after_grid(rows: Sequence[Sequence[tuple[np.ndarray, str]]], path: str | os.PathLike,
                      gap: int = 4) -> Path:
    """Save a grid of labelled images: one row per example, one column per version (e.g. input | output).

    Args:
        rows: for each row, a sequence of (image float [0,1] or uint8 HxWx3, label) tiles of equal height.
        path: PNG (or JPEG) file to write, atomically.
        gap: white pixels between tiles.

    Returns:
        The path written.
    """
    from PIL import Image

    tiles = [[_label(Image.fromarray(to_uint8(img)), text) for img, text in row] for row in rows]
    width = max(sum(t.width for t in row) + gap * (len(row) - 1) for row in tiles)
    height = sum(max(t.height for t in row) for row in tiles) + gap * (len(tiles) - 1)
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    y = 0
    for row in tiles:
        x = 0
        for t in row:
            canvas.paste(t, (x, y))
            x += t.width + gap
        y += max(t.height for t in row) + gap
    path = Path(path)
    fmt = grid_format(path)
    with atomic_path(path) as tmp:
        canvas.save(tmp, format=fmt, optimize=True)
    return path


def grid_format(path: Path) -> str:
    """'PNG' or 'JPEG' from the file name of a grid.

    Raises:
        ImageError: any other suffix (a PNG written under `grid.txt` would be silently wrong).
    """
    formats = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
    if path.suffix.lower() not in formats:
        raise ImageError(f"{path}: a grid is written as PNG or JPEG; give a .png or .jpg file name")
    return formats[path.suffix.lower()]


def _check_grid(inputs: Sequence, path: Path, long_side: int | None, crop: int, overwrite: bool) -> None:
    """Refuse, before any work, what would make no grid or a degenerate one, or overwrite a file unasked."""
    grid_format(path)
    if not inputs:
        raise ImageError("no photos for the grid")
    if crop < MIN_SIDE:
        raise ImageError(f"--crop {crop}: the window shown must be at least {MIN_SIDE} px")
    if long_side is not None and long_side < MIN_SIDE:
        raise ImageError(f"--long-side {long_side}: must be 0 (native size) or at least {MIN_SIDE} px")
    if any(Path(p).resolve() == path.resolve() for pair in inputs for p in pair if p is not None):
        raise ImageError(f"{path} is one of the photos: nothing written (inputs are never overwritten)")
    if path.is_dir():
        raise ImageError(f"{path} is a folder; give the grid's file name")
    if path.exists() and not overwrite:
        raise ImageError(f"{path} already exists: nothing written (pass --overwrite to replace it)")


def _detail_crop(img: np.ndarray, crop: int) -> tuple[int, int]:
    """Top-left corner of the crop x crop window with the most edge energy (where sharpening shows)."""
    gray = img.mean(axis=2)
    energy = np.abs(np.diff(gray, axis=0))[:, :-1] + np.abs(np.diff(gray, axis=1))[:-1, :]
    best, where = -1.0, (0, 0)
    step = max(crop // 4, 1)
    for y in range(0, max(energy.shape[0] - crop, 0) + 1, step):
        for x in range(0, max(energy.shape[1] - crop, 0) + 1, step):
            e = float(energy[y : y + crop, x : x + crop].mean())
            if e > best:
                best, where = e, (y, x)
    return where


def deblur_grid(inputs: Sequence[tuple[str | os.PathLike, str | os.PathLike | None]], path: str | os.PathLike,
                model: str | os.PathLike | None = None, long_side: int | None = 640, crop: int = 224,
                num_threads: int | None = None, scale: float | str | None = None, passes: int = 1, views: int = 1,
                reference_label: str = "sharp shot (not aligned)", overwrite: bool = False) -> Path:
    """Before/after grid of real photos: input | model output (| the sharp reference photo, when given).

    Photos are optionally shrunk to `long_side` (None keeps them at native size, so the crops are 100% crops),
    deblurred with the exported model (at `scale`, see `edge_deblur.multiscale`), and a `crop` x `crop` window
    with the most detail is shown at 1:1.

    Args:
        inputs: (blurred photo, optional sharp reference photo) paths.
        path: the grid file, .png or .jpg (anything else is refused before any work).
        model: .tflite file; None for the bundled int8 model.
        long_side: largest working resolution (long side, px); None for native size.
        crop: side of the window shown.
        num_threads: interpreter threads.
        scale: processing scale, 'auto' or a number in (0, 1]; None processes at the working resolution.
        passes: 1, or 2 for the coarse second pass on large blur (see `Deblurrer`).
        views: 1, or 2/4/8 mirrored and transposed copies restored and averaged (see `Deblurrer`).
        reference_label: label of the third column.
        overwrite: replace an existing file at `path`.

    Returns:
        The path written.

    Raises:
        ImageError: no inputs, a crop or long side under `MIN_SIDE` px, `path` is an input, exists (without
            `overwrite`) or is not .png/.jpg (all before any work); a photo that cannot be read or is smaller than
            `MIN_SIDE` px a side.
    """
    from edge_deblur.images import read_image, resize
    from edge_deblur.multiscale import resolve_scale
    from edge_deblur.runtime import Deblurrer

    _check_grid(inputs, Path(path), long_side, crop, overwrite)
    deblurrer = Deblurrer(model, num_threads=num_threads, scale=scale, passes=passes, views=views)
    rows = []
    stems = [Path(b).stem for b, _ in inputs]
    how = ((", 2 passes" if deblurrer.passes == 2 else "")
           + (f", {deblurrer.views} views" if deblurrer.views > 1 else ""))
    for blurred_path, sharp_path in inputs:
        img = read_image(blurred_path)
        shrink = 1.0 if long_side is None else min(1.0, long_side / max(img.shape[:2]))  # never enlarge
        h, w = round(img.shape[0] * shrink), round(img.shape[1] * shrink)
        if min(h, w) < MIN_SIDE:
            raise ImageError(f"{blurred_path}: {w}x{h} px{' after shrinking' if shrink < 1 else ''}, too small for a "
                             f"grid (at least {MIN_SIDE} px a side)" + ("; --long-side 0 keeps its native size"
                                                                        if shrink < 1 else ""))
        img = resize(img, h, w) if shrink < 1 else img
        s = resolve_scale(scale, h, w)  # for the label: the deblurrer runs at that scale itself
        out = deblurrer(img)
        c = min(crop, h, w)
        y, x = _detail_crop(out, c)
        p = Path(blurred_path)
        name = p.stem if stems.count(p.stem) == 1 else p.name
        at = "" if s >= 1 else f" (run at {s:.2f}x)"
        row = [(img[y : y + c, x : x + c], f"input {name}"),
               (out[y : y + c, x : x + c], f"{deblurrer.precision} output{how}{at}")]
        if sharp_path is not None:
            ref = read_image(sharp_path)
            ref = resize(ref, h, w) if ref.shape[:2] != (h, w) else ref
            row.append((ref[y : y + c, x : x + c], reference_label))
        rows.append(row)
    return before_after_grid(rows, path)
