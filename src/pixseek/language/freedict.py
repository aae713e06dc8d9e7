"""FreeDict bilingual dictionaries (Debian `dict-freedict-*`), read straight from the dictd files.

A dictionary is two files in /usr/share/dictd: `freedict-fra-eng.index` (lines "headword TAB
base64 offset TAB base64 length", headwords lowercase) and `freedict-fra-eng.dict.dz`, a dictzip
file (gzip whose header lists independently compressed chunks, so one entry is read without
inflating the whole file). The German one is big (519k index lines, 16 MB compressed), so the
index is cached in the cache dir as a frozen file (language/frozen.py: sorted UTF-8 keys, offset
arrays; opened by mmap, a lookup reads a few pages) and entries are inflated chunk by chunk on demand.

Entries look like (French, Spanish, German):

    chien /ʃi/ <n, masc>          coche /kˈotʃe/            Hund /hˈʊnt/ <masc, n, sg>
    dog                           1. car                     [zool.] dog <n>, dawg <n>
                                  2. carriage, coach            Note: ...
                                                              "einen Hund abrichten" - train a dog
                                                            see: {Hunde}, {Haushund}

Each line (or numbered sense) is one `Sense`: its comma-separated equivalents with their part of
speech and domain ("zool.", "techn."). Notes, examples, synonym and "see:" lines are dropped.
"""

from __future__ import annotations

import json
import re
import struct
import threading
import unicodedata
import zlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pixseek.language.frozen import FrozenMap, FrozenTables, SortedKeys, freeze_keys, freeze_map, open_or_build

DEFAULT_DIR = Path("/usr/share/dictd")
CACHE_VERSION = "freedict-5"
MAX_HEADWORD_WORDS = 5  # longer index keys are sentences ("Die Ärzte greifen bei jedem ..."): skipped
MAX_EQUIVALENT_WORDS = 4  # longer "equivalents" are explanations, not words
ENTRY_CACHE = 4096  # parsed entries kept per dictionary

_B64 = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}
_PRON = re.compile(r"/[^/\n]*/")
_TAG = re.compile(r"\[([^\]]*)\]")
_POS = re.compile(r"<([^>]*)>")
_PAREN = re.compile(r"\([^()]*\)")
_NUMBERED = re.compile(r"^\s*\d+\.\s+")
# Register and usage labels: they say nothing about which meaning a line has.
_REGISTER = frozenset(
    """Br. Am. Aus. NZ Can. Irish Sc. Süddt. Norddt. Ös. Schw. coll. formal slang fig. übtr. obs.
    rare veraltet geh. ugs. vulg. pej. humor. poet. selten""".split()
)
_SKIP_LINE = re.compile(r'^\s*(?:"|Note:|Synonyms?:|see:|Antonyms?:)')
# Part-of-speech words in the <...> markers, normalised.
_POS_WORDS = {
    "n": "n",
    "pl": "n",
    "masc": "n",  # the German side gives nouns' genders only
    "fem": "n",
    "neut": "n",
    "adj": "adj",
    "adv": "adv",
    "v": "v",
    "vt": "v",
    "vi": "v",
    "vr": "v",
    "prep": "prep",
    "conj": "conj",
    "pron": "pron",
    "art": "art",
    "num": "num",
    "interj": "interj",
}
_HYPHENS = str.maketrans({"‐": "-", "‑": "-", "–": "-", "’": "'"})
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae", "ß": "ss"})

# Debian package of each dictionary: "fra-eng" -> dict-freedict-fra-eng.
PACKAGE_PREFIX = "dict-freedict-"


class DictionaryMissingError(RuntimeError):
    """A FreeDict dictionary is not installed."""


@dataclass(frozen=True)
class Sense:
    """One sense of an entry: its equivalents ("mine car", "tub", ...), part of speech, domain."""

    words: tuple[str, ...]
    pos: str = ""  # "n", "adj", "v", ... or "" when the dictionary does not say
    domain: str = ""  # "zool.", "techn.", ... (German dictionary only)


@dataclass(frozen=True)
class Entry:
    headword: str  # as written: "Hund", "voiture de sport"
    pos: str  # of the headword: "n", "adj", "v", ... or ""
    senses: tuple[Sense, ...]
    extent: int = 0  # example, note, synonym and "see:" lines: lexicographers write more on common words

    @property
    def is_name(self) -> bool:
        """A place or person ("Praia" -> Praia, "Noir" -> Negro): every equivalent is capitalised."""
        return all(w[:1].isupper() for s in self.senses for w in s.words)


