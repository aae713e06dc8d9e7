"""Read-only tables that open by mmap: what a query reads, without unpickling anything.

A *frozen file* holds named sections, each a numpy array or a byte string, behind a small JSON
header naming the builder's version and the stamp of its sources (as the pickles had):

    MAGIC | u64 header length | header JSON | sections, each 8-byte aligned

Opening one maps the file and checks the magic, version, stamp and size; sections are then views
into the mapping, so a process pays only for the pages it touches (a lookup touches a few).
A missing, truncated, corrupt or stale file opens as None: the caller rebuilds it and writes it
atomically (fsutil.atomic_write: a new file renamed over the old), so a reader never sees half a
file and a running process keeps its mapping of the old one (a mapped file must never be
rewritten in place: its readers would fault).

`SortedKeys` is a sorted list of strings stored as UTF-8 bytes plus int64 start offsets; lookups
bisect over it (UTF-8 byte order is code point order, so the order is `sorted()`'s). `FrozenMap`
pairs the keys with one serialized value per key (`freeze_map` writes both).
"""

from __future__ import annotations

import bisect
import io
import json
import mmap
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

from pixseek.fsutil import atomic_write

MAGIC = b"PIXSEEK-FROZEN-1"
_ALIGN = 8

Section = NDArray[Any] | bytes
V = TypeVar("V")


def _json_form(value: Any) -> Any:
    """Stamps are tuples; JSON gives lists back: compare both in their JSON form."""
    return json.loads(json.dumps(value))


class FrozenTables:
    """The sections of one frozen file (or of its bytes in memory), by name."""

    def __init__(self, buffer: mmap.mmap | bytes, header: dict[str, Any]) -> None:
        self._buffer = buffer
        self._view = memoryview(buffer)
        self._sections: dict[str, list[Any]] = header["sections"]
        self.version: str = header["version"]
        self.stamp: Any = header["stamp"]

    @classmethod
    def open(cls, path: Path, version: str, stamp: Any) -> FrozenTables | None:
        """The file's tables, or None if it is missing, unreadable, truncated or stale."""
        try:
            with open(path, "rb") as f:
                buffer = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # missing, unreadable or empty
            return None
        tables = cls._parse(buffer)
        if tables is None or tables.version != version or tables.stamp != _json_form(stamp):
            return None  # the mapping goes with the last view of it
        return tables

    @classmethod
    def from_sections(cls, version: str, stamp: Any, sections: Mapping[str, Section]) -> FrozenTables:
        """The same tables kept in memory (no cache directory)."""
        out = io.BytesIO()
        _write(out, version, stamp, sections)
        tables = cls._parse(out.getvalue())
        assert tables is not None
        return tables

    @classmethod
    def _parse(cls, buffer: mmap.mmap | bytes) -> FrozenTables | None:
        head = len(MAGIC) + 8
        if len(buffer) < head or buffer[: len(MAGIC)] != MAGIC:
            return None
        (n,) = struct.unpack("<Q", buffer[len(MAGIC) : head])
        try:
            header = json.loads(bytes(buffer[head : head + n]).decode("utf-8"))
            if header.get("size") != len(buffer):  # truncated (or grown)
                return None
            return cls(buffer, header)
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

    def __contains__(self, name: str) -> bool:
        return name in self._sections

    def names(self) -> set[str]:
        return set(self._sections)

    def __getitem__(self, name: str) -> NDArray[Any]:
        """An array section (a read-only view into the file)."""
        kind, offset, length, dtype = self._sections[name]
        if kind != "array":
            raise KeyError(f"{name} is a bytes section")
        return np.frombuffer(self._view[offset : offset + length], dtype=np.dtype(dtype))

    def blob(self, name: str) -> memoryview:
        """A bytes section (a view into the file)."""
        kind, offset, length, _ = self._sections[name]
        if kind != "bytes":
            raise KeyError(f"{name} is an array section")
        return self._view[offset : offset + length]


def write_tables(path: Path, version: str, stamp: Any, sections: Mapping[str, Section]) -> None:
    """Write a frozen file atomically (readers never see half of it)."""
    atomic_write(path, lambda f: _write(f, version, stamp, sections))


def open_or_build(
    path: Path | None, version: str, stamp: Any, build: Callable[[], Mapping[str, Section]], required: Iterable[str]
) -> FrozenTables:
    """The tables in `path` if they are current and complete, else built (and written if `path`)."""
    if path is not None:
        tables = FrozenTables.open(path, version, stamp)
        if tables is not None and set(required) <= tables.names():
            return tables
    sections = build()
    if path is None:
        return FrozenTables.from_sections(version, stamp, sections)
    write_tables(path, version, stamp, sections)
    tables = FrozenTables.open(path, version, stamp)
    if tables is None:  # pragma: no cover - the file was just written
        raise OSError(f"cannot read back {path}")
    return tables


