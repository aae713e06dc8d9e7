"""Synthetic libraries (100k, 1M images) whose analyses follow real images' distributions.

1. A pool of real analyses: the real classifier's full probability vectors (1000) and 1280-d
   embeddings of the labelled dev set (Fashion-MNIST, digits, photos) plus random crops and
   mirrors of the real photos (more varied photo content). Cached in bench/.cache.
2. Each synthetic image starts from a random pool image (photos 60 %, Fashion-MNIST 25 %,
   digits 15 %) mixed with a second random one: weight w ~ Beta(3, 1) (a 2-way Dirichlet),
   probabilities p = w p_a + (1 - w) p_b with a per-class log-normal jitter (sigma 0.3) and a
   random temperature (p^t, t in 0.8..1.25), renormalised, top-50 kept by
   `pixseek.store.sparse.top_k`; embedding = w e_a + (1 - w) e_b + Gaussian noise (0.15 x the
   pool's per-dimension std), clipped to the ReLU6 range [0, 6].
3. The real pool covers few ImageNet classes (21 photo subjects, clothes, digits), far fewer than
   a personal library, so posting lists would be unrealistically concentrated. Half of the
   synthetic images therefore have their class axis relabelled by one of 64 fixed random
   permutations: the shape of each probability vector (peak height, tail) stays real, while the
   mass spreads over all 1000 classes like a varied library. Embeddings are not permuted.

Everything is written through the real store API (`add_content` / `put_file` / `commit` in
batches of 5000, then `refresh_indexes`), deterministically per batch, so an interrupted build
resumes where its last commit ended.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps

from bench.common import CACHE_DIR, model_dir
from bench.corpus import dev_set, photos

POOL_VERSION = "v1"
LIBRARY_VERSION = "v1"  # bump when the generator changes: libraries are rebuilt in a new folder
BATCH = 5000
CROPS_PER_PHOTO = 15
GROUP_WEIGHTS = {"photo": 0.60, "fashion": 0.25, "digit": 0.15}
MIX_BETA = (3.0, 1.0)
PROB_JITTER_SIGMA = 0.3
TEMPERATURE = (0.8, 1.25)
EMBED_NOISE = 0.15
PERMUTED_FRACTION = 0.5
N_PERMUTATIONS = 64
_CAMERAS = (
    ("Apple", "iPhone 12"),
    ("Google", "Pixel 6"),
    ("Canon", "EOS 80D"),
    ("SONY", "ILCE-7M3"),
    ("Samsung", "SM-G991B"),
)


@dataclass
class Pool:
    probabilities: NDArray[np.float32]  # (n, 1000), rows sum to 1
    embeddings: NDArray[np.float32]  # (n, 1280)
    groups: NDArray[np.str_]  # "photo" | "fashion" | "digit"

    def __len__(self) -> int:
        return len(self.groups)


# ---- the pool of real analyses ------------------------------------------------------------------
def load_pool() -> Pool:
    path = CACHE_DIR / f"pool-{POOL_VERSION}.npz"
    if not path.exists():
        _build_pool(path)
    with np.load(path) as data:
        return Pool(data["probabilities"], data["embeddings"], data["groups"])


def _build_pool(path: Path) -> None:
    from pixseek.analyzers.classifier import Classifier
    from pixseek.imageio.decode import load_image

    classifier = Classifier(model_dir(), threads=1)
    _, images = dev_set(per_class=50)
    sources: list[tuple[str, Image.Image]] = []
    for im in images:
        group = (
            "fashion" if im.source.startswith("fashion") else "digit" if "digits" in im.source else "photo"
        )
        sources.append((group, load_image(im.path, min_side=classifier.min_side).image))
    rng = np.random.default_rng(7)
    for photo in photos():
        picture = load_image(photo.path, min_side=0).image
        w, h = picture.size
        for _ in range(CROPS_PER_PHOTO):
            s = float(np.sqrt(rng.uniform(0.15, 0.8)))
            cw, ch = max(32, round(w * s)), max(32, round(h * s))
            left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            crop = picture.crop((left, top, left + cw, top + ch))
            sources.append(("photo", ImageOps.mirror(crop) if rng.random() < 0.5 else crop))
    print(f"analysing {len(sources)} real images for the synthetic pool (once) ...", flush=True)
    probs, embs, groups = [], [], []
    for group, picture in sources:
        result = classifier.classify(picture)
        probs.append(result.probabilities)
        embs.append(result.embedding)
        groups.append(group)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, probabilities=np.stack(probs), embeddings=np.stack(embs), groups=np.array(groups))
    os.replace(tmp, path)


# ---- synthesis ----------------------------------------------------------------------------------
class Synthesizer:
    """Deterministic generator of synthetic analyses: batch `b` depends only on (seed, b)."""

    def __init__(self, pool: Pool, seed: int) -> None:
        self.pool = pool
        self.seed = seed
        weights = np.array([GROUP_WEIGHTS[g] for g in pool.groups], dtype=np.float64)
        for g, share in GROUP_WEIGHTS.items():  # each group gets its share, spread over its members
            members = pool.groups == g
            weights[members] = share / max(1, members.sum())
        self.choice_p = weights / weights.sum()
        self.embed_std = pool.embeddings.std(axis=0).astype(np.float32)
        perm_rng = np.random.default_rng(99)
        self.permutations = np.stack([perm_rng.permutation(1000) for _ in range(N_PERMUTATIONS)])

    def batch(self, b: int, n: int) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """(n, 1000) probability vectors and (n, 1280) embeddings."""
        rng = np.random.default_rng((self.seed, b))
        a = rng.choice(len(self.pool), size=n, p=self.choice_p)
        c = rng.choice(len(self.pool), size=n, p=self.choice_p)
        w = rng.beta(*MIX_BETA, size=n).astype(np.float32)[:, None]
        probs = w * self.pool.probabilities[a] + (1 - w) * self.pool.probabilities[c]
        probs *= np.exp(rng.normal(0, PROB_JITTER_SIGMA, probs.shape)).astype(np.float32)
        probs = np.maximum(probs, 1e-12) ** rng.uniform(*TEMPERATURE, size=(n, 1)).astype(np.float32)
        probs /= probs.sum(axis=1, keepdims=True)
        permuted = np.nonzero(rng.random(n) < PERMUTED_FRACTION)[0]
        which = rng.integers(0, N_PERMUTATIONS, size=len(permuted))
        probs[permuted] = np.take_along_axis(probs[permuted], self.permutations[which], axis=1)
        emb = w * self.pool.embeddings[a] + (1 - w) * self.pool.embeddings[c]
        emb += rng.normal(0, 1, emb.shape).astype(np.float32) * (EMBED_NOISE * self.embed_std)
        return probs.astype(np.float32), np.clip(emb, 0.0, 6.0).astype(np.float32)


# ---- writing a library --------------------------------------------------------------------------
def library_dir(size: int) -> Path:
    return CACHE_DIR / f"synthetic-{LIBRARY_VERSION}-{size}"


def synthetic_path(i: int) -> str:
    """Path of synthetic image i (ids are 1-based): /photos/<year>/<month>/IMG_<i>.jpg."""
    return f"/photos/{2010 + i % 15}/{1 + (i // 15) % 12:02d}/IMG_{i:07d}.jpg"


def build_library(size: int, seed: int = 1) -> dict[str, float]:
    """Build (or resume, or reuse) the synthetic library of `size` images; returns build timings."""
    from pixseek.pipeline.analysis import ANALYZER_VERSION
    from pixseek.records import Analysis, FileState, ImageMeta
    from pixseek.store import DEFAULT_OWNER, open_store
    from pixseek.store.sparse import top_k

    home = library_dir(size)
    done_marker = home / "BUILT.json"
    if done_marker.exists():
        return json.loads(done_marker.read_text())
    pool = load_pool()
    synth = Synthesizer(pool, seed)
    store = open_store(home)
    have = store.content_count()
    if have % BATCH:  # a batch is one transaction, so this is not a library we wrote
        store.close()
        shutil.rmtree(home)
        store, have = open_store(home), 0
    print(f"building synthetic library of {size:,} images in {home} (from {have:,}) ...", flush=True)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    last_report = t0
    for b in range(have // BATCH, (size + BATCH - 1) // BATCH):
        n = min(BATCH, size - b * BATCH)
        probs, embs = synth.batch(b, n)
        for j in range(n):
            i = b * BATCH + j + 1
            cam = _CAMERAS[i % len(_CAMERAS)]
            taken = f"{2010 + i % 15}-{1 + (i // 15) % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00"
            meta = ImageMeta(4032, 3024, "JPEG", taken, cam[0], cam[1])
            sha = hashlib.sha256(f"synthetic-{seed}-{i}".encode()).hexdigest()
            content_id = store.add_content(DEFAULT_OWNER, sha, ANALYZER_VERSION, Analysis(meta, top_k(probs[j]), embs[j]))
            if content_id != i:
                raise RuntimeError(f"expected content id {i}, got {content_id}")
            store.put_file(
                DEFAULT_OWNER,
                FileState(synthetic_path(i), 3_000_000 + i % 1_000_000, 1_600_000_000_000_000_000 + i),
                content_id,
            )
        store.commit()
        now = time.perf_counter()
        if now - last_report > 30:
            done = b * BATCH + n
            print(f"  {done:,}/{size:,} written ({done / (now - t0):,.0f}/s)", flush=True)
            last_report = now
    timings["write_s"] = time.perf_counter() - t0
    timings["write_resumed_from"] = have
    postings_s, dense_s = _timed_refresh(store)
    timings["postings_build_s"] = postings_s
    timings["hnsw_build_s"] = dense_s
    timings["size"] = size
    store.close()
    done_marker.write_text(json.dumps(timings, indent=1) + "\n")
    return timings


def _timed_refresh(store: Any) -> tuple[float, float]:
    """store.refresh_indexes(), timing its two parts (posting segments, HNSW graph) separately."""
    postings, dense = store._postings, store._dense  # the embedded store's two derived indexes
    spent = {"postings": 0.0, "dense": 0.0}

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - t

        return run

    postings.catch_up = timed("postings", postings.catch_up)
    dense.catch_up = timed("dense", dense.catch_up)
    print("refreshing indexes (posting segments, then the HNSW graph) ...", flush=True)
    store.refresh_indexes()
    print(f"  postings {spent['postings']:.1f} s, HNSW graph {spent['dense']:.1f} s", flush=True)
    return spent["postings"], spent["dense"]
