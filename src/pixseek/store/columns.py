"""Fixed-width row files addressed by content id: the store's column files for vectors.

Row `i` lives at byte `i * row_bytes`. A row is written (and fsync'ed) before the SQLite
transaction that creates content `i` commits, so a row is valid exactly when its content exists;
a crash leaves at most unreferenced rows past the end, which the next writer overwrites.
Reads go through a read-only memory map, so a query touches only the rows it needs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from numpy.typing import NDArray


class RowFile:
    def __init__(self, path: Path, row_bytes: int) -> None:
        self.path = path
        self.row_bytes = row_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
        self._writer: "os.FileIO | None" = None
        self._map: np.memmap | None = None
        self._mapped_rows = 0

    # ---- writing
    def write(self, row_id: int, data: bytes) -> None:
        if len(data) != self.row_bytes:
            raise ValueError(f"{self.path.name}: row of {len(data)} bytes, expected {self.row_bytes}")
        if self._writer is None:
            self._writer = open(self.path, "r+b", buffering=0)
        self._writer.seek(row_id * self.row_bytes)
        self._writer.write(data)

    def sync(self) -> None:
        """Make written rows durable (call before committing the rows' metadata)."""
        if self._writer is not None:
            os.fsync(self._writer.fileno())

    # ---- reading
    def rows(self) -> int:
        return os.path.getsize(self.path) // self.row_bytes

    def _mapped(self, needed_rows: int) -> np.memmap:
        if self._map is None or needed_rows > self._mapped_rows:
            self._map = None
            n = self.rows()
            if n == 0 or needed_rows > n:
                raise KeyError(f"{self.path.name}: row {needed_rows - 1} not written")
            self._map = np.memmap(self.path, dtype=np.uint8, mode="r", shape=(n, self.row_bytes))
            self._mapped_rows = n
        return self._map

    def read(self, row_ids: NDArray[np.integer]) -> NDArray[np.uint8]:
        """(n, row_bytes) copy of the given rows."""
        row_ids = np.asarray(row_ids, dtype=np.int64)
        if row_ids.size == 0:
            return np.zeros((0, self.row_bytes), dtype=np.uint8)
        return np.asarray(self._mapped(int(row_ids.max()) + 1)[row_ids])

    def read_range(self, start: int, stop: int) -> NDArray[np.uint8]:
        if stop <= start:
            return np.zeros((0, self.row_bytes), dtype=np.uint8)
        return np.asarray(self._mapped(stop)[start:stop])

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._map = None
