"""Decoding image files into upright RGB pictures plus the metadata the file carries.

Every failure becomes an `ImageDecodeError` with a short human-readable `reason`, so the indexer can record
"skipped: <reason>" and carry on. Large JPEGs are decoded at reduced scale by libjpeg itself (`draft`),
several times faster than a full decode followed by a resize. Every other format is converted to RGB band
by band while it is reduced, so the memory a decode takes is bounded by the file's own pixels (one byte
each for 1-bit, grey and palette pictures) plus the reduced result, never by an RGB copy at full size.
"""

from __future__ import annotations

import functools
import io
import math
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, TypeAlias

import numpy as np
from PIL import Image, UnidentifiedImageError
from PIL.JpegImagePlugin import JpegImageFile

from pixseek.imageio.files import HEIF_AVAILABLE
from pixseek.records import ImageMeta

Source: TypeAlias = str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes]

# EXIF tags (TIFF/EXIF 2.3 numbering).
_ORIENTATION = 0x0112
_MAKE = 0x010F
_MODEL = 0x0110
_DATETIME = 0x0132
_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_DATETIME_ORIGINAL = 0x9003
_OFFSET_TIME_ORIGINAL = 0x9011
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 1, 2, 3, 4

# EXIF orientation -> the transpose that makes the picture upright (same table as ImageOps.exif_transpose).
_UPRIGHT: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPS_AXES = frozenset({5, 6, 7, 8})

# MPO is how many cameras and phones write .jpg files (a JPEG plus extra pictures); DIB is BMP's sibling.
_DECODE_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "DIB", "TIFF", "HEIF")

_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})

# Longer side : shorter side beyond which a file is refused. What real pictures reach: 360-degree
# cylindrical panoramas ~8-10:1, receipt and film-strip scans 6-20:1, phone scrolling screenshots and
# web-comic strips 20-40:1. A picture 50 times longer than wide is a line of pixels, not a photo, and
# every analyzer would have to blow its short side up to see anything (a 1 x 100000 PNG of 475 bytes
# took 20 GB before this check).
MAX_ASPECT_RATIO = 50
# Pixels converted to RGB at once while reducing: bounds the conversion's memory (~4 MB of RGB).
_BAND_PIXELS = 1_000_000


class ImageDecodeError(Exception):
    """A file that could not be turned into a picture; `reason` says why in a few words."""

    def __init__(self, reason: str, path: str | None = None) -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.reason = reason
        self.path = path


@dataclass
class DecodedImage:
    image: Image.Image  # RGB, upright; shorter side >= min_side unless the original is smaller
    meta: ImageMeta  # describes the ORIGINAL file (full size after orientation), not `image`


def load_image(source: Source, min_side: int = 256, *, longer: bool = False) -> DecodedImage:
    """Decode `source` (a path, the file's contents as bytes, or a binary file object) for analysis.

    The result is RGB and upright; transparency is composited on white. Large images are reduced cheaply
    (JPEG DCT scaling, then an integer box reduction) to a shorter side in [min_side, 2 * min_side) —
    callers resize precisely themselves. `longer=True`: the same for the longer side (a thumbnail).
    `min_side <= 0` keeps the full resolution.
    Raises ImageDecodeError (also for shapes beyond MAX_ASPECT_RATIO).
    """
    return _decode(source, min_side, longer=longer)


def open_original(source: Source) -> Image.Image:
    """The full-resolution picture, upright RGB (for analyzers that need detail: faces, OCR).

    Raises ImageDecodeError.
    """
    return _decode(source, 0, want_meta=False).image


# --- decoding ----------------------------------------------------------------------------------------------


