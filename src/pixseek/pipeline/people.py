"""Grouping faces into people: incremental, and stable as new photos arrive.

Each run looks only at faces never grouped before, oldest first (the approach of the photo
managers people use, e.g. Immich's, over dlib's 128-d embeddings):
  * a face joins the person most of its grouped neighbours (within CLUSTER_DISTANCE) belong to;
  * else, if it has at least `min_faces - 1` ungrouped neighbours, it starts a new person, and
    those neighbours join it at once (so a burst of near-identical faces, more than a neighbour
    list holds, still makes one person);
  * else it waits, ungrouped, for a later run (a person seen once is not a person yet).
No run changes a face that is already grouped, so existing people never reshuffle; user
corrections (merge, split, remove) are stored as such and are never undone.

CLUSTER_DISTANCE is stricter than the search threshold: a wrong merge is worse than a split
(one click merges two people; untangling a merged person means picking faces one by one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from numpy.typing import NDArray

from pixseek.records import Person, visible_text
from pixseek.store.base import ID_MAX, FaceRecords, Store
from pixseek.store.faces import NAME_MAX

# Calibrated on the face set with the face search cut-off (search/faces.py: SAME_PERSON_DISTANCE, 0.55);
# grouping is stricter still: a wrong merge is worse than a split.
CLUSTER_DISTANCE = 0.5
MIN_FACES = 2  # faces (similar to each other) it takes to start a person
NEIGHBOURS = 32
EXACT_MAX = 50_000  # up to this many faces, neighbours come from one exact matrix product
_BLOCK = 1024

Neighbours = tuple[NDArray[np.int64], NDArray[np.float32]]  # face ids, distances: nearest first


@dataclass
class ClusterReport:
    looked_at: int = 0  # ungrouped faces considered
    joined: int = 0  # faces added to people that existed before this run
    new_people: int = 0
    in_new_people: int = 0  # faces in the people this run started
    waiting: int = 0  # faces left ungrouped until more like them arrive


def cluster_faces(
    store: Store,
    owner: int,
    distance: float = CLUSTER_DISTANCE,
    min_faces: int = MIN_FACES,
) -> ClusterReport:
    """Group the owner's ungrouped faces (see the module doc); commits when done."""
    faces = store.faces
    pending = faces.owner_face_ids(owner, ungrouped_only=True)
    report = ClusterReport(looked_at=len(pending))
    if not len(pending):
        return report
    everyone = faces.owner_face_ids(owner)
    person_of = {f.id: f.person_id for f in faces.get(owner, everyone.tolist())}
    neighbours = _neighbour_finder(faces, owner, everyone)
    pending_neighbours = dict(zip(pending.tolist(), neighbours(pending)))

    def close_faces(face_id: int) -> tuple[list[int], dict[int, float]]:
        ids, dists = pending_neighbours[face_id]
        near = {int(i): float(d) for i, d in zip(ids, dists) if d <= distance and int(i) != face_id}
        return list(near), near

    started: set[int] = set()

    def join(face_id: int, person: int) -> None:
        faces.assign(owner, [face_id], person, "auto")
        person_of[face_id] = person
        if person in started:
            report.in_new_people += 1
        else:
            report.joined += 1

    waiting: list[int] = []
    for face_id in pending.tolist():
        if person_of.get(face_id) is not None:  # joined a person started by a neighbour
            continue
        close, dist = close_faces(face_id)
        person = _vote(close, dist, person_of)
        if person is not None:
            join(face_id, person)
        elif len(close) + 1 >= min_faces:
            person = faces.create_person(owner)
            started.add(person)
            report.new_people += 1
            for member in [face_id, *close]:
                if person_of.get(member) is None:
                    join(member, person)
        else:
            waiting.append(face_id)
    # Faces that came before the people they resemble were started: one more look.
    for face_id in waiting:
        person = _vote(*close_faces(face_id), person_of)
        if person is not None:
            join(face_id, person)
        else:
            report.waiting += 1
    store.commit()
    return report


def _neighbour_finder(
    faces: FaceRecords, owner: int, everyone: NDArray[np.int64]
) -> Callable[[NDArray[np.int64]], list[Neighbours]]:
    """Nearest faces of some of the owner's faces: exact (blocked matrix products) for a
    library of up to EXACT_MAX faces, else one ANN query per face."""
    if len(everyone) > EXACT_MAX:
        return lambda ids: [faces.nearest(owner, v, NEIGHBOURS) for v in faces.embeddings(owner, ids)]
    all_vectors = faces.embeddings(owner, everyone)
    all_norms = (all_vectors**2).sum(axis=1)

    def exact(ids: NDArray[np.int64]) -> list[Neighbours]:
        found: list[Neighbours] = []
        k = min(NEIGHBOURS, len(everyone))
        for lo in range(0, len(ids), _BLOCK):
            block = faces.embeddings(owner, ids[lo : lo + _BLOCK])
            squared = (block**2).sum(axis=1)[:, None] + all_norms[None, :] - 2.0 * block @ all_vectors.T
            dists = np.sqrt(np.maximum(squared, 0.0))
            top = np.argpartition(dists, k - 1, axis=1)[:, :k]
            for row, cols in zip(dists, top):
                order = cols[np.argsort(row[cols], kind="stable")]
                found.append((everyone[order], row[order].astype(np.float32)))
        return found

    return exact


