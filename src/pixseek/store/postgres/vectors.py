"""pgvector's wire formats, without its Python adapter: the text form vectors are sent in, the
binary form they are read back in (much faster to parse than text for 1280 numbers), and the
binary halfvec that bulk loads COPY."""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray


def literal(vector: NDArray[np.floating]) -> str:
    """The text form of a vector. repr of each float32 (as a double) is exact, so a `vector`
    column holds the float32 values bit for bit (a `halfvec` rounds them once, to half)."""
    return "[" + ",".join(map(repr, np.asarray(vector, dtype=np.float32).ravel().tolist())) + "]"


def from_binary(blobs: Sequence[bytes], dim: int, half: bool = False) -> NDArray[np.float32]:
    """(n, dim) float32 from binary results: int16 dim, int16 unused, then `dim` big-endian
    float16 (halfvec) or float32 (vector) values each."""
    if not blobs:
        return np.zeros((0, dim), dtype=np.float32)
    item = ">f2" if half else ">f4"
    header = 4 // np.dtype(item).itemsize
    block = np.frombuffer(b"".join(blobs), dtype=item).reshape(len(blobs), dim + header)
    return block[:, header:].astype(np.float32)


def halfvec_copy_dumper(oid: int) -> type:
    """A psycopg dumper writing float arrays as binary halfvec (for COPY ... FORMAT BINARY after
    `set_types`): int16 dim, int16 unused, then `dim` big-endian float16 values."""
    from psycopg.adapt import Dumper
    from psycopg.pq import Format

    class HalfvecDumper(Dumper):
        format = Format.BINARY

        def dump(self, obj: NDArray[np.floating]) -> bytes:
            values = np.asarray(obj, dtype=">f2").ravel()
            return struct.pack(">HH", values.size, 0) + values.tobytes()

    HalfvecDumper.oid = oid
    return HalfvecDumper
