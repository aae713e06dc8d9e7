"""Records that flow between the layers: files -> analyzers -> store -> search -> CLI/service.

Only plain data lives here (no I/O, no models), so every layer can import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np
from numpy.typing import NDArray

Vector: TypeAlias = NDArray[np.float32]


@dataclass(frozen=True)
class SparseVector:
    """A sparse vector over concept ids (ImageNet class indices 0..999): sorted by weight, descending."""

    ids: NDArray[np.int32]
    weights: NDArray[np.float32]

    @staticmethod
    def from_dict(weights: dict[int, float]) -> "SparseVector":
        items = sorted(((w, i) for i, w in weights.items() if w > 0), reverse=True)
        return SparseVector(
            np.array([i for _, i in items], dtype=np.int32),
            np.array([w for w, _ in items], dtype=np.float32),
        )

    def to_dict(self) -> dict[int, float]:
        return {int(i): float(w) for i, w in zip(self.ids, self.weights)}

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class ImageMeta:
    """What the file itself says: pixel size (after EXIF orientation), format, EXIF fields."""

    width: int
    height: int
    format: str
    taken_at: str | None = None  # ISO 8601, from EXIF DateTimeOriginal/DateTime
    camera_make: str | None = None
    camera_model: str | None = None
    gps_lat: float | None = None
    gps_lon: float | None = None


@dataclass
class Analysis:
    """Everything the analyzers found in one image: one record per image content."""

    meta: ImageMeta
    categories: SparseVector  # top ~50 class probabilities
    embedding: Vector  # 1280-d classifier embedding (pooled features), float32, not normalised
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class FileState:
    """A file as the file system shows it, enough to tell whether it changed."""

    path: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class IndexedFile:
    """A file as the store remembers it."""

    path: str
    size: int
    mtime_ns: int
    content_id: int
    sha256: str
    analyzer: str  # version of the analysis pipeline that produced the content's record


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass
class StoredImage:
    """One indexed image content and the files that currently hold it."""

    content_id: int
    sha256: str
    paths: list[str]
    meta: ImageMeta
    categories: SparseVector


@dataclass(frozen=True)
class ImageFilter:
    """Metadata restrictions a search can carry; None means "any"."""

    path_prefix: str | None = None
    taken_from: str | None = None  # ISO date/time, inclusive
    taken_to: str | None = None  # ISO date/time, inclusive
    camera: str | None = None  # substring of "make model", case-insensitive

    def is_empty(self) -> bool:
        return not (self.path_prefix or self.taken_from or self.taken_to or self.camera)


@dataclass(frozen=True)
class User:
    id: int
    name: str
    has_password: bool


@dataclass(frozen=True)
class Job:
    """One uploaded file waiting for, undergoing or done with analysis."""

    id: int
    owner: int
    name: str  # the file name the user gave
    path: str  # where the upload is stored
    status: str  # queued | running | done | failed
    error: str | None
    content_id: int | None
    created_at: float
    finished_at: float | None
