"""The embedded store's vector side: the forward rows (index/categories.rows, one sparse row per
content id; index/embeddings.rows, one float16 embedding per content id) and the indexes derived
from them (posting lists, the HNSW graph), the candidates they give a query, and their refresh.

Derived indexes only ever cover committed ids and are caught up (or rebuilt) from the rows under
a lock file, so that a server's job runner and a `pixseek index` run never write them at once;
a counter in meta (`index_generation`) tells other processes' stores to reload what changed.
"""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from pixseek.ids import union_of_sorted
from pixseek.records import CONCEPT_SPACE, SparseVector, Vector
from pixseek.store.columns import RowFile
from pixseek.store.dense import DenseIndex
from pixseek.store.faces import FaceStore
from pixseek.store.postings import PostingIndex
from pixseek.store.spaces import EmbeddedSpaces
from pixseek.store.sparse import decode_rows

EMBEDDING_DIM = 1280


class EmbeddedIndexes:
    """The forward rows and derived indexes of EmbeddedStore (a base class of it: the state below
    is set up by EmbeddedStore.__init__ and shared with its reads and writes)."""

    home: Path
    _db: sqlite3.Connection
    _lock: threading.RLock
    _in_transaction: bool
    _categories: RowFile
    _embeddings: RowFile
    _postings: PostingIndex
    _dense: DenseIndex
    _generation: str
    faces: FaceStore
    spaces: EmbeddedSpaces

    def _end(self) -> int:
        """One past the largest committed content id."""
        row = self._db.execute("SELECT max(id) FROM contents").fetchone()
        return (int(row[0]) if row[0] is not None else 0) + 1

    # ---- refresh ---------------------------------------------------------------------------
    def refresh_indexes(self) -> None:
        with self._lock, self._refresh_lock():
            end = self._end()
            stale = self._db.execute("SELECT value FROM meta WHERE key = 'postings_stale'").fetchone()
            if stale is not None and not self._in_transaction:  # rows rewritten in place (replace_categories)
                self._postings.rebuild(self._categories, end)
                self._db.execute("DELETE FROM meta WHERE key = 'postings_stale'")
                self._bump_generation()
            before = (self._postings.covered_until, self._dense.covered_until)
            self._postings.catch_up(self._categories, end)
            self._dense.catch_up(self._embeddings, end)
            faces_changed = self.faces.catch_up()
            spaces_changed = self.spaces.catch_up()
            if (self._postings.covered_until, self._dense.covered_until) != before or faces_changed or spaces_changed:
                self._bump_generation()

    def rebuild_indexes(self) -> None:
        with self._lock, self._refresh_lock():
            end = self._end()
            self._postings.rebuild(self._categories, end)
            self._dense.meta_path.unlink(missing_ok=True)
            self._dense.catch_up(self._embeddings, end)
            self.faces.rebuild()
            self.spaces.catch_up(rebuild=True)
            self._bump_generation()

    @contextlib.contextmanager
    def _refresh_lock(self) -> Iterator[None]:
        """Serialise derived-index writers across processes (a server's job runner and a
        `pixseek index` run), then look at the segments as the previous holder left them."""
        with open(self.home / "index" / ".refresh.lock", "a+b") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                self._postings = PostingIndex(self.home / "index" / "postings", clean_up=True)
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    # ---- generation -------------------------------------------------------------------------
    def _bump_generation(self) -> None:
        """Tell other processes' stores (e.g. a running server) that derived indexes changed."""
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES ('index_generation', '1') "
            "ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )
        self._generation = self._read_generation()

    def _read_generation(self) -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'index_generation'").fetchone()
        return row[0] if row else "0"

    def _follow_writers(self) -> None:
        """Reload posting segments and the graph if another store instance rebuilt them."""
        generation = self._read_generation()
        if generation != self._generation:
            self._postings = PostingIndex(self.home / "index" / "postings")
            self._dense = self._dense.reopened()
            self.faces.reopen_index()
            self.spaces.reopen_indexes()
            self._generation = generation

    # ---- reads ----------------------------------------------------------------------------
    def categories(self, owner: int, content_ids: NDArray[np.int64]) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
        return decode_rows(self._categories.read(content_ids))

    def embeddings(self, owner: int, content_ids: NDArray[np.int64]) -> NDArray[np.float32]:
        return self._embeddings.read(content_ids).view(np.float16).astype(np.float32)

    def sparse_candidates(
        self, owner: int, query: SparseVector, min_impact: float, budget: int
    ) -> NDArray[np.int64]:
        """Posting lists are shared by all owners here (the engine filters with live())."""
        with self._lock:
            self._follow_writers()
            end = self._end()
            postings = self._postings
        ids = postings.candidates(query, min_impact, budget)
        ids = ids[ids < end]
        covered = postings.covered_until
        if covered < end:  # not yet in the posting lists: scan those forward rows directly
            tail_classes, tail_probs = decode_rows(self._categories.read_range(covered, end))
            weight = np.zeros(CONCEPT_SPACE, dtype=np.float32)
            inside = query.ids < CONCEPT_SPACE
            weight[query.ids[inside]] = query.weights[inside]
            hit = (weight[tail_classes] * tail_probs >= min_impact).any(axis=1)
            ids = union_of_sorted([ids, np.nonzero(hit)[0] + covered])
        return ids.astype(np.int64)

    def sparse_heads(
        self, owner: int, query: SparseVector, min_impact: float, budget: int
    ) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float32]]:
        ids = self.sparse_candidates(owner, query, min_impact, budget)
        return (ids, *self.categories(owner, ids))

    def knn(self, owner: int, vector: Vector, k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """One graph for all owners here (the engine filters with live())."""
        with self._lock:
            self._follow_writers()
            end = self._end()
            dense = self._dense
        return dense.search(vector, k, self._embeddings, end)
