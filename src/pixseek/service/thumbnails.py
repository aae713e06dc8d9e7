"""Thumbnails: JPEGs of 128, 256 and 512 px (longer side), made once from the original, upright;
and face thumbnails: square crops of 64, 128 and 256 px around a face box, with a margin.

Cached by content under `<home>/thumbnails/<sha256>/<size>.jpg` (faces: `face-<box>-<size>.jpg`,
keyed by the box, so a face crop depends only on the bytes and the box, like the thumbnails);
identical bytes give identical thumbnails whoever owns them, and callers check ownership before
asking. One decode makes all sizes; files are written to a temporary name and renamed, so a
reader never sees half a JPEG.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from pixseek.imageio.decode import load_image
from pixseek.records import Box

SIZES = (128, 256, 512)
FACE_SIZES = (64, 128, 256)
FACE_MARGIN = 0.35  # each side of a face thumbnail shows this much of the box size around the box
QUALITY = 85
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class Thumbnails:
    def __init__(self, home: Path, concurrent: int = 2) -> None:
        self.root = home / "thumbnails"
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        # A grid asks for dozens at once; full-size decodes are memory-hungry, so only a few run.
        self._slots = threading.BoundedSemaphore(concurrent)

    def path(self, sha256: str, size: int) -> Path:
        if not _SHA256.match(sha256) or size not in SIZES:
            raise ValueError("bad thumbnail key")
        return self.root / sha256 / f"{size}.jpg"

    def face_path(self, sha256: str, box: Box, size: int) -> Path:
        if not _SHA256.match(sha256) or size not in FACE_SIZES:
            raise ValueError("bad face thumbnail key")
        return self.root / sha256 / f"face-{'-'.join(str(int(v)) for v in box)}-{size}.jpg"

    def get(self, sha256: str, original: Path | Callable[[], bytes], size: int) -> bytes:
        """The thumbnail's JPEG bytes, made (all sizes) on first request. Raises ImageDecodeError."""
        return self._cached(sha256, self.path(sha256, size), size, lambda: self._make(sha256, original))

    def face(
        self, sha256: str, original: Path | Callable[[], bytes], box: Box, image_size: tuple[int, int], size: int
    ) -> bytes:
        """A square JPEG of the face in `box` (pixels of the upright original, whose size is
        `image_size`) and some of its surroundings, made (all sizes) on first request.
        Raises ImageDecodeError."""
        return self._cached(
            sha256, self.face_path(sha256, box, size), size,
            lambda: self._make_face(sha256, original, box, image_size),
        )

    def _cached(self, sha256: str, target: Path, size: int, make: Callable[[], dict[int, bytes]]) -> bytes:
        cached = _read(target)
        if cached is not None:
            return cached
        with self._lock_for(sha256):
            cached = _read(target)
            if cached is not None:
                return cached
            with self._slots:
                made = make()
        return made[size]

    def forget(self, sha256: str) -> None:
        if _SHA256.match(sha256):
            shutil.rmtree(self.root / sha256, ignore_errors=True)

    def _make(self, sha256: str, original: Path | Callable[[], bytes]) -> dict[int, bytes]:
        original = original() if callable(original) else original  # a video frame, decoded now
        # Upright RGB, decoded at reduced scale where the format allows (JPEG DCT scaling): a
        # 12 MP photo costs ~50 ms instead of ~155 ms, and the largest thumbnail is still sharp.
        # Reduced by the LONGER side, the side a thumbnail is measured by: a long panorama is not
        # decoded with its short side at 512 px.
        image = load_image(original, min_side=max(SIZES), longer=True).image
        made: dict[int, bytes] = {}
        directory = self.root / sha256
        directory.mkdir(parents=True, exist_ok=True)
        for size in sorted(SIZES, reverse=True):  # each from the previous, larger one: cheap
            image = image.copy() if max(image.size) <= size else _shrink(image, size)
            data = _encode(image)
            made[size] = data
            _write_atomic(directory / f"{size}.jpg", data)
        return made

    def _make_face(
        self, sha256: str, original: Path | Callable[[], bytes], box: Box, image_size: tuple[int, int]
    ) -> dict[int, bytes]:
        original = original() if callable(original) else original
        width, height = image_size
        x0, y0, x1, y1 = crop_box(box, width, height)
        # Decode only as large as the biggest face thumbnail needs (JPEG DCT scaling).
        need = max(FACE_SIZES) * min(width, height) / max(1, x1 - x0)
        decoded = load_image(original, min_side=0 if need >= min(width, height) else int(need) + 1)
        image = decoded.image
        scale_x, scale_y = image.width / decoded.meta.width, image.height / decoded.meta.height
        image = image.crop((round(x0 * scale_x), round(y0 * scale_y), round(x1 * scale_x), round(y1 * scale_y)))
        made: dict[int, bytes] = {}
        for size in sorted(FACE_SIZES, reverse=True):
            if image.width > size:
                image = image.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
            made[size] = _encode(image)
        directory = self.root / sha256
        directory.mkdir(parents=True, exist_ok=True)
        for size, data in made.items():
            _write_atomic(self.face_path(sha256, box, size), data)
        return made

    def _lock_for(self, key: str) -> threading.Lock:
        with self._locks_guard:
            if len(self._locks) > 1024:
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
            return self._locks.setdefault(key, threading.Lock())


def crop_box(box: Box, width: int, height: int, margin: float = FACE_MARGIN) -> Box:
    """A square around a face box with a margin, moved (then shrunk) to fit inside the image."""
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    side = max(1, round(min(side, width, height)))
    left = round((x0 + x1) / 2 - side / 2)
    top = round((y0 + y1) / 2 - side / 2)
    left = min(max(left, 0), width - side)
    top = min(max(top, 0), height - side)
    return left, top, left + side, top + side


def _shrink(image: Image.Image, size: int) -> Image.Image:
    small = image.copy()
    small.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return small


def _encode(image: Image.Image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=QUALITY, optimize=True, progressive=True)
    return buffer.getvalue()


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _write_atomic(path: Path, data: bytes) -> None:
    try:
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    except OSError:  # the folder went away (the image was deleted meanwhile): serve, don't cache
        return
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(temp, path)
    except OSError:
        Path(temp).unlink(missing_ok=True)