def _vote(close: list[int], distance_of: dict[int, float], person_of: dict[int, int | None]) -> int | None:
    """The person most of the close faces belong to (ties: the one with the nearest face)."""
    votes: dict[int, list[float]] = {}
    for face_id in close:
        person = person_of.get(face_id)
        if person is not None:
            votes.setdefault(person, []).append(distance_of[face_id])
    if not votes:
        return None
    return min(votes, key=lambda p: (-len(votes[p]), min(votes[p])))


# ---- corrections (the CLI and the service make them through these) -----------------------------
class CorrectionError(ValueError):
    """A correction that cannot be made; the message is for the user."""


class NotFound(CorrectionError):
    """No such person or face for this user (whether or not another user has one). `kind` and
    `ids` let the HTTP API name the ids as its clients know them."""

    def __init__(self, kind: str, ids: list[int]) -> None:
        super().__init__(f"no {kind} {', '.join(map(str, ids))}")
        self.kind = kind
        self.ids = ids


class PersonNotFound(NotFound):
    def __init__(self, person_id: int) -> None:
        super().__init__("person", [person_id])


class FaceNotFound(NotFound):
    def __init__(self, face_ids: list[int]) -> None:
        super().__init__("face", face_ids)


class NotTheirFaces(CorrectionError):
    """Faces of the user that are not faces of the person named."""

    def __init__(self, person_id: int, face_ids: list[int]) -> None:
        super().__init__(f"not faces of person {person_id}: {', '.join(map(str, face_ids))}")
        self.person_id = person_id
        self.face_ids = face_ids


@dataclass
class Correction:
    """What a correction did: the person acted on (None once no face is left in it), the person
    a split made, and how many faces moved."""

    person: Person | None
    new_person: Person | None = None
    faces_moved: int = 0


def get_person(store: Store, owner: int, person_id: int) -> Person:
    """The owner's person with this id; PersonNotFound also for another user's id."""
    person = store.faces.person(owner, person_id) if 1 <= person_id <= ID_MAX else None
    if person is None:
        raise PersonNotFound(person_id)
    return person


def _own_faces(store: Store, owner: int, face_ids: list[int], person_id: int | None = None) -> list[int]:
    """The owner's faces among face_ids (FaceNotFound names those that are not), and with
    person_id given, all of them that person's. Duplicates are dropped."""
    ids = list(dict.fromkeys(face_ids))
    if not ids:
        raise CorrectionError("no faces given")
    found = {f.id: f for f in store.faces.get(owner, [i for i in ids if 1 <= i <= ID_MAX], live_only=False)}
    missing = [i for i in ids if i not in found]
    if missing:
        raise FaceNotFound(missing)
    if person_id is not None:
        wrong = [i for i in ids if found[i].person_id != person_id]
        if wrong:
            raise NotTheirFaces(person_id, wrong)
    return ids


def clean_name(name: str | None) -> str | None:
    """A person's name as stored: spaces collapsed and trimmed, invisible characters (bidi
    overrides, zero-width...) removed as from file names; None for no name."""
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in (name or "") if not c.isspace()):
        raise CorrectionError("name: control characters are not allowed")
    clean = " ".join(visible_text(name or "").split())
    if len(clean) > NAME_MAX:
        raise CorrectionError(f"name: at most {NAME_MAX} characters (got {len(clean)})")
    return clean or None


def _done(store: Store, owner: int, person_id: int, moved: int, new_person: int | None = None) -> Correction:
    store.commit()
    return Correction(
        person=store.faces.person(owner, person_id),
        new_person=store.faces.person(owner, new_person) if new_person is not None else None,
        faces_moved=moved,
    )


def name_person(store: Store, owner: int, person_id: int, name: str | None) -> Person:
    """Name a person (None or blank: no name)."""
    clean = clean_name(name)
    get_person(store, owner, person_id)
    store.faces.rename(owner, person_id, clean)
    store.commit()
    return get_person(store, owner, person_id)


def merge_people(store: Store, owner: int, into: int, others: list[int]) -> Correction:
    """`others` are `into` as well: their faces move over (an unnamed `into` takes their name)."""
    get_person(store, owner, into)
    others = [o for o in dict.fromkeys(others) if o != into]
    moved = sum(get_person(store, owner, other).faces for other in others)
    store.faces.merge(owner, into, others)
    return _done(store, owner, into, moved)


def split_person(store: Store, owner: int, person_id: int, face_ids: list[int]) -> Correction:
    """Faces of a person that are someone else become a new person of their own."""
    get_person(store, owner, person_id)
    ids = _own_faces(store, owner, face_ids, person_id)
    new_id = store.faces.create_person(owner)
    moved = store.faces.assign(owner, ids, new_id, "user")
    return _done(store, owner, person_id, moved, new_id)


def remove_faces(store: Store, owner: int, person_id: int, face_ids: list[int]) -> Correction:
    """Faces that are nobody worth grouping leave the person for good."""
    get_person(store, owner, person_id)
    moved = store.faces.assign(owner, _own_faces(store, owner, face_ids, person_id), None, "user")
    return _done(store, owner, person_id, moved)


def add_faces(store: Store, owner: int, person_id: int, face_ids: list[int]) -> Correction:
    """Faces (of no one, or of someone else) that are this person: "this is Alice", or an undo."""
    get_person(store, owner, person_id)
    moved = store.faces.assign(owner, _own_faces(store, owner, face_ids), person_id, "user")
    return _done(store, owner, person_id, moved)
