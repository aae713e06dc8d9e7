"""The storage contract on PostgreSQL + pgvector: one server for many users and machines.

Same records and the same answers as the embedded store (the forward rows hold the same quantised
probabilities, the posting lists the same heads), but every read goes through the owner-first
indexes, so a user's query touches only that user's rows, and PostgreSQL keeps the indexes up to
date on every write (nothing to refresh). The dense embeddings are halfvec with an HNSW index;
owners too large for an exact scan are searched through it with iterative scans, so a selective
owner filter still fills the page (docs/postgres.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pixseek.ids import unique_ids
from pixseek.records import (
    Analysis,
    FileState,
    ImageFilter,
    ImageMeta,
    IndexedFile,
    SparseVector,
    StoredImage,
    TextLine,
    Vector,
    version_covers,
)
from pixseek.store.base import KeptIds, StoreStats, filter_sql
from pixseek.store.places import PlaceStore
from pixseek.store.postgres.accounts import PostgresAccounts
from pixseek.store.postgres import vectors
from pixseek.store.postgres.db import Database
from pixseek.store.postgres.faces import PostgresFaces
from pixseek.store.postgres.schema import (
    BULK_LOAD_LOCK, EMBEDDING_DIM, HEAD_ROWS_FROM, PLACES_SCHEMA, VECTOR_INDEXES, distribute, ensure_schema,
    postings_carry_rows,
)
from pixseek.store.postgres.spaces import PostgresSpaces
from pixseek.store.postgres.hashes import PostgresHashes
from pixseek.store.postgres.learned import PostgresLearned
from pixseek.store.postgres.texts import PostgresTexts
from pixseek.store.postings import INDEX_FLOOR, MIN_PER_LIST
from pixseek.store.sparse import DEQUANT, ROW_BYTES, decode_row, decode_rows, encode_row

# k-NN for one owner: an exact scan of the owner's rows costs ~5 µs per image; an HNSW search with
# iterative scans costs what the graph walk costs until it has met enough of the owner's rows, so
# it wins for large owners and loses badly for a small share of a big table (bench/postgres.py).
EXACT_BELOW = 5_000  # owners with fewer images are searched exactly (<= ~30 ms)
EF_SEARCH = 100  # HNSW candidates per search, at least
HNSW_MAX_SCAN_TUPLES = 5_000  # where an iterative scan gives up (pgvector's 20k took seconds)
HNSW_MIN_MATCHES = 25  # use HNSW only if that many of the owner's rows are expected within the scan
OWNER_SIZE_TTL_S = 60.0  # how long an owner's image count decides exact vs HNSW search
_FLOOR = float(DEQUANT[int(np.searchsorted(DEQUANT, INDEX_FLOOR))])
_ROWS_FLOOR = float(DEQUANT[int(np.searchsorted(DEQUANT, HEAD_ROWS_FROM))])  # postings from here carry the row
_META = "c.width, c.height, c.format, c.taken_at, c.camera_make, c.camera_model, c.gps_lat, c.gps_lon"
_TABLES = ("contents", "files", "postings", "faces", "people", "text_lines", "texts", "jobs")
EXPORT_BATCH = 500  # contents per query of export_contents


# The library's list shows a video once (its poster), not each sampled frame (records.frame_path).
_NOT_A_FRAME = "f.path !~ '#t=[0-9]+[.][0-9]{3}$'"


def _filter_sql(owner: int, where: ImageFilter | None) -> tuple[str, list[Any]]:
    return filter_sql(owner, where, "%s")


_CONTENT_COLUMNS = (
    "owner", "id", "sha256", "analyzer", "width", "height", "format", "taken_at", "camera_make", "camera_model",
    "gps_lat", "gps_lon", "analyzed_at", "categories", "embedding",
)
_CONTENT_TYPES = (
    "int8", "int8", "text", "text", "int4", "int4", "text", "text", "text", "text",
    "float8", "float8", "float8", "bytea", "halfvec",
)


def _postings(row: bytes) -> list[tuple[int, float, bytes | None]]:
    """(class, probability, the row itself where a head can reach it) of a forward row's entries
    that go into the posting lists."""
    vector = decode_row(row)
    return [
        (c, p, row if p >= _ROWS_FLOOR else None)
        for c, p in zip(vector.ids.tolist(), vector.weights.tolist())
        if p >= _FLOOR
    ]


_JOIN = "files f JOIN contents c ON c.owner = f.owner AND c.id = f.content_id"


class PostgresStore:
    """The Store contract on one PostgreSQL database. Safe for many processes at once; within a
    process one connection is shared by its threads (serialised by a lock)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._db = Database(url)
        ensure_schema(self._db)
        postings_carry_rows(self._db)
        self.accounts = PostgresAccounts(self._db)
        self.faces = PostgresFaces(self._db)
        self.texts = PostgresTexts(self._db)
        self.learned = PostgresLearned(self._db)
        self.places = PlaceStore(self._db, self._db.lock, self._db.begin, "%s")
        if self._db.execute("SELECT to_regclass('places') IS NULL").fetchone()[0]:
            with self._db.transaction():
                for statement in (x.strip() for x in PLACES_SCHEMA.split(";")):
                    if statement:
                        self._db.execute(statement)
        self.spaces = PostgresSpaces(self._db)
        if self.spaces.missing_indexes():  # a bulk load cut short dropped them
            self._restore_space_indexes()
        self.hashes = PostgresHashes(self._db)
        self._owner_sizes: dict[int | None, tuple[float, int]] = {}  # owner (None: all) -> (when, images)

    # ---- writes ---------------------------------------------------------------------------
    def indexed_files(self, owner: int, under: str | None = None) -> dict[str, IndexedFile]:
        sql = (
            "SELECT f.path, f.size, f.mtime_ns, f.content_id, c.sha256, c.analyzer "
            f"FROM {_JOIN} WHERE f.owner = %s"
        )
        params: list[Any] = [owner]
        if under is not None:
            prefix = under.rstrip("/") + "/"
            sql += " AND left(f.path, %s) = %s"
            params += [len(prefix), prefix]
        return {row[0]: IndexedFile(*row) for row in self._db.execute(sql, params).fetchall()}

    def find_content(self, owner: int, sha256: str, analyzer: str) -> int | None:
        rows = self._db.execute(
            "SELECT id, analyzer FROM contents WHERE owner = %s AND sha256 = %s ORDER BY id DESC", (owner, sha256)
        ).fetchall()
        return next((int(cid) for cid, made_by in rows if version_covers(made_by, analyzer)), None)

    def add_content(self, owner: int, sha256: str, analyzer: str, analysis: Analysis) -> int:
        m = analysis.meta
        # The embedded store's forward row (one-byte quantisation), so that both stores score alike.
        row = encode_row(analysis.categories)
        with self._db.lock:
            self._db.begin()
            (content_id,) = self._db.execute(
                "INSERT INTO contents (owner, sha256, analyzer, width, height, format, taken_at, camera_make, "
                "camera_model, gps_lat, gps_lon, analyzed_at, categories, embedding) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (owner, sha256, analyzer, m.width, m.height, m.format, m.taken_at, m.camera_make, m.camera_model,
                 m.gps_lat, m.gps_lon, time.time(), row, vectors.literal(analysis.embedding)),
            ).fetchone()
            self._db.executemany(
                "INSERT INTO postings (owner, class, p, content_id, categories) VALUES (%s, %s, %s, %s, %s)",
                [(owner, c, p, content_id, carried) for c, p, carried in _postings(row)],
            )
            if analysis.faces is not None:
                self.faces.add(owner, content_id, sha256, analysis.faces)
            if analysis.texts is not None:
                self.texts.add(content_id, analysis.texts, owner)
            if analysis.phash is not None:
                self.hashes.put(owner, {content_id: analysis.phash})
            for space, vector in analysis.vectors.items():
                vector = np.asarray(vector, dtype=np.float32).reshape(1, -1)
                self.spaces.ensure(space, vector.shape[1])
                self.spaces.copy_new(owner, space, [int(content_id)], vector)
        return int(content_id)

    def add_contents(
        self, owner: int, items: Sequence[tuple[str, str, Analysis]], kept_ids: Sequence[KeptIds] | None = None
    ) -> list[int]:
        """add_content for many (sha256, analyzer, analysis) at once: the contents and their
        postings go in with one binary COPY each. The new ids ascend in the items' order (or are
        `kept_ids`' content ids)."""
        if not items:
            return []
        rows = [encode_row(analysis.categories) for _, _, analysis in items]
        now = time.time()
        with self._db.lock:
            self._db.begin()
            if kept_ids is not None:
                ids = [content_id for content_id, _ in kept_ids]
                self._db.ids_continue_after("contents", max(ids), sequence="content_ids")
            else:
                ids = [
                    int(r[0])
                    for r in self._db.execute(
                        "SELECT nextval('content_ids') FROM generate_series(1, %s) ORDER BY 1", (len(items),)
                    ).fetchall()
                ]
            self._db.copy_rows("contents", _CONTENT_COLUMNS, _CONTENT_TYPES, (
                (owner, cid, sha256, analyzer, m.width, m.height, m.format, m.taken_at, m.camera_make,
                 m.camera_model, m.gps_lat, m.gps_lon, now, row, analysis.embedding)
                for cid, (sha256, analyzer, analysis), row in zip(ids, items, rows)
                for m in (analysis.meta,)
            ))
            self._db.copy_rows(
                "postings", ("owner", "class", "p", "content_id", "categories"), ("int8", "int2", "float4", "int8", "bytea"),
                ((owner, c, p, cid, carried) for cid, row in zip(ids, rows) for c, p, carried in _postings(row)),
            )
            face_ids = [faces for _, faces in kept_ids] if kept_ids is not None else [None] * len(items)
            for cid, (sha256, _, analysis), kept_faces in zip(ids, items, face_ids, strict=True):
                if analysis.faces is not None:
                    self.faces.add(owner, cid, sha256, analysis.faces, kept_faces)
                if analysis.texts is not None:
                    self.texts.add(cid, analysis.texts, owner)
            self.hashes.put(owner, {cid: a.phash for cid, (_, _, a) in zip(ids, items) if a.phash is not None})
            by_space: dict[str, tuple[list[int], list[NDArray[np.float32]]]] = {}
            for cid, (_, _, analysis) in zip(ids, items):
                for space, vector in analysis.vectors.items():
                    by_space.setdefault(space, ([], []))[0].append(cid)
                    by_space[space][1].append(np.asarray(vector, dtype=np.float32).ravel())
            for space, (space_ids, space_vectors) in by_space.items():
                self.spaces.ensure(space, space_vectors[0].size)
                self.spaces.copy_new(owner, space, space_ids, np.stack(space_vectors))
            kept_faces_top = max((max(f) for f in face_ids if f), default=None)
            if kept_faces_top is not None:
                self._db.ids_continue_after("faces", kept_faces_top)
        return ids

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """Around a large import into an empty database (`pixseek migrate`): the HNSW indexes are
        dropped, then built once at the end. An import that fails leaves them to the next opening
        of the store (schema.restore_vector_indexes). Into a non-empty database: nothing changes.
        Builds use the server's maintenance_work_mem: raise it for millions of images."""
        if self.content_count() or not self._db.execute(f"SELECT pg_try_advisory_lock({BULK_LOAD_LOCK})").fetchone()[0]:
            yield
            return
        try:
            with self._db.transaction():
                for name in VECTOR_INDEXES:
                    self._db.execute(f"DROP INDEX IF EXISTS {name}")
            self.spaces.drop_indexes()
            self.spaces.defer_indexes = True
            yield
            self.commit()
            with self._db.transaction():
                for statement in VECTOR_INDEXES.values():
                    self._db.execute(statement)
            self.spaces.create_indexes()
        finally:
            self.spaces.defer_indexes = False
            if not (self._db.conn.closed or self._db.conn.broken):
                self._db.execute(f"SELECT pg_advisory_unlock({BULK_LOAD_LOCK})")

    def _restore_space_indexes(self) -> None:
        """The spaces' HNSW indexes, as schema.restore_vector_indexes does the others'."""
        if not self._db.execute(f"SELECT pg_try_advisory_lock({BULK_LOAD_LOCK})").fetchone()[0]:
            return
        try:
            self.spaces.create_indexes()
        finally:
            self._db.execute(f"SELECT pg_advisory_unlock({BULK_LOAD_LOCK})")

    def put_file(self, owner: int, state: FileState, content_id: int) -> None:
        with self._db.lock:
            self._db.begin()
            self._db.execute(
                "INSERT INTO files (owner, path, size, mtime_ns, content_id, indexed_at) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (owner, path) DO UPDATE SET "
                "size = EXCLUDED.size, mtime_ns = EXCLUDED.mtime_ns, content_id = EXCLUDED.content_id, "
                "indexed_at = EXCLUDED.indexed_at",
                (owner, state.path, state.size, state.mtime_ns, content_id, time.time()),
            )

    def move_file(self, owner: int, old_path: str, new: FileState) -> None:
        with self._db.lock:
            self._db.begin()
            self._db.execute(
                "UPDATE files SET path = %s, size = %s, mtime_ns = %s WHERE owner = %s AND path = %s",
                (new.path, new.size, new.mtime_ns, owner, old_path),
            )

    def remove_files(self, owner: int, paths: list[str]) -> None:
        with self._db.lock:
            self._db.begin()
            self._db.execute("DELETE FROM files WHERE owner = %s AND path = ANY(%s)", (owner, list(paths)))

    def remove_image(self, owner: int, content_id: int) -> list[str]:
        with self._db.lock:
            self._db.begin()
            rows = self._db.execute(
                "DELETE FROM files WHERE owner = %s AND content_id = %s RETURNING path", (owner, content_id)
            ).fetchall()
        return sorted(r[0] for r in rows)

    def commit(self) -> None:
        self._db.commit()

    def rollback(self) -> None:
        self._db.rollback()

    def refresh_indexes(self) -> None:
        """Nothing to do: PostgreSQL updates its indexes with every write."""

    def replace_categories(self, owner: int, content_id: int, categories: SparseVector, analyzer: str) -> bool:
        row = encode_row(categories)
        with self._db.lock:
            self._db.begin()
            updated = self._db.execute(
                "UPDATE contents SET categories = %s, analyzer = %s WHERE owner = %s AND id = %s",
                (row, analyzer, owner, content_id),
            ).rowcount
            if not updated:
                return False
            self._db.execute("DELETE FROM postings WHERE owner = %s AND content_id = %s", (owner, content_id))
            self._db.executemany(
                "INSERT INTO postings (owner, class, p, content_id, categories) VALUES (%s, %s, %s, %s, %s)",
                [(owner, c, p, content_id, carried) for c, p, carried in _postings(row)],
            )
        return True

    def rebuild_indexes(self) -> None:
        """Nothing to do (see refresh_indexes); REINDEX is the server operator's tool."""

    # ---- reads ----------------------------------------------------------------------------
    def get_images(self, owner: int, content_ids: list[int]) -> list[StoredImage]:
        ids = [int(i) for i in content_ids]
        if not ids:
            return []
        # One round trip: each content with its paths (files_by_content), as a search's page asks.
        found: dict[int, StoredImage] = {}
        for row in self._db.execute(
            f"SELECT c.id, c.sha256, {_META}, c.categories, ARRAY(SELECT f.path FROM files f "
            "WHERE f.owner = c.owner AND f.content_id = c.id ORDER BY f.path) "
            "FROM contents c WHERE c.owner = %s AND c.id = ANY(%s)",
            (owner, ids),
        ).fetchall():
            found[row[0]] = StoredImage(row[0], row[1], list(row[11]), ImageMeta(*row[2:10]), decode_row(bytes(row[10])))
        return [found[i] for i in ids if i in found and found[i].paths]

    def list_images(
        self, owner: int, where: ImageFilter | None = None, offset: int = 0, limit: int = 50
    ) -> tuple[int, list[StoredImage]]:
        """(total, one page) of the owner's images, newest first (by EXIF date, then indexing)."""
        condition, params = _filter_sql(owner, where)
        live = f"EXISTS (SELECT 1 FROM files f WHERE f.content_id = c.id AND {_NOT_A_FRAME} AND {condition})"
        if where is None or where.is_empty():
            (total,) = self._db.execute(
                f"SELECT count(DISTINCT content_id) FROM files f WHERE owner = %s AND {_NOT_A_FRAME}", (owner,)
            ).fetchone()
        else:
            (total,) = self._db.execute(
                f"SELECT count(*) FROM contents c WHERE c.owner = %s AND {live}", [owner, *params]
            ).fetchone()
        # NULLS LAST: SQLite sorts missing dates last in a descending order, and so do we.
        ids = [
            r[0]
            for r in self._db.execute(
                f"SELECT c.id FROM contents c WHERE c.owner = %s AND {live} "
                "ORDER BY c.taken_at DESC NULLS LAST, c.id DESC LIMIT %s OFFSET %s",
                [owner, *params, limit, offset],
            ).fetchall()
        ]
        return int(total), self.get_images(owner, ids)

    def content_of_path(self, owner: int, path: str) -> int | None:
        row = self._db.execute(
            "SELECT content_id FROM files WHERE owner = %s AND path = %s", (owner, path)
        ).fetchone()
        return int(row[0]) if row else None

    def live(
        self, owner: int, content_ids: NDArray[np.int64], where: ImageFilter | None = None
    ) -> NDArray[np.bool_]:
        ids = [int(i) for i in content_ids]
        if not ids:
            return np.zeros(0, dtype=bool)
        condition, params = _filter_sql(owner, where)
        alive = {
            r[0]
            for r in self._db.execute(
                f"SELECT DISTINCT f.content_id FROM {_JOIN} WHERE f.content_id = ANY(%s) AND {condition}",
                [ids, *params],
            ).fetchall()
        }
        return np.array([i in alive for i in ids], dtype=bool)

    def matching(
        self, owner: int, where: ImageFilter | None = None, limit: int | None = None
    ) -> NDArray[np.int64]:
        condition, params = _filter_sql(owner, where)
        rows = self._db.execute(
            f"SELECT DISTINCT f.content_id FROM {_JOIN} WHERE {condition} ORDER BY 1 LIMIT %s",
            [*params, limit],
        ).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def count_images(self, owner: int) -> int:
        (n,) = self._db.execute("SELECT count(*) FROM contents WHERE owner = %s", (owner,)).fetchone()
        return int(n)

    def categories(self, owner: int, content_ids: NDArray[np.int64]) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
        positions, values = self._column_of(owner, content_ids, "categories")
        rows = np.zeros((len(content_ids), ROW_BYTES), dtype=np.uint8)  # a missing id reads as an empty row
        if values:
            rows[positions] = np.frombuffer(b"".join(values), np.uint8).reshape(-1, ROW_BYTES)
        return decode_rows(rows)

    def embeddings(self, owner: int, content_ids: NDArray[np.int64]) -> NDArray[np.float32]:
        positions, values = self._column_of(owner, content_ids, "embedding")
        out = np.zeros((len(content_ids), EMBEDDING_DIM), dtype=np.float32)
        if values:
            out[positions] = vectors.from_binary(values, EMBEDDING_DIM, half=True)
        return out

    def _column_of(self, owner: int, content_ids: NDArray[np.int64], column: str) -> tuple[list[int], list[bytes]]:
        """A column of the owner's contents among content_ids, in binary: (positions in content_ids,
        values), for the rows that exist."""
        ids = [int(i) for i in content_ids]
        if not ids:
            return [], []
        rows = self._db.execute(
            f"SELECT id, {column} FROM contents WHERE owner = %s AND id = ANY(%s)", (owner, ids), binary=True
        ).fetchall()
        where = {cid: n for n, cid in enumerate(ids)}
        return [where[r[0]] for r in rows], [r[1] for r in rows]

    def sparse_candidates(
        self, owner: int, query: SparseVector, min_impact: float, budget: int
    ) -> NDArray[np.int64]:
        """The heads of the owner's posting lists, as the embedded store reads its own: per class,
        entries with weight × p >= min_impact, at most a share of `budget` proportional to the
        weight, ties in p by id."""
        plan = self._heads_plan(query, min_impact, budget)
        found = [ids for carried in (True, False) for ids, _ in [self._heads(owner, plan, carried, with_rows=False)]]
        return unique_ids(np.concatenate(found))

    def sparse_heads(
        self, owner: int, query: SparseVector, min_impact: float, budget: int
    ) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float32]]:
        """sparse_candidates and their forward rows (as categories() reads them), in one read: the
        heads that reach HEAD_ROWS_FROM carry the rows (index-only, postings_head_rows); the rows
        of lower heads' entries are read from contents."""
        plan = self._heads_plan(query, min_impact, budget)
        ids_carried, rows_carried = self._heads(owner, plan, True, with_rows=True)
        ids_lower, _ = self._heads(owner, plan, False, with_rows=False)
        # An image in several heads comes once per head with the same row: keep the first (one
        # stable sort, no scatter of 10k rows).
        order = np.argsort(ids_carried, kind="stable")
        ids = ids_carried[order]
        first = np.ones(len(ids), dtype=bool)
        first[1:] = ids[1:] != ids[:-1]
        ids = ids[first]
        rows = np.frombuffer(b"".join(rows_carried), np.uint8).reshape(-1, ROW_BYTES)[order[first]]
        missing = np.setdiff1d(ids_lower, ids) if len(ids_lower) else ids_lower
        if len(missing):  # entries of lower heads only: their rows are read from contents
            ids = np.concatenate([ids, missing])
            rows = np.concatenate([rows, np.zeros((len(missing), ROW_BYTES), dtype=np.uint8)])
            positions, values = self._column_of(owner, missing, "categories")
            if values:
                rows[len(ids) - len(missing) + np.array(positions)] = np.frombuffer(b"".join(values), np.uint8).reshape(-1, ROW_BYTES)
            order = np.argsort(ids)
            ids, rows = ids[order], rows[order]
        class_ids, probs = decode_rows(rows)
        return ids, class_ids, probs

    @staticmethod
    def _heads_plan(query: SparseVector, min_impact: float, budget: int) -> list[tuple[int, float, int]]:
        """(class, smallest p, cap) of each head a query reads."""
        weights = np.maximum(query.weights.astype(np.float64), 0.0)
        total = float(weights.sum())
        plan = []
        for cls, w in zip(query.ids.tolist(), weights.tolist()):
            if w <= 0:
                continue
            byte = int(np.searchsorted(DEQUANT, min_impact / w))
            if byte > 255:
                continue
            plan.append((cls, max(_FLOOR, float(DEQUANT[byte])), max(MIN_PER_LIST, math.ceil(budget * w / total))))
        return plan

    def _heads(
        self, owner: int, plan: list[tuple[int, float, int]], carried: bool, with_rows: bool
    ) -> tuple[NDArray[np.int64], list[bytes]]:
        """The entries (content ids, and their rows if asked) of the planned heads whose entries
        carry rows (`carried`) or of the others, in one statement whatever the number of classes
        ("animal" has hundreds): a LATERAL index-only scan of each list's head, best first."""
        heads = [h for h in plan if (h[1] >= _ROWS_FLOOR) == carried]
        if not heads:
            return np.zeros(0, dtype=np.int64), []
        assert with_rows <= carried, "rows are carried by postings_head_rows' entries only"
        columns, rows_only = ("content_id, categories", " AND categories IS NOT NULL") if carried else ("content_id", "")
        if carried and not with_rows:
            columns = "content_id"
        got = self._db.execute(
            f"SELECT h.* FROM unnest(%s::int2[], %s::real[], %s::int[]) AS q(class, floor, cap) "
            f"CROSS JOIN LATERAL (SELECT {columns} FROM postings WHERE owner = %s AND class = q.class "
            f"AND p >= q.floor{rows_only} ORDER BY p DESC, content_id LIMIT q.cap) AS h",
            ([h[0] for h in heads], [h[1] for h in heads], [h[2] for h in heads], owner),
            binary=True,
        ).fetchall()
        ids = np.array([r[0] for r in got], dtype=np.int64)
        return ids, [r[1] for r in got] if with_rows else []

    def knn(self, owner: int, vector: Vector, k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """The owner's k nearest contents by cosine similarity: exactly for a small owner; through
        HNSW with iterative scans for a large one (so an owner filter still returns k rows)."""
        literal = vectors.literal(vector)
        with self._db.lock, self._db.transaction():
            if not self._hnsw_pays_off(owner):
                # MATERIALIZED keeps the planner from answering through the HNSW index.
                sql = (
                    "WITH mine AS MATERIALIZED (SELECT id, embedding FROM contents WHERE owner = %s) "
                    "SELECT id, embedding <=> %s::halfvec AS d FROM mine ORDER BY d LIMIT %s"
                )
                params: list[Any] = [owner, literal, k]
            else:
                self._db.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
                self._db.execute(f"SET LOCAL hnsw.ef_search = {max(EF_SEARCH, int(k))}")
                self._db.execute(f"SET LOCAL hnsw.max_scan_tuples = {HNSW_MAX_SCAN_TUPLES}")
                # relaxed_order may return rows slightly out of order: sort the few exactly.
                sql = (
                    "SELECT id, d FROM (SELECT id, embedding <=> %s::halfvec AS d FROM contents "
                    "WHERE owner = %s ORDER BY embedding <=> %s::halfvec LIMIT %s) AS near ORDER BY d"
                )
                params = [literal, owner, literal, k]
            rows = self._db.execute(sql, params).fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        return ids, (1.0 - np.array([r[1] for r in rows], dtype=np.float32)).astype(np.float32)

    def _hnsw_pays_off(self, owner: int) -> bool:
        """Whether the owner's k-NN should go through HNSW: a large owner that is also a large
        enough share of the table for an iterative scan to meet its rows soon."""
        size = self._owner_size(owner)
        if size < EXACT_BELOW:
            return False
        total = self._owner_size(None)
        return size * HNSW_MAX_SCAN_TUPLES >= HNSW_MIN_MATCHES * total

    def _owner_size(self, owner: int | None) -> int:
        """The owner's image count, recounted at most every OWNER_SIZE_TTL_S (a count of a large
        owner's rows costs more than the search it decides about)."""
        counted = self._owner_sizes.get(owner)
        now = time.monotonic()
        if counted is None or now - counted[0] > OWNER_SIZE_TTL_S:
            size = self.content_count() if owner is None else self.count_images(owner)
            counted = self._owner_sizes[owner] = (now, size)
        return counted[1]

    def content_count(self) -> int:
        (n,) = self._db.execute("SELECT count(*) FROM contents").fetchone()
        return int(n)

    def others_have_contents(self, owner: int) -> bool:
        # Two range probes of an index that starts with the owner (a count(*) is ~90 ms at 1M).
        (others,) = self._db.execute(
            "SELECT EXISTS (SELECT 1 FROM contents WHERE owner < %s) OR EXISTS (SELECT 1 FROM contents WHERE owner > %s)",
            (owner, owner),
        ).fetchone()
        return bool(others)

    def stats(self, owner: int | None = None) -> StoreStats:
        """Counts for one owner (or everyone); bytes are the database's tables and indexes."""
        mine, params = ("WHERE owner = %s", [owner]) if owner is not None else ("", [])
        files, file_bytes = self._db.execute(
            f"SELECT count(*), coalesce(sum(size), 0) FROM files {mine}", params
        ).fetchone()
        (live_count,) = self._db.execute(
            f"SELECT count(*) FROM (SELECT DISTINCT owner, content_id FROM files {mine}) AS live", params
        ).fetchone()
        (contents,) = self._db.execute(f"SELECT count(*) FROM contents {mine}", params).fetchone()
        analyzers = dict(
            self._db.execute(f"SELECT analyzer, count(*) FROM contents {mine} GROUP BY analyzer", params).fetchall()
        )
        sizes = dict(
            self._db.execute(
                "SELECT t, pg_total_relation_size(t::regclass) FROM unnest(%s::text[]) AS t", (list(_TABLES),)
            ).fetchall()
        )
        return StoreStats(
            images=int(live_count),
            files=int(files),
            unreferenced=int(contents) - int(live_count),
            faces=self.faces.count(owner),
            people=len(self.faces.people(owner)) if owner is not None else 0,
            with_text=self.texts.count(owner),
            file_bytes=int(file_bytes),
            bytes_by_part={**{f"PostgreSQL: {t}": int(v) for t, v in sizes.items()}, **self.spaces.bytes_on_disk()},
            analyzers={str(a): int(n) for a, n in analyzers.items()},
            spaces={space: self.spaces.count(space, owner) for space in self.spaces.spaces()},
        )

    def export_contents(self, owner: int) -> Iterator[tuple[int, str, str, Analysis]]:
        """Every content record of the owner (with or without files), ascending id, as
        (content id, sha256, analyzer, Analysis): what `pixseek migrate` copies to another store.
        Streams EXPORT_BATCH contents per query (plus one query for their faces and one for their
        text lines), so memory stays bounded whatever the library's size. Categories are the stored
        (quantised) rows; the embedding is the stored halfvec as float32; timings are empty."""
        after = -(2**63)
        while True:
            with self._db.lock:
                rows = self._db.execute(  # binary: vectors.from_binary parses the embeddings
                    f"SELECT c.id, c.sha256, c.analyzer, {_META}, c.face_count, c.text_lines, c.categories, "
                    "c.embedding FROM contents c WHERE c.owner = %s AND c.id > %s ORDER BY c.id LIMIT %s",
                    (owner, after, EXPORT_BATCH),
                    binary=True,
                ).fetchall()
                if not rows:
                    return
                ids = [int(r[0]) for r in rows]
                faces = self.faces.export(owner, [cid for cid, r in zip(ids, rows) if r[11]])
                hashes = self.hashes.of(owner, ids)
                texts: dict[int, list[TextLine]] = {r[0]: [] for r in rows if r[12] is not None}
                if any(r[12] for r in rows):
                    for cid, text, score, x0, y0, x1, y1 in self._db.execute(
                        "SELECT content_id, text, score, x0, y0, x1, y1 FROM text_lines "
                        "WHERE owner = %s AND content_id = ANY(%s::bigint[]) ORDER BY content_id, line_no",
                        (owner, [cid for cid, r in zip(ids, rows) if r[12]]),
                    ).fetchall():
                        texts[cid].append(TextLine(text, float(score), (x0, y0, x1, y1)))
            embeddings = vectors.from_binary([r[14] for r in rows], EMBEDDING_DIM, half=True)
            id_array = np.array(ids, dtype=np.int64)
            in_spaces = {space: self.spaces.get(owner, space, id_array) for space in self.spaces.spaces()}
            for n, (row, embedding) in enumerate(zip(rows, embeddings)):
                cid = int(row[0])
                categories = decode_row(bytes(row[13]))
                analysis = Analysis(
                    meta=ImageMeta(*row[3:11]),
                    categories=categories,
                    embedding=embedding,
                    faces=None if row[11] is None else faces.get(cid, []),
                    texts=texts.get(cid),
                    phash=hashes.get(cid),
                    vectors={space: found[n] for space, (has, found) in in_spaces.items() if has[n]},
                )
                yield cid, row[1], row[2], analysis
            if len(rows) < EXPORT_BATCH:
                return
            after = ids[-1]

    def reconnect(self) -> None:
        self._db.reconnect()

    def distribute_by_owner(self) -> None:
        """On a Citus cluster: shard every user's tables by owner (schema.CITUS_DISTRIBUTION)."""
        distribute(self._db)

    def close(self) -> None:
        self._db.close()
