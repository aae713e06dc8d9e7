"""The storage contract. The indexer writes through it, the search engine reads through it.

An implementation keeps, per image content (identified by its SHA-256): metadata, the sparse
category vector (forward row + posting lists), the dense embedding (k-NN), and the files that
hold that content. The embedded implementation is `EmbeddedStore`; a PostgreSQL + pgvector one
can implement the same methods without touching analyzers or search logic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from pixseek.records import (
    Analysis,
    FileState,
    ImageFilter,
    IndexedFile,
    SparseVector,
    StoredImage,
    Vector,
)


class StoreError(RuntimeError):
    """The store cannot be opened or used (clear message for the user)."""


@dataclass
class StoreStats:
    images: int  # distinct live contents
    files: int
    unreferenced: int  # analysed contents no file points to any more (kept for moves/restores)
    bytes_by_part: dict[str, int] = field(default_factory=dict)
    analyzers: dict[str, int] = field(default_factory=dict)


class Store(Protocol):
    # ---- writes (the indexer) -------------------------------------------------------------
    def indexed_files(self, under: str | None = None) -> dict[str, IndexedFile]: ...

    def find_content(self, sha256: str, analyzer: str) -> int | None:
        """Id of an existing analysis of these bytes by this analyzer version, live or not."""

    def add_content(self, sha256: str, analyzer: str, analysis: Analysis) -> int: ...

    def put_file(self, state: FileState, content_id: int) -> None:
        """Insert or replace the file at state.path, pointing at content_id."""

    def move_file(self, old_path: str, new: FileState) -> None: ...

    def remove_files(self, paths: list[str]) -> None: ...

    def commit(self) -> None:
        """Durability point: everything written so far survives a crash."""

    def refresh_indexes(self) -> None:
        """Bring derived indexes (posting lists, ANN graph) up to date with the contents."""

    # ---- reads (the search engine) --------------------------------------------------------
    def get_images(self, content_ids: list[int]) -> list[StoredImage]:
        """Live images among content_ids, in the given order (unknown/dead ids are dropped)."""

    def content_of_path(self, path: str) -> int | None:
        """Content id of the indexed file at `path` (absolute), if any."""

    def live(self, content_ids: NDArray[np.int64], where: ImageFilter | None = None) -> NDArray[np.bool_]:
        """Mask of ids that are held by at least one file (and match `where`)."""

    def matching(self, where: ImageFilter) -> NDArray[np.int64]:
        """All live content ids that match `where` (for exact search inside a selective filter)."""

    def categories(self, content_ids: NDArray[np.int64]) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
        """Forward rows: class ids (n, K) and probabilities (n, K)."""

    def embeddings(self, content_ids: NDArray[np.int64]) -> NDArray[np.float32]: ...

    def sparse_candidates(self, query: SparseVector, min_impact: float, budget: int) -> NDArray[np.int64]:
        """Ids where some query class has weight × probability >= min_impact (posting-list heads),
        reading about `budget` entries at most, shared among the classes by weight."""

    def knn(self, vector: Vector, k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """k nearest contents by cosine similarity (may include dead ids: filter with live())."""

    def stats(self) -> StoreStats: ...

    def close(self) -> None: ...