def fold(text: str) -> str:
    """Case- and accent-insensitive key: 'Cão' -> 'cao', 'Œil' -> 'oeil', 'Straße' -> 'strasse'."""
    text = text.lower().translate(_LIGATURES)
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


class Dictionary:
    """One FreeDict dictionary ("fra-eng"): headword lookups and parsed entries (see module doc)."""

    def __init__(self, pair: str, cache_dir: Path | None, dict_dir: Path = DEFAULT_DIR) -> None:
        self.pair = pair
        self._dict_path = Path(dict_dir) / f"freedict-{pair}.dict.dz"
        index_path = Path(dict_dir) / f"freedict-{pair}.index"
        missing = [p.name for p in (index_path, self._dict_path) if not p.is_file()]
        if missing:
            raise DictionaryMissingError(
                f"FreeDict dictionary {pair} not found in {dict_dir} (missing {', '.join(missing)}): "
                f"install Debian package {PACKAGE_PREFIX}{pair} (apt-get install {PACKAGE_PREFIX}{pair})"
            )
        self._t = _load_index(index_path, self._dict_path, cache_dir)
        self._keys = SortedKeys(self._t, "keys")
        self._folded = SortedKeys(self._t, "folded")
        self._folded_target: NDArray[np.int32] = self._t["folded_target"]
        self._entry_ptr = memoryview(self._t["entry_ptr"])
        self._reader = _DictzipReader(self._dict_path)
        self._entries: OrderedDict[str, list[Entry]] = OrderedDict()
        self._lock = threading.Lock()
        self._cache_dir = None if cache_dir is None else Path(cache_dir)
        self._reverse: Mapping[str, tuple[tuple[str, int], ...]] | None = None

    def __len__(self) -> int:
        return len(self._keys)

    def _find(self, key: str) -> int | None:
        return self._keys.find(key)

    def __contains__(self, word: str) -> bool:
        return self._find(_clean_key(word)) is not None

    def folded_matches(self, word: str) -> list[str]:
        """Headwords that equal `word` up to case and accents ('cao' -> ['cão'])."""
        key = fold(_clean_key(word))
        n = len(self._folded)
        i = self._folded.bisect_left(key)
        out = []
        while i < n and self._folded.key(i) == key:
            out.append(self._keys.key(int(self._folded_target[i])))
            i += 1
        return out

    def lookup(self, word: str) -> list[Entry]:
        """Entries of an exact (case-insensitive) headword, in dictionary order, duplicates removed."""
        key = _clean_key(word)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        i = self._find(key)
        entries: list[Entry] = []
        if i is not None:
            a, b = self._entry_ptr[i], self._entry_ptr[i + 1]
            seen: set[str] = set()
            for off, length in zip(self._t["entry_off"][a:b], self._t["entry_len"][a:b], strict=True):
                text = self._reader.read(int(off), int(length))
                if text in seen:  # the German index lists some entries twice
                    continue
                seen.add(text)
                entry = parse_entry(text)
                if entry is not None and entry.senses:
                    entries.append(entry)
        with self._lock:
            self._entries[key] = entries
            if len(self._entries) > ENTRY_CACHE:
                self._entries.popitem(last=False)
        return entries

    def headwords(self) -> list[str]:
        """Every headword (lowercase index keys), sorted."""
        return self._keys.all()

    def reverse(self) -> Mapping[str, tuple[tuple[str, int], ...]]:
        """Equivalent (lowercase) -> (headword as written, sense number) of every entry listing it.

        Reads the whole dictionary once (a second or two for the small ones), then cached as a
        frozen map beside the index (opened by mmap; each lookup decodes one value). Meant for the
        small dictionaries: eng-nld lacks "dog", but nld-eng read backwards has it.
        """
        if self._reverse is None:
            path = None if self._cache_dir is None else self._cache_dir / f"{CACHE_VERSION}-{self.pair}-reverse.frozen"
            tables = open_or_build(path, CACHE_VERSION, self._t.stamp, self._build_reverse, _REVERSE_SECTIONS)
            self._reverse = FrozenMap(tables, "reverse", _decode_reverse)
        return self._reverse

    def _build_reverse(self) -> dict[str, Any]:
        out: dict[str, list[tuple[str, int]]] = {}
        for key in self.headwords():
            for entry in self.lookup(key):
                for k, sense in enumerate(entry.senses):
                    for w in sense.words:
                        hits = out.setdefault(w.lower(), [])
                        if (entry.headword, k) not in hits:
                            hits.append((entry.headword, k))
        encoded = {w: json.dumps(v, ensure_ascii=False, separators=(",", ":")).encode("utf-8") for w, v in out.items()}
        return freeze_map("reverse", encoded)


