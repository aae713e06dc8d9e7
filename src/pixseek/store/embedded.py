"""The embedded store: SQLite (WAL) for metadata + column files for vectors + derived indexes.

Layout of a library directory:
    pixseek.db                 files, contents (metadata), schema version
    index/categories.rows      forward index: one 150-byte sparse row per content id
    index/embeddings.rows      one float16 embedding row per content id
    index/postings/seg-*       inverted index segments (derived, rebuildable)
    index/dense.usearch        HNSW graph over the embeddings (derived, rebuildable)
    index/faces.rows           one float32 128-d face embedding row per face id
    index/faces.usearch        HNSW graph over the face embeddings (derived, rebuildable)
    index/spaces/<id>.rows     per vector space (store/spaces.py): float16 vectors by content id
    index/spaces/<id>.usearch  HNSW graph of a large space (derived, rebuildable)
    (text read in images lives in pixseek.db: its lines, and an FTS5 index over them)

Crash safety: a content's rows are written and fsync'ed before the SQLite transaction that
creates the content commits; derived indexes only ever cover committed ids and are caught up
(or rebuilt) from the rows, so `kill -9` at any point leaves a consistent library.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pixseek.records import Analysis, FileState, IndexedFile, SparseVector, version_covers
from pixseek.store.accounts import Accounts
from pixseek.store.base import KeptIds, StoreError
from pixseek.store.columns import RowFile
from pixseek.store.dense import DenseIndex
from pixseek.store.embedded_indexes import EMBEDDING_DIM
from pixseek.store.embedded_reads import _META_COLUMNS, EmbeddedReads
from pixseek.store.embedded_schema import (  # noqa: F401 (DEFAULT_OWNER, _SCHEMA_V2 re-exported)
    _SCHEMA_V2, DEFAULT_OWNER, SCHEMA_VERSION, ensure_places_table, migrate,
)
from pixseek.store.faces import FaceStore
from pixseek.store.hashes import EmbeddedHashes
from pixseek.store.learned import LearnedStore
from pixseek.store.places import PlaceStore
from pixseek.store.postings import PostingIndex
from pixseek.store.spaces import EmbeddedSpaces
from pixseek.store.sparse import ROW_BYTES, encode_row
from pixseek.store.texts import TextStore


class EmbeddedStore(EmbeddedReads):
    """SQLite + column files in one directory. Safe for one writer and many readers.

    The schema and its migrations are in store/embedded_schema.py, the record reads in
    store/embedded_reads.py, the forward rows and derived indexes in store/embedded_indexes.py;
    here: opening the library, the writes and the transaction they share."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._lock = threading.RLock()
        try:
            home.mkdir(parents=True, exist_ok=True)
            # One connection shared by a service's request threads, serialised by self._lock.
            self._db = sqlite3.connect(
                home / "pixseek.db", isolation_level=None, timeout=30, check_same_thread=False
            )
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
        self._generation = self._read_generation()
        self.accounts = Accounts(self._db, self._lock)
        self.faces = FaceStore(self._db, self._lock, index_dir, self._begin, self._follow_writers)
        self.texts = TextStore(self._db, self._lock, self._begin)
        self.places = PlaceStore(self._db, self._lock, self._begin, "?", ids_in_commit_order=True)
        self._ensure_places_table()
        self.hashes = EmbeddedHashes(self._db, self._lock, self._begin)
        self.spaces = EmbeddedSpaces(self._db, self._lock, index_dir, self._begin, self._follow_writers)
        self.learned = LearnedStore(self._db, self._lock, self._begin)

    # ---- schema ---------------------------------------------------------------------------
    def _migrate(self) -> None:
        # SCHEMA_VERSION is looked up here at each call, so that a test can set this module's.
        migrate(self._db, self.home, SCHEMA_VERSION)

    def _ensure_places_table(self) -> None:
        ensure_places_table(self._db, self._lock)

    # ---- writes ---------------------------------------------------------------------------
    def _begin(self) -> None:
        if not self._in_transaction:
            self._db.execute("BEGIN IMMEDIATE")
            self._in_transaction = True

    def indexed_files(self, owner: int, under: str | None = None) -> dict[str, IndexedFile]:
        sql = (
            "SELECT f.path, f.size, f.mtime_ns, f.content_id, c.sha256, c.analyzer "
            "FROM files f JOIN contents c ON c.id = f.content_id WHERE f.owner = ?"
        )
        params: list = [owner]
        if under is not None:
            prefix = under.rstrip("/") + "/"
            sql += " AND substr(f.path, 1, ?) = ?"
            params += [len(prefix), prefix]
        with self._lock:
            return {row[0]: IndexedFile(*row) for row in self._db.execute(sql, params)}

    def find_content(self, owner: int, sha256: str, analyzer: str) -> int | None:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, analyzer FROM contents WHERE owner = ? AND sha256 = ? ORDER BY id DESC",
                (owner, sha256),
            ).fetchall()
        return next((int(cid) for cid, made_by in rows if version_covers(made_by, analyzer)), None)

    def add_content(
        self, owner: int, sha256: str, analyzer: str, analysis: Analysis, kept_ids: KeptIds | None = None
    ) -> int:
        m = analysis.meta
        with self._lock:
            self._begin()
            cursor = self._db.execute(
                f"INSERT INTO contents (id, owner, sha256, analyzer, {_META_COLUMNS}, analyzed_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (kept_ids[0] if kept_ids else None, owner, sha256, analyzer, m.width, m.height, m.format,
                 m.taken_at, m.camera_make, m.camera_model, m.gps_lat, m.gps_lon, time.time()),
            )
            content_id = int(cursor.lastrowid)
            self._categories.write(content_id, encode_row(analysis.categories))
            self._embeddings.write(content_id, analysis.embedding.astype(np.float16).tobytes())
            if analysis.faces is not None:
                self.faces.add(owner, content_id, sha256, analysis.faces, kept_ids[1] if kept_ids else None)
            if analysis.texts is not None:
                self.texts.add(content_id, analysis.texts)
            if analysis.phash is not None:
                self.hashes.put(owner, {content_id: analysis.phash})
            for space, vector in analysis.vectors.items():
                vector = np.asarray(vector, dtype=np.float32)
                self.spaces.ensure(space, int(vector.shape[-1]))
                self.spaces.put(owner, space, [content_id], vector.reshape(1, -1))
        return content_id

    def add_contents(
        self, owner: int, items: Sequence[tuple[str, str, Analysis]], kept_ids: Sequence[KeptIds] | None = None
    ) -> list[int]:
        kept = kept_ids if kept_ids is not None else [None] * len(items)
        return [self.add_content(owner, *item, kept_ids=ids) for item, ids in zip(items, kept, strict=True)]

    def bulk_load(self) -> contextlib.AbstractContextManager[None]:
        """Nothing to defer: posting lists and the ANN graph are built by refresh_indexes anyway."""
        return contextlib.nullcontext()

    def put_file(self, owner: int, state: FileState, content_id: int) -> None:
        with self._lock:
            self._begin()
            self._db.execute(
                "INSERT OR REPLACE INTO files (path, owner, size, mtime_ns, content_id, indexed_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (state.path, owner, state.size, state.mtime_ns, content_id, time.time()),
            )

    def move_file(self, owner: int, old_path: str, new: FileState) -> None:
        with self._lock:
            self._begin()
            self._db.execute(
                "UPDATE files SET path = ?, size = ?, mtime_ns = ? WHERE path = ? AND owner = ?",
                (new.path, new.size, new.mtime_ns, old_path, owner),
            )

    def remove_files(self, owner: int, paths: list[str]) -> None:
        with self._lock:
            self._begin()
            self._db.executemany(
                "DELETE FROM files WHERE path = ? AND owner = ?", [(p, owner) for p in paths]
            )

    def remove_image(self, owner: int, content_id: int) -> list[str]:
        """Forget every file of the owner that holds this content; returns their paths."""
        with self._lock:
            paths = [
                r[0]
                for r in self._db.execute(
                    "SELECT path FROM files WHERE owner = ? AND content_id = ?", (owner, content_id)
                )
            ]
            if paths:
                self.remove_files(owner, paths)
        return paths

    def commit(self) -> None:
        with self._lock:
            if not self._in_transaction:
                return
            self._categories.sync()
            self._embeddings.sync()
            self.faces.sync()
            self.spaces.sync()
            self._db.execute("COMMIT")
            self._in_transaction = False
            self.spaces.committed()

    def rollback(self) -> None:
        with self._lock:
            if self._in_transaction:
                self._db.execute("ROLLBACK")
                self._in_transaction = False
                self.spaces.rolled_back()

    def replace_categories(self, owner: int, content_id: int, categories: SparseVector, analyzer: str) -> bool:
        with self._lock:
            self._begin()
            updated = self._db.execute(
                "UPDATE contents SET analyzer = ? WHERE id = ? AND owner = ?", (analyzer, content_id, owner)
            ).rowcount
            if not updated:
                return False
            self._categories.write(content_id, encode_row(categories))  # fsync'ed at commit, before it
            # The row lies in a posting segment already written: rebuild them at the next refresh
            # (the mark commits with the row's new analyzer version, so a crash cannot lose it).
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES ('postings_stale', '1') "
                "ON CONFLICT (key) DO UPDATE SET value = '1'"
            )
        return True

    def reconnect(self) -> None:
        """Nothing to do: a local SQLite file does not go away."""

    def close(self) -> None:
        self.rollback()
        self._categories.close()
        self._embeddings.close()
        self.faces.close()
        self.spaces.close()
        self._db.close()
