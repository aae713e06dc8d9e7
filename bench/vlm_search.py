"""Text search with a vision-language model over 1M images: latency through the engine and ANN recall.

    python -m bench.vlm_search [--quick]

The library is a copy of bench.scale's synthetic 1M library (contents, files, categories: the
classifier's evidence runs too) with 1M synthetic 512-d model embeddings added in a vector space of
the real embedded store (store.spaces: float16 rows + usearch HNSW). The embeddings are clustered
like a photo library seen by CLIP, with CLIP's modality gap:

  * 1000 clusters of 1000 images; an image is its cluster's centre plus noise (cosine ~0.64 to it);
  * a text ("a photo of dog") is 0.45 × its cluster's centre + 0.85 × a direction all texts share +
    noise: cosine ~0.3 to its cluster's images and ~0 to the others', ~0.7 between texts (as CLIP);
  * the zero-shot vocabulary of the calibration is 2668 such texts (1000 of the clusters, the rest
    of none), so the CLIP calibration (per-image softmax, search/zero_shot.py) runs as in a library.

The text tower is a lookup of those texts (a query's words are mapped to clusters): its time is left
out of the engine's figure and measured apart on the ViT-B/32-shaped random model of bench/vlm_models.py
when that is cached. Built once under bench/.cache/vlm-search-1m/ (the HNSW build is the long part).
Figures: vlm_text_query_p50_ms_1m (goal <= 20), vlm_ann_recall10_1m (goal >= 0.95, vs exact search).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bench.common import CACHE_DIR, finish, latency_summary, parser, percentile, print_table, setup_env

N = int(os.environ.get("PIXSEEK_VLM_SEARCH_N", 1_000_000))  # another size: a smoke run of the script only
DIM = 512
CLUSTERS = 1000
VOCABULARY = 2668
SPACE = "synthetic-clip-512@1"
SCALE = 100.0  # a trained CLIP's learnt temperature
WORK = CACHE_DIR / ("vlm-search-1m" if N == 1_000_000 else f"vlm-search-{N}")
SOURCE_LIBRARY = CACHE_DIR / ("synthetic-v1-1000000" if N == 1_000_000 else "synthetic-v1-100000")  # bench.scale's
OWNER = 1
RECALL_QUERIES = 200
REPEATS = 5
SEED = 14
# The queries: bench.scale_query's words (each the prompt of one cluster) and a few phrases.
QUERIES = (
    "dog", "cat", "car", "beach", "food", "bird", "shoe", "flower", "boat", "bicycle", "coffee", "pizza",
    "mountain", "computer", "guitar", "clock", "truck", "fish", "chair", "book", "cup", "snake",
    "sunset", "tree", "snow", "birthday cake", "dog on the beach", "person on a bike",
)
VITB32 = CACHE_DIR / "vlm-vitb32-random"


# ---- the synthetic space ---------------------------------------------------------------------------
def _unit(a: NDArray[np.float32]) -> NDArray[np.float32]:
    return (a / np.linalg.norm(a, axis=-1, keepdims=True)).astype(np.float32)


def geometry(seed: int = SEED) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """(cluster centres (CLUSTERS + extra words, DIM), the texts' shared direction (DIM,))."""
    rng = np.random.default_rng(seed)
    centres = _unit(rng.standard_normal((VOCABULARY, DIM)))
    shared = _unit(rng.standard_normal(DIM))
    return centres, shared


def texts_of(centres: NDArray[np.float32], shared: NDArray[np.float32], seed: int) -> NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(centres.shape).astype(np.float32) * (0.3 / np.sqrt(DIM))
    return _unit(0.45 * centres + 0.85 * shared + noise)


def image_vectors(path: Path, centres: NDArray[np.float32]) -> NDArray[np.float16]:
    """N images, image i in cluster i % CLUSTERS (float16, cached)."""
    if path.exists():
        return np.load(path, mmap_mode="r")
    rng = np.random.default_rng(SEED + 1)
    out = np.lib.format.open_memmap(path.with_suffix(".tmp.npy"), mode="w+", dtype=np.float16, shape=(N, DIM))
    for lo in range(0, N, 100_000):
        idx = np.arange(lo, min(lo + 100_000, N))
        noise = rng.standard_normal((len(idx), DIM)).astype(np.float32) * (1.2 / np.sqrt(DIM))
        out[lo : lo + len(idx)] = _unit(centres[idx % CLUSTERS] + noise).astype(np.float16)
    out.flush()
    del out
    path.with_suffix(".tmp.npy").rename(path)
    return np.load(path, mmap_mode="r")


def build(quick: bool) -> Path:
    """The library copy with the space filled and its graph built (once)."""
    from pixseek.store import EmbeddedStore

    home = WORK / "library"
    if (WORK / "BUILT.json").exists():
        return home
    if not (SOURCE_LIBRARY / "BUILT.json").exists():
        raise SystemExit(f"{SOURCE_LIBRARY} is not built: run python -m bench.scale --size 1000000 first")
    WORK.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    centres, _ = geometry()
    vectors = image_vectors(WORK / "images.f16.npy", centres)
    if not home.exists():
        shutil.copytree(SOURCE_LIBRARY, home.with_suffix(".copying"))
        home.with_suffix(".copying").rename(home)
    copied = time.perf_counter()
    store = EmbeddedStore(home)
    try:
        store.spaces.ensure(SPACE, DIM)
        done = store.spaces.count(SPACE)
        for lo in range(done, N, 50_000):
            hi = min(lo + 50_000, N)
            store.spaces.put(OWNER, SPACE, list(range(lo + 1, hi + 1)), np.asarray(vectors[lo:hi], dtype=np.float32))
            store.commit()
            print(f"  put {hi:,} vectors", flush=True)
        written = time.perf_counter()
        store.spaces.catch_up()
        built = time.perf_counter()
    finally:
        store.close()
    (WORK / "BUILT.json").write_text(json.dumps({
        "copy_s": copied - started, "put_s": written - copied, "hnsw_build_s": built - written, "size": N,
    }, indent=1))
    return home


# ---- the text tower stand-in -----------------------------------------------------------------------
class LookupTower:
    """Prompts of the query words -> their clusters' texts; any other text -> a text of no cluster."""

    name, space, multilingual = "synthetic-clip", SPACE, False

    def __init__(self, texts: NDArray[np.float32], shared: NDArray[np.float32]) -> None:
        from pixseek.search.evidence.vlm import PROMPT

        self.texts, self.shared = texts, shared
        self.known = {PROMPT.format(q): texts[i] for i, q in enumerate(QUERIES)}
        self.calls = 0

    def embed(self, batch: list[str]) -> NDArray[np.float32]:
        self.calls += len(batch)
        out = []
        for text in batch:
            if text in self.known:
                out.append(self.known[text])
            else:
                rng = np.random.default_rng(int(hashlib.sha256(text.encode()).hexdigest()[:8], 16))
                out.append(texts_of(_unit(rng.standard_normal((1, DIM))), self.shared, 0)[0])
        return np.stack(out)


def engine_for(home: Path, texts: NDArray[np.float32], shared: NDArray[np.float32]) -> tuple[Any, Any, LookupTower]:
    """The library's engine with the synthetic model's evidence, wired as library.py wires a model."""
    from pixseek.library import Library
    from pixseek.search.engine import SearchEngine
    from pixseek.search.evidence.vlm import ModelEvidence
    from pixseek.search.zero_shot import LogNormalisers, VocabularyVectors, fit_clip_calibration, sample_vectors

    library = Library(home)
    tower = LookupTower(texts, shared)
    vocabulary = VocabularyVectors([f"word{i}" for i in range(VOCABULARY)], texts, "synthetic")
    calibration = fit_clip_calibration(SCALE, texts, sample_vectors(library.store, OWNER, SPACE))
    log_norm = LogNormalisers(WORK / "lognorm.npy", SCALE, lambda: vocabulary)
    evidence = ModelEvidence(library.store, tower, lambda owner: calibration, log_norm)
    engine = SearchEngine(library.store, library.concepts, evidence=[evidence])
    return library, engine, tower


# ---- measurements ----------------------------------------------------------------------------------
def text_queries(engine: Any, tower: LookupTower, repeats: int) -> tuple[dict[str, float], list[list[Any]]]:
    for q in QUERIES:  # warm: language tables, graph view, log normalisers of every candidate
        engine.search(OWNER, q)
    calls = tower.calls
    samples: dict[str, list[float]] = defaultdict(list)
    cpu: list[float] = []
    results = {}
    for _ in range(repeats):
        for q in QUERIES:
            t, c = time.perf_counter(), time.process_time()
            results[q] = engine.search(OWNER, q)
            samples[q].append((time.perf_counter() - t) * 1e3)
            cpu.append((time.process_time() - c) * 1e3)
    assert tower.calls == calls, "the timed queries reached the text tower (its cache should answer)"
    every = [s for q in QUERIES for s in samples[q]]
    rows = []
    for q in QUERIES:
        r = results[q]
        model_hits = sum(1 for h in r.hits if any("synthetic-clip" in w for w in h.why))
        rows.append([q, r.candidates, len(r.hits), model_hits, round(percentile(samples[q], 50), 2)])
    summary = latency_summary(every)
    figures = {
        "vlm_text_query_p50_ms_1m": round(summary["p50"], 2), "vlm_text_query_p95_ms_1m": round(summary["p95"], 2),
        "vlm_text_query_cpu_p50_ms_1m": round(percentile(cpu, 50), 2),  # on a shared box, the fairer figure
    }
    return figures, rows


def ann_parts(store: Any, texts: NDArray[np.float32]) -> dict[str, float]:
    """spaces.nearest alone at the evidence's k, and one read of its candidates (store.spaces.get)."""
    from pixseek.search.evidence.vlm import MODEL_CANDIDATES

    nearest, nearest_cpu, reads = [], [], []
    for i in range(len(QUERIES)):
        for _ in range(3):
            t, c = time.perf_counter(), time.process_time()
            ids, _ = store.spaces.nearest(OWNER, SPACE, texts[i], MODEL_CANDIDATES)
            nearest.append((time.perf_counter() - t) * 1e3)
            nearest_cpu.append((time.process_time() - c) * 1e3)
            t = time.perf_counter()
            store.spaces.get(OWNER, SPACE, np.sort(ids))
            reads.append((time.perf_counter() - t) * 1e3)
    return {
        "vlm_ann_candidates_p50_ms_1m": round(percentile(nearest, 50), 2),
        "vlm_ann_candidates_cpu_p50_ms_1m": round(percentile(nearest_cpu, 50), 2),
        "vlm_space_get_candidates_p50_ms_1m": round(percentile(reads, 50), 2),
        "vlm_ann_candidates_k": MODEL_CANDIDATES,
    }


def recall(store: Any, vectors: NDArray[np.float16], queries: NDArray[np.float32], k: int = 10) -> float:
    """ANN top-k against exact top-k over every stored vector (the same float16 rows)."""
    exact_scores = np.empty((len(queries), 0), dtype=np.float32)
    exact_ids = np.empty((len(queries), 0), dtype=np.int64)
    for lo in range(0, N, 100_000):
        block = np.asarray(vectors[lo : lo + 100_000], dtype=np.float32)
        sims = queries @ block.T
        top = np.argpartition(-sims, k, axis=1)[:, :k]
        exact_scores = np.concatenate([exact_scores, np.take_along_axis(sims, top, 1)], axis=1)
        exact_ids = np.concatenate([exact_ids, top + lo + 1], axis=1)  # content ids are 1-based
        keep = np.argsort(-exact_scores, axis=1)[:, :k]
        exact_scores, exact_ids = np.take_along_axis(exact_scores, keep, 1), np.take_along_axis(exact_ids, keep, 1)
    found = 0
    for q, truth in zip(queries, exact_ids, strict=True):
        ids, _ = store.spaces.nearest(OWNER, SPACE, q, k)
        found += len(set(ids[:k].tolist()) & set(truth.tolist()))
    return found / (k * len(queries))


def tower_ms() -> dict[str, float]:
    """The text tower apart: the ViT-B/32-shaped random model's, on this run's prompts."""
    if not (VITB32 / "config.json").exists():
        print(f"(text tower not timed: {VITB32} is not built; see bench/vlm_models.py)")
        return {}
    from pixseek.analyzers.vlm import load_model
    from pixseek.search.evidence.vlm import PROMPT

    model = load_model(VITB32, threads=1, towers="text")
    prompts = [PROMPT.format(q) for q in QUERIES]
    model.embed_texts(prompts[:2])
    samples = []
    for p in prompts:
        t = time.perf_counter()
        model.embed_texts([p])
        samples.append((time.perf_counter() - t) * 1e3)
    return {"vlm_search_text_tower_p50_ms": round(percentile(samples, 50), 2)}


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    setup_env()
    home = build(args.quick)
    centres, shared = geometry()
    texts = texts_of(centres, shared, SEED + 2)
    vectors = image_vectors(WORK / "images.f16.npy", centres)
    library, engine, tower = engine_for(home, texts, shared)
    try:
        figures, rows = text_queries(engine, tower, 1 if args.quick else REPEATS)
        print_table(["query", "candidates", "hits", "model hits", "p50 ms"], rows, title=f"text queries, model on, {N:,} images")
        figures.update(ann_parts(library.store, texts))
        figures["vlm_ann_recall10_1m"] = round(recall(library.store, vectors, texts[: 20 if args.quick else RECALL_QUERIES]), 4)
        figures["vlm_space_hnsw_build_s_1m"] = round(json.loads((WORK / "BUILT.json").read_text())["hnsw_build_s"], 1)
    finally:
        library.close()
    figures.update(tower_ms())
    finish(figures, write=not args.quick)


if __name__ == "__main__":
    main()
