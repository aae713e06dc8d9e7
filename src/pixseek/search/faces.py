"""Search by face: the images holding the same person as a face in a query picture.

The query face comes from one of the user's images (its stored faces) or from any picture
(detected and embedded on the spot). Nearest faces are found in the face index, kept within
`max_distance` (SAME_PERSON_DISTANCE by default), and mapped back to their images: each image once, with
the face that matched.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from pixseek.records import Box, Face, ImageFilter, StoredFace, Vector
from pixseek.search.engine import Hit, ImageRef, QueryError, describe_image, hit_of, indexed_content
from pixseek.store.base import Store

# Calibrated on the face set (pixseek.demo.face_set.write_face_set; bench/faces.py): the same person
# is within 0.37 of themselves across crops, light, JPEG 15, rotation, grey, 1/2 and 6x size;
# different people are 0.58 apart at the closest (an over-exposed face). dlib's usual 0.6
# (99.38 % on LFW) would let that pair through, so search stops a little earlier.
SAME_PERSON_DISTANCE = 0.55  # face search cut-off; grouping (pipeline/people.py) is stricter

DetectFaces = Callable[[Path | bytes], list[Face]]
"""Find and embed the faces of a picture outside the library."""


class NoFaceError(QueryError):
    """The query picture has no face (or not the one asked for)."""


@dataclass
class QueryFace:
    number: int  # 1-based, left to right
    box: Box
    score: float
    embedding: Vector
    face_id: int | None = None  # set when the face is in the user's library
    person_id: int | None = None


@dataclass
class FaceSearchResult:
    query: str
    face: QueryFace  # the face searched for
    faces: list[QueryFace]  # every face of the query picture
    hits: list[Hit]
    took_ms: float = 0.0
    max_distance: float = SAME_PERSON_DISTANCE


@dataclass
class FaceSearch:
    store: Store
    detect_faces: DetectFaces | None = None
    analyzer_version: str | None = None  # finds a picture sent as bytes among the user's analysed ones

    def faces_in(self, owner: int, image: ImageRef) -> list[QueryFace]:
        """The faces of a picture, left to right: stored ones for the user's images (also when
        sent as bytes that are one of them), else detected."""
        content_id = indexed_content(self.store, owner, image)
        if content_id is None and isinstance(image, bytes) and self.analyzer_version is not None:
            content_id = self._live_content_of_bytes(owner, image)
            # Stored without faces (perhaps analysed with faces off): look at the picture itself.
            if content_id is not None and not self.store.faces.of_images(owner, [content_id])[content_id]:
                content_id = None
        if content_id is not None:
            stored = self.store.faces.of_images(owner, [content_id])[content_id]
            vectors = self.store.faces.embeddings(owner, [f.id for f in stored]) if stored else []
            return [
                QueryFace(n, f.box, f.score, v, f.id, f.person_id)
                for n, (f, v) in enumerate(zip(stored, vectors), start=1)
            ]
        if self.detect_faces is None:
            raise QueryError("this engine cannot analyse new images (no face models given)")
        assert not isinstance(image, int)
        found = sorted(self.detect_faces(image), key=lambda f: (f.box[0], f.box[1]))
        return [QueryFace(n, f.box, f.score, f.embedding) for n, f in enumerate(found, start=1)]

    def _live_content_of_bytes(self, owner: int, data: bytes) -> int | None:
        assert self.analyzer_version is not None
        found = self.store.find_content(owner, hashlib.sha256(data).hexdigest(), self.analyzer_version)
        if found is None or not self.store.live(owner, np.array([found], dtype=np.int64))[0]:
            return None
        return found

    def similar(
        self,
        owner: int,
        image: ImageRef,
        face: int | None = None,
        limit: int = 20,
        offset: int = 0,
        max_distance: float = SAME_PERSON_DISTANCE,
        where: ImageFilter | None = None,
    ) -> FaceSearchResult:
        """Images with the same person as face number `face` of `image` (default: its largest)."""
        started = time.perf_counter()
        faces = self.faces_in(owner, image)
        if not faces:
            raise NoFaceError(f"no face found in {describe_image(image)}")
        if face is None:
            chosen = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
        elif 1 <= face <= len(faces):
            chosen = faces[face - 1]
        else:
            raise NoFaceError(f"{describe_image(image)} has {len(faces)} face(s): choose 1..{len(faces)}, not {face}")
        # A picture sent (bytes) is searched for as sent: its own copy in the library is a result too.
        exclude = None if isinstance(image, bytes) else chosen.face_id
        hits = self.by_vector(owner, chosen.embedding, limit, offset, max_distance, where, exclude=exclude)
        return FaceSearchResult(
            query=describe_image(image),
            face=chosen,
            faces=faces,
            hits=hits,
            took_ms=(time.perf_counter() - started) * 1e3,
            max_distance=max_distance,
        )

    def by_vector(
        self,
        owner: int,
        vector: Vector,
        limit: int = 20,
        offset: int = 0,
        max_distance: float = SAME_PERSON_DISTANCE,
        where: ImageFilter | None = None,
        exclude: int | None = None,
    ) -> list[Hit]:
        """The owner's images holding a face within max_distance of `vector`, nearest first."""
        wanted = offset + limit
        k = max(4 * wanted, 64)
        while True:
            ids, dists = self.store.faces.nearest(owner, vector, k)
            within = dists <= max_distance
            best: dict[int, tuple[float, StoredFace]] = {}
            found = self.store.faces.get(owner, ids[within].tolist())
            distance_of = dict(zip(ids.tolist(), dists.tolist()))
            for stored in found:  # nearest first: the first face seen in an image is its best
                if stored.id != exclude and stored.content_id not in best:
                    best[stored.content_id] = (distance_of[stored.id], stored)
            content_ids = np.fromiter(best, dtype=np.int64, count=len(best))
            allowed = content_ids[self.store.live(owner, content_ids, where)] if len(best) else content_ids
            # More faces within reach than fetched, and the page is not full: look further.
            if len(allowed) >= wanted or within.sum() < len(ids) or len(ids) < k:
                break
            k *= 4
        chosen = allowed[offset:wanted].tolist()
        hits = []
        for image in self.store.get_images(owner, chosen):
            distance, stored = best[image.content_id]
            hits.append(hit_of(image, 1.0 - distance, [f"face distance {distance:.2f}"], [stored]))
        return hits

