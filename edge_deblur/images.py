"""Image I/O. In memory an image is float32 RGB, HWC, values in [0, 1]; on disk it is 8-bit sRGB.

Readers handle EXIF orientation, 16-bit, grayscale, palette, CMYK, float and RGBA files (transparency is composited
on white, with an `ImageWarning`), and turn anything unreadable, truncated or holding several pictures into an
`ImageError` naming the file. An image over the pixel limit (`pixel_limit`) is refused from its
header, before it is decoded. Writers turn I/O failures (read-only folder, full disk, a file where a folder should
be) into an `ImageError` and never leave a partial file.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from edge_deblur._io import atomic_path
from edge_deblur.errors import ImageError
from edge_deblur.image_checks import check_png_rows, check_still

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")

# Deblurring holds about 56 bytes per pixel at its peak (the decoded file, float32 input, padded copy, blend
# accumulators, output), measured: a 12 MP photo peaks at ~0.65 GB. 100 MP is ~5.6 GB, a quarter of a 24 GiB machine.
DEFAULT_MAX_PIXELS = 100_000_000
MAX_PIXELS_ENV = "EDGE_DEBLUR_MAX_PIXELS"
BYTES_PER_PIXEL = 56
_EXIF_STARTS = (b"Exif\0\0", b"II*\0", b"MM\0*")
_JPEG_MAX_EXIF = 65533  # one APP1 segment, "Exif\0\0" header included (Pillow's MAX_BYTES_IN_MARKER)
# IFD0 tags describing the photo (not the pixel layout); TIFF structure tags (sizes, strips, bit depths, colour
# map, photometric) of the source would describe a different file than the RGB one written
_KEPT_TAGS = (0x010E, 0x010F, 0x0110, 0x0112, 0x011A, 0x011B, 0x0128, 0x0131, 0x0132, 0x013B, 0x8298)
_SUB_IFDS = (0x8769, 0x8825)  # Exif and GPS
_SIZE_TAGS = (0xA002, 0xA003)  # PixelX/YDimension in the Exif IFD: wrong once the pixels are turned upright


class ImageWarning(UserWarning):
    """Something about an image was changed to read or write it (e.g. transparency composited on white, EXIF too
    large for a JPEG left out)."""


def pixel_limit(max_pixels: int | None = None) -> int:
    """The largest image (width x height) read: `max_pixels`, else $EDGE_DEBLUR_MAX_PIXELS, else 100 MP.

    Raises:
        ImageError: the environment variable is not a positive whole number.
    """
    if max_pixels is not None:
        return int(max_pixels)
    text = os.environ.get(MAX_PIXELS_ENV, "").strip().replace("_", "")
    if not text:
        return DEFAULT_MAX_PIXELS
    if not text.isdigit() or int(text) < 1:
        raise ImageError(f"{MAX_PIXELS_ENV}: expected a positive whole number, got '{text}'")
    return int(text)


def _check_pixels(path: Path, size: tuple[int, int], limit: int) -> None:
    """Refuse an image whose width x height exceeds `limit`, saying how much memory it would take."""
    w, h = size
    if w * h > limit:
        raise ImageError(f"{path}: {w}x{h} is {_pixels(w * h)}, over the limit of {_pixels(limit)} (deblurring it "
                         f"needs ~{w * h * BYTES_PER_PIXEL / 2**30:.2g} GiB); raise it with --max-pixels or "
                         f"{MAX_PIXELS_ENV}")


def _pixels(n: int) -> str:
    """'150 megapixels', or '3,000 pixels' for counts too small for megapixels to read well."""
    return f"{n / 1e6:.4g} megapixels" if n >= 100_000 else f"{n:,} pixels"


def is_image_file(path: str | os.PathLike) -> bool:
    """True if `path` has an image suffix this module reads (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def read_image(path: str | os.PathLike, max_pixels: int | None = None, keep_uint8: bool = False) -> np.ndarray:
    """Read an image file as float32 RGB in [0, 1], upright per its EXIF orientation.

    Transparency is not kept: an image with an alpha channel (RGBA, LA, or a palette with a transparent colour) is
    composited on white, as it would look on a white page, and the result is RGB; where some pixel is not fully
    opaque an `ImageWarning` says so (the CLI prints it). Deblurring composited pixels avoids smearing the
    arbitrary colours hidden under transparent pixels into visible ones; the results (JPEG, or PNG/TIFF/WebP
    written by `write_image`) carry no alpha channel.

    Args:
        path: a JPEG, PNG, TIFF, BMP or WebP file; 1-, 8- or 16-bit or float; gray, palette, RGB, CMYK or RGBA
            (alpha is dropped by compositing on white, see above). Of a phone JPEG holding several pictures (MPO)
            the first, the photo, is read; of a TIFF the one full-size page (thumbnails and masks are skipped).
        max_pixels: refuse images with more pixels (checked from the header, before decoding); None:
            `pixel_limit()` ($EDGE_DEBLUR_MAX_PIXELS or 100 MP).
        keep_uint8: return 8-bit RGB files (JPEGs, most PNGs) as uint8, without a float copy 4 times their size.

    Returns:
        Array of shape (H, W, 3), dtype float32 (or uint8, see `keep_uint8`).

    Raises:
        ImageError: the file is missing, truncated (also a PNG whose image data ends rows early), not an image,
            an animation (GIF, PNG or WebP with several frames), a multi-page TIFF, or over the pixel limit.

    Warns:
        ImageWarning: the image has transparency, which was composited on white.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    limit = pixel_limit(max_pixels)
    if not path.is_file():
        raise ImageError(f"{path}: no such image file")
    _quiet_pillow_bomb_warning()
    if Image.MAX_IMAGE_PIXELS is not None and 2 * Image.MAX_IMAGE_PIXELS < limit < 2**62:
        Image.MAX_IMAGE_PIXELS = limit // 2 + 1
    try:
        with Image.open(path) as im:
            _check_pixels(path, im.size, limit)
            check_still(path, im)
            im.load()
            if im.format == "PNG":
                check_png_rows(path, im)
            im = ImageOps.exif_transpose(im)
            if keep_uint8 and im.mode == "RGB":
                return np.asarray(im, dtype=np.uint8)
            return _pil_to_float(im, path)
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file (or a format Pillow cannot read)") from None
    except Image.DecompressionBombError as e:  # not an OSError
        raise ImageError(f"{path}: refused as a possible decompression bomb ({e})") from None
    except (OSError, ValueError, SyntaxError, MemoryError) as e:
        raise ImageError(f"{path}: cannot decode image ({str(e) or type(e).__name__})") from None


def _quiet_pillow_bomb_warning() -> None:
    """Silence Pillow's decompression-bomb warning: our pixel limit replaces it (its hard error, at twice its limit,
    stays). Added on every read, as `warnings.catch_warnings` blocks elsewhere may have reset the filters."""
    from PIL import Image

    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def _pil_to_float(im, path: Path | None = None) -> np.ndarray:
    """Convert a PIL image of any common mode to float32 RGB in [0, 1]; transparency is composited on white."""
    from PIL import Image

    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im, dtype=np.float32)
        scale = 65535.0 if a.max(initial=0) > 255 or im.mode.startswith("I;16") else 255.0
        a = np.clip(a / scale, 0.0, 1.0)
        return np.repeat(a[..., None], 3, axis=2)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        if rgba.getchannel("A").getextrema()[0] < 255:
            warnings.warn(f"{path or 'image'}: has transparency, composited on white (the result has no alpha "
                          "channel)", ImageWarning, stacklevel=3)
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba)
    if im.mode == "RGB" and np.asarray(im).dtype == np.uint8:
        return np.asarray(im, dtype=np.float32) / 255.0
    if im.mode == "F":
        a = np.nan_to_num(np.asarray(im, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        lo, hi = float(a.min(initial=0.0)), float(a.max(initial=0.0))
        if lo < -1e-3 or hi > 1 + 1e-3:  # clipping would turn an HDR or linear file into a white image
            raise ValueError(f"float pixel values span [{lo:.3g}, {hi:.3g}], expected [0, 1] (tone-map HDR data "
                             "to an 8- or 16-bit image first)")
        return np.repeat(np.clip(a, 0.0, 1.0)[..., None], 3, axis=2)
    return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def upright_exif(path: str | os.PathLike) -> bytes | None:
    """The file's descriptive EXIF (camera, dates, GPS, ...) with orientation 1, for writing upright pixels.

    TIFF structure tags of the source (size, bit depth, strips, colour map) are left out: they describe the source
    file, not the RGB image written. Returns None when the file has no EXIF or it cannot be read.
    """
    return source_tags(path)[0]


def source_tags(path: str | os.PathLike) -> tuple[bytes | None, bytes | None]:
    """(`upright_exif`, the RGB colour profile: see `_rgb_icc_of`) of a file, from one opening of it; (None, None)
    if it cannot be read."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return _upright_exif_of(im), _rgb_icc_of(im)
    except (OSError, ValueError, SyntaxError, TypeError, KeyError, Image.DecompressionBombError):
        return None, None


