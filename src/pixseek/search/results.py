"""What the engine's searches share (text search in engine.py, similar.py, tagging.py): the hits and
results they return, their errors, the image a search starts from, and the reads of a result page.

Everything here is re-exported by search/engine.py, where callers import it from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from numpy.typing import NDArray

from pixseek.records import ImageFilter, ImageMeta, StoredFace, StoredImage, Vector, is_video_format, split_frame_path
from pixseek.store.base import Store, StoreError

EXACT_RESCORE_MAX = 200_000  # a short page is completed by scoring all admitted images up to this


class QueryError(ValueError):
    """A query that cannot be answered; the message is for the user."""


class ImageNotFound(QueryError):
    """The image id is unknown to this user (whether or not another user has it)."""


@dataclass
class Hit:
    content_id: int
    path: str
    score: float
    why: list[str]
    paths: list[str] = field(default_factory=list)
    meta: ImageMeta | None = None
    faces: list[StoredFace] = field(default_factory=list)  # the faces that made it a match
    place: str | None = None  # where it was taken ("Lisbon, Portugal"), from its GPS position


@dataclass
class SearchResult:
    query: str
    hits: list[Hit]
    unknown_words: list[str] = field(default_factory=list)
    interpretation: list[str] = field(default_factory=list)  # how the query was understood
    candidates: int = 0
    took_ms: float = 0.0
    language: str = "en"  # the language the query was read in (detected or given)
    description: str = ""  # the query in words: "dog, not cat, taken in 2019"
    notes: list[str] = field(default_factory=list)  # filters that match nothing, words not excluded, ...
    model: str | None = None  # the vision-language model that took part, if one did


ImageRef = Path | bytes | int
"""An image to start from: a file (inside the library or not), its bytes, or one of the user's ids."""

EmbedImage = Callable[[Path | bytes], tuple[Vector, NDArray[np.float32]]]
"""Analyse an image outside the library: (embedding, class probabilities (1000,))."""


def indexed_content(store: Store, owner: int, image: ImageRef) -> int | None:
    """The owner's content id for `image`: None for bytes or files outside their library."""
    if isinstance(image, bytes):
        return None
    if isinstance(image, int):
        if not store.live(owner, np.array([image], dtype=np.int64))[0]:
            raise ImageNotFound(f"no image {image}")
        return image
    return store.content_of_path(owner, os.path.abspath(image))


def analyse(embed_image: EmbedImage | None, image: ImageRef) -> tuple[Vector, NDArray[np.float32]]:
    """A picture outside the library through the analyzer the engine was given."""
    assert not isinstance(image, int)  # ids are resolved by indexed_content
    if embed_image is None:
        raise QueryError("this engine cannot analyse new images (no classifier given)")
    return embed_image(image)


def describe_image(image: ImageRef) -> str:
    """The image as a result's query: its id, its path, or "<image>" for bytes."""
    if isinstance(image, bytes):
        return "<image>"
    return f"image {image}" if isinstance(image, int) else str(image)


def hit_of(image: StoredImage, score: float, why: list[str], faces: list[StoredFace] | None = None) -> Hit:
    """A stored image as a hit (score rounded to 4 places)."""
    return Hit(image.content_id, image.paths[0], round(score, 4), why, image.paths, image.meta, faces or [])


def model_vectors(store: Store, owner: int, space: str, ids: NDArray[np.int64]) -> tuple[NDArray[np.bool_], NDArray[np.float32]]:
    """store.spaces.get; none present while the model has embedded nothing yet (no space)."""
    try:
        return store.spaces.get(owner, space, ids)
    except StoreError:
        return np.zeros(len(ids), dtype=bool), np.zeros((len(ids), 1), dtype=np.float32)


def restricted(store: Store, owner: int, where: ImageFilter | None) -> bool:
    """Whether the owner sees less than the whole library (so a short page may be incomplete)."""
    filtered = where is not None and not where.is_empty()
    return filtered or store.others_have_contents(owner)


def first_live(
    store: Store, ranked: NDArray[np.int64], limit: int, owner: int, where: ImageFilter | None,
    one_per_video: bool = False, read: dict[int, StoredImage] | None = None,
) -> list[int]:
    """The first `limit` ids that are the owner's, live and pass the filter, read in chunks.

    `one_per_video`: a video's frames after its best-ranked one are left out, so that ten
    frames of one clip do not fill a page (the hit names the frame's time). That reads the
    records of the ids it keeps: given `read`, they are put there, for `images_of`."""
    chosen: list[int] = []
    videos_seen: set[str] = set()
    step = max(4 * limit, 64)
    for start in range(0, len(ranked), step):
        chunk = ranked[start : start + step]
        live = [int(c) for c in chunk[store.live(owner, chunk, where)]]
        if one_per_video:
            while live and len(chosen) < limit:
                # Only as many as the page still needs are read (a library without videos: one read).
                wanted, live = live[: limit - len(chosen)], live[limit - len(chosen) :]
                chosen.extend(_first_frames(store, owner, wanted, videos_seen, read))
        else:
            chosen.extend(live)
        if len(chosen) >= limit:
            break
    return chosen[:limit]


def images_of(store: Store, owner: int, ids: list[int], read: dict[int, StoredImage]) -> list[StoredImage]:
    """store.get_images(owner, ids), taking the records first_live has already read from `read`."""
    missing = [i for i in ids if i not in read]
    if missing:
        read.update((image.content_id, image) for image in store.get_images(owner, missing))
    return [read[i] for i in ids if i in read]


def _first_frames(
    store: Store, owner: int, ids: list[int], videos_seen: set[str], read: dict[int, StoredImage] | None,
) -> list[int]:
    """`ids` in order without the frames of a video already seen (`videos_seen` is updated)."""
    images = store.get_images(owner, ids)
    if read is not None:
        read.update((image.content_id, image) for image in images)
    videos = {
        image.content_id: split_frame_path(image.paths[0])[0]
        for image in images
        if is_video_format(image.meta.format) and image.paths
    }
    kept = []
    for content_id in ids:
        video = videos.get(content_id)
        if video is None or video not in videos_seen:
            kept.append(content_id)
            if video is not None:
                videos_seen.add(video)
    return kept
