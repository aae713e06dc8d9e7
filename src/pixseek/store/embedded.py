"""The embedded store: SQLite (WAL) for metadata + column files for vectors + derived indexes.

Layout of a library directory:
    pixseek.db                 files, contents (metadata), schema version
    index/categories.rows      forward index: one 150-byte sparse row per content id
    index/embeddings.rows      one float16 embedding row per content id
    index/postings/seg-*       inverted index segments (derived, rebuildable)
    index/dense.usearch        HNSW graph over the embeddings (derived, rebuildable)

Crash safety: a content's rows are written and fsync'ed before the SQLite transaction that
creates the content commits; derived indexes only ever cover committed ids and are caught up
(or rebuilt) from the rows, so `kill -9` at any point leaves a consistent library.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from pixseek.records import (
    Analysis,
    FileState,
    ImageFilter,
    ImageMeta,
    IndexedFile,
    SparseVector,
    StoredImage,
    Vector,
)
from pixseek.store.base import StoreError, StoreStats
from pixseek.store.columns import RowFile
from pixseek.store.dense import DenseIndex
from pixseek.store.postings import PostingIndex
from pixseek.store.sparse import ROW_BYTES, decode_row, decode_rows, encode_row

SCHEMA_VERSION = 1
EMBEDDING_DIM = 1280
_SQL_CHUNK = 500  # ids per IN (...) list

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS contents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sha256 TEXT NOT NULL,
    analyzer TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    format TEXT NOT NULL,
    taken_at TEXT,
    camera_make TEXT,
    camera_model TEXT,
    gps_lat REAL,
    gps_lon REAL,
    analyzed_at REAL NOT NULL,
    UNIQUE (sha256, analyzer)
);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    content_id INTEGER NOT NULL REFERENCES contents (id),
    indexed_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS files_by_content ON files (content_id);
CREATE INDEX IF NOT EXISTS contents_by_taken_at ON contents (taken_at);
"""

_META_COLUMNS = "width, height, format, taken_at, camera_make, camera_model, gps_lat, gps_lon"


def _meta_from_row(row: tuple) -> ImageMeta:
    return ImageMeta(*row)


def _filter_sql(where: ImageFilter | None) -> tuple[str, list]:
    """SQL conditions over `files f JOIN contents c` for an ImageFilter."""
    if where is None or where.is_empty():
        return "", []
    clauses, params = [], []
    if where.path_prefix:
        prefix = where.path_prefix.rstrip("/") + "/"
        clauses.append("substr(f.path, 1, ?) = ?")  # not LIKE: paths may contain % and _
        params += [len(prefix), prefix]
    if where.taken_from:
        clauses.append("c.taken_at >= ?")
        params.append(where.taken_from)
    if where.taken_to:
        clauses.append("c.taken_at <= ?")
        params.append(where.taken_to + ("" if "T" in where.taken_to else "T99"))
    if where.camera:
        clauses.append("lower(coalesce(c.camera_make, '') || ' ' || coalesce(c.camera_model, '')) LIKE ?")
        params.append(f"%{where.camera.lower()}%")
    return " AND " + " AND ".join(clauses), params