def _upright_exif_of(im) -> bytes | None:
    """See `upright_exif`; `im` is the open file."""
    from PIL import Image

    exif = im.getexif()
    if not exif:
        return None
    kept = Image.Exif()
    for tag in _KEPT_TAGS:
        if tag in exif:
            kept[tag] = exif[tag]
    for tag in _SUB_IFDS:
        ifd = {k: v for k, v in exif.get_ifd(tag).items() if k not in _SIZE_TAGS} if tag in exif else {}
        if ifd:
            kept[tag] = ifd
    if not len(kept):
        return None
    kept[0x0112] = 1
    return kept.tobytes()


def _rgb_icc_of(im) -> bytes | None:
    """The open file `im`'s ICC colour profile when it describes RGB data (a phone's Display P3, Adobe RGB, sRGB), to
    write with the result: its pixels stay in the source's colour space, so without the profile a viewer would show
    them as sRGB, with wrong colours. None for no profile, or one for data `read_image` converts (CMYK, gray)."""
    icc = im.info.get("icc_profile")
    rgb = im.mode in ("RGB", "RGBA", "RGBX", "RGBa", "P")
    # the profile header's data colour space (bytes 16-19) must be RGB; gray or CMYK profiles do not fit RGB output
    return icc if isinstance(icc, bytes) and rgb and len(icc) >= 128 and icc[16:20] == b"RGB " else None


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


