"""Inverted index over the sparse category vectors: one posting list per concept (an ImageNet
class or an image characteristic, records.CONCEPT_SPACE ids).

Lists are impact-ordered (highest probability first), so a query reads only the head of each of
its lists: the images where that class matters. Candidates are then rescored exactly from the
forward rows by the caller. The index is a set of immutable segments covering content-id ranges
[lo, hi); each is written to a temporary directory and renamed into place, so a crash never leaves
a half-written segment. Small segments are merged when there are too many (LSM style).
Entries below INDEX_FLOOR are not indexed: they can never make an image a candidate.
"""

from __future__ import annotations

import math
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from pixseek.ids import unique_ids
from pixseek.records import CONCEPT_SPACE, SparseVector
from pixseek.store.columns import RowFile
from pixseek.store.sparse import DEQUANT, TOP_K, decode_rows

NUM_CLASSES = CONCEPT_SPACE  # segments written before characteristics have 1000 lists (see candidates)
INDEX_FLOOR = 1e-3  # probabilities below this stay only in the forward rows
MAX_SEGMENTS = 8
MIN_PER_LIST = 16  # entries every query class may contribute, however small its weight
_FLOOR_BYTE = int(np.searchsorted(DEQUANT, INDEX_FLOOR))
_SEGMENT_RE = re.compile(r"^seg-(\d{10})-(\d{10})$")


@dataclass
class Segment:
    lo: int
    hi: int
    path: Path
    offsets: NDArray[np.int64]  # (NUM_CLASSES + 1,)
    docs: NDArray[np.uint32]
    weights: NDArray[np.uint8]  # quantised, descending within each list

    @staticmethod
    def open(path: Path, lo: int, hi: int) -> "Segment":
        # Plain arrays over the mapped files: slicing an np.memmap runs Python code per slice,
        # and a query slices each of its classes' lists.
        load = lambda name: np.asarray(np.load(path / f"{name}.npy", mmap_mode="r"))  # noqa: E731
        return Segment(lo, hi, path, load("offsets"), load("docs"), load("weights"))

    def bytes_on_disk(self) -> int:
        return sum(f.stat().st_size for f in self.path.iterdir())


class PostingIndex:
    def __init__(self, directory: Path, clean_up: bool = False) -> None:
        """Open the segments in `directory`. Only a writer holding the store's refresh lock may
        pass clean_up=True: readers must not delete what a concurrent writer is producing."""
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.segments: list[Segment] = []
        self._load(clean_up)

    def _load(self, clean_up: bool) -> None:
        found, stale = [], []
        for child in self.directory.iterdir():
            match = _SEGMENT_RE.match(child.name)
            if match is None:  # leftovers of an interrupted write
                stale.append(child)
                continue
            found.append((int(match[1]), int(match[2]), child))
        # Keep a chain of segments that covers [1, hi) without gaps; anything else is stale
        # (e.g. the inputs of a merge that was interrupted after its output was renamed).
        found.sort(key=lambda s: (s[0], -s[1]))
        expected_lo = 1
        for lo, hi, path in found:
            if lo == expected_lo:
                try:
                    self.segments.append(Segment.open(path, lo, hi))
                    expected_lo = hi
                    continue
                except (OSError, ValueError):
                    pass
            stale.append(path)
        if clean_up:
            for path in stale:
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)

    @property
    def covered_until(self) -> int:
        """Content ids below this are indexed."""
        return self.segments[-1].hi if self.segments else 1

    def catch_up(self, forward: RowFile, end: int) -> None:
        """Index forward rows [covered_until, end)."""
        start = self.covered_until
        if end <= start:
            return
        self.segments.append(self._write_segment(forward, start, end))
        if len(self.segments) > MAX_SEGMENTS:
            self.rebuild(forward, end)

    def rebuild(self, forward: RowFile, end: int) -> None:
        old = self.segments
        self.segments = [self._write_segment(forward, 1, end)]
        for segment in old:
            if segment.path != self.segments[0].path:
                shutil.rmtree(segment.path, ignore_errors=True)

    def _write_segment(self, forward: RowFile, lo: int, hi: int) -> Segment:
        rows = forward.read_range(lo, hi)
        ids, _ = decode_rows(rows)
        weights = rows[:, TOP_K * 2 :]
        docs = np.broadcast_to(np.arange(lo, hi, dtype=np.uint32)[:, None], ids.shape)
        keep = weights >= _FLOOR_BYTE
        cats, docs, weights = ids[keep], docs[keep], weights[keep]
        order = np.lexsort((docs, -weights.astype(np.int16), cats))
        cats, docs, weights = cats[order], docs[order], weights[order]
        offsets = np.searchsorted(cats, np.arange(NUM_CLASSES + 1)).astype(np.int64)

        final = self.directory / f"seg-{lo:010d}-{hi:010d}"
        tmp = Path(tempfile.mkdtemp(dir=self.directory, prefix=".tmp-"))
        for name, array in (("offsets", offsets), ("docs", docs), ("weights", weights)):
            with open(tmp / f"{name}.npy", "wb") as fh:
                np.save(fh, np.ascontiguousarray(array))
                fh.flush()
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        return Segment.open(final, lo, hi)

    def candidates(self, query: SparseVector, min_impact: float, budget: int) -> NDArray[np.int64]:
        """Content ids whose weight × probability reaches min_impact for at least one query class.

        At most about `budget` entries are kept: each class's share is proportional to its query
        weight (at least MIN_PER_LIST). Lists are impact-ordered, so what a cap leaves out is the
        weakest evidence. A class's head is the same whatever the segments: its `cap` best entries
        (ties by id) across all of them, as one list would give (and as PostgreSQL reads its
        postings), so both stores rank the same candidates.
        """
        weights = np.maximum(query.weights.astype(np.float64), 0.0)
        total_weight = float(weights.sum())
        parts: list[NDArray[np.uint32]] = []
        for cls, w in zip(query.ids, weights):
            if w <= 0 or cls >= NUM_CLASSES:
                continue
            # smallest weight byte whose probability reaches min_impact / w
            min_byte = max(_FLOOR_BYTE, int(np.searchsorted(DEQUANT, min_impact / float(w))))
            if min_byte > 255:
                continue
            cap = max(MIN_PER_LIST, math.ceil(budget * w / total_weight))
            docs: list[NDArray[np.uint32]] = []
            bytes_: list[NDArray[np.uint8]] = []
            for seg in self.segments:
                if cls + 1 >= len(seg.offsets):
                    continue  # an older segment, written when only the 1000 classes had lists
                start, stop = int(seg.offsets[cls]), int(seg.offsets[cls + 1])
                # the list is sorted by weight, descending: binary-search the end of its head,
                # the entries above min_byte (searched in the list read backwards, ascending)
                n = (stop - start) - int(np.searchsorted(seg.weights[start:stop][::-1], min_byte, side="right"))
                if n:
                    docs.append(seg.docs[start : start + min(n, cap)])
                    bytes_.append(seg.weights[start : start + min(n, cap)])
            if len(docs) == 1:
                parts.append(docs[0])
            elif docs:  # several segments: their heads merged into the one list's head
                merged_docs, merged_bytes = np.concatenate(docs), np.concatenate(bytes_)
                best = np.lexsort((merged_docs, -merged_bytes.astype(np.int16)))[:cap]
                parts.append(merged_docs[best])
        if not parts:
            return np.zeros(0, dtype=np.int64)
        return unique_ids(np.concatenate(parts))

    def bytes_on_disk(self) -> int:
        return sum(s.bytes_on_disk() for s in self.segments)
