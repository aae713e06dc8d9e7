"""language/frozen.py: the mmap'ed read-only tables the query path opens instead of pickles."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import numpy as np
import pytest

from pixseek.language.freedict import Dictionary
from pixseek.language.frozen import FrozenMap, FrozenTables, SortedKeys, freeze_keys, freeze_map, open_or_build, write_tables

STAMP = (("data.noun", 15300280, 1700000000), ("index.noun", 4786655, 1700000001))
KEYS = sorted(["zèbre", "cão", "cao", "a", "über", "Ähre", "dog", "dog house", "日本", "éclair"])


def sections() -> dict[str, object]:
    values = {k: json.dumps([k.upper(), len(k)]).encode() for k in KEYS}
    return {
        "numbers": np.arange(10, dtype=np.int32),
        "flags": np.array([True, False, True]),
        "empty": np.zeros(0, dtype=np.int64),
        "note": "ünïcode".encode(),
        **freeze_keys("words", KEYS),
        **freeze_map("upper", values),
    }


def test_round_trip_keys_maps_and_arrays(tmp_path: Path) -> None:
    path = tmp_path / "t.frozen"
    write_tables(path, "v1", STAMP, sections())  # type: ignore[arg-type]
    t = FrozenTables.open(path, "v1", STAMP)
    assert t is not None
    assert t["numbers"].tolist() == list(range(10)) and t["numbers"].dtype == np.int32
    assert t["flags"].tolist() == [True, False, True] and len(t["empty"]) == 0
    assert bytes(t.blob("note")).decode() == "ünïcode"
    assert not t["numbers"].flags.writeable  # a view into the read-only mapping
    keys = SortedKeys(t, "words")
    assert keys.all() == KEYS  # UTF-8 byte order is sorted()'s code point order
    assert [keys.find(k) for k in KEYS] == list(range(len(KEYS)))
    assert keys.find("dogs") is None and keys.find("") is None and "cão" in keys and "ca" not in keys
    assert keys.bisect_left("dogs") == KEYS.index("dog house") + 1
    m = FrozenMap(t, "upper", json.loads)
    assert m["cão"] == ["CÃO", 3] and m.get("nope") is None and len(m) == len(KEYS)
    assert dict(m.items()) == {k: [k.upper(), len(k)] for k in KEYS}
    with pytest.raises(KeyError):
        m["nope"]
    assert FrozenTables.from_sections("v1", STAMP, sections())["numbers"].tolist() == list(range(10))  # type: ignore[arg-type]


def test_missing_truncated_corrupt_or_stale_files_open_as_none(tmp_path: Path) -> None:
    path = tmp_path / "t.frozen"
    assert FrozenTables.open(path, "v1", STAMP) is None
    write_tables(path, "v1", STAMP, sections())  # type: ignore[arg-type]
    whole = path.read_bytes()
    assert FrozenTables.open(path, "v2", STAMP) is None  # another builder's version
    assert FrozenTables.open(path, "v1", STAMP[:1]) is None  # the sources changed
    for broken in (b"", whole[:10], whole[:200], whole[: len(whole) - 8], b"\x80\x05garbage" + whole[14:], whole + b"x"):
        path.write_bytes(broken)
        assert FrozenTables.open(path, "v1", STAMP) is None
    builds = []

    def build() -> dict[str, object]:
        builds.append(1)
        return sections()

    t = open_or_build(path, "v1", STAMP, build, ["numbers", "words.keys"])  # type: ignore[arg-type]
    assert builds == [1] and path.read_bytes() == whole and SortedKeys(t, "words").all() == KEYS
    open_or_build(path, "v1", STAMP, build, ["numbers"])  # type: ignore[arg-type]
    assert builds == [1]  # current: opened, not rebuilt
    open_or_build(path, "v1", STAMP, build, ["numbers", "no such section"])  # type: ignore[arg-type]
    assert builds == [1, 1] and not list(tmp_path.glob("*.tmp"))


def test_corrupt_dictionary_caches_are_rebuilt(tmp_path: Path) -> None:
    d = Dictionary("ita-eng", tmp_path)
    reverse, headwords = dict(d.reverse().items()), d.headwords()
    assert reverse and len(headwords) > 1000
    del d  # its mapping: a file truncated in place under a live mapping faults its reader
    gc.collect()  # (the cache is only ever replaced whole, by atomic_write, so readers keep the old one)
    index, back = next(tmp_path.glob("*-freedict-ita-eng.frozen")), next(tmp_path.glob("*-ita-eng-reverse.frozen"))
    sizes = index.stat().st_size, back.stat().st_size
    index.write_bytes(index.read_bytes()[:5000])
    back.write_bytes(b"")
    again = Dictionary("ita-eng", tmp_path)
    assert again.headwords() == headwords and dict(again.reverse().items()) == reverse
    assert (index.stat().st_size, back.stat().st_size) == sizes