def _writable_array(path: Path, img, quality: int, exif) -> np.ndarray:
    """`img` as an array write_image can store faithfully; ImageError for anything it would write wrongly."""
    arr = np.asarray(img)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ImageError(f"{path}: expected an HxWx3 RGB array, got shape {arr.shape}")
    if arr.dtype != np.uint8 and arr.dtype.kind != "f":
        raise ImageError(f"{path}: expected uint8 or float values in [0, 1], got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ImageError(f"{path}: expected finite values, the image holds NaN or infinity")
    if type(quality) is not int or not 1 <= quality <= 100:
        raise ImageError(f"{path}: quality must be an integer in [1, 100], got {quality!r}")
    if exif is not None and (not isinstance(exif, bytes) or not exif.startswith(_EXIF_STARTS)):
        raise ImageError(f"{path}: expected EXIF bytes (as from Image.getexif().tobytes()), got {exif[:12]!r}")
    return arr


def write_image(path: str | os.PathLike, img: np.ndarray, quality: int = 95, exif: bytes | None = None,
                icc_profile: bytes | None = None) -> Path:
    """Write an RGB image (float [0, 1] or uint8) atomically as 8-bit; the format follows the suffix.

    EXIF that does not fit a JPEG (one 64 KB segment) is left out with an `ImageWarning`. `icc_profile` (the
    source's, from `source_tags`) is embedded in JPEG, PNG, TIFF and WebP files; BMP cannot hold one.

    Raises:
        ImageError: the array is not HxWx3 uint8 or finite float, quality is outside [1, 100], `exif` is not an
            EXIF block, the suffix is not a writable image format, or the file cannot be
            written (read-only or missing folder, full disk, a file in the way); no partial file is left.
    """
    from PIL import Image

    path = Path(path)
    arr = _writable_array(path, img, quality, exif)
    suffix = path.suffix.lower()
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP",
           ".webp": "WEBP"}.get(suffix)
    if fmt is None:
        raise ImageError(f"{path}: cannot write '{suffix}' files; use one of {', '.join(IMAGE_SUFFIXES)}")
    kwargs = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    if exif and fmt == "JPEG" and len(exif) > _JPEG_MAX_EXIF:
        warnings.warn(f"{path}: EXIF of {len(exif):,} bytes does not fit a JPEG (at most {_JPEG_MAX_EXIF:,}); "
                      "written without it", ImageWarning, stacklevel=2)
        exif = None
    if exif and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        kwargs["exif"] = exif
    if icc_profile and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        kwargs["icc_profile"] = icc_profile
    try:
        with atomic_path(path) as tmp:
            Image.fromarray(to_uint8(arr)).save(tmp, format=fmt, **kwargs)
    except OSError as e:
        raise ImageError(f"{path}: cannot write ({e.strerror or e})") from None
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
