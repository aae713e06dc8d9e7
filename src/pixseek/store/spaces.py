"""Named vector spaces in the embedded store (store.base.VectorSpaces): per space, one float16 row
file of L2-normalised vectors addressed by content id, a presence record per content in SQLite,
and an ANN index (exact scan below a size, a usearch HNSW graph above, like the images').

    spaces (id, name, dim)                      one row per space (schema step 5)
    space_vectors (seq, space_id, content_id)   which contents have a vector; seq orders the writes
    index/spaces/<id>.rows                      the vectors (row i = content i; holes elsewhere)
    index/spaces/<id>.usearch, <id>.json        the graph and the last seq it covers (derived)

float16 rows: a cosine moves by < 1e-3 (measured on 512-d CLIP-shaped vectors), which neither
changes a top-10 nor the calibrated score scale, and a 512-d vector costs 1 KiB instead of 2.

Crash safety is the store's: a vector's row is written and fsync'ed before the transaction that
records its presence commits, so a committed presence always has its row; a crash before the
commit leaves at most unreferenced rows (overwritten later). The graph only ever covers committed
presences, is caught up from the rows by seq (a re-embed fills old content ids, so ids alone do
not tell what is new), and a query scans the presences written since exactly.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Callable

import numpy as np
from numpy.typing import NDArray

from pixseek.records import Vector
from pixseek.store.base import StoreError
from pixseek.store.columns import RowFile
from pixseek.store.dense import CONNECTIVITY, EXPANSION_ADD, EXPANSION_SEARCH, normalise, usearch_index_class

SPACE_EXACT_BELOW = 20_000  # vectors in a space below which a query is an exact scan
TAIL_MIN = 5_000  # presences left out of the graph (scanned exactly) before it is caught up ...
TAIL_FRACTION = 0.01  # ... or this fraction of the space, whichever is larger
NAME_MAX = 200
DIM_MAX = 4000  # pgvector's largest halfvec under an HNSW index
COUNT_TTL_S = 30.0  # how long a (space, owner) vector count decides exact vs graph search
_SQL_CHUNK = 500
_ADD_CHUNK = 8192
SPACE_EXPANSION_SEARCH = 1024  # the graph search's beam (bench/vlm_search.py: recall@10 at 1M)

SCHEMA_V5 = """
CREATE TABLE IF NOT EXISTS spaces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    dim INTEGER NOT NULL CHECK (dim > 0),
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS space_vectors (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    space_id INTEGER NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    content_id INTEGER NOT NULL REFERENCES contents (id),
    UNIQUE (space_id, content_id)
);
"""
MIGRATE_V4_TO_V5 = SCHEMA_V5

# A content counts while a file of its owner holds it.
_LIVE = "EXISTS (SELECT 1 FROM files f WHERE f.content_id = v.content_id AND f.owner = c.owner)"


def check_space(name: str, dim: int | None = None) -> None:
    """A space name the stores accept (and a dimension): StoreError otherwise."""
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX or not name.isprintable():
        raise StoreError(f"a vector space needs a printable name of 1 to {NAME_MAX} characters, not {name!r}")
    if dim is not None and not (isinstance(dim, int) and 0 < dim <= DIM_MAX):
        raise StoreError(f"vector space {name!r}: dimension must be 1..{DIM_MAX}, not {dim!r}")


def checked_vectors(space: str, dim: int, content_ids: Sequence[int], vectors: NDArray[np.floating]) -> NDArray[np.float32]:
    """The vectors (n, dim), finite and L2-normalised; StoreError for a wrong shape or NaN/inf."""
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim == 1 and len(content_ids) == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape != (len(content_ids), dim):
        raise StoreError(
            f"vector space {space!r} holds {dim}-d vectors: got shape {array.shape} for {len(content_ids)} contents"
        )
    if not np.isfinite(array).all():
        raise StoreError(f"vector space {space!r}: vectors must be finite")
    if len(set(int(i) for i in content_ids)) != len(content_ids):
        raise StoreError(f"vector space {space!r}: a content id given twice")
    return normalise(array)


class _Graph:
    """The usearch HNSW graph of one space and the last presence seq it covers."""

    def __init__(self, directory: Path, space_id: int, dim: int) -> None:
        self.dim = dim
        self.index_path = directory / f"{space_id}.usearch"
        self.meta_path = directory / f"{space_id}.json"
        self._view = None

    @property
    def covered_seq(self) -> int:
        try:
            if self.index_path.exists():
                return int(json.loads(self.meta_path.read_text())["covered_seq"])
        except (OSError, ValueError, KeyError):
            pass
        return 0

    def _new(self):  # -> usearch.index.Index
        return usearch_index_class()(
            ndim=self.dim, metric="cos", dtype="f16",
            connectivity=CONNECTIVITY, expansion_add=EXPANSION_ADD, expansion_search=EXPANSION_SEARCH,
        )

    def catch_up(self, rows: RowFile, written: list[tuple[int, int]], total: int) -> bool:
        """Add the presences (seq, content id) written since covered_seq, once the space is large
        enough and the tail long enough to pay for rewriting the graph; whether it changed."""
        if total < SPACE_EXACT_BELOW or not written:
            return False
        covered = self.covered_seq
        if covered and len(written) < max(TAIL_MIN, TAIL_FRACTION * total):
            return False
        if covered:
            index = usearch_index_class().restore(str(self.index_path), view=False)
            index.expansion_add = EXPANSION_ADD  # not persisted in the file
        else:
            index = self._new()
        keys = np.array(sorted({cid for _, cid in written}), dtype=np.uint64)
        threads = os.cpu_count() or 1
        for lo in range(0, len(keys), _ADD_CHUNK):
            chunk = keys[lo : lo + _ADD_CHUNK]
            if len(index):
                present = np.asarray(index.contains(chunk), dtype=bool)
                if present.any():  # re-embedded: the graph's vector is the old one
                    index.remove(chunk[present])
            vectors = rows.read(chunk.astype(np.int64)).view(np.float16).astype(np.float32)
            index.add(chunk, vectors, threads=threads)
        tmp = self.index_path.with_suffix(".tmp")
        index.save(str(tmp))
        os.replace(tmp, self.index_path)
        meta_tmp = self.meta_path.with_suffix(".jtmp")
        meta_tmp.write_text(json.dumps({"covered_seq": max(seq for seq, _ in written), "count": len(index)}))
        os.replace(meta_tmp, self.meta_path)
        self._view = None
        return True

    def search(self, query: NDArray[np.float32], k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        if self._view is None:
            self._view = usearch_index_class().restore(str(self.index_path), view=True)
        # Set for every search (not persisted in the file, and the first caller's k must not fix it
        # for the process): model embeddings cluster tightly, so a walk for a few neighbours needs a
        # wider beam than the classifier's graph (recall@10 at 1M: 0.94 at 128).
        self._view.expansion_search = max(SPACE_EXPANSION_SEARCH, k)
        matches = self._view.search(query, k)
        return matches.keys.astype(np.int64), (1.0 - matches.distances).astype(np.float32)

    def remove_files(self) -> None:
        self._view = None
        self.index_path.unlink(missing_ok=True)
        self.meta_path.unlink(missing_ok=True)

    def bytes_on_disk(self) -> int:
        return self.index_path.stat().st_size if self.index_path.exists() else 0


def _best(ids: NDArray[np.int64], scores: NDArray[np.float32], k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    order = np.lexsort((ids, -scores))[:k]  # best cosine first, then the lower id
    return ids[order].astype(np.int64), scores[order].astype(np.float32)


class EmbeddedSpaces:
    """The vector-space part of EmbeddedStore. It shares the store's connection, lock and write
    transaction: writes made through it are durable at the store's commit()."""

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
        self._begin = begin
        self._follow_writers = follow_writers
        self._dir = index_dir / "spaces"
        self._rows: dict[int, RowFile] = {}
        self._graphs: dict[int, _Graph] = {}
        self._counts: dict[tuple[int, int | None], tuple[float, int]] = {}
        self._dropped: list[int] = []  # spaces dropped in the open transaction: files go at commit

    # ---- the spaces -------------------------------------------------------------------------
    def _space(self, name: str) -> tuple[int, int]:
        """(id, dim) of a space; StoreError if there is none of that name."""
        with self._lock:
            row = self._db.execute("SELECT id, dim FROM spaces WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise StoreError(f"no vector space named {name!r}")
        return int(row[0]), int(row[1])

    def _rowfile(self, space_id: int, dim: int) -> RowFile:
        rows = self._rows.get(space_id)
        if rows is None:
            rows = self._rows[space_id] = RowFile(self._dir / f"{space_id}.rows", dim * 2)
        return rows

    def _graph(self, space_id: int, dim: int) -> _Graph:
        graph = self._graphs.get(space_id)
        if graph is None:
            graph = self._graphs[space_id] = _Graph(self._dir, space_id, dim)
        return graph

    def ensure(self, space: str, dim: int) -> None:
        check_space(space, dim)
        with self._lock:
            row = self._db.execute("SELECT dim FROM spaces WHERE name = ?", (space,)).fetchone()
            if row is not None:
                if int(row[0]) != dim:
                    raise StoreError(f"vector space {space!r} holds {row[0]}-d vectors, not {dim}-d")
                return
            self._begin()
            self._db.execute("INSERT INTO spaces (name, dim, created_at) VALUES (?, ?, ?)", (space, dim, time.time()))

    def spaces(self) -> dict[str, int]:
        with self._lock:
            return {name: int(dim) for name, dim in self._db.execute("SELECT name, dim FROM spaces ORDER BY id")}

    def drop(self, space: str) -> None:
        with self._lock:
            row = self._db.execute("SELECT id FROM spaces WHERE name = ?", (space,)).fetchone()
            if row is None:
                return
            self._begin()
            self._db.execute("DELETE FROM space_vectors WHERE space_id = ?", (row[0],))
            self._db.execute("DELETE FROM spaces WHERE id = ?", (row[0],))
            self._dropped.append(int(row[0]))
            self._counts.clear()

    # ---- writes -----------------------------------------------------------------------------
    def put(self, owner: int, space: str, content_ids: Sequence[int], vectors: NDArray[np.float32]) -> None:
        ids = [int(i) for i in content_ids]
        if not ids:
            return
        with self._lock:
            space_id, dim = self._space(space)
            rows = checked_vectors(space, dim, ids, vectors).astype(np.float16)
            mine: set[int] = set()
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                mine.update(r[0] for r in self._db.execute(
                    f"SELECT id FROM contents WHERE +owner = ? AND id IN ({marks})", [owner, *chunk]
                ))
            foreign = [i for i in ids if i not in mine]
            if foreign:
                raise StoreError(f"vector space {space!r}: no content {foreign[0]} of user {owner}")
            self._begin()
            file = self._rowfile(space_id, dim)
            for cid, row in zip(ids, rows):
                file.write(cid, row.tobytes())
            # REPLACE gives a re-embedded content a new seq, so the graph catches its new vector up.
            self._db.executemany(
                "INSERT OR REPLACE INTO space_vectors (space_id, content_id) VALUES (?, ?)",
                [(space_id, cid) for cid in ids],
            )
            self._counts.clear()

    def sync(self) -> None:
        """Make written rows durable (the store calls it before committing)."""
        for rows in self._rows.values():
            rows.sync()

    def committed(self) -> None:
        """After the store's commit: the files of dropped spaces go."""
        for space_id in self._dropped:
            self._remove_files(space_id)
        self._dropped.clear()

    def rolled_back(self) -> None:
        self._dropped.clear()
        self._counts.clear()

    def _remove_files(self, space_id: int) -> None:
        rows = self._rows.pop(space_id, None)
        if rows is not None:
            rows.close()
        graph = self._graphs.pop(space_id, None) or _Graph(self._dir, space_id, 1)
        graph.remove_files()
        (self._dir / f"{space_id}.rows").unlink(missing_ok=True)

    # ---- derived indexes --------------------------------------------------------------------
    def catch_up(self, rebuild: bool = False) -> bool:
        """Bring every space's graph up to its committed presences (and clear the files of
        spaces a crash kept from being removed); whether any graph changed. The store calls it
        under its refresh lock."""
        changed = False
        with self._lock:
            known = {int(i): int(d) for i, d in self._db.execute("SELECT id, dim FROM spaces")}
        if self._dir.exists():
            for path in self._dir.iterdir():
                stem = path.name.split(".")[0]
                if stem.isdigit() and int(stem) not in known and int(stem) not in self._dropped:
                    path.unlink(missing_ok=True)
        for space_id, dim in known.items():
            graph = self._graph(space_id, dim)
            if rebuild:
                graph.remove_files()
            with self._lock:
                (total,) = self._db.execute("SELECT count(*) FROM space_vectors WHERE space_id = ?", (space_id,)).fetchone()
                written = self._db.execute(
                    "SELECT seq, content_id FROM space_vectors WHERE space_id = ? AND seq > ?",
                    (space_id, graph.covered_seq),
                ).fetchall()
            changed |= graph.catch_up(self._rowfile(space_id, dim), written, int(total))
        return changed

    def reopen_indexes(self) -> None:
        """Another process rewrote graphs: open them afresh."""
        self._graphs.clear()

    # ---- reads ------------------------------------------------------------------------------
    def get(
        self, owner: int, space: str, content_ids: NDArray[np.int64]
    ) -> tuple[NDArray[np.bool_], NDArray[np.float32]]:
        ids = np.asarray(content_ids, dtype=np.int64)
        space_id, dim = self._space(space)
        present: set[int] = set()
        with self._lock:
            for chunk in _chunks(ids.tolist()):
                marks = ",".join("?" * len(chunk))
                present.update(r[0] for r in self._db.execute(
                    "SELECT v.content_id FROM space_vectors v JOIN contents c ON c.id = v.content_id "
                    f"WHERE v.space_id = ? AND c.owner = ? AND v.content_id IN ({marks})",
                    [space_id, owner, *chunk],
                ))
        mask = np.array([int(i) in present for i in ids], dtype=bool)
        out = np.zeros((len(ids), dim), dtype=np.float32)
        if mask.any():
            out[mask] = self._rowfile(space_id, dim).read(ids[mask]).view(np.float16).astype(np.float32)
        return mask, out

    def missing(self, owner: int, space: str, limit: int, after: int = 0) -> NDArray[np.int64]:
        space_id, _ = self._space(space)
        with self._lock:
            rows = self._db.execute(
                "SELECT DISTINCT f.content_id FROM files f WHERE f.owner = ? AND f.content_id > ? AND NOT EXISTS "
                "(SELECT 1 FROM space_vectors v WHERE v.space_id = ? AND v.content_id = f.content_id) "
                "ORDER BY f.content_id LIMIT ?",
                (owner, int(after), space_id, int(limit)),
            ).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def count(self, space: str, owner: int | None = None) -> int:
        """Live contents (of the owner, or of anyone) with a vector in the space; 0 for no space."""
        with self._lock:
            row = self._db.execute("SELECT id FROM spaces WHERE name = ?", (space,)).fetchone()
            if row is None:
                return 0
            mine = "AND c.owner = ?" if owner is not None else ""
            (n,) = self._db.execute(
                f"SELECT count(*) FROM space_vectors v JOIN contents c ON c.id = v.content_id "
                f"WHERE v.space_id = ? {mine} AND {_LIVE}",
                [row[0], *([owner] if owner is not None else [])],
            ).fetchone()
        return int(n)

    def _stored(self, space_id: int, owner: int | None) -> int:
        """Vectors in the space (the owner's, live or not); large counts are taken again at
        most every COUNT_TTL_S (they only choose between the exact scan and the graph)."""
        now = time.monotonic()
        counted = self._counts.get((space_id, owner))
        # Small counts are cheap to take again (and another process may have just added vectors).
        if counted is None or counted[1] < SPACE_EXACT_BELOW or now - counted[0] > COUNT_TTL_S:
            if owner is None:
                sql, params = "SELECT count(*) FROM space_vectors WHERE space_id = ?", [space_id]
            else:
                sql = ("SELECT count(*) FROM space_vectors v JOIN contents c ON c.id = v.content_id "
                       "WHERE v.space_id = ? AND c.owner = ?")
                params = [space_id, owner]
            (n,) = self._db.execute(sql, params).fetchone()
            counted = self._counts[(space_id, owner)] = (now, int(n))
        return counted[1]

    def nearest(
        self, owner: int, space: str, vector: Vector, k: int
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Exact over the owner's vectors while the space is small or the owner a small share of it
        (where the graph's neighbours would mostly be other users'); otherwise the graph, plus an
        exact scan of what was written since it was caught up. Maybe dead: filter with live()."""
        none = np.zeros(0, np.int64), np.zeros(0, np.float32)
        space_id, dim = self._space(space)
        query = np.asarray(vector, dtype=np.float32).ravel()
        if query.shape != (dim,):
            raise StoreError(f"vector space {space!r} holds {dim}-d vectors, not {query.size}-d")
        query = normalise(query)
        if k <= 0:
            return none
        with self._lock:
            self._follow_writers()
            graph = self._graph(space_id, dim)
            rows = self._rowfile(space_id, dim)
            covered = graph.covered_seq
            total, mine = self._stored(space_id, None), self._stored(space_id, owner)
            exact = covered == 0 or mine * 4 < total
            if exact:
                ids = np.array([r[0] for r in self._db.execute(
                    "SELECT v.content_id FROM space_vectors v JOIN contents c ON c.id = v.content_id "
                    "WHERE v.space_id = ? AND c.owner = ?", (space_id, owner),
                )], dtype=np.int64)
            else:
                # `+space_id`: walk the rowid range past the graph (a few rows), not the space's
                # whole (space_id, content_id) index (110 ms at 1M vectors: measured).
                ids = np.array([r[0] for r in self._db.execute(
                    "SELECT content_id FROM space_vectors WHERE seq > ? AND +space_id = ?", (covered, space_id)
                )], dtype=np.int64)
        scores = self._scores(rows, ids, query)
        if exact:
            return _best(ids, scores, k)
        graph_ids, graph_scores = graph.search(query, k)
        fresh = ~np.isin(graph_ids, ids)  # a re-embedded content's graph vector is stale
        return _best(np.concatenate([graph_ids[fresh], ids]), np.concatenate([graph_scores[fresh], scores]), k)

    @staticmethod
    def _scores(rows: RowFile, ids: NDArray[np.int64], query: NDArray[np.float32]) -> NDArray[np.float32]:
        if ids.size == 0:
            return np.zeros(0, np.float32)
        parts = [
            rows.read(ids[lo : lo + 65536]).view(np.float16).astype(np.float32) @ query
            for lo in range(0, len(ids), 65536)
        ]
        return np.concatenate(parts).astype(np.float32)

    def bytes_on_disk(self) -> dict[str, int]:
        sizes: dict[str, int] = {}
        for name, _ in self.spaces().items():
            space_id, dim = self._space(name)
            path = self._dir / f"{space_id}.rows"
            used = path.stat().st_blocks * 512 if path.exists() else 0  # the row file has holes
            sizes[f"space {name}: vectors"] = used
            sizes[f"space {name}: ANN graph"] = self._graph(space_id, dim).bytes_on_disk()
        return sizes

    def close(self) -> None:
        for rows in self._rows.values():
            rows.close()
        self._rows.clear()
        self._graphs.clear()


def _chunks(ids: list[int]):
    for i in range(0, len(ids), _SQL_CHUNK):
        yield ids[i : i + _SQL_CHUNK]
