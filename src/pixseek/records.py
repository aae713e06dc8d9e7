"""Records that flow between the layers: files -> analyzers -> store -> search -> CLI/service.

Only plain data lives here (no I/O, no models), so every layer can import it.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np
from numpy.typing import NDArray

Vector: TypeAlias = NDArray[np.float32]


# Concept ids: 0..999 are the ImageNet classes; CLASS_COUNT.. are image characteristics (colours,
# black-and-white, dark, screenshot, portrait...: analyzers/characteristics.py), up to CONCEPT_SPACE.
# Ids are stored in every library: append new characteristics, never renumber.
CLASS_COUNT = 1000
CONCEPT_SPACE = 1100
CHARACTERISTICS: tuple[str, ...] = (
    "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "grey",
    "black and white", "dark", "bright", "screenshot", "document", "portrait", "selfie", "group photo",
    "panorama",
)  # fmt: skip
CHARACTERISTIC_IDS: dict[str, int] = {name: CLASS_COUNT + i for i, name in enumerate(CHARACTERISTICS)}


def characteristic_name(concept_id: int) -> str | None:
    """The characteristic a concept id stands for, or None for an ImageNet class (or unknown id)."""
    i = int(concept_id) - CLASS_COUNT
    return CHARACTERISTICS[i] if 0 <= i < len(CHARACTERISTICS) else None


@dataclass(frozen=True)
class SparseVector:
    """A sparse vector over concept ids (ImageNet class indices 0..999, characteristics from
    CLASS_COUNT on): sorted by weight, descending."""

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


# An image's category vector keeps its TOP_K strongest concepts (classes, and its characteristics in
# the room the weakest classes make); the store's rows (store/sparse.py) are TOP_K entries wide. Here,
# not in the store, so that the analysis pass (a worker process) does not import the storage layer.
TOP_K = 50


def top_k(probabilities: NDArray[np.float32], k: int = TOP_K) -> SparseVector:
    """The k most probable classes, best first."""
    ids = np.argpartition(-probabilities, k)[:k]
    ids = ids[np.argsort(-probabilities[ids], kind="stable")]
    return SparseVector(ids.astype(np.int32), probabilities[ids].astype(np.float32))


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


Box: TypeAlias = tuple[int, int, int, int]  # x0, y0, x1, y1 in the original (upright) image's pixels


@dataclass
class Face:
    """A face found in an image."""

    box: Box
    score: float  # detector confidence (dlib HOG: >= 0.6 kept; clear frontal faces score 1-2)
    embedding: Vector  # 128-d; the same person is within Euclidean distance ~0.5 (see pixseek.faces)


@dataclass
class TextLine:
    """A line of text read in an image (OCR)."""

    text: str
    score: float  # recogniser confidence, 0..1
    box: Box  # axis-aligned bounds of the (possibly rotated) line


@dataclass
class Analysis:
    """Everything the analyzers found in one image: one record per image content."""

    meta: ImageMeta
    categories: SparseVector  # top ~50 class probabilities
    embedding: Vector  # 1280-d classifier embedding (pooled features), float32, not normalised
    faces: list[Face] | None = None  # None: faces were not looked for
    texts: list[TextLine] | None = None  # None: text was not looked for; in reading order
    timings_ms: dict[str, float] = field(default_factory=dict)
    # store.spaces: space name ("clip-vit-b-32@<version>") -> this image's vector in it (L2-normalised
    # by the store). Written with the content; export_contents returns every space's.
    vectors: dict[str, Vector] = field(default_factory=dict)
    phash: int | None = None  # 64-bit perceptual hash (analyzers/phash.py), signed; None: not computed


def version_covers(stored: str, wanted: str) -> bool:
    """Whether an analysis made by pipeline version `stored` has everything `wanted` asks for.

    Versions are "+"-joined parts ("<classifier>+top50+faces-<model>"): an analysis with faces
    serves a run without them, not the other way round."""
    return set(wanted.split("+")) <= set(stored.split("+"))


def visible_text(text: str) -> str:
    """Text users give (file names, people's names) without the characters that hide or reorder
    what is shown: Unicode control, format (bidi overrides, zero-width), surrogate, private-use
    and unassigned characters. NFC-normalised."""
    return "".join(c for c in unicodedata.normalize("NFC", text) if unicodedata.category(c)[0] != "C")


# ---- video ----------------------------------------------------------------------------------------
# A video is indexed as sampled frames, each one image content of its own (analysed like a picture).
# The frame at 0 s (the poster) is held by the video's own path; every other frame by the path
# "<video path>#t=<seconds>" (3 decimals), so the store's files table, live(), filters, migrations
# and deletions treat frames like any image. Frames' contents have format "VIDEO:<container>".
VIDEO_FORMAT_PREFIX = "VIDEO:"
_FRAME_MARK = "#t="


def frame_path(video_path: str, seconds: float) -> str:
    """Where a video's frame lives in the store: the video itself for the poster (0 s)."""
    return video_path if seconds <= 0 else f"{video_path}{_FRAME_MARK}{seconds:.3f}"


def split_frame_path(path: str) -> tuple[str, float | None]:
    """(the file on disk, the frame's time in seconds or None for a picture or a video's poster)."""
    head, mark, tail = path.rpartition(_FRAME_MARK)
    if mark and tail.replace(".", "", 1).isdigit() and tail.count(".") == 1:
        return head, float(tail)
    return path, None


def is_video_format(format: str) -> bool:
    return format.startswith(VIDEO_FORMAT_PREFIX)


def clock(seconds: float) -> str:
    """01:23 (or 1:02:03 past an hour): how a time in a video is shown."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"



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
class StoredFace:
    """A face as the store keeps it: where it is, and whose it is (if grouped)."""

    id: int
    content_id: int
    box: Box
    score: float
    person_id: int | None
    image_width: int
    image_height: int

    @property
    def prominence(self) -> float:
        """Face height as a fraction of the image height (how much the picture is about it)."""
        return (self.box[3] - self.box[1]) / max(1, self.image_height)


@dataclass(frozen=True)
class Person:
    """A group of faces the clustering (or the user) decided are one person."""

    id: int
    name: str | None
    faces: int
    images: int
    cover_face_id: int | None  # the face shown for this person


@dataclass(frozen=True)
class ImageFilter:
    """Metadata restrictions a search can carry; None means "any"."""

    path_prefix: str | None = None
    taken_from: str | None = None  # ISO date/time, inclusive
    taken_to: str | None = None  # ISO date/time, inclusive
    camera: str | None = None  # substring of "make model", case-insensitive
    # From the query language (language/syntax.py):
    month_days: tuple[tuple[str, str], ...] = ()  # any year: inclusive ("MM-DD", "MM-DD") spans, any of them
    places: tuple[PlaceKey, ...] = ()  # taken in one of these places
    person_ids: tuple[int, ...] | None = None  # a face of one of these people (None: anyone or no one)
    media: str | None = None  # "photo" or "video" (video frames: format VIDEO_FORMAT_PREFIX...)
    folders: tuple[str, ...] = ()  # a folder of the path has one of these in its name (case-insensitive)

    def is_empty(self) -> bool:
        return not (
            self.path_prefix or self.taken_from or self.taken_to or self.camera or self.month_days
            or self.places or self.person_ids is not None or self.media or self.folders
        )


PlaceKey: TypeAlias = tuple[str, str | None, str | None]
"""A place as filters name it: (country code, region or None, city or None): ("PT", None, None)
is Portugal, ("PT", "Lisbon", "Lisbon") the city."""


@dataclass(frozen=True)
class Place:
    """Where a photo was taken, from its GPS position (language/places.py, offline GeoNames data)."""

    city: str | None
    region: str | None
    country: str
    country_code: str

    def keys(self) -> tuple[PlaceKey, PlaceKey, PlaceKey]:
        return (self.country_code, None, None), (self.country_code, self.region, None), (
            self.country_code, self.region, self.city)

    def __str__(self) -> str:
        parts = [p for p in (self.city, self.region, self.country) if p]
        return ", ".join(dict.fromkeys(parts))  # "Lisbon, Lisbon, Portugal" -> "Lisbon, Portugal"


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
