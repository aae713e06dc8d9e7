"""Tests for pixseek.imageio: file scanning, hashing, decoding and metadata, on real sample photos."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import struct
import tempfile
import traceback
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from matplotlib.cbook import get_sample_data
from PIL import Image, ImageOps
from PIL.TiffImagePlugin import IFDRational as R

from pixseek.imageio import decode, files
from pixseek.imageio.decode import (
    DecodedImage,
    ImageDecodeError,
    load_image,
    open_original,
)
from pixseek.imageio.files import IMAGE_EXTENSIONS, ScanRootError, scan, sha256_file
from pixseek.records import FileState, Skipped

SKIMAGE_DATA = Path(skimage.data.__file__).parent
HEIF = files.HEIF_AVAILABLE
T = Image.Transpose
NOBODY = 65534

# --- helpers and fixtures ----------------------------------------------------------------------------------


def sample(name: str) -> Image.Image:
    with Image.open(SKIMAGE_DATA / name) as im:
        return im.convert("RGB")


@pytest.fixture(scope="module")
def chelsea() -> Image.Image:
    return sample("chelsea.png")  # 451 x 300, landscape


@pytest.fixture(scope="module")
def coffee() -> Image.Image:
    return sample("coffee.png")  # 600 x 400, landscape


@pytest.fixture(scope="module")
def grace() -> Image.Image:
    with Image.open(get_sample_data("grace_hopper.jpg", asfileobj=False)) as im:
        return im.convert("RGB")  # 512 x 600, portrait


@pytest.fixture(scope="module")
def big_jpeg(tmp_path_factory: pytest.TempPathFactory, grace: Image.Image) -> Path:
    """A 12 MP (4000 x 3000) JPEG: Grace Hopper stretched to landscape, with grain so it codes like a photo."""
    im = grace.resize((4000, 3000), Image.Resampling.BILINEAR)
    noise = np.random.default_rng(0).integers(-12, 13, size=(3000, 4000, 1), dtype=np.int16)
    im = Image.fromarray(np.clip(np.asarray(im, dtype=np.int16) + noise, 0, 255).astype(np.uint8))
    path = tmp_path_factory.mktemp("big") / "12mp.jpg"
    im.save(path, quality=90)
    return path


def encode(im: Image.Image, fmt: str, **kwargs: object) -> bytes:
    if fmt == "HEIF":
        decode._register_heif()
    buf = io.BytesIO()
    im.save(buf, fmt, **kwargs)
    return buf.getvalue()


def diff(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute pixel difference (0..255) between two same-sized RGB images."""
    assert a.size == b.size, (a.size, b.size)
    return float(np.abs(np.asarray(a, np.int16) - np.asarray(b.convert("RGB"), np.int16)).mean())


def reason_of(source: object, **kwargs: object) -> str:
    with pytest.raises(ImageDecodeError) as info:
        load_image(source, **kwargs)  # type: ignore[arg-type]
    return info.value.reason


def exif_bytes(orientation: int | None = None, **fields: object) -> bytes:
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    for tag, value in fields.items():
        exif[{"make": 0x010F, "model": 0x0110, "datetime": 0x0132}[tag]] = value
    return exif.tobytes()


# --- formats -----------------------------------------------------------------------------------------------

FORMATS = [
    ("JPEG", ".jpg", {"quality": 95}, 4.0),
    ("PNG", ".png", {}, 0.0),
    ("WEBP", ".webp", {"quality": 95}, 4.0),
    ("BMP", ".bmp", {}, 0.0),
    ("TIFF", ".tif", {}, 0.0),
    ("GIF", ".gif", {}, 12.0),  # 256-colour palette
    pytest.param("HEIF", ".heic", {"quality": 90}, 5.0, marks=pytest.mark.skipif(not HEIF, reason="no pillow_heif")),
]


