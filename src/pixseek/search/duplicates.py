"""Duplicates in one user's library: exact copies (one content, several files) and near-duplicates
(several contents: resized, recompressed, slightly cropped, turned or recoloured copies, burst shots).

Two pictures are near-duplicates when their perceptual hashes (analyzers/phash.py, 64 bits) differ
in at most HASH_SAME bits, or in at most HASH_NEAR bits while their classifier embeddings have a
cosine of at least COSINE_NEAR; groups are the connected pictures (a burst is one group). Measured
on the edited-copy set (demo/dup_set.py: 19 real photos x 14 edits, their neighbouring views and
Fashion-MNIST items of one class; bench/duplicates.py): no distinct pair is within 9 bits; edits
reach 28 bits (10 % crops, 4° turns), where only the embedding tells them from neighbouring views
(those reach cosine 0.96, but not with a hash within 18 bits: the best such distinct pair has 0.88).
With these values pair precision 0.99 and recall 1.0 there (the plateau ran from 0.84 to 0.90 in
cosine, 18 to 20 bits; the middle was kept). Each picture's hash is compared with every other's
(64-bit XOR and popcount, in blocks): 3.6 s for 20k pictures on the 2-core box at load 17, quadratic beyond.
Videos take part only as whole files (exact copies); their frames are not files one could delete.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pixseek.imageio.files import VIDEO_EXTENSIONS, has_image_extension
from pixseek.records import ImageMeta, split_frame_path
from pixseek.store.base import Store

HASH_SAME = 6  # bits: this close, the same picture whatever the embeddings say
HASH_NEAR = 18  # bits: this close, the same picture if the embeddings agree too
COSINE_NEAR = 0.88
_BLOCK = 2048  # hashes compared against all others at once (a 2048 x n int64 block)


@dataclass(frozen=True)
class DuplicateFile:
    path: str
    size: int  # bytes


@dataclass(frozen=True)
class DuplicateImage:
    content_id: int
    files: list[DuplicateFile]  # more than one: exact copies (the same bytes)
    meta: ImageMeta


@dataclass(frozen=True)
class DuplicateGroup:
    """Pictures that are one photo: the best first (most pixels, then the largest file)."""

    images: list[DuplicateImage]
    exact: bool  # one content in several files (same bytes), no near-duplicates
    similarity: float  # the smallest similarity of the pairs that joined the group (1.0: exact)


def hamming(a: NDArray[np.int64] | int, b: NDArray[np.int64] | int) -> NDArray[np.int64]:
    """Bits that differ between signed 64-bit hashes (broadcasting)."""
    return _popcount(np.bitwise_xor(np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64))).astype(np.int64)


def _popcount(x: NDArray[np.int64]) -> NDArray[np.uint8]:
    x = np.asarray(x).view(np.uint64)
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(x)
    count = np.zeros(x.shape, dtype=np.uint8)
    for shift in range(0, 64, 8):
        count += _BYTE_BITS[((x >> np.uint64(shift)) & np.uint64(0xFF)).astype(np.intp)]
    return count


_BYTE_BITS = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def near_pairs(hashes: NDArray[np.int64], max_bits: int = HASH_NEAR) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """(i, j, bits) of every pair i < j whose hashes differ in at most max_bits bits."""
    hashes = np.asarray(hashes, dtype=np.int64)
    found_i, found_j, found_bits = [], [], []
    for start in range(0, len(hashes), _BLOCK):
        block = hashes[start : start + _BLOCK]
        bits = _popcount(np.bitwise_xor(block[:, None], hashes[None, start:]))  # the upper triangle's rows
        i, j = np.nonzero(bits <= max_bits)
        keep = i < j
        i, j = i[keep], j[keep]
        found_bits.append(bits[i, j].astype(np.int64))
        found_i.append(i + start)
        found_j.append(j + start)
    if not found_i:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    return np.concatenate(found_i), np.concatenate(found_j), np.concatenate(found_bits)


def hash_similarity(bits: NDArray[np.int64] | int) -> NDArray[np.float64]:
    return 1.0 - np.asarray(bits, dtype=np.float64) / 64.0


class _Groups:
    """Union-find over indices, remembering each group's weakest joining similarity."""

    def __init__(self, n: int) -> None:
        self.parent = np.arange(n)
        self.weakest: dict[int, float] = {}

    def find(self, x: int) -> int:
        root = x
        while self.parent[root] != root:
            root = int(self.parent[root])
        while self.parent[x] != root:
            self.parent[x], x = root, int(self.parent[x])
        return root

    def join(self, a: int, b: int, similarity: float) -> None:
        ra, rb = self.find(a), self.find(b)
        weakest = min(similarity, self.weakest.pop(ra, 1.0), self.weakest.get(rb, 1.0) if ra != rb else 1.0)
        if ra != rb:
            self.weakest.pop(rb, None)
            self.parent[ra] = rb
        self.weakest[rb] = weakest


