"""Compact encoding of an image's sparse category vector (the Dropbox "forward index" row).

A row keeps the top K=50 concepts (classes, and the image's characteristics in room the weakest
classes make: pipeline/analysis.with_characteristics): K uint16 concept ids followed by K uint8 weights, 150 bytes.
Weights are class probabilities quantised on a log scale (1e-6 .. 1 onto bytes 1..255, within
±2.8 % relative), because the useful tail of a softmax spans orders of magnitude; 0 means "absent".
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from pixseek.records import CLASS_COUNT, TOP_K, SparseVector, top_k  # noqa: F401 (TOP_K, top_k re-exported)

ROW_BYTES = TOP_K * 3
_DECADES = 6.0
_MIN_PROB = 10.0**-_DECADES


def quantise(probabilities: NDArray[np.floating]) -> NDArray[np.uint8]:
    p = np.maximum(np.asarray(probabilities, dtype=np.float64), _MIN_PROB)
    q = 1 + np.rint((np.log10(p) + _DECADES) / _DECADES * 254.0)
    q = np.clip(q, 1, 255).astype(np.uint8)
    q[np.asarray(probabilities) < _MIN_PROB] = 0
    return q


# Dequantisation table: weight byte -> probability (index 0 -> 0.0).
DEQUANT = np.concatenate([[0.0], 10.0 ** (np.arange(0, 255) / 254.0 * _DECADES - _DECADES)]).astype(
    np.float32
)


def encode_row(vector: SparseVector) -> bytes:
    """SparseVector (<= TOP_K entries) -> ROW_BYTES bytes; unused slots are id 0 / weight 0."""
    ids = np.zeros(TOP_K, dtype="<u2")
    weights = np.zeros(TOP_K, dtype=np.uint8)
    n = min(len(vector), TOP_K)
    ids[:n] = vector.ids[:n]
    weights[:n] = quantise(vector.weights[:n])
    return ids.tobytes() + weights.tobytes()


def decode_rows(rows: NDArray[np.uint8]) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
    """(n, ROW_BYTES) uint8 -> class ids (n, K) and probabilities (n, K)."""
    rows = np.ascontiguousarray(rows).reshape(-1, ROW_BYTES)
    ids = rows[:, : TOP_K * 2].copy().view("<u2").astype(np.int32)
    probs = np.take(DEQUANT, rows[:, TOP_K * 2 :].astype(np.intp))  # 20 % faster than DEQUANT[uint8 array]
    return ids, probs


def decode_row(row: bytes) -> SparseVector:
    ids, probs = decode_rows(np.frombuffer(row, dtype=np.uint8))
    keep = probs[0] > 0
    return SparseVector(ids[0][keep], probs[0][keep])


def dense_probabilities(vector: SparseVector, num_classes: int = CLASS_COUNT) -> NDArray[np.float32]:
    """The class probabilities as a dense array; ids from num_classes on (characteristics) are left out."""
    out = np.zeros(num_classes, dtype=np.float32)
    inside = vector.ids < num_classes
    out[vector.ids[inside]] = vector.weights[inside]
    return out
