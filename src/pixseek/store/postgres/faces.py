"""Faces and people in the PostgreSQL store: rows of `faces` (with their 128-d embedding, a
pgvector column under an HNSW index) and `people`, keyed by owner (docs/postgres.md).

The same behaviour as the embedded store's FaceStore (pixseek.store.faces): a face belongs to one
image content and to its owner; it may belong to one person, assigned by the clustering ("auto")
or by the user ("user"); no automatic step changes an assigned face. Writes join the store's
write transaction (`Database.begin`) and become durable at the store's commit.

Nearest faces are the owner-filtered vector search of docs/postgres.md: an owner with few faces
is searched exactly (the owner's rows, through the `(owner, ...)` indexes); a larger one through
the shared HNSW graph with iterative scans, so the owner filter does not starve the result.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pixseek.records import Face, Person, StoredFace, Vector
from pixseek.store.faces import _CARRY_OVER_IOU, FACE_EXACT_BELOW, _iou
from pixseek.store.postgres import vectors
from pixseek.store.postgres.db import Database
from pixseek.store.postgres.graph_scan import iterative_scan
from pixseek.store.postgres.schema import FACE_DIM

EXACT_BELOW = FACE_EXACT_BELOW  # an owner with at most this many faces is searched exactly
_BIGINT = (-(2**63), 2**63 - 1)

_FACE_COLUMNS = "fa.id, fa.content_id, fa.x0, fa.y0, fa.x1, fa.y1, fa.score, fa.person_id, c.width, c.height"
_WITH_IMAGE = "FROM faces fa JOIN contents c ON c.owner = fa.owner AND c.id = fa.content_id"
# A face counts while a file of its owner holds its image (files_by_content: (owner, content_id)).
_LIVE = "EXISTS (SELECT 1 FROM files f WHERE f.owner = fa.owner AND f.content_id = fa.content_id)"


def _face(row: tuple) -> StoredFace:
    fid, cid, x0, y0, x1, y1, score, person, width, height = row
    return StoredFace(fid, cid, (x0, y0, x1, y1), score, person, width, height)


def _ids(values: Any) -> list[int]:
    """Python ints for a bigint[] parameter; ids outside bigint cannot exist and are dropped
    (instead of failing the query)."""
    return [i for i in (int(v) for v in values) if _BIGINT[0] <= i <= _BIGINT[1]]


def vector_literal(vector: Vector) -> str:
    """A face embedding's text form (exact: rows round-trip bit for bit)."""
    values = np.asarray(vector, dtype=np.float32).ravel()
    if values.size != FACE_DIM:
        raise ValueError(f"a face embedding has {FACE_DIM} dimensions, not {values.size}")
    return vectors.literal(values)