class EmbeddedStore:
    """SQLite + column files in one directory. Safe for one writer and many readers."""

    def __init__(self, home: Path) -> None:
        self.home = home
        try:
            home.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(home / "pixseek.db", isolation_level=None, timeout=30)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the library at {home}: {exc}") from exc
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()
        index_dir = home / "index"
        self._categories = RowFile(index_dir / "categories.rows", ROW_BYTES)
        self._embeddings = RowFile(index_dir / "embeddings.rows", EMBEDDING_DIM * 2)
        self._postings = PostingIndex(index_dir / "postings")
        self._dense = DenseIndex(index_dir, EMBEDDING_DIM)
        self._in_transaction = False

    # ---- schema ---------------------------------------------------------------------------
    def _migrate(self) -> None:
        self._db.executescript(_SCHEMA)
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the library at {self.home} was written by a newer pixseek "
                f"(schema {version} > {SCHEMA_VERSION}); upgrade pixseek to use it"
            )
        # Future migrations run here, one step per version, each in its own transaction.
        if version < SCHEMA_VERSION:
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

    # ---- writes ---------------------------------------------------------------------------
    def _begin(self) -> None:
        if not self._in_transaction:
            self._db.execute("BEGIN IMMEDIATE")
            self._in_transaction = True

    def indexed_files(self, under: str | None = None) -> dict[str, IndexedFile]:
        sql = (
            "SELECT f.path, f.size, f.mtime_ns, f.content_id, c.sha256, c.analyzer "
            "FROM files f JOIN contents c ON c.id = f.content_id"
        )
        params: list = []
        if under is not None:
            prefix = under.rstrip("/") + "/"
            sql += " WHERE substr(f.path, 1, ?) = ?"
            params = [len(prefix), prefix]
        return {row[0]: IndexedFile(*row) for row in self._db.execute(sql, params)}

    def find_content(self, sha256: str, analyzer: str) -> int | None:
        row = self._db.execute(
            "SELECT id FROM contents WHERE sha256 = ? AND analyzer = ?", (sha256, analyzer)
        ).fetchone()
        return int(row[0]) if row else None

    def add_content(self, sha256: str, analyzer: str, analysis: Analysis) -> int:
        self._begin()
        m = analysis.meta
        cursor = self._db.execute(
            f"INSERT INTO contents (sha256, analyzer, {_META_COLUMNS}, analyzed_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (sha256, analyzer, m.width, m.height, m.format, m.taken_at, m.camera_make,
             m.camera_model, m.gps_lat, m.gps_lon, time.time()),
        )
        content_id = int(cursor.lastrowid)
        self._categories.write(content_id, encode_row(analysis.categories))
        self._embeddings.write(content_id, analysis.embedding.astype(np.float16).tobytes())
        return content_id

    def put_file(self, state: FileState, content_id: int) -> None:
        self._begin()
        self._db.execute(
            "INSERT OR REPLACE INTO files (path, size, mtime_ns, content_id, indexed_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (state.path, state.size, state.mtime_ns, content_id, time.time()),
        )

    def move_file(self, old_path: str, new: FileState) -> None:
        self._begin()
        self._db.execute(
            "UPDATE files SET path = ?, size = ?, mtime_ns = ? WHERE path = ?",
            (new.path, new.size, new.mtime_ns, old_path),
        )

    def remove_files(self, paths: list[str]) -> None:
        self._begin()
        self._db.executemany("DELETE FROM files WHERE path = ?", [(p,) for p in paths])

    def commit(self) -> None:
        if not self._in_transaction:
            return
        self._categories.sync()
        self._embeddings.sync()
        self._db.execute("COMMIT")
        self._in_transaction = False

    def rollback(self) -> None:
        if self._in_transaction:
            self._db.execute("ROLLBACK")
            self._in_transaction = False

    def _end(self) -> int:
        """One past the largest committed content id."""
        row = self._db.execute("SELECT max(id) FROM contents").fetchone()
        return (int(row[0]) if row[0] is not None else 0) + 1

    def refresh_indexes(self) -> None:
        end = self._end()
        self._postings.catch_up(self._categories, end)
        self._dense.catch_up(self._embeddings, end)

    def rebuild_indexes(self) -> None:
        end = self._end()
        self._postings.rebuild(self._categories, end)
        self._dense.meta_path.unlink(missing_ok=True)
        self._dense.catch_up(self._embeddings, end)

    # ---- reads ----------------------------------------------------------------------------
    def _chunks(self, ids: NDArray[np.int64] | list[int]):
        ids = [int(i) for i in ids]
        for i in range(0, len(ids), _SQL_CHUNK):
            yield ids[i : i + _SQL_CHUNK]

    def get_images(self, content_ids: list[int]) -> list[StoredImage]:
        found: dict[int, StoredImage] = {}
        for chunk in self._chunks(content_ids):
            marks = ",".join("?" * len(chunk))
            for row in self._db.execute(
                f"SELECT id, sha256, {_META_COLUMNS} FROM contents WHERE id IN ({marks})", chunk
            ):
                found[row[0]] = StoredImage(row[0], row[1], [], _meta_from_row(row[2:]), SparseVector.from_dict({}))
            for cid, path in self._db.execute(
                f"SELECT content_id, path FROM files WHERE content_id IN ({marks}) ORDER BY path", chunk
            ):
                found[cid].paths.append(path)
        result = []
        for cid in content_ids:
            image = found.get(int(cid))
            if image is not None and image.paths:
                image.categories = decode_row(self._categories.read(np.array([cid]))[0].tobytes())
                result.append(image)
        return result

    def content_of_path(self, path: str) -> int | None:
        row = self._db.execute("SELECT content_id FROM files WHERE path = ?", (path,)).fetchone()
        return int(row[0]) if row else None

    def live(self, content_ids: NDArray[np.int64], where: ImageFilter | None = None) -> NDArray[np.bool_]:
        condition, params = _filter_sql(where)
        alive: set[int] = set()
        for chunk in self._chunks(content_ids):
            marks = ",".join("?" * len(chunk))
            alive.update(
                r[0]
                for r in self._db.execute(
                    "SELECT DISTINCT f.content_id FROM files f JOIN contents c ON c.id = f.content_id "
                    f"WHERE f.content_id IN ({marks}){condition}",
                    chunk + params,
                )
            )
        return np.array([int(i) in alive for i in content_ids], dtype=bool)

    def matching(self, where: ImageFilter) -> NDArray[np.int64]:
        condition, params = _filter_sql(where)
        rows = self._db.execute(
            "SELECT DISTINCT f.content_id FROM files f JOIN contents c ON c.id = f.content_id "
            f"WHERE 1{condition} ORDER BY f.content_id",
            params,
        ).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def categories(self, content_ids: NDArray[np.int64]) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
        return decode_rows(self._categories.read(content_ids))

    def embeddings(self, content_ids: NDArray[np.int64]) -> NDArray[np.float32]:
        return self._embeddings.read(content_ids).view(np.float16).astype(np.float32)

    def sparse_candidates(self, query: SparseVector, min_impact: float, budget: int) -> NDArray[np.int64]:
        end = self._end()
        ids = self._postings.candidates(query, min_impact, budget)
        ids = ids[ids < end]
        covered = self._postings.covered_until
        if covered < end:  # not yet in the posting lists: scan those forward rows directly
            tail_classes, tail_probs = decode_rows(self._categories.read_range(covered, end))
            weight = np.zeros(1000, dtype=np.float32)
            weight[query.ids] = query.weights
            hit = (weight[tail_classes] * tail_probs >= min_impact).any(axis=1)
            ids = np.union1d(ids, np.nonzero(hit)[0] + covered)
        return ids.astype(np.int64)

    def knn(self, vector: Vector, k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        return self._dense.search(vector, k, self._embeddings, self._end())

    def content_count(self) -> int:
        return self._end() - 1

    def stats(self) -> StoreStats:
        (files,) = self._db.execute("SELECT count(*) FROM files").fetchone()
        (live_count,) = self._db.execute("SELECT count(DISTINCT content_id) FROM files").fetchone()
        (contents,) = self._db.execute("SELECT count(*) FROM contents").fetchone()
        analyzers = dict(
            self._db.execute("SELECT analyzer, count(*) FROM contents GROUP BY analyzer").fetchall()
        )
        db_bytes = sum(
            p.stat().st_size for p in self.home.glob("pixseek.db*") if p.is_file()
        )
        return StoreStats(
            images=live_count,
            files=files,
            unreferenced=contents - live_count,
            bytes_by_part={
                "metadata (SQLite)": db_bytes,
                "categories: forward rows": self._categories.rows() * ROW_BYTES,
                "categories: posting lists": self._postings.bytes_on_disk(),
                "embeddings": self._embeddings.rows() * EMBEDDING_DIM * 2,
                "ANN graph": self._dense.bytes_on_disk(),
            },
            analyzers=analyzers,
        )

    def close(self) -> None:
        self.rollback()
        self._categories.close()
        self._embeddings.close()
        self._db.close()