def _decode(source: Source, min_side: int, want_meta: bool = True, longer: bool = False) -> DecodedImage:
    name = _source_name(source)
    with _opened(source, name) as fp, _pil_warnings():
        formats = _open_formats(_starts_like_iso_media(fp))
        try:
            im = Image.open(fp, formats=formats)
        except UnidentifiedImageError:
            raise ImageDecodeError("not an image (unrecognised format)", name) from None
        except Image.DecompressionBombError as e:  # > 2x the limit: PIL refuses outright
            raise ImageDecodeError(_bomb_reason(e), name) from None
        except Image.DecompressionBombWarning as e:  # > the limit: PIL only warns; we refuse too
            raise ImageDecodeError(_bomb_reason(e), name) from None
        except MemoryError:
            raise ImageDecodeError("out of memory while opening image", name) from None
        except Exception as e:  # corrupt headers surface as anything: SyntaxError, struct.error, ValueError...
            raise ImageDecodeError(_failure_reason(e), name) from None
        # Not `with im`: closing would free the pixels when the result is `im` itself (an RGB original).
        # Paths are closed by _opened; the pixels are loaded by then.
        return _decode_opened(im, min_side, want_meta, name, longer)


def _decode_opened(
    im: Image.Image, min_side: int, want_meta: bool, name: str | None, longer: bool = False
) -> DecodedImage:
    is_jpeg = isinstance(im, JpegImageFile)  # includes MPO
    fmt = "JPEG" if is_jpeg else (im.format or "unknown")
    orig_w, orig_h = im.size  # before draft() changes it
    _check_pixel_limit(orig_w, orig_h, name)  # PIL's own check is a warning a caller's filter could hide
    _check_aspect_ratio(orig_w, orig_h, name)  # from the header alone, before any pixel is decoded
    if min_side > 0 and is_jpeg:
        # DCT scaling by 1/2, 1/4 or 1/8 keeps each side >= the request; asking for a square of min_side
        # constrains the shorter stored side, which stays the shorter side after any EXIF rotation.
        # For the longer side, the request is the picture's shape scaled so its longer side is min_side.
        if longer:
            scale = min_side / max(orig_w, orig_h)
            im.draft("RGB", (max(1, math.ceil(orig_w * scale)), max(1, math.ceil(orig_h * scale))))
        else:
            im.draft("RGB", (min_side, min_side))
    try:
        # Image.open leaves animations (GIF, WebP, APNG) and multi-page TIFFs on their first frame.
        im.load()  # full decode inside the try: truncated data fails here, not in a later analyzer
    except Image.DecompressionBombError as e:
        raise ImageDecodeError(_bomb_reason(e), name) from None
    except MemoryError:
        raise ImageDecodeError("out of memory while decoding image", name) from None
    except Exception as e:
        raise ImageDecodeError(_failure_reason(e), name) from None

    exif = _read_exif(im)
    orientation = _orientation(exif)
    try:
        factor = _reduce_factor(im.size, min_side, longer) if min_side > 0 else 1
        rgb = reduced_rgb(im, factor)
        if orientation in _UPRIGHT:
            rgb = rgb.transpose(_UPRIGHT[orientation])
    except MemoryError:
        raise ImageDecodeError("out of memory while converting image", name) from None
    except Exception as e:  # exotic modes that PIL cannot convert
        raise ImageDecodeError(f"unsupported image mode {im.mode!r}: {_describe(e)}", name) from None

    if orientation in _SWAPS_AXES:
        orig_w, orig_h = orig_h, orig_w
    if rgb is not im:
        _drop_orientation_metadata(rgb)
    meta = _meta(exif, orig_w, orig_h, fmt) if want_meta else ImageMeta(orig_w, orig_h, fmt)
    return DecodedImage(rgb, meta)


def _drop_orientation_metadata(im: Image.Image) -> None:
    """Forget the copied EXIF/XMP so a later ImageOps.exif_transpose cannot rotate the picture twice."""
    for key in [k for k in im.info if "exif" in k.lower() or "xmp" in k.lower()]:
        del im.info[key]


def reduce_to(im: Image.Image, min_side: int) -> Image.Image:
    """Box-reduce by an integer factor while keeping the shorter side >= min_side (cheap, no resampling)."""
    factor = min(im.size) // min_side
    return im.reduce(factor) if factor >= 2 else im