def find_duplicates(store: Store, owner: int, exact: bool = True, near: bool = True) -> list[DuplicateGroup]:
    """The owner's groups of duplicates, largest groups first. Contents without a perceptual hash
    (analysed before hashes existed: pipeline/duplicates.py fills them in) only show as exact copies."""
    files_of: dict[int, list[DuplicateFile]] = {}
    videos: set[int] = set()
    for path, indexed in sorted(store.indexed_files(owner).items()):
        if split_frame_path(path)[1] is not None:
            continue  # a video's frame is no file of its own: only whole videos are copies
        files_of.setdefault(indexed.content_id, []).append(DuplicateFile(path, indexed.size))
        if has_image_extension(path, VIDEO_EXTENSIONS):
            videos.add(indexed.content_id)  # a video (its poster): copies of it only when exact
    member_sets: list[tuple[list[int], float]] = []
    in_near: set[int] = set()
    if near:
        hashed = {
            cid: h for cid, h in store.hashes.live(owner).items() if h is not None and cid in files_of and cid not in videos
        }
        ids = np.array(sorted(hashed), dtype=np.int64)
        hashes = np.array([hashed[int(c)] for c in ids], dtype=np.int64)
        i, j, bits = near_pairs(hashes)
        similarity = hash_similarity(bits)
        unsure = np.nonzero(bits > HASH_SAME)[0]
        if len(unsure):  # decide these pairs by their embeddings
            involved = np.unique(np.concatenate([i[unsure], j[unsure]]))
            vectors = store.embeddings(owner, ids[involved])
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            row = {int(k): n for n, k in enumerate(involved)}
            cosine = np.einsum(
                "ij,ij->i", vectors[[row[int(k)] for k in i[unsure]]], vectors[[row[int(k)] for k in j[unsure]]]
            )
            accepted = np.ones(len(i), dtype=bool)
            accepted[unsure] = cosine >= COSINE_NEAR
            similarity[unsure] = cosine
            i, j, similarity = i[accepted], j[accepted], similarity[accepted]
        groups = _Groups(len(ids))
        for a, b, s in zip(i.tolist(), j.tolist(), similarity.tolist()):
            groups.join(a, b, s)
        members: dict[int, list[int]] = {}
        for n in range(len(ids)):
            members.setdefault(groups.find(n), []).append(int(ids[n]))
        for root, content_ids in members.items():
            if len(content_ids) > 1:
                member_sets.append((content_ids, groups.weakest.get(root, 1.0)))
                in_near.update(content_ids)
    if exact:
        member_sets += [([cid], 1.0) for cid, files in files_of.items() if len(files) > 1 and cid not in in_near]
    wanted = [cid for content_ids, _ in member_sets for cid in content_ids]
    images = {image.content_id: image for image in store.get_images(owner, wanted)}
    result = []
    for content_ids, weakest in member_sets:
        shown = [
            DuplicateImage(cid, files_of[cid], images[cid].meta) for cid in content_ids if cid in images
        ]
        shown.sort(key=lambda im: (-im.meta.width * im.meta.height, -max(f.size for f in im.files), im.content_id))
        if len(shown) > 1 or (shown and len(shown[0].files) > 1):
            result.append(DuplicateGroup(shown, exact=len(shown) == 1, similarity=round(float(weakest), 4)))
    result.sort(key=lambda g: (-sum(len(im.files) for im in g.images), g.images[0].content_id))
    return result