@pytest.mark.parametrize(("fmt", "ext", "kwargs", "tolerance"), FORMATS)
def test_each_format_decodes_to_rgb(
    tmp_path: Path, chelsea: Image.Image, fmt: str, ext: str, kwargs: dict, tolerance: float
) -> None:
    path = tmp_path / f"chelsea{ext}"
    path.write_bytes(encode(chelsea, fmt, **kwargs))
    assert ext in IMAGE_EXTENSIONS
    decoded = load_image(path)
    assert isinstance(decoded, DecodedImage)
    assert decoded.image.mode == "RGB"
    assert decoded.image.size == chelsea.size  # shorter side 300 < 2 * 256: nothing to reduce
    assert (decoded.meta.width, decoded.meta.height, decoded.meta.format) == (451, 300, fmt)
    assert diff(decoded.image, chelsea) <= tolerance
    assert diff(open_original(str(path)), chelsea) <= tolerance


def test_sample_jpegs_decode(grace: Image.Image) -> None:
    rocket = load_image(SKIMAGE_DATA / "rocket.jpg")
    assert rocket.meta.format == "JPEG" and rocket.image.mode == "RGB"
    assert rocket.image.size == (rocket.meta.width, rocket.meta.height) == (640, 427)
    hopper = load_image(get_sample_data("grace_hopper.jpg", asfileobj=False))
    assert (hopper.meta.width, hopper.meta.height) == (512, 600)
    assert hopper.image.size == (256, 300)  # DCT-scaled by 1/2: the shorter side is still >= 256
    assert diff(hopper.image, grace.reduce(2)) < 3
    assert diff(open_original(get_sample_data("grace_hopper.jpg", asfileobj=False)), grace) == 0


def test_bytes_and_file_objects(chelsea: Image.Image) -> None:
    data = encode(chelsea, "PNG")
    for source in (data, bytearray(data), memoryview(data), io.BytesIO(data)):
        assert diff(load_image(source).image, chelsea) == 0

    class Pipe(io.RawIOBase):  # a non-seekable stream, like a socket or stdin
        def __init__(self) -> None:
            self._inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray) -> int:  # type: ignore[override]
            return self._inner.readinto(b)

    assert not Pipe().seekable()
    assert diff(load_image(io.BufferedReader(Pipe())).image, chelsea) == 0


def test_animated_gif_and_webp_give_first_frame(chelsea: Image.Image, coffee: Image.Image) -> None:
    first = chelsea
    second = coffee.resize(chelsea.size)
    for fmt, tolerance in (("GIF", 12.0), ("WEBP", 0.0)):
        kwargs = {"lossless": True} if fmt == "WEBP" else {}
        data = encode(first, fmt, save_all=True, append_images=[second, first.transpose(T.ROTATE_180)], duration=100, **kwargs)
        with Image.open(io.BytesIO(data)) as check:
            assert getattr(check, "n_frames", 1) == 3
        image = load_image(data).image
        assert diff(image, first) <= tolerance < diff(image, second)


# --- pixel modes -------------------------------------------------------------------------------------------


def test_transparency_is_composited_on_white(chelsea: Image.Image) -> None:
    rgba = chelsea.convert("RGBA")
    alpha = Image.new("L", chelsea.size, 255)
    alpha.paste(0, (0, 0, 100, 100))  # fully transparent top-left corner
    alpha.paste(128, (200, 0, 300, 100))  # half transparent
    rgba.putalpha(alpha)
    for fmt in ("PNG", "WEBP", "TIFF"):
        image = load_image(encode(rgba, fmt, **({"lossless": True} if fmt == "WEBP" else {}))).image
        pixels = np.asarray(image)
        assert image.mode == "RGB"
        assert (pixels[:100, :100] == 255).all(), fmt
        half = pixels[:100, 200:300].astype(int)
        expected = (np.asarray(chelsea)[:100, 200:300].astype(int) * 128 + 255 * 127) / 255
        assert np.abs(half - expected).mean() < 2, fmt
        assert diff(image.crop((0, 150, 451, 300)), chelsea.crop((0, 150, 451, 300))) == 0

    la = chelsea.convert("L").convert("LA")
    la.putalpha(alpha)
    assert (np.asarray(load_image(encode(la, "PNG")).image)[:100, :100] == 255).all()


