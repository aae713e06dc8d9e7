"""Named vector spaces on PostgreSQL + pgvector (store.base.VectorSpaces): the `spaces` table
names them, and each space has a table of its own, `space_<id>` (owner, content_id,
embedding halfvec(dim)), keyed by owner first like every per-user table, with an HNSW cosine
index. One table per space (rather than per dimension) keeps each HNSW graph to one model's
vectors, so no query walks another model's neighbours, and dropping a space is a DROP TABLE.

Nearest neighbours follow the faces' owner-filtered search (docs/postgres.md): an owner with few
vectors is scanned exactly through the (owner, content_id) key; a larger one goes through the
graph with iterative scans, so the owner filter still fills k rows.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pixseek.records import Vector
from pixseek.store.base import StoreError
from pixseek.store.postgres import vectors
from pixseek.store.postgres.db import Database
from pixseek.store.postgres.graph_scan import iterative_scan
from pixseek.store.spaces import SPACE_EXACT_BELOW, check_space, checked_vectors

EXACT_BELOW = SPACE_EXACT_BELOW  # an owner with at most this many vectors in a space is scanned exactly
_SPACES_LOCK = "hashtext('pixseek spaces')"  # one process at a time creates or drops a space
# A content counts while a file of its owner holds it (files_by_content: (owner, content_id)).
_LIVE = "EXISTS (SELECT 1 FROM files f WHERE f.owner = v.owner AND f.content_id = v.content_id)"


def table_of(space_id: int) -> str:
    return f"space_{int(space_id)}"


def _index_statement(space_id: int) -> str:
    table = table_of(space_id)
    return f"CREATE INDEX IF NOT EXISTS {table}_embedding ON {table} USING hnsw (embedding halfvec_cosine_ops)"


class PostgresSpaces:
    """The vector-space part of PostgresStore; shares its connection, lock and write transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.defer_indexes = False  # during a bulk load: the graphs are built once at its end

    # ---- the spaces -------------------------------------------------------------------------
    def _space(self, name: str) -> tuple[int, int]:
        row = self._db.execute("SELECT id, dim FROM spaces WHERE name = %s", (name,)).fetchone()
        if row is None:
            raise StoreError(f"no vector space named {name!r}")
        return int(row[0]), int(row[1])

    def ensure(self, space: str, dim: int) -> None:
        check_space(space, dim)
        db = self._db
        row = db.execute("SELECT dim FROM spaces WHERE name = %s", (space,)).fetchone()
        if row is None:
            with db.lock, db.transaction():
                db.execute(f"SELECT pg_advisory_xact_lock({_SPACES_LOCK})")
                row = db.execute("SELECT dim FROM spaces WHERE name = %s", (space,)).fetchone()
                if row is None:
                    (space_id,) = db.execute(
                        "INSERT INTO spaces (name, dim, created_at) VALUES (%s, %s, %s) RETURNING id",
                        (space, dim, time.time()),
                    ).fetchone()
                    table = table_of(space_id)
                    db.execute(
                        f"CREATE TABLE IF NOT EXISTS {table} (owner bigint NOT NULL, content_id bigint NOT NULL, "
                        f"embedding halfvec({dim}) NOT NULL, PRIMARY KEY (owner, content_id), "
                        "FOREIGN KEY (owner, content_id) REFERENCES contents (owner, id))"
                    )
                    if db.execute("SELECT 1 FROM pg_extension WHERE extname = 'citus'").fetchone():
                        db.execute(f"SELECT create_distributed_table('{table}', 'owner', colocate_with => 'contents')")
                    if not self.defer_indexes:
                        db.execute(_index_statement(space_id))
                    return
        if int(row[0]) != dim:
            raise StoreError(f"vector space {space!r} holds {row[0]}-d vectors, not {dim}-d")

    def spaces(self) -> dict[str, int]:
        return {name: int(dim) for name, dim in self._db.execute("SELECT name, dim FROM spaces ORDER BY id").fetchall()}

    def drop(self, space: str) -> None:
        db = self._db
        with db.lock, db.transaction():
            db.execute(f"SELECT pg_advisory_xact_lock({_SPACES_LOCK})")
            row = db.execute("SELECT id FROM spaces WHERE name = %s", (space,)).fetchone()
            if row is None:
                return
            db.execute(f"DROP TABLE IF EXISTS {table_of(row[0])}")
            db.execute("DELETE FROM spaces WHERE id = %s", (row[0],))

    def create_indexes(self) -> None:
        """The HNSW index of every space that lacks one (after a bulk load, or one cut short)."""
        ids = [int(r[0]) for r in self._db.execute("SELECT id FROM spaces ORDER BY id").fetchall()]
        with self._db.transaction():
            for space_id in ids:
                self._db.execute(_index_statement(space_id))

    def missing_indexes(self) -> list[str]:
        rows = self._db.execute(
            "SELECT 'space_' || id FROM spaces WHERE to_regclass('space_' || id || '_embedding') IS NULL"
        ).fetchall()
        return [r[0] for r in rows]

    def drop_indexes(self) -> None:
        with self._db.transaction():
            for (space_id,) in self._db.execute("SELECT id FROM spaces").fetchall():
                self._db.execute(f"DROP INDEX IF EXISTS {table_of(space_id)}_embedding")

    # ---- writes -----------------------------------------------------------------------------
    def put(self, owner: int, space: str, content_ids: Sequence[int], vectors_: NDArray[np.float32]) -> None:
        ids = [int(i) for i in content_ids]
        if not ids:
            return
        space_id, dim = self._space(space)
        rows = checked_vectors(space, dim, ids, vectors_)
        db = self._db
        with db.lock:
            db.begin()
            mine = {
                int(r[0])
                for r in db.execute(
                    "SELECT id FROM contents WHERE owner = %s AND id = ANY(%s::bigint[])", (owner, ids)
                ).fetchall()
            }
            foreign = [i for i in ids if i not in mine]
            if foreign:
                raise StoreError(f"vector space {space!r}: no content {foreign[0]} of user {owner}")
            db.execute(
                f"INSERT INTO {table_of(space_id)} (owner, content_id, embedding) "
                "SELECT %s, u.id, u.v::halfvec FROM unnest(%s::bigint[], %s::text[]) AS u(id, v) "
                "ON CONFLICT (owner, content_id) DO UPDATE SET embedding = EXCLUDED.embedding",
                (owner, ids, [vectors.literal(row) for row in rows]),
            )

    def copy_new(self, owner: int, space: str, content_ids: Sequence[int], vectors_: NDArray[np.float32]) -> None:
        """put() for contents just added in the open transaction (none has a vector yet): one
        binary COPY."""
        space_id, dim = self._space(space)
        rows = checked_vectors(space, dim, [int(i) for i in content_ids], vectors_)
        with self._db.lock:
            self._db.begin()
            self._db.copy_rows(
                table_of(space_id), ("owner", "content_id", "embedding"), ("int8", "int8", "halfvec"),
                ((owner, int(cid), row) for cid, row in zip(content_ids, rows)),
            )

    # ---- reads ------------------------------------------------------------------------------
    def get(
        self, owner: int, space: str, content_ids: NDArray[np.int64]
    ) -> tuple[NDArray[np.bool_], NDArray[np.float32]]:
        ids = [int(i) for i in np.asarray(content_ids, dtype=np.int64)]
        space_id, dim = self._space(space)
        mask = np.zeros(len(ids), dtype=bool)
        out = np.zeros((len(ids), dim), dtype=np.float32)
        if not ids:
            return mask, out
        rows = self._db.execute(
            f"SELECT content_id, embedding FROM {table_of(space_id)} WHERE owner = %s AND content_id = ANY(%s::bigint[])",
            (owner, ids),
            binary=True,
        ).fetchall()
        if rows:
            where: dict[int, list[int]] = {}
            for n, cid in enumerate(ids):
                where.setdefault(cid, []).append(n)
            found = vectors.from_binary([r[1] for r in rows], dim, half=True)
            for (cid, _), vector in zip(rows, found):
                for n in where[int(cid)]:
                    mask[n] = True
                    out[n] = vector
        return mask, out

    def missing(self, owner: int, space: str, limit: int, after: int = 0) -> NDArray[np.int64]:
        space_id, _ = self._space(space)
        rows = self._db.execute(
            "SELECT DISTINCT f.content_id FROM files f WHERE f.owner = %s AND f.content_id > %s AND NOT EXISTS "
            f"(SELECT 1 FROM {table_of(space_id)} v WHERE v.owner = f.owner AND v.content_id = f.content_id) "
            "ORDER BY 1 LIMIT %s",
            (owner, int(after), int(limit)),
        ).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def count(self, space: str, owner: int | None = None) -> int:
        row = self._db.execute("SELECT id FROM spaces WHERE name = %s", (space,)).fetchone()
        if row is None:
            return 0
        mine, params = ("WHERE v.owner = %s AND", [owner]) if owner is not None else ("WHERE", [])
        (n,) = self._db.execute(f"SELECT count(*) FROM {table_of(row[0])} v {mine} {_LIVE}", params).fetchone()
        return int(n)

    def nearest(
        self, owner: int, space: str, vector: Vector, k: int
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """The owner's k live contents most similar in the space (ids, cosines), best first."""
        none = np.zeros(0, np.int64), np.zeros(0, np.float32)
        space_id, dim = self._space(space)
        query = np.asarray(vector, dtype=np.float32).ravel()
        if query.shape != (dim,):
            raise StoreError(f"vector space {space!r} holds {dim}-d vectors, not {query.size}-d")
        if k <= 0:
            return none
        table = table_of(space_id)
        params = {"owner": owner, "q": vectors.literal(query), "k": int(k)}
        with self._db.lock:
            (mine,) = self._db.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE owner = %s LIMIT %s) t", (owner, EXACT_BELOW + 1)
            ).fetchone()
            if mine == 0:
                return none
            rows = self._hnsw(table, params) if mine > EXACT_BELOW else None
            if rows is None or len(rows) < k:  # small owner, or the iterative scan ran out of tuples
                # "+ 0": an expression, so the planner scans the owner's rows instead of the graph.
                rows = self._db.execute(
                    f"SELECT v.content_id, v.embedding <=> %(q)s::halfvec FROM {table} v "
                    f"WHERE v.owner = %(owner)s AND {_LIVE} "
                    "ORDER BY (v.embedding <=> %(q)s::halfvec) + 0, v.content_id LIMIT %(k)s",
                    params,
                ).fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        cosines = 1.0 - np.array([r[1] for r in rows], dtype=np.float64)
        order = np.lexsort((ids, -cosines))
        return ids[order], cosines[order].astype(np.float32)

    def _hnsw(self, table: str, params: dict[str, Any]) -> list[tuple]:
        """The owner's live contents from the space's graph with an iterative scan (relaxed order:
        the caller sorts); settings local to a transaction or a savepoint rolled back."""
        with iterative_scan(self._db, params["k"], "pixseek_space_nearest"):
            return self._db.execute(
                f"SELECT v.content_id, v.embedding <=> %(q)s::halfvec FROM {table} v "
                f"WHERE v.owner = %(owner)s AND {_LIVE} ORDER BY v.embedding <=> %(q)s::halfvec LIMIT %(k)s",
                params,
            ).fetchall()

    def bytes_on_disk(self) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT name, pg_total_relation_size(('space_' || id)::regclass) FROM spaces "
            "WHERE to_regclass('space_' || id) IS NOT NULL ORDER BY id"
        ).fetchall()
        return {f"PostgreSQL: space {name}": int(size) for name, size in rows}
