"""Read one string column of a small Parquet file, without pyarrow.

GloVe's word list ships as Parquet and is read once, to build a plain-text cache (glove.py); pyarrow
would be the biggest package of an install (176 MB) for that alone. This reads exactly what such a
file holds: flat columns of UTF-8 strings in data pages v1 or v2, PLAIN or dictionary encoded,
uncompressed or Snappy (cramjam). Anything else, and any corruption it notices, is a ParquetError.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np

_MAGIC = b"PAR1"
_PLAIN, _PLAIN_DICTIONARY, _RLE, _RLE_DICTIONARY = 0, 2, 3, 8
_DATA_PAGE, _DICTIONARY_PAGE, _DATA_PAGE_V2 = 0, 2, 3
_UNCOMPRESSED, _SNAPPY = 0, 1
_BYTE_ARRAY = 6
_REQUIRED, _OPTIONAL = 0, 1
_MAX_VALUES = 100_000_000  # a corrupt count must not allocate without bound


class ParquetError(ValueError):
    """Not a Parquet file, or one using features this reader does not have."""


class _Thrift:
    """Thrift's compact protocol, decoded to {field id: value} dicts (Parquet's metadata format)."""

    def __init__(self, data: bytes, pos: int) -> None:
        self.data, self.pos = data, pos

    def _byte(self) -> int:
        if self.pos >= len(self.data):
            raise ParquetError("truncated Parquet metadata")
        self.pos += 1
        return self.data[self.pos - 1]

    def _varint(self) -> int:
        shift = result = 0
        while True:
            b = self._byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result

    def _zigzag(self) -> int:
        n = self._varint()
        return (n >> 1) ^ -(n & 1)

    def _value(self, kind: int) -> Any:
        if kind in (1, 2):  # booleans carry their value in the type nibble
            return kind == 1
        if kind == 3:
            return struct.unpack("b", bytes([self._byte()]))[0]
        if kind in (4, 5, 6):
            return self._zigzag()
        if kind == 7:
            self.pos += 8
            return struct.unpack_from("<d", self.data, self.pos - 8)[0]
        if kind == 8:
            n = self._varint()
            self.pos += n
            return self.data[self.pos - n : self.pos]
        if kind in (9, 10):
            head = self._byte()
            size, element = head >> 4, head & 0x0F
            size = self._varint() if size == 15 else size
            return [self._byte() == 1 if element in (1, 2) else self._value(element) for _ in range(size)]
        if kind == 11:
            size = self._varint()
            if not size:
                return {}
            types = self._byte()
            return {self._value(types >> 4): self._value(types & 0x0F) for _ in range(size)}
        if kind == 12:
            return self.struct()
        raise ParquetError(f"corrupt Parquet metadata (thrift type {kind})")

    def struct(self) -> dict[int, Any]:
        fields: dict[int, Any] = {}
        last = 0
        while head := self._byte():
            delta, kind = head >> 4, head & 0x0F
            last = last + delta if delta else self._zigzag()
            fields[last] = self._value(kind)
        return fields


def _hybrid(data: bytes, bit_width: int, count: int) -> np.ndarray:
    """Parquet's RLE / bit-packed hybrid encoding: `count` unsigned ints of `bit_width` bits."""
    if not 0 <= count <= _MAX_VALUES or not 0 <= bit_width <= 32:
        raise ParquetError("corrupt RLE header")
    out = np.empty(count, dtype=np.int64)
    filled, pos = 0, 0
    byte_width = (bit_width + 7) // 8
    while filled < count:
        reader = _Thrift(data, pos)
        header = reader._varint()
        pos = reader.pos
        if header & 1:  # bit-packed: (header >> 1) groups of 8 values, least significant bit first
            n = (header >> 1) * 8
            nbytes = (header >> 1) * bit_width
            bits = np.unpackbits(np.frombuffer(data, np.uint8, nbytes, pos), bitorder="little")
            if len(bits) < n * bit_width:
                raise ParquetError("truncated bit-packed run")
            values = bits[: n * bit_width].reshape(n, bit_width).astype(np.int64) << np.arange(bit_width)
            take = min(n, count - filled)
            out[filled : filled + take] = values.sum(axis=1)[:take]
            pos += nbytes
        else:  # run: (header >> 1) copies of one little-endian value
            take = min(header >> 1, count - filled)
            out[filled : filled + take] = int.from_bytes(data[pos : pos + byte_width], "little")
            pos += byte_width
        filled += take
        if take == 0:
            raise ParquetError("corrupt RLE run")
    return out