def test_palette_transparency_on_white(chelsea: Image.Image) -> None:
    p = chelsea.quantize(64)
    p.info["transparency"] = int(np.asarray(p)[0, 0])  # the colour of the top-left pixel is transparent
    for fmt in ("GIF", "PNG"):
        data = encode(p, fmt, transparency=p.info["transparency"])
        with Image.open(io.BytesIO(data)) as check:
            assert check.mode == "P" and "transparency" in check.info
        assert tuple(np.asarray(load_image(data).image)[0, 0]) == (255, 255, 255), fmt


def test_grayscale_bilevel_and_cmyk(chelsea: Image.Image) -> None:
    gray = chelsea.convert("L")
    assert diff(load_image(encode(gray, "PNG")).image, gray.convert("RGB")) == 0
    bilevel = load_image(encode(gray.convert("1"), "PNG")).image
    assert bilevel.mode == "RGB" and set(np.unique(np.asarray(bilevel))) <= {0, 255}
    cmyk = load_image(encode(chelsea.convert("CMYK"), "JPEG", quality=95)).image
    assert diff(cmyk, chelsea) < 6  # includes Adobe's inverted-CMYK JPEG convention


@pytest.mark.parametrize("fmt", ["TIFF", "PNG"])
def test_16_bit_grayscale_is_scaled_not_clipped(chelsea: Image.Image, fmt: str) -> None:
    gray8 = np.asarray(chelsea.convert("L"))
    wide = Image.fromarray(gray8.astype(np.uint16) * 257)  # 0..255 -> 0..65535
    with Image.open(io.BytesIO(encode(wide, fmt))) as check:
        assert check.mode.startswith("I;16")
    image = load_image(encode(wide, fmt)).image
    assert np.array_equal(np.asarray(image)[..., 0], gray8)
    # A dark 16-bit picture must stay dark (values <= 255 are not 8-bit data here).
    dark = Image.fromarray((gray8.astype(np.uint16)))
    assert np.asarray(load_image(encode(dark, fmt)).image).max() <= 1


def test_32_bit_int_and_float_grayscale(chelsea: Image.Image) -> None:
    gray8 = np.asarray(chelsea.convert("L"))
    as_float = Image.fromarray(gray8.astype(np.float32) / 255.0)
    assert as_float.mode == "F"
    assert np.abs(np.asarray(load_image(encode(as_float, "TIFF")).image)[..., 0].astype(int) - gray8).max() <= 1
    as_int = Image.fromarray(gray8.astype(np.int32) * 257)
    assert as_int.mode == "I"
    assert np.abs(np.asarray(load_image(encode(as_int, "TIFF")).image)[..., 0].astype(int) - gray8).max() <= 1


# --- orientation -------------------------------------------------------------------------------------------

# Orientation tag -> how a camera stores an upright scene (the inverse of the transpose that shows it upright).
STORED = {3: T.ROTATE_180, 6: T.ROTATE_90, 8: T.ROTATE_270}
ORIENT_FORMATS = [
    ("JPEG", 4.0),
    ("PNG", 0.0),
    ("WEBP", 4.0),
    ("TIFF", 0.0),
    pytest.param("HEIF", 5.0, marks=pytest.mark.skipif(not HEIF, reason="no pillow_heif")),
]


@pytest.mark.parametrize("orientation", [6, 8, 3])
@pytest.mark.parametrize(("fmt", "tolerance"), ORIENT_FORMATS)
def test_exif_orientation_gives_upright_image(coffee: Image.Image, orientation: int, fmt: str, tolerance: float) -> None:
    stored = coffee.transpose(STORED[orientation])
    kwargs = {"quality": 95} if fmt in ("JPEG", "WEBP", "HEIF") else {}
    decoded = load_image(encode(stored, fmt, exif=exif_bytes(orientation), **kwargs))
    assert decoded.image.size == coffee.size == (600, 400)
    assert (decoded.meta.width, decoded.meta.height) == (600, 400)  # swapped back for 6 and 8
    assert diff(decoded.image, coffee) <= tolerance < 20 < diff(decoded.image, coffee.transpose(T.ROTATE_180))
    # The returned picture no longer claims a rotation, so nobody can rotate it twice.
    assert ImageOps.exif_transpose(decoded.image).size == coffee.size
    assert diff(ImageOps.exif_transpose(decoded.image), coffee) <= tolerance