_REVERSE_SECTIONS = frozenset(f"reverse.{s}" for s in ("keys", "starts", "values", "value_starts"))


def _decode_reverse(raw: bytes) -> tuple[tuple[str, int], ...]:
    return tuple((headword, sense) for headword, sense in json.loads(raw))


# ---- parsing entries -------------------------------------------------------------------


def parse_entry(text: str) -> Entry | None:
    """One dictd entry -> headword, part of speech and senses (None for an empty entry)."""
    lines = text.translate(_HYPHENS).split("\n")
    if not lines or not lines[0].strip():
        return None
    header = lines[0]
    headword = header.split(" /", 1)[0].split(" <", 1)[0].strip()
    if headword.endswith(("…", "-")):
        return None  # a prefix form ("Auto…" = automotive, "honden-"): not a word on its own
    header_pos = _pos_of(header[len(headword) :])
    senses: list[Sense] = []
    extent = 0
    for line in lines[1:]:
        if not line.strip():
            continue
        if _SKIP_LINE.match(line):
            extent += 1
            continue
        line = _NUMBERED.sub("", line)
        domains = [d.strip() for d in _TAG.findall(line)]
        words: list[str] = []
        pos = ""
        for item in _split_top(_PRON.sub(" ", line)):
            item_pos = _pos_of(item)
            pos = pos or item_pos
            word = _clean_equivalent(item)
            if word and word not in words:
                words.append(word)
        if words:
            senses.append(Sense(tuple(words), pos or header_pos, _domain(domains)))
    return Entry(headword, header_pos, tuple(senses), extent)


def _pos_of(text: str) -> str:
    for marker in _POS.findall(text):
        for part in marker.split(","):
            pos = _POS_WORDS.get(part.strip())
            if pos:
                return pos
    return ""


def _domain(tags: list[str]) -> str:
    # Register tags ([Br.], [Am.], [coll.]) say nothing about the meaning.
    for tag in tags:
        if tag and tag not in _REGISTER and not tag.startswith("+"):
            return tag
    return ""


def _split_top(line: str) -> list[str]:
    """Split at commas outside brackets: 'tabby <n>, cat (striped), moggy' -> three items."""
    out, depth, cur = [], 0, []
    for ch in line:
        if ch in "([<{":
            depth += 1
        elif ch in ")]>}":
            depth = max(0, depth - 1)
        if ch in ",;" and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def _clean_equivalent(item: str) -> str:
    """'[zool.] dog <n>' -> 'dog'; 'chairman <n>chm.' -> 'chairman'; '' for explanations."""
    if "<" in item and ">" in item:  # German: abbreviations trail the pos ("chairman <n>chm.")
        item = item[: item.index(">") + 1]
    text = item
    text = _POS.sub(" ", _TAG.sub(" ", text))
    text = _PAREN.sub(" ", text).replace("<", " ").strip(" .!?")
    text = " ".join(text.split())
    if text.startswith("to "):  # "to run" (verbs in some dictionaries)
        text = text[3:]
    if not text or len(text.split()) > MAX_EQUIVALENT_WORDS:
        return ""
    if any(marker in text for marker in ("sth", "sb.", "...", "…", "=")) or not any(c.isalpha() for c in text):
        return ""
    return text


# ---- the index -------------------------------------------------------------------------


def _clean_key(word: str) -> str:
    return " ".join(word.translate(_HYPHENS).lower().split())


def _b64(text: str) -> int:
    n = 0
    for c in text:
        n = n * 64 + _B64[c]
    return n


def _source_stamp(*paths: Path) -> tuple[tuple[str, int, int], ...]:
    return tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in paths)


_INDEX_SECTIONS = frozenset(
    "keys.keys keys.starts entry_ptr entry_off entry_len folded.keys folded.starts folded_target".split()
)