class PostgresFaces:
    """The face part of PostgresStore. It shares the store's connection, lock and transaction:
    writes made through it commit with the store's commit()."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # ---- writes -----------------------------------------------------------------------------
    def add(
        self, owner: int, content_id: int, sha256: str, faces: list[Face], face_ids: list[int] | None = None
    ) -> list[int]:
        """Record the faces of a new content (inside the store's transaction). Faces that an
        earlier analysis of the same bytes had grouped keep their person. `face_ids`: the ids to
        give them (a migration keeps them; the caller then moves the id sequence past them)."""
        with self._db.lock:
            self._db.begin()
            ids: list[int] = []
            if faces:
                params: list[Any] = []
                kept = face_ids is not None
                for n, face in enumerate(faces):
                    params += [face_ids[n]] if face_ids is not None else []
                    params += [owner, content_id, *(int(v) for v in face.box), float(face.score)]
                    params.append(vector_literal(face.embedding))
                rows = self._db.execute(
                    f"INSERT INTO faces ({'id, ' if kept else ''}owner, content_id, x0, y0, x1, y1, score, embedding) VALUES "
                    + ",".join([f"({'%s, ' if kept else ''}%s, %s, %s, %s, %s, %s, %s, %s::vector)"] * len(faces))
                    + " RETURNING id",
                    params,
                ).fetchall()
                # The identity is drawn row by row in VALUES order: ascending ids are the faces' order.
                ids = sorted(int(r[0]) for r in rows)
            self._db.execute(
                "UPDATE contents SET face_count = %s WHERE owner = %s AND id = %s", (len(faces), owner, content_id)
            )
            self._carry_over(owner, content_id, sha256, list(zip(ids, (f.box for f in faces))))
        return ids

    def _carry_over(self, owner: int, content_id: int, sha256: str, new: list[tuple[int, tuple]]) -> None:
        if not new:
            return
        old = self._db.execute(
            "SELECT fa.x0, fa.y0, fa.x1, fa.y1, fa.person_id, fa.assigned_by "
            f"{_WITH_IMAGE} WHERE c.owner = %s AND c.sha256 = %s AND c.id <> %s AND fa.assigned_by IS NOT NULL "
            "ORDER BY fa.id DESC",
            (owner, sha256, content_id),
        ).fetchall()
        for face_id, box in new:
            best = max(old, key=lambda o: _iou(box, o[:4]), default=None)
            if best is not None and _iou(box, best[:4]) >= _CARRY_OVER_IOU:
                self._db.execute(
                    "UPDATE faces SET person_id = %s, assigned_by = %s WHERE owner = %s AND id = %s",
                    (best[4], best[5], owner, face_id),
                )

    # PostgreSQL keeps the HNSW graph up to date on every insert and makes rows durable at
    # commit: the embedded store's index maintenance has nothing to do here.
    def sync(self) -> None:
        pass

    def catch_up(self) -> bool:
        return False

    def rebuild(self) -> None:
        pass

    def reopen_index(self) -> None:
        pass

    def create_person(self, owner: int, name: str | None = None, person_id: int | None = None) -> int:
        with self._db.lock:
            self._db.begin()
            if person_id is not None:  # kept by a migration
                self._db.execute(
                    "INSERT INTO people (id, owner, name, created_at) VALUES (%s, %s, %s, %s)",
                    (person_id, owner, name, time.time()),
                )
                self._db.ids_continue_after("people", person_id)
                return person_id
            (new_id,) = self._db.execute(
                "INSERT INTO people (owner, name, created_at) VALUES (%s, %s, %s) RETURNING id",
                (owner, name, time.time()),
            ).fetchone()
            return int(new_id)

    def assign(self, owner: int, face_ids: list[int], person_id: int | None, by: str) -> int:
        """Put the owner's faces into a person (None: into no person); returns how many moved."""
        if by not in ("auto", "user"):
            raise ValueError(f"assigned_by must be 'auto' or 'user', not {by!r}")
        with self._db.lock:
            self._db.begin()
            moved = self._db.execute(
                "UPDATE faces SET person_id = %s, assigned_by = %s WHERE owner = %s AND id = ANY(%s::bigint[])",
                (person_id, by, owner, _ids(face_ids)),
            ).rowcount
            if by == "user":  # corrections may leave a person without faces
                self._drop_empty(owner)
        return int(moved)

    def rename(self, owner: int, person_id: int, name: str | None) -> bool:
        with self._db.lock:
            self._db.begin()
            return self._db.execute(
                "UPDATE people SET name = %s WHERE owner = %s AND id = %s", (name, owner, person_id)
            ).rowcount > 0

    def merge(self, owner: int, into: int, others: list[int]) -> None:
        """Move the faces of `others` into `into` and forget them; an unnamed `into` takes the
        first name among them."""
        others = _ids(o for o in others if o != into)
        with self._db.lock:
            self._db.begin()
            if self.person(owner, into) is None:
                raise KeyError(into)
            if not others:
                return
            names = [
                r[0]
                for r in self._db.execute(
                    "SELECT name FROM people WHERE owner = %s AND id = ANY(%s::bigint[]) AND name IS NOT NULL "
                    "ORDER BY id",
                    (owner, others),
                )
            ]
            self._db.execute(
                "UPDATE faces SET person_id = %s, assigned_by = 'user' "
                "WHERE owner = %s AND person_id = ANY(%s::bigint[])",
                (into, owner, others),
            )
            if names:
                self._db.execute(
                    "UPDATE people SET name = %s WHERE owner = %s AND id = %s AND name IS NULL", (names[0], owner, into)
                )
            self._db.execute("DELETE FROM people WHERE owner = %s AND id = ANY(%s::bigint[])", (owner, others))

    def _drop_empty(self, owner: int) -> None:
        self._db.execute(
            "DELETE FROM people p WHERE p.owner = %s AND NOT EXISTS "
            "(SELECT 1 FROM faces fa WHERE fa.owner = p.owner AND fa.person_id = p.id)",
            (owner,),
        )

    # ---- reads ------------------------------------------------------------------------------
    def get(self, owner: int, face_ids: list[int], live_only: bool = True) -> list[StoredFace]:
        """The owner's faces among face_ids, in the given order (others are dropped)."""
        wanted = [int(i) for i in face_ids]
        live = f"AND {_LIVE}" if live_only else ""
        rows = self._db.execute(
            f"SELECT {_FACE_COLUMNS} {_WITH_IMAGE} WHERE fa.owner = %s AND fa.id = ANY(%s::bigint[]) {live}",
            (owner, _ids(wanted)),
        ).fetchall()
        found = {row[0]: _face(row) for row in rows}
        return [found[i] for i in wanted if i in found]

    def export(self, owner: int, content_ids: list[int]) -> dict[int, list[Face]]:
        """The faces of these contents as analysed (box, score, embedding), ascending face id."""
        found: dict[int, list[Face]] = {}
        if not content_ids:
            return found
        rows = self._db.execute(
            "SELECT content_id, x0, y0, x1, y1, score, embedding FROM faces "
            "WHERE owner = %s AND content_id = ANY(%s::bigint[]) ORDER BY id",
            (owner, _ids(content_ids)),
            binary=True,
        ).fetchall()
        for row, vector in zip(rows, vectors.from_binary([r[6] for r in rows], FACE_DIM)):
            found.setdefault(int(row[0]), []).append(Face(tuple(row[1:5]), float(row[5]), vector))
        return found

    def of_images(self, owner: int, content_ids: list[int]) -> dict[int, list[StoredFace]]:
        """The owner's faces in each image, left to right."""
        result: dict[int, list[StoredFace]] = {int(c): [] for c in content_ids}
        if result:
            for row in self._db.execute(
                f"SELECT {_FACE_COLUMNS} {_WITH_IMAGE} WHERE fa.owner = %s AND fa.content_id = ANY(%s::bigint[]) "
                "ORDER BY fa.x0, fa.id",
                (owner, _ids(result)),
            ):
                result[row[1]].append(_face(row))
        return result

    def embeddings(self, owner: int, face_ids: NDArray[np.int64] | list[int]) -> NDArray[np.float32]:
        """(n, 128) float32 rows of the owner's faces in the order of face_ids; KeyError for an
        id that is not the owner's face. Read through the primary key (owner, id): without the
        owner, PostgreSQL before 18 (no skip scan) would read the whole index."""
        wanted = np.asarray(face_ids, dtype=np.int64).ravel()
        if wanted.size == 0:
            return np.zeros((0, FACE_DIM), dtype=np.float32)
        unique = np.unique(wanted)
        with self._db.lock:
            # Binary results: pgvector's binary form is (int16 dim, int16 unused, dim float4 big-endian).
            rows = self._db.execute(
                "SELECT id, embedding FROM faces WHERE owner = %s AND id = ANY(%s::bigint[])",
                (owner, _ids(unique)),
                binary=True,
            ).fetchall()
        if len(rows) < len(unique):
            missing = sorted(set(unique.tolist()) - {r[0] for r in rows})
            raise KeyError(f"no face {', '.join(map(str, missing[:10]))}")
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        block = vectors.from_binary([r[1] for r in rows], FACE_DIM)
        order = np.argsort(ids)
        position = order[np.searchsorted(ids, wanted, sorter=order)]
        return block[position]

    def owner_face_ids(self, owner: int, ungrouped_only: bool = False) -> NDArray[np.int64]:
        """The owner's live faces, ascending; ungrouped_only: those never assigned (by the
        clustering or by the user)."""
        extra = "AND fa.assigned_by IS NULL" if ungrouped_only else ""
        rows = self._db.execute(
            f"SELECT fa.id FROM faces fa WHERE fa.owner = %s {extra} AND {_LIVE} ORDER BY fa.id", (owner,)
        ).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def count(self, owner: int | None = None) -> int:
        if owner is None:
            (n,) = self._db.execute("SELECT count(*) FROM faces").fetchone()
        else:
            (n,) = self._db.execute("SELECT count(*) FROM faces WHERE owner = %s", (owner,)).fetchone()
        return int(n)

    def nearest(self, owner: int, vector: Vector, k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """The owner's k live faces nearest to `vector`: ids and Euclidean distances, nearest first."""
        none = np.zeros(0, np.int64), np.zeros(0, np.float32)
        if k <= 0:
            return none
        params = {"owner": owner, "q": vector_literal(vector), "k": int(k)}
        with self._db.lock:
            # How many faces the owner has, counted no further than the threshold needs.
            (mine,) = self._db.execute(
                "SELECT count(*) FROM (SELECT 1 FROM faces WHERE owner = %s LIMIT %s) t", (owner, EXACT_BELOW + 1)
            ).fetchone()
            if mine == 0:
                return none
            rows = self._hnsw(params) if mine > EXACT_BELOW else None
            if rows is None or len(rows) < k:  # small owner, or the iterative scan ran out of tuples
                # "+ 0": an expression, not the index's operator, so the planner cannot take the
                # HNSW graph (without iterative scans its owner-filtered answer is cut short).
                rows = self._db.execute(
                    "SELECT fa.id, fa.embedding <-> %(q)s::vector FROM faces fa "
                    f"WHERE fa.owner = %(owner)s AND {_LIVE} "
                    "ORDER BY (fa.embedding <-> %(q)s::vector) + 0, fa.id LIMIT %(k)s",
                    params,
                ).fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        distances = np.array([r[1] for r in rows], dtype=np.float64)
        order = np.lexsort((ids, distances))  # exact distance, then id (as the exact scan)
        return ids[order], distances[order].astype(np.float32)

    def _hnsw(self, params: dict[str, Any]) -> list[tuple]:
        """The owner's live faces from the HNSW graph: iterative scan (relaxed order, so the
        caller re-sorts by exact distance) until k rows pass the filter. Settings are local to a
        transaction of their own, or to a savepoint rolled back inside the store's open batch."""
        with iterative_scan(self._db, params["k"], "pixseek_faces_nearest"):
            return self._db.execute(
                "SELECT fa.id, fa.embedding <-> %(q)s::vector FROM faces fa "
                f"WHERE fa.owner = %(owner)s AND {_LIVE} ORDER BY fa.embedding <-> %(q)s::vector LIMIT %(k)s",
                params,
            ).fetchall()

    def person(self, owner: int, person_id: int) -> Person | None:
        found = self.people(owner, person_id=person_id, include_empty=True)
        return found[0] if found else None

    def people(self, owner: int, person_id: int | None = None, include_empty: bool = False) -> list[Person]:
        """The owner's people, named first, then by how many faces they have."""
        if person_id is not None and not _ids([person_id]):
            return []
        one = "AND p.id = %(person)s" if person_id is not None else ""
        having = "" if include_empty else "HAVING count(fa.id) > 0"
        sql = f"""
            SELECT p.id, p.name, count(fa.id), count(DISTINCT fa.content_id),
                (SELECT f2.id FROM faces f2 WHERE f2.owner = p.owner AND f2.person_id = p.id
                    AND EXISTS (SELECT 1 FROM files f WHERE f.owner = f2.owner AND f.content_id = f2.content_id)
                 ORDER BY f2.score::float8 * least(f2.y1 - f2.y0, 300) DESC, f2.id LIMIT 1)
            FROM people p LEFT JOIN faces fa ON fa.owner = p.owner AND fa.person_id = p.id AND {_LIVE}
            WHERE p.owner = %(owner)s {one}
            GROUP BY p.owner, p.id {having}
            ORDER BY p.name IS NULL, count(fa.id) DESC, p.id
        """
        rows = self._db.execute(sql, {"owner": owner, "person": person_id}).fetchall()
        return [Person(*row) for row in rows]

    def names(self, owner: int) -> dict[int, str]:
        """person id -> name, for the owner's named people."""
        rows = self._db.execute("SELECT id, name FROM people WHERE owner = %s AND name IS NOT NULL", (owner,))
        return dict(rows.fetchall())

    def presence(
        self,
        owner: int,
        person_ids: list[int] | None = None,
        content_ids: list[int] | None = None,
        limit: int | None = None,
    ) -> dict[int, float]:
        """content id -> prominence (height fraction) of the largest face in it, over the owner's
        live images holding a face (of one of `person_ids`, if given), largest first."""
        if content_ids is not None and not len(content_ids):
            return {}
        clauses, params = ["fa.owner = %(owner)s", _LIVE], {"owner": owner, "limit": limit}
        if person_ids is not None:
            clauses.append("fa.person_id = ANY(%(people)s::bigint[])")
            params["people"] = _ids(person_ids)
        if content_ids is not None:
            clauses.append("fa.content_id = ANY(%(contents)s::bigint[])")
            params["contents"] = _ids(content_ids)
        rows = self._db.execute(
            "SELECT fa.content_id, max((fa.y1 - fa.y0)::float8 / c.height) AS prominence "
            f"{_WITH_IMAGE} WHERE {' AND '.join(clauses)} "
            "GROUP BY fa.content_id ORDER BY prominence DESC, fa.content_id LIMIT %(limit)s",
            params,
        ).fetchall()
        return {int(cid): float(p) for cid, p in rows}

    def assignments(self, owner: int) -> list[tuple[int, int, int | None, str | None]]:
        """(face id, content id, person id, assigned_by) of every face of the owner, live or
        not, ascending face id: the people part of what `pixseek migrate` copies."""
        rows = self._db.execute(
            "SELECT id, content_id, person_id, assigned_by FROM faces WHERE owner = %s ORDER BY id", (owner,)
        ).fetchall()
        return [(int(f), int(c), None if p is None else int(p), by) for f, c, p, by in rows]

    def bytes_on_disk(self) -> dict[str, int]:
        faces, graph, people = self._db.execute(
            "SELECT pg_total_relation_size('faces'), pg_relation_size('faces_embedding'), "
            "pg_total_relation_size('people')"
        ).fetchone()
        return {
            "faces: records and embeddings": int(faces - graph),
            "faces: ANN graph": int(graph),
            "people": int(people),
        }

    def close(self) -> None:
        pass  # the connection is the store's