def test_open_original_is_upright_full_resolution(big_jpeg: Path, tmp_path: Path) -> None:
    with Image.open(big_jpeg) as im:
        rotated = tmp_path / "portrait.jpg"
        im.save(rotated, exif=exif_bytes(6), quality=90)
    original = open_original(rotated)
    assert original.mode == "RGB" and original.size == (3000, 4000)


def test_orientation_with_draft_on_large_jpeg(big_jpeg: Path, tmp_path: Path) -> None:
    with Image.open(big_jpeg) as im:
        reference = im.reduce(8).transpose(T.ROTATE_270)  # what orientation 6 shows, at 1/8 scale
        path = tmp_path / "rot6.jpg"
        im.save(path, exif=exif_bytes(6), quality=90)
    decoded = load_image(path, min_side=256)
    assert (decoded.meta.width, decoded.meta.height) == (3000, 4000)
    assert decoded.image.size == (375, 500)
    assert 256 <= min(decoded.image.size) < 512
    assert diff(decoded.image, reference) < 6


# --- size reduction ----------------------------------------------------------------------------------------


def test_12mp_jpeg_decodes_small_via_draft(big_jpeg: Path) -> None:
    decoded = load_image(big_jpeg)
    assert (decoded.meta.width, decoded.meta.height) == (4000, 3000)
    assert 256 <= min(decoded.image.size) < 512
    assert decoded.image.size == (500, 375)  # libjpeg's 1/8 DCT scaling, not a resize of the full picture
    assert min(load_image(big_jpeg, min_side=400).image.size) == 750  # 1/4: 1/8 would give 375 < 400
    assert load_image(big_jpeg, min_side=0).image.size == (4000, 3000)


def test_mpo_camera_jpeg_takes_the_jpeg_fast_path(big_jpeg: Path) -> None:
    with Image.open(big_jpeg) as im:
        data = encode(im, "MPO", save_all=True, append_images=[im.reduce(10)])  # main picture + preview
    with Image.open(io.BytesIO(data)) as check:
        assert check.format == "MPO"
    decoded = load_image(data)
    assert decoded.meta.format == "JPEG" and (decoded.meta.width, decoded.meta.height) == (4000, 3000)
    assert decoded.image.size == (500, 375)


def test_large_non_jpeg_is_reduced_but_not_below_min_side(coffee: Image.Image) -> None:
    big = coffee.resize((1200, 800))
    decoded = load_image(encode(big, "PNG", compress_level=1), min_side=256)
    assert (decoded.meta.width, decoded.meta.height) == (1200, 800)
    assert 256 <= min(decoded.image.size) < 512
    assert decoded.image.size == (400, 267)  # reduce(3)
    assert diff(decoded.image, big.reduce(3)) == 0
    assert load_image(encode(coffee.resize((60, 40)), "PNG")).image.size == (60, 40)  # small stays small


