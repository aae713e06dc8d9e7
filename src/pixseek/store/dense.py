"""Nearest-neighbour search over a column file of embeddings (images: 1280-d cosine; faces:
128-d Euclidean).

The column file is the truth. Below `exact_below` images a query is an
exact scan of that file (faster than a graph at that size, and exact). Above it, a usearch HNSW
index is kept as derived data: it is caught up from the column file after each
indexing run, saved atomically, and opened memory-mapped so a CLI query starts in milliseconds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from pixseek.records import Vector
from pixseek.store.columns import RowFile

EXACT_BELOW = 20_000
CONNECTIVITY = 16
EXPANSION_ADD = 128
EXPANSION_SEARCH = 128
_CHUNK = 8192
TAIL_ROWS_MIN = 5_000  # rows left out of the graph (scanned exactly) before it is caught up ...
TAIL_FRACTION = 0.01  # ... or this fraction of the library, whichever is larger


def usearch_index_class():  # -> type[usearch.index.Index]
    """usearch's Index class, loaded safely.

    usearch and ONNX Runtime link different C++ runtimes: once usearch is loaded, a later
    `import onnxruntime` in the same process segfaults. Loading ONNX Runtime first (when it is
    installed) avoids it, so a process may search the graph and then analyse a new image.
    """
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        pass
    from usearch.index import Index

    return Index


def normalise(vectors: NDArray[np.floating]) -> NDArray[np.float32]:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class DenseIndex:
    """`metric` "cos": search returns cosine similarities, best (largest) first;
    "l2": Euclidean distances, best (smallest) first. Rows are `row_dtype` vectors."""

    def __init__(
        self,
        directory: Path,
        dim: int,
        exact_below: int = EXACT_BELOW,
        name: str = "dense",
        metric: str = "cos",
        row_dtype: type[np.floating] = np.float16,
    ) -> None:
        if metric not in ("cos", "l2"):
            raise ValueError(f"unknown metric {metric!r}")
        self.dim = dim
        self.exact_below = exact_below
        self.name = name
        self.metric = metric
        self.row_dtype = row_dtype
        self.index_path = directory / f"{name}.usearch"
        self.meta_path = directory / f"{name}.json"
        self._view = None  # memory-mapped usearch index, opened on first query

    def reopened(self) -> "DenseIndex":
        """A fresh handle on the same files (after another process rewrote them)."""
        return DenseIndex(
            self.index_path.parent, self.dim, self.exact_below, self.name, self.metric, self.row_dtype
        )

    @property
    def covered_until(self) -> int:
        try:
            meta = json.loads(self.meta_path.read_text())
            if self.index_path.exists():
                return int(meta["covered_until"])
        except (OSError, ValueError, KeyError):
            pass
        return 1

    def _new_index(self):  # -> usearch.index.Index
        return usearch_index_class()(
            ndim=self.dim,
            metric="cos" if self.metric == "cos" else "l2sq",
            dtype="f16" if self.row_dtype == np.float16 else "f32",
            connectivity=CONNECTIVITY,
            expansion_add=EXPANSION_ADD,
            expansion_search=EXPANSION_SEARCH,
        )

    def catch_up(self, embeddings: RowFile, end: int) -> None:
        """Add rows [covered_until, end) to the graph, once the library is large enough to need it."""
        if end - 1 < self.exact_below:
            return
        start = self.covered_until
        if start >= end:
            return
        if start > 1 and end - start < max(TAIL_ROWS_MIN, TAIL_FRACTION * (start - 1)):
            # Updating the graph means loading and rewriting all of it; a small tail of new rows
            # is cheaper to scan exactly at query time (search() does), until it grows.
            return
        index = self._new_index()
        if start > 1:
            index = usearch_index_class().restore(str(self.index_path), view=False)
            index.expansion_add = EXPANSION_ADD  # search/add depths are not persisted in the file
        threads = os.cpu_count() or 1
        for lo in range(start, end, _CHUNK):
            hi = min(end, lo + _CHUNK)
            keys = np.arange(lo, hi, dtype=np.uint64)
            fresh = ~np.asarray(index.contains(keys), dtype=bool) if len(index) else slice(None)
            vectors = embeddings.read_range(lo, hi).view(self.row_dtype)
            index.add(keys[fresh], vectors[fresh].astype(np.float32), threads=threads)
        tmp = self.index_path.with_suffix(".tmp")
        index.save(str(tmp))
        os.replace(tmp, self.index_path)
        meta_tmp = self.meta_path.with_suffix(".tmp")
        meta_tmp.write_text(json.dumps({"covered_until": end, "count": len(index)}))
        os.replace(meta_tmp, self.meta_path)
        self._view = None

    def search(
        self, query: Vector, k: int, embeddings: RowFile, end: int
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Row ids and scores (see the class) of the k nearest rows among [1, end), best first."""
        query = normalise(query) if self.metric == "cos" else np.asarray(query, dtype=np.float32)
        covered = self.covered_until
        if covered <= 1:
            return self._exact(query, k, embeddings, 1, end)
        if self._view is None:
            self._view = usearch_index_class().restore(str(self.index_path), view=True)
            self._view.expansion_search = EXPANSION_SEARCH  # not persisted in the file
        matches = self._view.search(query, k)
        ids = matches.keys.astype(np.int64)
        distances = matches.distances.astype(np.float32)
        scores = 1.0 - distances if self.metric == "cos" else np.sqrt(np.maximum(distances, 0.0))
        if covered < end:  # rows added since the graph was last caught up: scan them exactly
            tail_ids, tail_scores = self._exact(query, k, embeddings, covered, end)
            ids, scores = np.concatenate([ids, tail_ids]), np.concatenate([scores, tail_scores])
            order = self._best_first(scores)[:k]
            ids, scores = ids[order], scores[order]
        return ids, scores.astype(np.float32)

    def _best_first(self, scores: NDArray[np.float32]) -> NDArray[np.intp]:
        return np.argsort(-scores if self.metric == "cos" else scores, kind="stable")

    def score_rows(self, rows: NDArray[np.floating], query: Vector) -> NDArray[np.float32]:
        """Scores of rows against the query under this index's metric."""
        rows = np.asarray(rows, dtype=np.float32)
        if self.metric == "cos":
            return normalise(rows) @ normalise(query)
        return np.linalg.norm(rows - np.asarray(query, dtype=np.float32), axis=1).astype(np.float32)

    def _exact(
        self, query: Vector, k: int, embeddings: RowFile, start: int, end: int
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        ids_parts, score_parts = [], []
        for lo in range(start, end, 65536):
            hi = min(end, lo + 65536)
            scores = self.score_rows(embeddings.read_range(lo, hi).view(self.row_dtype), query)
            take = min(k, len(scores))
            top = np.argpartition(-scores if self.metric == "cos" else scores, take - 1)[:take]
            ids_parts.append(top + lo)
            score_parts.append(scores[top])
        if not ids_parts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        ids, scores = np.concatenate(ids_parts), np.concatenate(score_parts)
        order = self._best_first(scores)[:k]
        return ids[order].astype(np.int64), scores[order].astype(np.float32)

    def bytes_on_disk(self) -> int:
        return self.index_path.stat().st_size if self.index_path.exists() else 0
