"""A perceptual hash of a picture: 64 bits that stay (nearly) the same when the picture is resized,
recompressed, slightly cropped or recoloured, and differ for different pictures.

The classic DCT pHash (as imagehash.phash computes it, bit for bit): grey, 32 x 32 (Lanczos), the
2-D DCT-II, its 8 x 8 lowest frequencies, each bit = coefficient > their median. Written with
numpy (a 32 x 32 matrix product) rather than depending on imagehash, whose DCT pulls in scipy
(113 MB) for these few lines; tests/test_duplicates.py checks it against imagehash.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

HASH_SIZE = 8  # 8 x 8 = 64 bits
_SIDE = HASH_SIZE * 4
# DCT-II basis, unnormalised like scipy.fftpack.dct's default: C[k, n] = 2 cos(pi (2n + 1) k / 2N)
_BASIS = 2 * np.cos(np.pi * np.outer(np.arange(_SIDE), 2 * np.arange(_SIDE) + 1) / (2 * _SIDE))
_LOW = _BASIS[:HASH_SIZE]  # only the lowest frequencies are kept: compute only those rows
_MIDDLE = HASH_SIZE * HASH_SIZE // 2


def perceptual_hash(image: Image.Image) -> int:
    """The 64-bit pHash of a picture, as a signed 64-bit integer (what SQL integer columns hold)."""
    grey = image.convert("L").resize((_SIDE, _SIDE), Image.Resampling.LANCZOS)
    pixels = np.asarray(grey, dtype=np.float64)
    low = _LOW @ pixels @ _LOW.T  # (8, 8): dct(dct(pixels, axis=0), axis=1)[:8, :8]
    # The median of the 64 (np.median's value: the mean of the middle two), without np.median, whose
    # first call imports numpy.ma (~20 ms of CPU in each worker process).
    middle = np.sort(low, axis=None)[_MIDDLE - 1 : _MIDDLE + 1]
    bits = (low > (middle[0] + middle[1]) / 2).ravel()
    value = int("".join("1" if b else "0" for b in bits), 2)
    return value - (1 << 64) if value >= 1 << 63 else value