def _load_index(index_path: Path, dict_path: Path, cache_dir: Path | None) -> FrozenTables:
    stamp = _source_stamp(index_path, dict_path)
    path = None if cache_dir is None else Path(cache_dir) / f"{CACHE_VERSION}-{index_path.stem}.frozen"
    return open_or_build(path, CACHE_VERSION, stamp, lambda: parse_index(index_path), _INDEX_SECTIONS)


def parse_index(path: Path) -> dict[str, Any]:
    """The index file -> sorted keys + per-key entry offsets/lengths, and folded keys (frozen sections)."""
    entries: dict[str, list[tuple[int, int]]] = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3 or parts[0].startswith("00database") or not parts[0].strip():
                continue
            key = _clean_key(parts[0])
            if not key or len(key.split()) > MAX_HEADWORD_WORDS:
                continue
            entries.setdefault(key, []).append((_b64(parts[1]), _b64(parts[2])))
    keys = sorted(entries)
    ptr = np.zeros(len(keys) + 1, dtype=np.int64)
    np.cumsum([len(entries[k]) for k in keys], out=ptr[1:])
    flat = [e for k in keys for e in entries[k]]
    folded = sorted((fold(k), i) for i, k in enumerate(keys) if fold(k) != k)
    return {
        **freeze_keys("keys", keys),
        "entry_ptr": ptr,
        "entry_off": np.array([o for o, _ in flat], dtype=np.int64),
        "entry_len": np.array([n for _, n in flat], dtype=np.int64),
        # Folded forms of every key ("cão" -> "cao"); keys that fold to themselves are found directly.
        # Folded keys repeat ("cote" <- "côte", "coté"): SortedKeys bisects to the first of a run.
        **freeze_keys("folded", [k for k, _ in folded]),
        "folded_target": np.array([i for _, i in folded], dtype=np.int32),
    }


class _DictzipReader:
    """Random access into a dictzip (.dict.dz) file; plain gzip falls back to inflating it whole."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._whole: bytes | None = None
        self._chunk_len = 0
        self._chunk_pos: list[int] = []
        self._chunks: OrderedDict[int, bytes] = OrderedDict()
        self._lock = threading.Lock()
        with open(path, "rb") as f:
            head = f.read(10)
            if len(head) < 10 or head[:2] != b"\x1f\x8b":
                raise DictionaryMissingError(f"{path} is not a dictzip/gzip file")
            flags = head[3]
            ra: bytes | None = None
            if flags & 4:  # FEXTRA: subfields "RA" = dictzip's chunk table
                (xlen,) = struct.unpack("<H", f.read(2))
                extra = f.read(xlen)
                i = 0
                while i + 4 <= len(extra):
                    sub, (n,) = extra[i : i + 2], struct.unpack("<H", extra[i + 2 : i + 4])
                    if sub == b"RA":
                        ra = extra[i + 4 : i + 4 + n]
                    i += 4 + n
            for flag in (8, 16):  # FNAME, FCOMMENT: zero-terminated
                if flags & flag:
                    while f.read(1) not in (b"\x00", b""):
                        pass
            if flags & 2:  # FHCRC
                f.read(2)
            data_start = f.tell()
        if ra is None or len(ra) < 6:
            return
        _ver, self._chunk_len, count = struct.unpack("<HHH", ra[:6])
        sizes = struct.unpack(f"<{count}H", ra[6 : 6 + 2 * count])
        self._chunk_pos = [data_start + s for s in np.concatenate([[0], np.cumsum(sizes)]).tolist()]

    def read(self, offset: int, length: int) -> str:
        if not self._chunk_pos:
            if self._whole is None:
                import gzip

                self._whole = gzip.decompress(self._path.read_bytes())
            return self._whole[offset : offset + length].decode("utf-8", errors="replace")
        first, last = offset // self._chunk_len, (offset + length - 1) // self._chunk_len
        data = b"".join(self._chunk(i) for i in range(first, last + 1))
        start = offset - first * self._chunk_len
        return data[start : start + length].decode("utf-8", errors="replace")

    def _chunk(self, i: int) -> bytes:
        with self._lock:
            if i in self._chunks:
                return self._chunks[i]
        with open(self._path, "rb") as f:
            f.seek(self._chunk_pos[i])
            raw = f.read(self._chunk_pos[i + 1] - self._chunk_pos[i])
        data = zlib.decompressobj(-15).decompress(raw)
        with self._lock:
            self._chunks[i] = data
            if len(self._chunks) > 64:
                self._chunks.popitem(last=False)
        return data
