"""Near-duplicates: how well `pixseek duplicates` groups the edited-copy set, and what it costs.

    python -m bench.duplicates [--quick]

The set (demo/dup_set.py): 19 real photos, each with 14 edited copies (resized 1/2 and 1/4, JPEG
quality 30/60/95, crops of 2/5/10 %, turned 2° and 4°, brighter, more saturated, warmer, a burst
neighbour moved by 3 %), two neighbouring 60 % views of each scene, and 24 Fashion-MNIST items of
three classes (each of those its own picture). Indexed with the real Indexer (classifier only: the
grouping reads the classifier embeddings and the perceptual hashes), then grouped by
search.duplicates.find_duplicates. Pair precision and recall: a pair is positive when both pictures
are copies of one photo. Also: the distances the thresholds were read from (per edit: the largest
hash distance to the original and the smallest cosine; distinct pairs: the smallest hash distance
and the largest cosine among those within HASH_NEAR bits), and the grouping time for 20k random
hashes (the quadratic part).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from bench.common import CACHE_DIR, Result, finish, model_dir, parser, print_table, rounded


def run(quick: bool) -> Result:
    from pixseek.demo.dup_set import EDITS, QUICK_EDITS, pair_scores, write_edited_copies
    from pixseek.pipeline.analysis import AnalysisOptions
    from pixseek.pipeline.indexer import Indexer
    from pixseek.search.duplicates import COSINE_NEAR, HASH_NEAR, HASH_SAME, find_duplicates, hamming, near_pairs
    from pixseek.store import open_store

    import shutil

    root = CACHE_DIR / ("dups-video-editset-quick" if quick else "dups-video-editset")
    copies = write_edited_copies(root / "set", QUICK_EDITS if quick else EDITS,
                                 photos=4 if quick else None, fashion_per_kind=3 if quick else 8)
    home = root / "library"
    shutil.rmtree(home, ignore_errors=True)
    store = open_store(home)
    try:
        options = AnalysisOptions(faces=False, text=False)
        t0 = time.perf_counter()
        report = Indexer(store, model_dir(), workers=2, options=options).index(root / "set")
        index_s = time.perf_counter() - t0
        assert not report.skipped, report.skipped
        t1 = time.perf_counter()
        groups = find_duplicates(store, 1)
        group_s = time.perf_counter() - t1
        truth = {str(c.path): c.group for c in copies}
        found = [{f.path for im in g.images for f in im.files} for g in groups]
        precision, recall = pair_scores(truth, found)
        # the distances behind the thresholds
        by_path = {path: idx.content_id for path, idx in store.indexed_files(1).items()}
        hashes = store.hashes.of(1, list(by_path.values()))
        ids = np.array([by_path[str(c.path)] for c in copies], dtype=np.int64)
        h = np.array([hashes[int(i)] for i in ids], dtype=np.int64)
        e = store.embeddings(1, ids)
        e /= np.linalg.norm(e, axis=1, keepdims=True)
        rows = []
        originals = {c.group: n for n, c in enumerate(copies) if c.edit == "original"}
        for edit in sorted({c.edit for c in copies} - {"original", "left", "right", "fashion"}):
            members = [n for n, c in enumerate(copies) if c.edit == edit]
            bits = [int(hamming(h[n], h[originals[copies[n].group]])) for n in members]
            cos = [float(e[n] @ e[originals[copies[n].group]]) for n in members]
            rows.append((edit, max(bits), round(float(np.mean(bits)), 1), round(min(cos), 3), round(float(np.mean(cos)), 3)))
        print_table(("edit", "max bits", "mean bits", "min cosine", "mean cosine"), rows, "edited copy vs its original")
        groups_of = np.array([c.group for c in copies])
        i, j, bits = near_pairs(h, 64)
        distinct = groups_of[i] != groups_of[j]
        cosine = np.einsum("ij,ij->i", e[i], e[j])
        near = distinct & (bits <= HASH_NEAR)
        print(f"distinct pairs: nearest hash {int(bits[distinct].min())} bits; largest cosine {cosine[distinct].max():.3f}; "
              f"largest cosine within {HASH_NEAR} bits {cosine[near].max() if near.any() else 0:.3f}")
    finally:
        store.close()
    rng = np.random.default_rng(7)
    random_hashes = rng.integers(-(2**63), 2**63 - 1, size=20_000, dtype=np.int64)
    t2 = time.perf_counter()
    near_pairs(random_hashes)
    pairs_20k_s = time.perf_counter() - t2
    print(f"{len(copies)} pictures, {len(groups)} groups; thresholds: {HASH_SAME} bits, or {HASH_NEAR} bits and cosine >= {COSINE_NEAR}")
    return {
        "near_dup_precision": rounded(precision, 4),
        "near_dup_recall": rounded(recall, 4),
        "near_dup_set_pictures": len(copies),
        "near_dup_group_ms": rounded(group_s * 1e3, 1),
        "near_dup_hash_pairs_20k_s": rounded(pairs_20k_s, 2),
        "near_dup_index_images_per_s": rounded(len(copies) / index_s, 1),
    }


def main(argv: Sequence[str] | None = None) -> None:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    finish(run(args.quick), write=not args.quick)


if __name__ == "__main__":
    main()
