"""Image I/O. In memory an image is float32 RGB, HWC, values in [0, 1]; on disk it is 8-bit sRGB.

Readers handle EXIF orientation, 16-bit, grayscale, palette and RGBA files, and turn anything unreadable into an
`ImageError` naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edge_deblur._io import atomic_path
from edge_deblur.errors import ImageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")


def is_image_file(path: str | os.PathLike) -> bool:
    """True if `path` has an image suffix this module reads (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as float32 RGB in [0, 1], upright per its EXIF orientation.

    Args:
        path: a JPEG, PNG, TIFF, BMP or WebP file; 8- or 16-bit; gray, palette, RGB or RGBA (alpha is dropped
            by compositing on white).

    Returns:
        Array of shape (H, W, 3), dtype float32.

    Raises:
        ImageError: the file is missing, truncated, or not an image.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such image file")
    try:
        with Image.open(path) as im:
            im.load()
            im = ImageOps.exif_transpose(im)
            return _pil_to_float(im)
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file (or a format Pillow cannot read)") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise ImageError(f"{path}: cannot decode image ({e})") from None


def _pil_to_float(im) -> np.ndarray:
    """Convert a PIL image of any common mode to float32 RGB in [0, 1]."""
    from PIL import Image

    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im, dtype=np.float32)
        scale = 65535.0 if a.max(initial=0) > 255 or im.mode.startswith("I;16") else 255.0
        a = np.clip(a / scale, 0.0, 1.0)
        return np.repeat(a[..., None], 3, axis=2)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba)
    if im.mode == "RGB" and np.asarray(im).dtype == np.uint8:
        return np.asarray(im, dtype=np.float32) / 255.0
    if im.mode == "F":
        a = np.clip(np.asarray(im, dtype=np.float32), 0.0, 1.0)
        return np.repeat(a[..., None], 3, axis=2)
    return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Round a float image in [0, 1] to uint8 (values outside [0, 1] are clipped)."""
    if img.dtype == np.uint8:
        return img
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def to_float(img: np.ndarray) -> np.ndarray:
    """Return a float32 [0, 1] view of a uint8 or float image."""
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    return img.astype(np.float32, copy=False)


def write_image(path: str | os.PathLike, img: np.ndarray, quality: int = 95, exif: bytes | None = None) -> Path:
    """Write an RGB image (float [0, 1] or uint8) atomically as 8-bit; the format follows the suffix.

    Raises:
        ImageError: the array is not HxWx3 or the suffix is not a writable image format.
    """
    from PIL import Image

    path = Path(path)
    arr = np.asarray(img)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ImageError(f"{path}: expected an HxWx3 RGB array, got shape {arr.shape}")
    suffix = path.suffix.lower()
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP",
           ".webp": "WEBP"}.get(suffix)
    if fmt is None:
        raise ImageError(f"{path}: cannot write '{suffix}' files; use one of {', '.join(IMAGE_SUFFIXES)}")
    kwargs = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    if exif and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        kwargs["exif"] = exif
    with atomic_path(path) as tmp:
        Image.fromarray(to_uint8(arr)).save(tmp, format=fmt, **kwargs)
    return path


def resize(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a float image with area averaging when shrinking and bicubic when enlarging (Pillow, float mode)."""
    from PIL import Image

    if img.shape[:2] == (height, width):
        return img
    shrink = height < img.shape[0] and width < img.shape[1]
    method = Image.BOX if shrink else Image.BICUBIC
    chans = [np.asarray(Image.fromarray(img[..., c].astype(np.float32), mode="F").resize((width, height), method))
             for c in range(img.shape[2])]
    return np.clip(np.stack(chans, axis=2), 0.0, 1.0).astype(np.float32)