def _write(f: BinaryIO, version: str, stamp: Any, sections: Mapping[str, Section]) -> None:
    parts: list[bytes | memoryview] = []
    layout: dict[str, list[Any]] = {}
    offset = 0  # relative to the first section
    for name, value in sections.items():
        if isinstance(value, np.ndarray):
            arr = np.ascontiguousarray(value)
            data: bytes | memoryview = memoryview(arr).cast("B") if arr.size else b""
            layout[name] = ["array", offset, len(data), arr.dtype.str]
        else:
            data = bytes(value)
            layout[name] = ["bytes", offset, len(data), ""]
        pad = -len(data) % _ALIGN
        parts += [data, b"\0" * pad]
        offset += len(data) + pad
    # The header's own length moves the sections: fix the width of the offsets with a fixed point.
    base = 0
    while True:
        header = {
            "version": version,
            "stamp": _json_form(stamp),
            "sections": {k: [kind, base + off, n, dt] for k, (kind, off, n, dt) in layout.items()},
            "size": base + offset,
        }
        raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
        start = len(MAGIC) + 8 + len(raw)
        new_base = start + (-start % _ALIGN)
        if new_base == base:
            break
        base = new_base
    f.write(MAGIC + struct.pack("<Q", len(raw)) + raw + b"\0" * (base - start))
    for part in parts:
        f.write(part)


# ---- sorted keys and maps ----------------------------------------------------------------


def freeze_keys(name: str, keys: list[str]) -> dict[str, Section]:
    """Sections of `SortedKeys(tables, name)`; `keys` must be sorted (repeats bisect to the first)."""
    encoded = [k.encode("utf-8") for k in keys]
    return {f"{name}.keys": b"".join(encoded), f"{name}.starts": _starts(encoded)}


def freeze_map(name: str, items: Mapping[str, bytes]) -> dict[str, Section]:
    """Sections of `FrozenMap(tables, name, decode)`: the keys sorted, one encoded value each."""
    keys = sorted(items)
    values = [items[k] for k in keys]
    return {**freeze_keys(name, keys), f"{name}.values": b"".join(values), f"{name}.value_starts": _starts(values)}


def _starts(parts: list[bytes]) -> NDArray[np.int64]:
    starts = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum(np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(parts)), out=starts[1:])
    return starts


class SortedKeys:
    """Sorted strings in a frozen file: position of a key by bisection, key of a position."""

    def __init__(self, tables: FrozenTables, name: str) -> None:
        self._bytes = tables.blob(f"{name}.keys")
        self._starts = memoryview(tables[f"{name}.starts"])  # Python ints on indexing: fast bisection
        self._n = len(self._starts) - 1

    def __len__(self) -> int:
        return self._n

    def _raw(self, i: int) -> bytes:
        return bytes(self._bytes[self._starts[i] : self._starts[i + 1]])

    def key(self, i: int) -> str:
        return self._raw(i).decode("utf-8")

    def bisect_left(self, key: str) -> int:
        """Where `key` is or would go."""
        return bisect.bisect_left(range(self._n), key.encode("utf-8"), key=self._raw)

    def find(self, key: str) -> int | None:
        """Position of `key`, or None."""
        raw = key.encode("utf-8")
        i = bisect.bisect_left(range(self._n), raw, key=self._raw)
        return i if i < self._n and self._raw(i) == raw else None

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.find(key) is not None

    def all(self) -> list[str]:
        """Every key, in order (decodes the whole list)."""
        data, starts = bytes(self._bytes), self._starts.tolist()
        return [data[a:b].decode("utf-8") for a, b in zip(starts[:-1], starts[1:], strict=True)]


class FrozenMap(Mapping[str, V], Generic[V]):
    """A read-only str -> value map in a frozen file; values are decoded on each lookup."""

    def __init__(self, tables: FrozenTables, name: str, decode: Callable[[bytes], V]) -> None:
        self._keys = SortedKeys(tables, name)
        self._values = tables.blob(f"{name}.values")
        self._value_starts = memoryview(tables[f"{name}.value_starts"])
        self._decode = decode

    def __getitem__(self, key: str) -> V:
        i = self._keys.find(key) if isinstance(key, str) else None
        if i is None:
            raise KeyError(key)
        return self._decode(bytes(self._values[self._value_starts[i] : self._value_starts[i + 1]]))

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys.all())
