"""Thumbnails: JPEGs of 128, 256 and 512 px (longer side), made once from the original, upright.

Cached by content under `<home>/thumbnails/<sha256>/<size>.jpg`; identical bytes give identical
thumbnails whoever owns them, and callers check ownership before asking. One decode makes all
sizes; files are written to a temporary name and renamed, so a reader never sees half a JPEG.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from pathlib import Path

from PIL import Image

from pixseek.imageio.decode import load_image

SIZES = (128, 256, 512)
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

    def get(self, sha256: str, original: Path, size: int) -> bytes:
        """The thumbnail's JPEG bytes, made (all sizes) on first request. Raises ImageDecodeError."""
        target = self.path(sha256, size)
        cached = _read(target)
        if cached is not None:
            return cached
        with self._lock_for(sha256):
            cached = _read(target)
            if cached is not None:
                return cached
            with self._slots:
                made = self._make(sha256, original)
        return made[size]

    def forget(self, sha256: str) -> None:
        if _SHA256.match(sha256):
            shutil.rmtree(self.root / sha256, ignore_errors=True)

    def _make(self, sha256: str, original: Path) -> dict[int, bytes]:
        # Upright RGB, decoded at reduced scale where the format allows (JPEG DCT scaling): a
        # 12 MP photo costs ~50 ms instead of ~155 ms, and the largest thumbnail is still sharp.
        image = load_image(original, min_side=max(SIZES)).image
        made: dict[int, bytes] = {}
        directory = self.root / sha256
        directory.mkdir(parents=True, exist_ok=True)
        for size in sorted(SIZES, reverse=True):  # each from the previous, larger one: cheap
            image = image.copy() if max(image.size) <= size else _shrink(image, size)
            data = _encode(image)
            made[size] = data
            _write_atomic(directory / f"{size}.jpg", data)
        return made

    def _lock_for(self, key: str) -> threading.Lock:
        with self._locks_guard:
            if len(self._locks) > 1024:
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
            return self._locks.setdefault(key, threading.Lock())


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