@pytest.mark.parametrize("mode", ["1", "L", "P", "PA", "LA", "RGBA", "I;16", "I", "F", "CMYK"])
def test_reduction_band_by_band_equals_reducing_the_whole_conversion(
    coffee: Image.Image, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Odd sizes, and bands of a few rows: the last band is partial, and so is the last reduced row.
    monkeypatch.setattr(decode, "_BAND_PIXELS", 5000)
    big = coffee.resize((997, 661))
    if mode in ("I;16", "I", "F"):
        grey = np.asarray(big.convert("L"), dtype=np.float64)
        im = Image.fromarray((grey * 200).astype(np.uint16)) if mode == "I;16" else Image.fromarray(grey * 3 - 100).convert(mode)
    elif mode == "P":
        im = big.quantize(64)
        im.info["transparency"] = 3
    else:
        im = big.convert(mode)
    for factor in (1, 2, 3, 7):
        expected = decode.to_rgb(im)
        expected = expected.reduce(factor) if factor > 1 else expected
        assert diff(decode.reduced_rgb(im, factor), expected) == 0, factor


def test_longer_side_reduction_for_thumbnails(coffee: Image.Image, big_jpeg: Path) -> None:
    panorama = coffee.resize((6000, 500))
    shorter = load_image(encode(panorama, "PNG", compress_level=1), min_side=256).image
    longer = load_image(encode(panorama, "PNG", compress_level=1), min_side=512, longer=True).image
    assert shorter.size == (6000, 500) and longer.size == (546, 46)  # reduce(11): longer side >= 512
    jpeg = load_image(big_jpeg, min_side=512, longer=True).image  # 4000 x 3000: DCT scaling by 1/4 only
    assert jpeg.size == (1000, 750)


# --- metadata ----------------------------------------------------------------------------------------------


def gps_exif(lat: tuple, lat_ref: str, lon: tuple, lon_ref: str) -> Image.Exif:
    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    gps.update({1: lat_ref, 2: lat, 3: lon_ref, 4: lon})
    return exif


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_exif_date_camera_gps_round_trip(chelsea: Image.Image, fmt: str) -> None:
    exif = gps_exif((R(48), R(51), R(295, 10)), "N", (R(2), R(17), R(402, 10)), "E")
    exif[0x010F] = "Canon\x00  "
    exif[0x0110] = "  Canon EOS 5D Mark IV "
    exif[0x0132] = "2020:01:01 00:00:00"  # DateTime (file modified); DateTimeOriginal wins
    exif.get_ifd(0x8769).update({0x9003: "2019:07:14 18:30:05", 0x9011: "+02:00"})
    meta = load_image(encode(chelsea, fmt, exif=exif.tobytes())).meta
    assert meta.taken_at == "2019-07-14T18:30:05+02:00"
    assert (meta.camera_make, meta.camera_model) == ("Canon", "Canon EOS 5D Mark IV")
    assert meta.gps_lat == pytest.approx(48 + 51 / 60 + 29.5 / 3600)
    assert meta.gps_lon == pytest.approx(2 + 17 / 60 + 40.2 / 3600)


def test_exif_southern_western_and_fallback_date(chelsea: Image.Image) -> None:
    exif = gps_exif((R(33), R(5124, 100), R(0)), "S", (R(7035, 100), R(0), R(0)), "W")  # minutes with decimals
    exif[0x0132] = "2001:02:03 04:05:06"
    meta = load_image(encode(chelsea, "JPEG", exif=exif.tobytes())).meta
    assert meta.taken_at == "2001-02-03T04:05:06"
    assert meta.gps_lat == pytest.approx(-(33 + 51.24 / 60))
    assert meta.gps_lon == pytest.approx(-70.35)
    assert meta.camera_make is None and meta.camera_model is None


@pytest.mark.parametrize(
    ("lat", "lat_ref", "lon", "lon_ref"),
    [
        ((R(1, 0), R(51), R(0)), "N", (R(2), R(17), R(40)), "E"),  # zero denominator -> nan
        ((R(200), R(0), R(0)), "N", (R(2), R(17), R(40)), "E"),  # out of range
        ((R(0), R(0), R(0)), "N", (R(0), R(0), R(0)), "E"),  # no fix
        ((R(48), R(51), R(29)), "N", (R(1), R(2), R(3), R(4)), "E"),  # four parts
    ],
)
def test_garbage_gps_gives_none(chelsea: Image.Image, lat: tuple, lat_ref: str, lon: object, lon_ref: str) -> None:
    exif = gps_exif(lat, lat_ref, lon, lon_ref)  # type: ignore[arg-type]
    exif[0x0132] = "0000:00:00 00:00:00"
    meta = load_image(encode(chelsea, "JPEG", exif=exif.tobytes())).meta
    assert (meta.gps_lat, meta.gps_lon, meta.taken_at) == (None, None, None)


def test_corrupt_exif_block_does_not_cost_the_picture(chelsea: Image.Image) -> None:
    decoded = load_image(encode(chelsea, "JPEG", exif=b"Exif\x00\x00II*\x00\xff\xff\xff\x7f garbage"))
    assert decoded.image.size == chelsea.size
    assert decoded.meta.taken_at is None and decoded.meta.gps_lat is None


def test_no_exif_gives_plain_meta() -> None:
    meta = load_image(SKIMAGE_DATA / "astronaut.png").meta
    assert (meta.width, meta.height, meta.format) == (512, 512, "PNG")
    assert (meta.taken_at, meta.camera_make, meta.gps_lat) == (None, None, None)


# --- bad inputs --------------------------------------------------------------------------------------------


def test_empty_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert reason_of(tmp_path / "empty.jpg") == "empty file"
    assert reason_of(b"") == "empty file"
    assert reason_of(io.BytesIO()) == "empty file"
    assert reason_of(tmp_path / "missing.jpg") == "file not found"
    assert reason_of(tmp_path) == "is a directory"


def test_text_file_named_jpg(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("shopping list: eggs, milk\n")
    assert reason_of(path) == "not an image (unrecognised format)"
    with pytest.raises(ImageDecodeError) as info:
        open_original(path)
    assert str(path) in str(info.value)  # the message names the file; .reason does not


def test_only_photo_formats_are_parsed(chelsea: Image.Image, tmp_path: Path) -> None:
    # An EPS renamed .jpg must not reach PIL's EPS plugin (which runs Ghostscript); nor do formats we do not list.
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    assert reason_of(eps) == "not an image (unrecognised format)"
    assert reason_of(encode(chelsea, "PCX")) == "not an image (unrecognised format)"
    # ... but a listed format with the wrong extension is fine: contents decide, not names.
    misnamed = tmp_path / "really-a-png.jpg"
    misnamed.write_bytes(encode(chelsea, "PNG"))
    assert load_image(misnamed).meta.format == "PNG"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("min_side", [256, 0])
def test_truncated_files(coffee: Image.Image, fmt: str, min_side: int) -> None:
    data = encode(coffee, fmt)
    reason = reason_of(data[: len(data) // 2], min_side=min_side)
    assert reason.startswith("truncated or corrupt image: "), reason


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG file whose header claims width x height pixels (the data is a few bytes of zeros)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_decompression_bomb_header() -> None:
    assert Image.MAX_IMAGE_PIXELS == 89478485  # Pillow's default
    reason = reason_of(png_header_only(20000, 10000))  # 2x over the limit: PIL's error path
    assert reason == "decompression bomb: 200000000 pixels > limit 89478485"
    reason = reason_of(png_header_only(10000, 10000))  # between 1x and 2x: PIL only warns
    assert reason == "decompression bomb: 100000000 pixels > limit 89478485"


def test_decompression_bomb_real_image_under_lowered_limit(
    chelsea: Image.Image, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = encode(chelsea, "PNG")  # 451 * 300 = 135300 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)
    assert reason_of(data) == "decompression bomb: 135300 pixels > limit 100000"
    with pytest.raises(ImageDecodeError, match="decompression bomb"):
        open_original(io.BytesIO(data))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50_000)
    assert reason_of(data) == "decompression bomb: 135300 pixels > limit 50000"
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # limit disabled
    assert load_image(data).image.size == chelsea.size


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory that an unprivileged user can reach (pytest's tmp_path is private to the current user)."""
    path = Path(tempfile.mkdtemp(prefix="pixseek-perm-"))
    path.chmod(0o755)
    yield path
    for parent, dirs, _ in os.walk(path):  # top-down: unlock each directory before walking into it
        for name in dirs:
            os.chmod(os.path.join(parent, name), 0o755)
    shutil.rmtree(path)


def run_where_permissions_apply(check: Callable[[], None]) -> None:
    """Run `check` under a uid that file permissions bind: directly, or, as root, in a forked child as nobody.

    `check` raises PermissionsNotEnforced if it finds it can read what it should not (CAP_DAC_OVERRIDE).
    """
    load_image(SKIMAGE_DATA / "chelsea.png")  # import PIL's plugins now: the child cannot read site-packages
    if os.geteuid() != 0:
        try:
            check()
        except PermissionsNotEnforced:
            pytest.skip("file permissions are not enforced for this user")
        return
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 1
        try:
            try:
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            except OSError:
                os._exit(4)  # cannot drop privileges (e.g. a user namespace without "nobody")
            check()
            code = 0
        except PermissionsNotEnforced:
            code = 3
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code in (3, 4):
        pytest.skip("cannot run as a user that file permissions bind")
    assert code == 0, "the check failed in the unprivileged child (traceback on stderr)"


class PermissionsNotEnforced(Exception):
    pass


def assert_unreadable(path: Path) -> None:
    try:
        path.read_bytes() if path.is_file() else os.listdir(path)
    except PermissionError:
        return
    raise PermissionsNotEnforced(path)


def test_unreadable_file(shared_dir: Path, chelsea: Image.Image) -> None:
    path = shared_dir / "secret.png"
    path.write_bytes(encode(chelsea, "PNG"))
    path.chmod(0)
    (shared_dir / "locked").mkdir()
    behind = touch(shared_dir / "locked" / "photo.png", encode(chelsea, "PNG"))
    (shared_dir / "locked").chmod(0)

    def check() -> None:
        assert_unreadable(path)
        assert reason_of(path) == "permission denied"
        assert reason_of(behind) == "permission denied"  # through a directory that cannot be searched

    run_where_permissions_apply(check)


def test_unreadable_file_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same mapping, exercised on any uid by making open() fail the way it does for a chmod-000 file."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(decode, "open", refuse, raising=False)
    assert reason_of("/some/secret.jpg") == "permission denied"


# --- scanning ----------------------------------------------------------------------------------------------


def scan_all(root: Path | str) -> tuple[list[FileState], list[Skipped]]:
    skipped: list[Skipped] = []
    found = list(scan(root, skipped.append))
    return found, skipped


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_scan_finds_images_sorted_with_stat(tmp_path: Path) -> None:
    for rel in ["b.jpg", "a/z.PNG", "a/y.webp", "a/sub/x.gif", "c.JPEG", "d.tiff", "e.bmp", "f.jpe", "g.tif"]:
        touch(tmp_path / rel, rel.encode())
    for rel in ["notes.txt", "raw.cr2", "a/video.mp4", "noext"]:
        touch(tmp_path / rel)
    for rel in [".git/objects/x.jpg", ".thumbnails/normal/t.png", "a/@eaDir/y.webp/SYNOPHOTO_THUMB_XL.jpg", "._b.jpg"]:
        touch(tmp_path / rel)
    os.mkfifo(tmp_path / "pipe.jpg")  # must be ignored, never opened
    found, skipped = scan_all(tmp_path)
    rel = [os.path.relpath(f.path, tmp_path) for f in found]
    # videos too (indexed by their frames)
    assert rel == ["a/sub/x.gif", "a/video.mp4", "a/y.webp", "a/z.PNG", "b.jpg", "c.JPEG", "d.tiff", "e.bmp", "f.jpe", "g.tif"]
    assert skipped == []
    for f in found:
        st = os.stat(f.path)
        assert os.path.isabs(f.path) and (f.size, f.mtime_ns) == (st.st_size, st.st_mtime_ns)


def test_scan_paths_are_absolute_and_normalised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    touch(tmp_path / "photos" / "a.jpg")
    monkeypatch.chdir(tmp_path)
    found, _ = scan_all(Path("photos/../photos/."))
    assert [f.path for f in found] == [str(tmp_path / "photos" / "a.jpg")]


def test_scan_heif_extensions_follow_pillow_heif() -> None:
    assert (".heic" in IMAGE_EXTENSIONS) == (".heif" in IMAGE_EXTENSIONS) == HEIF


def test_scan_follows_symlinked_dirs_and_detects_loops(tmp_path: Path) -> None:
    root = tmp_path / "root"
    touch(root / "a" / "1.jpg")
    touch(tmp_path / "elsewhere" / "2.jpg")
    (root / "a" / "loop").symlink_to(root)  # a/loop -> root: would recurse forever
    (root / "a" / "up").symlink_to("..")  # relative loop
    (root / "b").symlink_to(tmp_path / "elsewhere")  # a real symlinked directory: followed
    (root / "c").symlink_to(tmp_path / "elsewhere")  # the same directory again: walked once
    (root / "self.jpg").symlink_to("self.jpg")  # a link that resolves to itself
    found, skipped = scan_all(root)
    assert [os.path.relpath(f.path, root) for f in found] == ["a/1.jpg", "b/2.jpg"]
    reasons = {os.path.relpath(s.path, root): s.reason for s in skipped}
    assert reasons["a/loop"].startswith("symlink loop")
    assert reasons["a/up"].startswith("symlink loop")
    assert reasons["c"].startswith("directory already scanned as ")
    assert reasons["self.jpg"].startswith("symlink loop")
    assert len(skipped) == 4


def test_scan_reports_broken_symlinks(tmp_path: Path) -> None:
    touch(tmp_path / "ok.jpg")
    (tmp_path / "gone.jpg").symlink_to(tmp_path / "deleted.jpg")
    (tmp_path / "old-drive").symlink_to("/nonexistent/photos")
    found, skipped = scan_all(tmp_path)
    assert [Path(f.path).name for f in found] == ["ok.jpg"]
    assert sorted(Path(s.path).name for s in skipped) == ["gone.jpg", "old-drive"]
    assert all(s.reason.startswith("broken symlink") for s in skipped)


def test_scan_reports_non_utf8_names(tmp_path: Path) -> None:
    touch(tmp_path / "good.jpg")
    raw_dir = os.fsencode(tmp_path)
    for name in (b"caf\xe9.jpg", b"ignored-\xff.txt"):
        fd = os.open(os.path.join(raw_dir, name), os.O_CREAT | os.O_WRONLY, 0o644)
        os.close(fd)
    os.mkdir(os.path.join(raw_dir, b"dir-\xe9"))
    found, skipped = scan_all(tmp_path)
    assert [Path(f.path).name for f in found] == ["good.jpg"]
    by_name = {Path(s.path).name: s.reason for s in skipped}
    assert by_name == {
        "caf\\xe9.jpg": "file name is not valid UTF-8: b'caf\\xe9.jpg'",
        "dir-\\xe9": "directory name is not valid UTF-8: b'dir-\\xe9'",
    }
    for s in skipped:
        s.path.encode("utf-8")  # safe to print, log and store


def test_scan_unreadable_directory(shared_dir: Path) -> None:
    touch(shared_dir / "locked" / "a.jpg")
    touch(shared_dir / "open" / "b.jpg")
    (shared_dir / "locked").chmod(0)

    def check() -> None:
        assert_unreadable(shared_dir / "locked")
        found, skipped = scan_all(shared_dir)
        assert [Path(f.path).name for f in found] == ["b.jpg"]
        assert skipped == [Skipped(str(shared_dir / "locked"), "permission denied")]
        with pytest.raises(ScanRootError, match="cannot list scan root"):
            scan_all(shared_dir / "locked")

    run_where_permissions_apply(check)


def test_scan_unreadable_directory_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same as above on any uid: listing the directory fails the way it does for a chmod-000 directory."""
    touch(tmp_path / "locked" / "a.jpg")
    touch(tmp_path / "open" / "b.jpg")
    real = files._list_dir

    def list_dir(path: str) -> list:
        if path.endswith("locked"):
            raise PermissionError(13, "Permission denied", path)
        return real(path)

    monkeypatch.setattr(files, "_list_dir", list_dir)
    found, skipped = scan_all(tmp_path)
    assert [Path(f.path).name for f in found] == ["b.jpg"]
    assert skipped == [Skipped(str(tmp_path / "locked"), "permission denied")]


def test_scan_bad_roots(tmp_path: Path) -> None:
    with pytest.raises(ScanRootError, match="does not exist"):
        next(scan(tmp_path / "nope", print))
    touch(tmp_path / "file.jpg")
    with pytest.raises(ScanRootError, match="not a directory"):
        next(scan(tmp_path / "file.jpg", print))
    assert issubclass(ScanRootError, OSError)


def test_scan_deep_tree_does_not_recurse(tmp_path: Path) -> None:
    deep = tmp_path
    for _ in range(60):
        deep = deep / "d"
    touch(deep / "deep.jpg")
    found, _ = scan_all(tmp_path)
    assert [Path(f.path).name for f in found] == ["deep.jpg"]


def test_sha256_file(tmp_path: Path) -> None:
    data = np.random.default_rng(1).bytes((1 << 20) * 2 + 123)  # spans several 1 MiB chunks
    path = touch(tmp_path / "blob.jpg", data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    assert sha256_file(str(touch(tmp_path / "empty.jpg", b""))) == hashlib.sha256(b"").hexdigest()
