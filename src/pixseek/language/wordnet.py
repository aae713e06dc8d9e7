"""WordNet 3.0 nouns, read straight from the wndb files of Debian's `wordnet-base`.

Debian ships data.noun, index.noun, noun.exc and cntlist.rev but no lexnames/index.sense,
so NLTK's reader does not work; the noun part of the format (wndb(5WN)) is small enough to
parse here. Parsing takes a few seconds, so the result is cached as one frozen file of compact
arrays and sorted lemmas (language/frozen.py: opened by mmap, a lookup reads a few pages).

Synsets are identified by a dense *synset index* 0..n-1 (data.noun order = offset order);
`offset()`/`wnid()` convert to WordNet's own ids (ImageNet wnid = 'n' + 8-digit offset).
Lemmas are lowercase with '_' between words ("beach_ball"), as in index.noun.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pixseek.fsutil import atomic_write
from pixseek.language.frozen import FrozenMap, FrozenTables, SortedKeys, freeze_keys, freeze_map, open_or_build

DEFAULT_DIR = Path("/usr/share/wordnet")
CACHE_VERSION = "wn30-noun-3"

# Pointer symbols kept from data.noun (noun -> noun only).
_HYPERNYM = "@"
_INSTANCE_HYPERNYM = "@i"
_PART_HOLONYM = "#p"

# Detachment rules for nouns, as in WordNet's morph.c (suffix, replacement).
_NOUN_RULES: tuple[tuple[str, str], ...] = (
    ("s", ""),
    ("ses", "s"),
    ("xes", "x"),
    ("zes", "z"),
    ("ches", "ch"),
    ("shes", "sh"),
    ("men", "man"),
    ("ies", "y"),
)


class WordNetMissingError(RuntimeError):
    """The WordNet database files are not installed."""


@dataclass(frozen=True)
class Sense:
    """One noun sense of a lemma: its synset index and SemCor tag count (0 = never tagged).

    `proper` is set when the synset spells the lemma with a capital (a name: "Colt" the
    revolver, "Tree" the actor).
    """

    synset: int
    count: int
    proper: bool = False


def normalize_lemma(text: str) -> str:
    """'Beach ball' -> 'beach_ball' (the form used in index.noun)."""
    return "_".join(text.strip().lower().replace("_", " ").split())


class WordNet:
    """Read-only WordNet noun database (see module docstring)."""

    def __init__(self, tables: FrozenTables) -> None:
        self._t = tables
        self._offsets: NDArray[np.int64] = tables["offsets"]
        self._lemma_row = SortedKeys(tables, "lemmas")  # row = position among the sorted lemmas
        self._sense_ptr: NDArray[np.int32] = tables["sense_ptr"]
        self._sense_synset: NDArray[np.int32] = tables["sense_synset"]
        self._sense_count: NDArray[np.int32] = tables["sense_count"]
        self._sense_proper: NDArray[np.bool_] = tables["sense_proper"]
        self._words = tables.blob("words")
        self._word_starts = memoryview(tables["word_starts"])
        self._exc: FrozenMap[tuple[str, ...]] = FrozenMap(tables, "exceptions", _decode_forms)
        self._hyper = _Csr(tables["hyper_ptr"], tables["hyper_idx"])
        self._inst = tables["hyper_is_instance"]
        self._holo = _Csr(tables["holo_ptr"], tables["holo_idx"])
        self._hypo: _Csr | None = None
        self._mero: _Csr | None = None

    # ---- loading ---------------------------------------------------------------------

    @classmethod
    def load(cls, cache_dir: Path | None = None, wordnet_dir: Path = DEFAULT_DIR) -> WordNet:
        """Load from the cache in `cache_dir` (rebuilt if missing, stale or corrupt)."""
        stamp = _source_stamp(wordnet_dir)
        path = None if cache_dir is None else Path(cache_dir) / f"wordnet-{CACHE_VERSION}.frozen"
        return cls(open_or_build(path, CACHE_VERSION, stamp, lambda: parse_wordnet(wordnet_dir), _KEYS))

    # ---- ids -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._offsets)

    def offset(self, synset: int) -> int:
        return int(self._offsets[synset])

    def wnid(self, synset: int) -> str:
        """ImageNet-style id: 'n' + 8-digit offset."""
        return f"n{self.offset(synset):08d}"

    def synset_by_offset(self, offset: int) -> int | None:
        i = int(np.searchsorted(self._offsets, offset))
        return i if i < len(self._offsets) and self._offsets[i] == offset else None

    def synset_by_wnid(self, wnid: str) -> int | None:
        if len(wnid) != 9 or wnid[0] != "n" or not wnid[1:].isdigit():
            return None
        return self.synset_by_offset(int(wnid[1:]))

    # ---- lemmas and senses -----------------------------------------------------------

    def lemmas(self, synset: int) -> list[str]:
        """Lemmas of a synset as written in data.noun (case kept, '_' between words)."""
        return self._synset_words(synset).split("\t")

    def name(self, synset: int) -> str:
        """Readable name: the first lemma with spaces."""
        return self._synset_words(synset).split("\t", 1)[0].replace("_", " ")

    def _synset_words(self, synset: int) -> str:
        return bytes(self._words[self._word_starts[synset] : self._word_starts[synset + 1]]).decode("utf-8")

    def has_lemma(self, lemma: str) -> bool:
        return normalize_lemma(lemma) in self._lemma_row

    def all_lemmas(self) -> Iterable[str]:
        return self._lemma_row.all()

    def senses(self, lemma: str) -> list[Sense]:
        """Noun senses of an exact lemma, in WordNet sense order (most frequent first)."""
        row = self._lemma_row.find(normalize_lemma(lemma))
        if row is None:
            return []
        a, b = int(self._sense_ptr[row]), int(self._sense_ptr[row + 1])
        return [
            Sense(int(s), int(c), bool(p))
            for s, c, p in zip(
                self._sense_synset[a:b], self._sense_count[a:b], self._sense_proper[a:b], strict=True
            )
        ]

    def morphy(self, word: str) -> list[str]:
        """Base forms of a noun that exist in WordNet, the word itself first if it is a lemma.

        'dogs' -> ['dog'], 'mice' -> ['mouse'], 'glasses' -> ['glasses', 'glass'];
        for collocations only the last word is inflected ('beach_balls' -> ['beach_ball']).
        """
        lemma = normalize_lemma(word)
        if not lemma:
            return []
        out: list[str] = []
        if lemma in self._lemma_row:
            out.append(lemma)
        head, sep, last = lemma.rpartition("_")
        for base in self._base_forms(last):
            cand = head + sep + base
            if cand in self._lemma_row and cand not in out:
                out.append(cand)
        if not out and lemma.endswith("'s"):  # possessive: "dog's"
            out = self.morphy(lemma[:-2])
        return out

    def _base_forms(self, word: str) -> list[str]:
        if word in self._exc:
            return list(self._exc[word])
        forms = []
        if word.endswith("ful"):  # "boxesful" -> "boxful" (morph.c special case)
            forms += [b + "ful" for b in self._base_forms(word[:-3])]
        for suffix, repl in _NOUN_RULES:
            if word.endswith(suffix) and len(word) > len(suffix):
                forms.append(word[: -len(suffix)] + repl)
        return forms

    def lookup(self, word: str) -> list[Sense]:
        """All noun senses of a word after morphology (exact lemma's senses first, no repeats)."""
        seen: set[int] = set()
        out: list[Sense] = []
        for lemma in self.morphy(word):
            for s in self.senses(lemma):
                if s.synset not in seen:
                    seen.add(s.synset)
                    out.append(s)
        return out

    # ---- relations -------------------------------------------------------------------

    def hypernyms(self, synset: int, instances: bool = True) -> list[int]:
        """Direct hypernyms (and instance hypernyms unless `instances` is False)."""
        a, b = self._hyper.span(synset)
        return [int(self._hyper.idx[i]) for i in range(a, b) if instances or not self._inst[i]]

    def part_holonyms(self, synset: int) -> list[int]:
        """Wholes this synset is a part of ('beach' -> 'shore')."""
        return self._holo.row(synset)

    def part_meronyms(self, synset: int) -> list[int]:
        """Parts of this synset ('shore' -> 'beach', ...)."""
        if self._mero is None:
            self._mero = self._holo.transpose(len(self))
        return self._mero.row(synset)

    def hyponyms(self, synset: int) -> list[int]:
        """Direct hyponyms and instance hyponyms."""
        if self._hypo is None:
            self._hypo = self._hyper.transpose(len(self))
        return self._hypo.row(synset)

    def hyponym_closure(self, synset: int) -> set[int]:
        """The synset and everything below it (hyponyms and instances, transitively)."""
        return _closure(synset, self.hyponyms)

    def ancestors(self, synset: int) -> set[int]:
        """The synset and all its (instance) hypernyms, transitively."""
        return _closure(synset, self.hypernyms)

    def depth(self, synset: int) -> int:
        """Length of the shortest hypernym path to a root ('entity' has depth 0)."""
        frontier, d, seen = [synset], 0, {synset}
        while frontier:
            nxt = []
            for s in frontier:
                parents = self.hypernyms(s)
                if not parents:
                    return d
                nxt += [p for p in parents if p not in seen]
                seen.update(parents)
            frontier, d = nxt, d + 1
        return d


def _closure(start: int, step: Any) -> set[int]:
    seen = {start}
    stack = [start]
    while stack:
        for n in step(stack.pop()):
            if n not in seen:
                seen.add(n)
                stack.append(n)
    return seen


class _Csr:
    """Adjacency lists as two arrays: row i's neighbours are idx[ptr[i]:ptr[i+1]]."""

    def __init__(self, ptr: NDArray[np.int32], idx: NDArray[np.int32]) -> None:
        self.ptr, self.idx = ptr, idx

    def span(self, i: int) -> tuple[int, int]:
        return int(self.ptr[i]), int(self.ptr[i + 1])

    def row(self, i: int) -> list[int]:
        a, b = self.span(i)
        return [int(x) for x in self.idx[a:b]]

    def transpose(self, n: int) -> _Csr:
        src = np.repeat(np.arange(len(self.ptr) - 1, dtype=np.int32), np.diff(self.ptr))
        order = np.argsort(self.idx, kind="stable")
        ptr = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(np.bincount(self.idx, minlength=n), out=ptr[1:])
        return _Csr(ptr, src[order])

    @staticmethod
    def from_lists(lists: list[list[int]]) -> _Csr:
        ptr = np.zeros(len(lists) + 1, dtype=np.int32)
        np.cumsum([len(x) for x in lists], out=ptr[1:])
        idx = np.fromiter((j for x in lists for j in x), dtype=np.int32, count=int(ptr[-1]))
        return _Csr(ptr, idx)


# ---- parsing -------------------------------------------------------------------------


def _require(wordnet_dir: Path) -> None:
    missing = [n for n in ("data.noun", "index.noun", "noun.exc") if not (wordnet_dir / n).is_file()]
    if missing:
        raise WordNetMissingError(
            f"WordNet 3.0 not found in {wordnet_dir} (missing {', '.join(missing)}): "
            "install Debian package wordnet-base (apt-get install wordnet-base)"
        )


def _source_stamp(wordnet_dir: Path) -> tuple[tuple[str, int, int], ...]:
    _require(wordnet_dir)
    out = []
    for n in ("data.noun", "index.noun", "noun.exc", "cntlist.rev"):
        p = wordnet_dir / n
        if p.is_file():
            st = p.stat()
            out.append((n, st.st_size, st.st_mtime_ns))
    return tuple(out)


def _data_lines(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.startswith("  ") and line.strip():  # skip the license header
                yield line


@dataclass
class _RawSynset:
    offset: int
    lex_filenum: int
    words: list[tuple[str, int]]  # (lemma as written, lex_id)
    pointers: list[tuple[str, int]]  # (symbol, target offset), noun targets only


def parse_data_line(line: str) -> _RawSynset:
    """Parse one data.noun line (wndb format): offset lex_filenum ss_type w_cnt words p_cnt ptrs | gloss."""
    body = line.split(" | ", 1)[0].split()
    offset, lex_filenum = int(body[0]), int(body[1])
    w_cnt = int(body[3], 16)
    words = [(body[4 + 2 * i], int(body[5 + 2 * i], 16)) for i in range(w_cnt)]
    p = 4 + 2 * w_cnt
    p_cnt = int(body[p])
    pointers = []
    for i in range(p_cnt):
        sym, tgt, pos = body[p + 1 + 4 * i], body[p + 2 + 4 * i], body[p + 3 + 4 * i]
        if pos == "n":
            pointers.append((sym, int(tgt)))
    return _RawSynset(offset, lex_filenum, words, pointers)


def parse_index_line(line: str) -> tuple[str, list[int], int]:
    """Parse one index.noun line -> (lemma, synset offsets in sense order, tagsense_cnt)."""
    f = line.split()
    lemma, synset_cnt, p_cnt = f[0], int(f[2]), int(f[3])
    i = 4 + p_cnt
    tagsense_cnt = int(f[i + 1])
    offsets = [int(x) for x in f[i + 2 : i + 2 + synset_cnt]]
    return lemma, offsets, tagsense_cnt


def parse_cntlist(path: Path) -> dict[tuple[str, int, int], int]:
    """cntlist.rev noun lines -> {(lemma, lex_filenum, lex_id): tag count}."""
    out: dict[tuple[str, int, int], int] = {}
    if not path.is_file():
        return out
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.split()
            if len(parts) != 3:
                continue
            key, _sense_number, count = parts
            lemma, _, rest = key.partition("%")
            fields = rest.split(":")
            if len(fields) < 3 or fields[0] != "1":  # ss_type 1 = noun
                continue
            out[(lemma.lower(), int(fields[1]), int(fields[2]))] = int(count)
    return out


def parse_exceptions(path: Path) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2:
                out[parts[0]] = tuple(parts[1:])
    return out


def parse_wordnet(wordnet_dir: Path = DEFAULT_DIR) -> dict[str, Any]:
    """Parse the noun files into the compact tables that `WordNet` wraps (frozen sections)."""
    _require(wordnet_dir)
    raw = [parse_data_line(line) for line in _data_lines(wordnet_dir / "data.noun")]
    offsets = np.array([r.offset for r in raw], dtype=np.int64)
    pos_of = {r.offset: i for i, r in enumerate(raw)}

    hyper: list[list[int]] = []
    hyper_inst: list[bool] = []
    holo: list[list[int]] = []
    for r in raw:
        h, hol = [], []
        for sym, tgt in r.pointers:
            j = pos_of.get(tgt)
            if j is None:
                continue
            if sym in (_HYPERNYM, _INSTANCE_HYPERNYM):
                h.append(j)
                hyper_inst.append(sym == _INSTANCE_HYPERNYM)
            elif sym == _PART_HOLONYM:
                hol.append(j)
        hyper.append(h)
        holo.append(hol)
    hyper_csr, holo_csr = _Csr.from_lists(hyper), _Csr.from_lists(holo)

    # Sense keys identify a (lemma, synset) pair by lemma + lex_filenum + lex_id.
    counts = parse_cntlist(wordnet_dir / "cntlist.rev")
    senses_of: dict[str, list[tuple[int, int, bool]]] = {}  # lemma -> (synset, count, proper)
    for line in _data_lines(wordnet_dir / "index.noun"):
        lemma, offs, _tagsense_cnt = parse_index_line(line)
        found = senses_of.setdefault(lemma, [])
        for off in offs:
            j = pos_of.get(off)
            if j is None:
                continue
            r = raw[j]
            word, lex_id = next(((w, lid) for w, lid in r.words if w.lower() == lemma), (lemma, 0))
            found.append((j, counts.get((lemma, r.lex_filenum, lex_id), 0), word[:1].isupper()))
    lemmas = sorted(senses_of)  # a lemma's row is its position: found by bisection
    flat = [s for lemma in lemmas for s in senses_of[lemma]]
    sense_ptr = np.zeros(len(lemmas) + 1, dtype=np.int32)
    np.cumsum([len(senses_of[lemma]) for lemma in lemmas], out=sense_ptr[1:])

    # data.noun marks adjective positions only for adjectives, but strip "(a)" etc. anyway
    words = ["\t".join(w.split("(", 1)[0] for w, _ in r.words).encode("utf-8") for r in raw]
    word_starts = np.zeros(len(words) + 1, dtype=np.int64)
    np.cumsum([len(w) for w in words], out=word_starts[1:])
    exceptions = {k: "\t".join(v).encode("utf-8") for k, v in parse_exceptions(wordnet_dir / "noun.exc").items()}

    return {
        "offsets": offsets,
        "lex_filenum": np.array([r.lex_filenum for r in raw], dtype=np.uint8),
        "words": b"".join(words),
        "word_starts": word_starts,
        **freeze_keys("lemmas", lemmas),
        "sense_ptr": sense_ptr,
        "sense_synset": np.array([s for s, _, _ in flat], dtype=np.int32),
        "sense_count": np.array([c for _, c, _ in flat], dtype=np.int32),
        "sense_proper": np.array([p for _, _, p in flat], dtype=bool),
        "hyper_ptr": hyper_csr.ptr,
        "hyper_idx": hyper_csr.idx,
        "hyper_is_instance": np.array(hyper_inst, dtype=bool),
        "holo_ptr": holo_csr.ptr,
        "holo_idx": holo_csr.idx,
        **freeze_map("exceptions", exceptions),
    }


_KEYS = frozenset(
    "offsets words word_starts lemmas.keys lemmas.starts sense_ptr sense_synset sense_count sense_proper "
    "hyper_ptr hyper_idx hyper_is_instance holo_ptr holo_idx exceptions.keys exceptions.starts "
    "exceptions.values exceptions.value_starts".split()
)


def _decode_forms(raw: bytes) -> tuple[str, ...]:
    return tuple(raw.decode("utf-8").split("\t"))

# ---- cache files ---------------------------------------------------------------------


def read_pickle(path: Path) -> dict[str, Any] | None:
    """A pickled dict, or None if the file is missing or unreadable (the caller rebuilds it).

    Cache files are written only by this package into the caller's own cache dir.
    """
    try:
        with open(path, "rb") as f:
            obj = pickle.load(f)
    except Exception:  # missing, truncated, corrupt or from an incompatible version
        return None
    return obj if isinstance(obj, dict) else None


def write_pickle_atomic(path: Path, obj: Any) -> None:
    atomic_write(path, lambda f: pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL))