def _plain_strings(data: bytes, count: int) -> list[str]:
    if not 0 <= count <= min(_MAX_VALUES, len(data) // 4):
        raise ParquetError("corrupt string page")
    strings, pos = [], 0
    for _ in range(count):
        (n,) = struct.unpack_from("<I", data, pos)
        strings.append(data[pos + 4 : pos + 4 + n].decode("utf-8"))
        pos += 4 + n
    return strings


def _decompress(data: bytes, codec: int) -> bytes:
    if codec == _UNCOMPRESSED:
        return data
    if codec == _SNAPPY:
        import cramjam

        try:
            return bytes(cramjam.snappy.decompress_raw(data))
        except cramjam.DecompressionError as exc:
            raise ParquetError(f"corrupt Snappy page ({exc})") from exc
    raise ParquetError(f"unsupported Parquet compression codec {codec}")


def read_string_column(path: Path, column: int = 0) -> list[str | None]:
    """The values of one flat string column, in row order (None for nulls)."""
    data = Path(path).read_bytes()
    if len(data) < 12 or data[:4] != _MAGIC or data[-4:] != _MAGIC:
        raise ParquetError(f"{path}: not a Parquet file")
    footer_len = struct.unpack_from("<I", data, len(data) - 8)[0]
    try:
        meta = _Thrift(data, len(data) - 8 - footer_len).struct()
        schema = meta[2][1:]  # the root, then one element per column (flat files)
        if any(4 not in element or 5 in element for element in schema):
            raise ParquetError(f"{path}: nested Parquet schemas are not supported")
        element = schema[column]
        if element.get(1) != _BYTE_ARRAY or element.get(3, _REQUIRED) not in (_REQUIRED, _OPTIONAL):
            raise ParquetError(f"{path}: column {column} is not a plain string column")
        optional = element.get(3) == _OPTIONAL
        values: list[str | None] = []
        for row_group in meta[4]:
            chunk = row_group[1][column][3]
            codec, start = chunk[4], chunk.get(11, chunk[9])  # dictionary page first, if any
            values += _read_chunk(data, start, start + chunk[7], chunk[5], codec, optional)
        if len(values) != meta[3]:
            raise ParquetError(f"{path}: {len(values)} values for {meta[3]} rows")
    except ParquetError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, struct.error) as exc:  # ValueError: bad UTF-8
        raise ParquetError(f"{path}: corrupt or unsupported Parquet file ({exc!r})") from exc
    return values


def _read_chunk(data: bytes, pos: int, end: int, count: int, codec: int, optional: bool) -> list[str | None]:
    dictionary: list[str] = []
    out: list[str | None] = []
    while len(out) < count and pos < end:
        reader = _Thrift(data, pos)
        header = reader.struct()
        body = data[reader.pos : reader.pos + header[3]]
        pos = reader.pos + header[3]
        kind = header[1]
        if kind == _DICTIONARY_PAGE:
            page = header[7]
            if page.get(2, _PLAIN) not in (_PLAIN, _PLAIN_DICTIONARY):
                raise ParquetError("unsupported dictionary page encoding")
            dictionary = _plain_strings(_decompress(body, codec), page[1])
            continue
        if kind == _DATA_PAGE:
            page = header[5]
            n, encoding = page[1], page[2]
            body = _decompress(body, codec)
            defined = np.ones(n, dtype=bool)
            if optional:
                if page[3] != _RLE:
                    raise ParquetError("unsupported definition level encoding")
                (length,) = struct.unpack_from("<I", body, 0)
                defined = _hybrid(body[4 : 4 + length], 1, n) == 1
                body = body[4 + length :]
        elif kind == _DATA_PAGE_V2:
            page = header[8]
            n, encoding, levels_len = page[1], page[4], page[5] + page[6]
            if page[6]:
                raise ParquetError("repeated columns are not supported")
            levels, body = body[:levels_len], body[levels_len:]
            body = _decompress(body, codec) if page.get(7, True) else body
            defined = _hybrid(levels, 1, n) == 1 if optional else np.ones(n, dtype=bool)
        else:
            continue  # index pages carry no values
        present = int(defined.sum())
        if encoding == _PLAIN:
            strings = _plain_strings(body, present)
        elif encoding in (_PLAIN_DICTIONARY, _RLE_DICTIONARY):
            indices = _hybrid(body[1:], body[0], present) if present else np.empty(0, np.int64)
            if present and (indices.max() >= len(dictionary) or indices.min() < 0):
                raise ParquetError("dictionary index out of range")
            strings = [dictionary[i] for i in indices.tolist()]
        else:
            raise ParquetError(f"unsupported Parquet encoding {encoding}")
        it = iter(strings)
        out += [next(it) if d else None for d in defined.tolist()]
    if len(out) != count:
        raise ParquetError("column chunk ends early")
    return out
