"""Faces and people in the embedded store: SQLite tables, a column file of 128-d embeddings, and
an ANN index over them (Euclidean; exact scan below a size, HNSW above, like the images').

A face belongs to one image content and to its owner; it may belong to one person. A person's
faces are assigned by the clustering ("auto") or by the user ("user": merges, splits, removals).
No automatic step ever changes an assigned face, which is what keeps people stable.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np
from numpy.typing import NDArray

from pixseek.records import Face, Person, StoredFace, Vector
from pixseek.store.columns import RowFile
from pixseek.store.dense import DenseIndex

FACE_DIM = 128
FACE_EXACT_BELOW = 20_000
NAME_MAX = 100
_SQL_CHUNK = 500
_CARRY_OVER_IOU = 0.5  # a re-analysed face takes the person of the old face it overlaps this much

SCHEMA_V3 = """
CREATE TABLE IF NOT EXISTS people (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner INTEGER NOT NULL REFERENCES users (id),
    name TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS people_by_owner ON people (owner, name);
CREATE TABLE IF NOT EXISTS faces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner INTEGER NOT NULL REFERENCES users (id),
    content_id INTEGER NOT NULL REFERENCES contents (id),
    x0 INTEGER NOT NULL, y0 INTEGER NOT NULL, x1 INTEGER NOT NULL, y1 INTEGER NOT NULL,
    score REAL NOT NULL,
    person_id INTEGER REFERENCES people (id) ON DELETE SET NULL,
    assigned_by TEXT CHECK (assigned_by IN ('auto', 'user'))
);
CREATE INDEX IF NOT EXISTS faces_by_content ON faces (content_id);
CREATE INDEX IF NOT EXISTS faces_by_owner_person ON faces (owner, person_id);
"""
# contents.face_count: faces found (NULL: the analysis did not look for faces).
MIGRATE_V2_TO_V3 = SCHEMA_V3 + "ALTER TABLE contents ADD COLUMN face_count INTEGER;"

_FACE_COLUMNS = "fa.id, fa.content_id, fa.x0, fa.y0, fa.x1, fa.y1, fa.score, fa.person_id, c.width, c.height"
# A face counts while a file of its owner holds its image.
_LIVE = "EXISTS (SELECT 1 FROM files f WHERE f.content_id = fa.content_id AND f.owner = fa.owner)"


def _face(row: tuple) -> StoredFace:
    fid, cid, x0, y0, x1, y1, score, person, width, height = row
    return StoredFace(fid, cid, (x0, y0, x1, y1), score, person, width, height)


def _iou(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _chunks(ids: list[int]):
    for i in range(0, len(ids), _SQL_CHUNK):
        yield ids[i : i + _SQL_CHUNK]


class FaceStore:
    """The face part of EmbeddedStore. It shares the store's connection, lock and transaction:
    writes made through it commit with the store's commit()."""

    def __init__(
        self,
        db: sqlite3.Connection,
        lock: threading.RLock,
        index_dir: Path,
        begin: Callable[[], None],
        follow_writers: Callable[[], None],
    ) -> None:
        self._db = db
        self._lock = lock
        self._begin = begin  # opens the store's write transaction if none is open
        self._follow_writers = follow_writers  # reloads derived indexes another process rewrote
        self._rows = RowFile(index_dir / "faces.rows", FACE_DIM * 4)
        self._index = DenseIndex(
            index_dir, FACE_DIM, FACE_EXACT_BELOW, name="faces", metric="l2", row_dtype=np.float32
        )

    # ---- writes -----------------------------------------------------------------------------
    def add(
        self, owner: int, content_id: int, sha256: str, faces: list[Face], face_ids: list[int] | None = None
    ) -> list[int]:
        """Record the faces of a new content (inside the store's transaction). Faces that an
        earlier analysis of the same bytes had grouped keep their person."""
        with self._lock:
            self._begin()
            ids = []
            for face, kept_id in zip(faces, face_ids if face_ids is not None else [None] * len(faces), strict=True):
                cursor = self._db.execute(
                    "INSERT INTO faces (id, owner, content_id, x0, y0, x1, y1, score) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (kept_id, owner, content_id, *face.box, float(face.score)),
                )
                face_id = int(cursor.lastrowid)
                self._rows.write(face_id, np.asarray(face.embedding, dtype=np.float32).tobytes())
                ids.append(face_id)
            self._db.execute("UPDATE contents SET face_count = ? WHERE id = ?", (len(faces), content_id))
            self._carry_over(owner, content_id, sha256, list(zip(ids, (f.box for f in faces))))
        return ids

    def _carry_over(self, owner: int, content_id: int, sha256: str, new: list[tuple[int, tuple]]) -> None:
        if not new:
            return
        old = self._db.execute(
            "SELECT fa.x0, fa.y0, fa.x1, fa.y1, fa.person_id, fa.assigned_by FROM faces fa "
            "JOIN contents c ON c.id = fa.content_id "
            "WHERE c.owner = ? AND c.sha256 = ? AND c.id != ? AND fa.assigned_by IS NOT NULL "
            "ORDER BY fa.id DESC",
            (owner, sha256, content_id),
        ).fetchall()
        for face_id, box in new:
            best = max(old, key=lambda o: _iou(box, o[:4]), default=None)
            if best is not None and _iou(box, best[:4]) >= _CARRY_OVER_IOU:
                self._db.execute(
                    "UPDATE faces SET person_id = ?, assigned_by = ? WHERE id = ?", (best[4], best[5], face_id)
                )

    def sync(self) -> None:
        self._rows.sync()

    def end(self) -> int:
        """One past the largest committed face id."""
        (top,) = self._db.execute("SELECT max(id) FROM faces").fetchone()
        return (int(top) if top is not None else 0) + 1

    def catch_up(self) -> bool:
        """Bring the ANN index up to the committed faces; whether it changed."""
        before = self._index.covered_until
        self._index.catch_up(self._rows, self.end())
        return self._index.covered_until != before

    def rebuild(self) -> None:
        self._index.meta_path.unlink(missing_ok=True)
        self._index.catch_up(self._rows, self.end())

    def reopen_index(self) -> None:
        self._index = self._index.reopened()

    def create_person(self, owner: int, name: str | None = None, person_id: int | None = None) -> int:
        with self._lock:
            self._begin()
            cursor = self._db.execute(
                "INSERT INTO people (id, owner, name, created_at) VALUES (?, ?, ?, ?)",
                (person_id, owner, name, time.time()),
            )
            return int(cursor.lastrowid)

    def assign(self, owner: int, face_ids: list[int], person_id: int | None, by: str) -> int:
        """Put the owner's faces into a person (None: into no person); returns how many moved."""
        if by not in ("auto", "user"):
            raise ValueError(f"assigned_by must be 'auto' or 'user', not {by!r}")
        moved = 0
        with self._lock:
            self._begin()
            for chunk in _chunks([int(i) for i in face_ids]):
                marks = ",".join("?" * len(chunk))
                moved += self._db.execute(
                    f"UPDATE faces SET person_id = ?, assigned_by = ? WHERE owner = ? AND id IN ({marks})",
                    [person_id, by, owner, *chunk],
                ).rowcount
            if by == "user":  # corrections may leave a person without faces
                self._drop_empty(owner)
        return moved

    def rename(self, owner: int, person_id: int, name: str | None) -> bool:
        with self._lock:
            self._begin()
            return self._db.execute(
                "UPDATE people SET name = ? WHERE id = ? AND owner = ?", (name, person_id, owner)
            ).rowcount > 0

    def merge(self, owner: int, into: int, others: list[int]) -> None:
        """Move the faces of `others` into `into` and forget them; an unnamed `into` takes the
        first name among them."""
        others = [o for o in others if o != into]
        with self._lock:
            self._begin()
            marks = ",".join("?" * len(others))
            if self.person(owner, into) is None:
                raise KeyError(into)
            if not others:
                return
            names = [
                r[0]
                for r in self._db.execute(
                    f"SELECT name FROM people WHERE owner = ? AND id IN ({marks}) AND name IS NOT NULL ORDER BY id",
                    [owner, *others],
                )
            ]
            self._db.execute(
                f"UPDATE faces SET person_id = ?, assigned_by = 'user' WHERE owner = ? AND person_id IN ({marks})",
                [into, owner, *others],
            )
            if names:
                self._db.execute(
                    "UPDATE people SET name = ? WHERE id = ? AND owner = ? AND name IS NULL", (names[0], into, owner)
                )
            self._db.execute(f"DELETE FROM people WHERE owner = ? AND id IN ({marks})", [owner, *others])

    def _drop_empty(self, owner: int) -> None:
        self._db.execute(
            "DELETE FROM people WHERE owner = ? AND NOT EXISTS "
            "(SELECT 1 FROM faces fa WHERE fa.person_id = people.id)",
            (owner,),
        )

    # ---- reads ------------------------------------------------------------------------------
    def get(self, owner: int, face_ids: list[int], live_only: bool = True) -> list[StoredFace]:
        """The owner's faces among face_ids, in the given order (others are dropped)."""
        found: dict[int, StoredFace] = {}
        live = f"AND {_LIVE}" if live_only else ""
        with self._lock:
            for chunk in _chunks([int(i) for i in face_ids]):
                marks = ",".join("?" * len(chunk))
                for row in self._db.execute(
                    f"SELECT {_FACE_COLUMNS} FROM faces fa JOIN contents c ON c.id = fa.content_id "
                    f"WHERE fa.id IN ({marks}) AND fa.owner = ? {live}",
                    [*chunk, owner],
                ):
                    found[row[0]] = _face(row)
        return [found[int(i)] for i in face_ids if int(i) in found]

    def of_images(self, owner: int, content_ids: list[int]) -> dict[int, list[StoredFace]]:
        """The owner's faces in each image, left to right."""
        result: dict[int, list[StoredFace]] = {int(c): [] for c in content_ids}
        with self._lock:
            for chunk in _chunks(list(result)):
                marks = ",".join("?" * len(chunk))
                for row in self._db.execute(
                    f"SELECT {_FACE_COLUMNS} FROM faces fa JOIN contents c ON c.id = fa.content_id "
                    f"WHERE fa.content_id IN ({marks}) AND fa.owner = ? ORDER BY fa.x0, fa.id",
                    [*chunk, owner],
                ):
                    result[row[1]].append(_face(row))
        return result

    def embeddings(self, owner: int, face_ids: NDArray[np.int64] | list[int]) -> NDArray[np.float32]:
        # One column file for every owner: the ids, vetted by the caller, are enough here.
        return self._rows.read(np.asarray(face_ids, dtype=np.int64)).view(np.float32)

    def export(self, owner: int, content_ids: list[int]) -> dict[int, list[Face]]:
        """The faces of these contents as analysed (box, score, embedding), ascending face id."""
        found: dict[int, list[Face]] = {}
        with self._lock:
            for chunk in _chunks(content_ids):
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT id, content_id, x0, y0, x1, y1, score FROM faces "
                    f"WHERE owner = ? AND content_id IN ({marks}) ORDER BY id",
                    [owner, *chunk],
                ).fetchall()
                vectors = self.embeddings(owner, [r[0] for r in rows]) if rows else []
                for row, vector in zip(rows, vectors):
                    found.setdefault(int(row[1]), []).append(Face(tuple(row[2:6]), float(row[6]), vector.copy()))
        return found

    def assignments(self, owner: int) -> list[tuple[int, int, int | None, str | None]]:
        """(face id, content id, person id, assigned by) of all the owner's faces, live or not,
        ascending (a library being moved)."""
        with self._lock:
            return [
                (int(f), int(c), None if p is None else int(p), by)
                for f, c, p, by in self._db.execute(
                    "SELECT id, content_id, person_id, assigned_by FROM faces WHERE owner = ? ORDER BY id", (owner,)
                )
            ]

    def owner_face_ids(self, owner: int, ungrouped_only: bool = False) -> NDArray[np.int64]:
        """The owner's live faces, ascending; ungrouped_only: those never assigned (by the
        clustering or by the user)."""
        extra = "AND fa.assigned_by IS NULL" if ungrouped_only else ""
        with self._lock:
            rows = self._db.execute(
                f"SELECT fa.id FROM faces fa WHERE fa.owner = ? {extra} AND {_LIVE} ORDER BY fa.id", (owner,)
            ).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def count(self, owner: int | None = None) -> int:
        with self._lock:
            if owner is None:
                (n,) = self._db.execute("SELECT count(*) FROM faces").fetchone()
            else:
                (n,) = self._db.execute("SELECT count(*) FROM faces WHERE owner = ?", (owner,)).fetchone()
        return int(n)

    def nearest(self, owner: int, vector: Vector, k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """The owner's k live faces nearest to `vector`: ids and Euclidean distances, nearest first."""
        with self._lock:
            self._follow_writers()
            end = self.end()
            index = self._index
            mine, everyone = self.count(owner), end - 1
        if mine == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        if mine <= FACE_EXACT_BELOW or mine * 4 < everyone:
            # Exact inside the owner's faces: small, or a small part of a shared graph (where
            # HNSW neighbours would mostly be other users' faces).
            ids = self.owner_face_ids(owner)
            distances = index.score_rows(self.embeddings(owner, ids), vector)
            order = np.argsort(distances, kind="stable")[:k]
            return ids[order], distances[order]
        ids, distances = index.search(vector, max(4 * k, 64), self._rows, end)
        keep = {f.id for f in self.get(owner, ids.tolist())}
        mask = np.array([int(i) in keep for i in ids], dtype=bool)
        return ids[mask][:k], distances[mask][:k]

    def person(self, owner: int, person_id: int) -> Person | None:
        found = self.people(owner, person_id=person_id, include_empty=True)
        return found[0] if found else None

    def people(self, owner: int, person_id: int | None = None, include_empty: bool = False) -> list[Person]:
        """The owner's people, named first, then by how many faces they have."""
        one = "AND p.id = ?" if person_id is not None else ""
        having = "" if include_empty else "HAVING count(fa.id) > 0"
        sql = f"""
            SELECT p.id, p.name, count(fa.id), count(DISTINCT fa.content_id),
                (SELECT f2.id FROM faces f2 WHERE f2.person_id = p.id
                    AND EXISTS (SELECT 1 FROM files f WHERE f.content_id = f2.content_id AND f.owner = f2.owner)
                 ORDER BY f2.score * min(f2.y1 - f2.y0, 300) DESC, f2.id LIMIT 1)
            FROM people p LEFT JOIN faces fa ON fa.person_id = p.id AND {_LIVE}
            WHERE p.owner = ? {one}
            GROUP BY p.id {having}
            ORDER BY p.name IS NULL, count(fa.id) DESC, p.id
        """
        params = [owner] + ([person_id] if person_id is not None else [])
        with self._lock:
            return [Person(*row) for row in self._db.execute(sql, params)]

    def names(self, owner: int) -> dict[int, str]:
        """person id -> name, for the owner's named people."""
        with self._lock:
            return dict(
                self._db.execute("SELECT id, name FROM people WHERE owner = ? AND name IS NOT NULL", (owner,))
            )

    def presence(
        self,
        owner: int,
        person_ids: list[int] | None = None,
        content_ids: list[int] | None = None,
        limit: int | None = None,
    ) -> dict[int, float]:
        """content id -> prominence (height fraction) of the largest face in it, over the owner's
        live images holding a face (of one of `person_ids`, if given), largest first."""
        clauses, params = ["fa.owner = ?", _LIVE], [owner]
        if person_ids is not None:
            clauses.append(f"fa.person_id IN ({','.join('?' * len(person_ids))})")
            params += person_ids
        result: dict[int, float] = {}
        chunks = list(_chunks(list(content_ids))) if content_ids is not None else [None]
        with self._lock:
            for chunk in chunks:
                where = list(clauses)
                args = list(params)
                if chunk is not None:
                    if not chunk:
                        continue
                    where.append(f"fa.content_id IN ({','.join('?' * len(chunk))})")
                    args += chunk
                rows = self._db.execute(
                    "SELECT fa.content_id, max((fa.y1 - fa.y0) * 1.0 / c.height) AS prominence "
                    "FROM faces fa JOIN contents c ON c.id = fa.content_id "
                    f"WHERE {' AND '.join(where)} GROUP BY fa.content_id ORDER BY prominence DESC, fa.content_id "
                    "LIMIT ?",
                    [*args, -1 if limit is None else limit],
                )
                result.update((int(cid), float(p)) for cid, p in rows)
        return result

    def bytes_on_disk(self) -> dict[str, int]:
        return {"faces: embeddings": self._rows.rows() * FACE_DIM * 4, "faces: ANN graph": self._index.bytes_on_disk()}

    def close(self) -> None:
        self._rows.close()