def _reduce_factor(size: tuple[int, int], min_side: int, longer: bool) -> int:
    return max(1, (max(size) if longer else min(size)) // min_side)


def reduced_rgb(im: Image.Image, factor: int) -> Image.Image:
    """`to_rgb(im)` box-reduced by `factor`, converted band by band: a 9000 x 9000 1-bit picture (81 MB
    as PIL holds it) never becomes the 324 MB of RGB a whole conversion makes. Bands are whole
    multiples of `factor` rows, so the result equals reducing the whole conversion."""
    if factor < 2:
        return to_rgb(im)
    if im.mode == "RGB":
        return im.reduce(factor)
    width, height = im.size
    gray_range = _gray_range(im)
    out = Image.new("RGB", (-(-width // factor), -(-height // factor)))
    band = max(1, _BAND_PIXELS // (width * factor)) * factor
    for top in range(0, height, band):
        part = to_rgb(im.crop((0, top, width, min(height, top + band))), gray_range)
        out.paste(part.reduce(factor), (0, top // factor))
    return out


def _check_aspect_ratio(width: int, height: int, name: str | None) -> None:
    if max(width, height) > MAX_ASPECT_RATIO * max(1, min(width, height)):
        raise ImageDecodeError(
            f"extreme aspect ratio: {width}x{height} pixels (more than {MAX_ASPECT_RATIO}:1)", name
        )


@contextmanager
def _opened(source: Source, name: str | None) -> Iterator[IO[bytes]]:
    """A seekable binary stream for `source`, with file-system errors turned into ImageDecodeError."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ImageDecodeError("empty file", name)
        yield io.BytesIO(source)
        return
    if hasattr(source, "read"):
        stream: IO[bytes] = source  # type: ignore[assignment]
        if not _seekable(stream):
            stream = io.BytesIO(stream.read())
        start = stream.tell()
        if not stream.read(1):
            raise ImageDecodeError("empty file", name)
        stream.seek(start)
        yield stream
        return
    try:
        f = open(os.fspath(source), "rb")  # type: ignore[arg-type]
    except FileNotFoundError:
        raise ImageDecodeError("file not found", name) from None
    except PermissionError:
        raise ImageDecodeError("permission denied", name) from None
    except IsADirectoryError:
        raise ImageDecodeError("is a directory", name) from None
    except OSError as e:
        raise ImageDecodeError(f"cannot read file: {e.strerror or e}", name) from None
    with f:
        if os.fstat(f.fileno()).st_size == 0:
            raise ImageDecodeError("empty file", name)
        yield f


def _seekable(stream: IO[bytes]) -> bool:
    try:
        return stream.seekable()
    except Exception:
        return False


def _source_name(source: Source) -> str | None:
    if isinstance(source, (str, os.PathLike)):
        return os.fsdecode(source)
    return getattr(source, "name", None) if hasattr(source, "read") else None


@contextmanager
def _pil_warnings() -> Iterator[None]:
    """Decompression-bomb warnings become errors; PIL's chatter about odd files ("Corrupt EXIF data") is muted.

    warnings.catch_warnings swaps process-global state: decoding is meant to run in worker processes (or
    one thread per process). `_check_pixel_limit` is the thread-safe backstop for the bomb check.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _check_pixel_limit(width: int, height: int, name: str | None) -> None:
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and width * height > limit:
        raise ImageDecodeError(f"decompression bomb: {width * height} pixels > limit {limit}", name)


def _bomb_reason(e: BaseException) -> str:
    # PIL: "Image size (200000000 pixels) exceeds limit of 178956970 pixels, could be decompression bomb ..."
    m = re.search(r"\((\d+) pixels\)", str(e))
    pixels = m.group(1) if m else "too many"
    return f"decompression bomb: {pixels} pixels > limit {Image.MAX_IMAGE_PIXELS}"


def _failure_reason(e: BaseException) -> str:
    if isinstance(e, OSError) and e.errno is not None:  # the disk failed us, not the file format
        return f"cannot read file: {e.strerror or e}"
    return f"truncated or corrupt image: {_describe(e)}"


def _describe(e: BaseException) -> str:
    text = str(e).strip()
    return f"{text}" if text else type(e).__name__


@functools.cache
def _register_heif() -> bool:
    """Register pillow_heif's HEIC/HEIF opener the first time a file may be one (its import is not free)."""
    if not HEIF_AVAILABLE:
        return False
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


def _starts_like_iso_media(fp: IO[bytes]) -> bool:
    """Whether the stream starts with an ISO base media `ftyp` box, as every HEIF/HEIC file does (and MP4)."""
    start = fp.tell()
    head = fp.read(12)
    fp.seek(start)
    return head[4:8] == b"ftyp"


@functools.cache
def _open_formats(iso_media: bool = False) -> tuple[str, ...]:
    """The PIL formats we let parse file contents: those of IMAGE_EXTENSIONS, whatever the file is named.

    Restricting Image.open keeps exotic parsers away from untrusted files (e.g. an EPS renamed .jpg would
    otherwise be handed to Ghostscript). HEIF is offered only for a file that starts like one
    (`iso_media`), which is all pillow_heif's own check accepts: importing it costs each analysis worker
    ~20 ms of CPU that a library without HEIC files never needs.
    """
    if iso_media:
        _register_heif()
    # The plugins of _DECODE_FORMATS, by name: Image.init() would import all of PIL's ~45 (~20 ms of
    # CPU in every worker process). Importing a plugin registers its formats.
    from PIL import (  # noqa: F401
        BmpImagePlugin, GifImagePlugin, JpegImagePlugin, MpoImagePlugin, PngImagePlugin, TiffImagePlugin,
        WebPImagePlugin,
    )

    return tuple(f for f in _DECODE_FORMATS if f in Image.OPEN)


# --- pixel modes -------------------------------------------------------------------------------------------


def to_rgb(im: Image.Image, gray_range: tuple[float, float] | None = None) -> Image.Image:
    """Convert any PIL mode to RGB: transparency on white, high-bit-depth grayscale scaled (not clipped).

    `gray_range`: the (min, max) of the whole picture when `im` is one band of an I or F picture."""
    mode = im.mode
    if mode == "RGB":
        return im
    if mode == "P":
        # Palette images may mark one index transparent (GIF) or carry per-entry alpha (PNG tRNS).
        return _on_white(im.convert("RGBA")) if "transparency" in im.info else im.convert("RGB")
    if mode in _ALPHA_MODES:
        return _on_white(im.convert("RGBA"))
    if mode in ("L", "1", "CMYK", "YCbCr", "RGBX"):
        return im.convert("RGB")
    if mode.startswith("I;16") or mode in ("I", "F"):
        # PIL's own I/F -> L conversion clips at 255, which turns 16-bit photos white.
        return Image.fromarray(_gray_to_uint8(np.asarray(im), mode, gray_range), "L").convert("RGB")
    return im.convert("RGB")  # LAB, HSV, ...: let PIL try; failure becomes "unsupported image mode"


def _gray_range(im: Image.Image) -> tuple[float, float] | None:
    """(min, max) of an I or F picture, which `_gray_to_uint8` scales by (None for other modes)."""
    if im.mode == "I":
        lo, hi = im.getextrema()  # type: ignore[misc]
        return float(lo), float(hi)
    if im.mode != "F":
        return None
    a = np.nan_to_num(np.asarray(im), nan=0.0, posinf=0.0, neginf=0.0)  # as _gray_to_uint8 treats them
    return (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)


def _gray_to_uint8(a: np.ndarray, mode: str, gray_range: tuple[float, float] | None = None) -> np.ndarray:
    """Scale wide grayscale to 0..255 by its nominal range: 16-bit for I;16, guessed for I and F (from
    `gray_range`, the whole picture's (min, max), when `a` is one band of it)."""
    if mode.startswith("I;16"):  # the file says 16 bits: a dark picture must stay dark
        return ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    a = np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if gray_range is not None:
        lo, hi = gray_range
    else:
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if mode == "F" and lo >= 0 and hi <= 1.0:
        scale, offset = 255.0, 0.0  # float image in [0, 1]
    elif lo >= 0 and hi <= 255:
        scale, offset = 1.0, 0.0  # 8-bit data stored wide
    elif lo >= 0 and hi <= 65535:
        scale, offset = 255.0 / 65535.0, 0.0  # 16-bit data
    else:
        scale, offset = 255.0 / (hi - lo), lo  # anything else: stretch to the full range
    return np.clip(np.rint((a - offset) * scale), 0, 255).astype(np.uint8)


def _on_white(rgba: Image.Image) -> Image.Image:
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


# --- metadata ----------------------------------------------------------------------------------------------


def _read_exif(im: Image.Image) -> Image.Exif | None:
    try:
        return im.getexif()
    except Exception:  # corrupt EXIF blocks must not cost us the picture
        return None


def _orientation(exif: Image.Exif | None) -> int:
    try:
        value = int(exif.get(_ORIENTATION, 1)) if exif is not None else 1
    except Exception:
        return 1
    return value if 1 <= value <= 8 else 1


def _meta(exif: Image.Exif | None, width: int, height: int, fmt: str) -> ImageMeta:
    meta = ImageMeta(width=width, height=height, format=fmt)
    if exif is None:
        return meta
    exif_ifd = _get_ifd(exif, _EXIF_IFD)
    meta.taken_at = _exif_datetime(exif_ifd.get(_DATETIME_ORIGINAL), exif_ifd.get(_OFFSET_TIME_ORIGINAL))
    if meta.taken_at is None:
        meta.taken_at = _exif_datetime(exif.get(_DATETIME), None)
    meta.camera_make = _exif_text(exif.get(_MAKE))
    meta.camera_model = _exif_text(exif.get(_MODEL))
    meta.gps_lat, meta.gps_lon = _gps(_get_ifd(exif, _GPS_IFD))
    return meta


def _get_ifd(exif: Image.Exif, tag: int) -> dict[int, Any]:
    try:
        ifd = exif.get_ifd(tag)
        return ifd if isinstance(ifd, dict) else {}
    except Exception:
        return {}


def _exif_text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    text = value.replace("\x00", " ").strip()
    return text or None


_DATETIME_RE = re.compile(r"(\d{4})[:\-/.](\d{1,2})[:\-/.](\d{1,2})[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?")
_OFFSET_RE = re.compile(r"^[+-](?:[01]\d|2[0-3]):[0-5]\d$")


def _exif_datetime(value: Any, offset: Any) -> str | None:
    """EXIF "YYYY:MM:DD HH:MM:SS" (+ optional "+HH:MM" offset) -> ISO 8601; blanks/zeros/garbage -> None."""
    text = _exif_text(value)
    m = _DATETIME_RE.match(text) if text else None
    if m is None:
        return None
    try:
        dt = datetime(*(int(g) if g is not None else 0 for g in m.groups()))  # type: ignore[misc]
    except ValueError:  # "0000:00:00 00:00:00", month 13, ...
        return None
    iso = dt.isoformat()
    tz = _exif_text(offset)
    return iso + tz if tz and _OFFSET_RE.match(tz) else iso


def _gps(gps: dict[int, Any]) -> tuple[float | None, float | None]:
    """Signed decimal degrees, or (None, None) unless both coordinates are present and plausible."""
    lat = _gps_coordinate(gps.get(_GPS_LAT), gps.get(_GPS_LAT_REF), "S", 90.0)
    lon = _gps_coordinate(gps.get(_GPS_LON), gps.get(_GPS_LON_REF), "W", 180.0)
    if lat is None or lon is None or (lat == 0.0 and lon == 0.0):  # 0/0: cameras without a fix write zeros
        return None, None
    return lat, lon


def _gps_coordinate(value: Any, ref: Any, negative_ref: str, limit: float) -> float | None:
    try:
        parts = [float(v) for v in (value if isinstance(value, (tuple, list)) else (value,))]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not 1 <= len(parts) <= 3 or not all(math.isfinite(p) and p >= 0 for p in parts):
        return None  # IFDRational with denominator 0 comes out as nan
    degrees = sum(p / 60.0**i for i, p in enumerate(parts))
    if degrees > limit:
        return None
    ref_text = (_exif_text(ref) or "").upper()
    return -degrees if ref_text.startswith(negative_ref) else degrees
