"""Query-side measurements on a built synthetic library, in a fresh process (RSS is this process's).

    python -m bench.scale_query --size 1000000 [--json OUT]

Run by `bench.scale` after the library is built; prints tables and writes unsuffixed figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bench.common import latency_summary, print_table, rss_now_mb, rss_peak_mb, setup_env, timed_ms
from pixseek.store import DEFAULT_OWNER

# Realistic queries: single objects, broad concepts, phrases, conjunctions.
TEXT_QUERIES: tuple[str, ...] = (
    "dog",
    "cat",
    "car",
    "beach",
    "food",
    "animal",
    "bird",
    "shoe",
    "beach ball",
    "golden retriever",
    "red wine",
    "flower",
    "boat",
    "bicycle",
    "coffee",
    "pizza",
    "mountain",
    "computer",
    "guitar",
    "dress",
    "bag",
    "clock",
    "sunglasses",
    "truck",
    "fish",
    "chair",
    "book",
    "cup",
    "snake",
    "dog on the beach",
    "car and bicycle",
    "clothing",
)
TEXT_REPEATS = 5
SIMILAR_QUERIES = 100
RECALL_QUERIES = 200
RECALL_INDEXED_QUERIES = 100
K = 10


def _status_kb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1])
    return float("nan")


class TimedStore:
    """Delegates to a store and adds up the wall time spent in each of its methods."""

    def __init__(self, store: Any, spent: dict[str, float]) -> None:
        self._store = store
        self._spent = spent

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._store, name)
        if not callable(target):
            return target

        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return target(*args, **kwargs)
            finally:
                self._spent[name] += (time.perf_counter() - t) * 1e3

        return timed


# ---- text queries -------------------------------------------------------------------------------
def text_queries(library: Any) -> tuple[dict[str, float], list[tuple[Any, ...]]]:
    from pixseek.language.multilingual import Multilingual
    from pixseek.search import engine as engine_mod

    engine = library.engine
    t = time.perf_counter()
    library.concepts.warm()
    language_load_ms = (time.perf_counter() - t) * 1e3
    t = time.perf_counter()
    engine.search(library.owner, TEXT_QUERIES[0])
    first_ms = (time.perf_counter() - t) * 1e3
    for q in TEXT_QUERIES:  # warm: every query once
        engine.search(library.owner, q)
    samples: dict[str, list[float]] = defaultdict(list)
    results: dict[str, Any] = {}
    for _ in range(TEXT_REPEATS):
        for q in TEXT_QUERIES:
            t = time.perf_counter()
            results[q] = engine.search(library.owner, q)
            samples[q].append((time.perf_counter() - t) * 1e3)

    # One more pass with every store call (and the query parser) timed, to see where time goes.
    spent: dict[str, float] = defaultdict(float)
    profiled = engine_mod.SearchEngine(TimedStore(library.store, spent), library.concepts)
    real_parse = Multilingual.parse  # the query parser the engine calls (language detection included)

    def timed_parse(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return real_parse(*args, **kwargs)
        finally:
            spent["parse_query"] += (time.perf_counter() - t) * 1e3

    rows = []
    step_totals: dict[str, list[float]] = defaultdict(list)
    Multilingual.parse = timed_parse  # type: ignore[method-assign]
    try:
        for q in TEXT_QUERIES:
            spent.clear()
            t = time.perf_counter()
            profiled.search(library.owner, q)
            total = (time.perf_counter() - t) * 1e3
            steps = dict(spent)
            steps["scoring+ranking (numpy)"] = total - sum(steps.values())
            for k, v in steps.items():
                step_totals[k].append(v)
            r = results[q]
            rows.append(
                (
                    q,
                    r.candidates,
                    len(r.hits),
                    round(float(np.median(samples[q])), 2),
                    round(steps.get("parse_query", 0.0), 2),
                    round(steps.get("sparse_candidates", 0.0) + steps.get("sparse_heads", 0.0), 2),  # heads carry rows
                    round(steps.get("categories", 0.0), 2),
                    round(steps["scoring+ranking (numpy)"], 2),
                    round(steps.get("live", 0.0) + steps.get("get_images", 0.0), 2),
                )
            )
    finally:
        Multilingual.parse = real_parse  # type: ignore[method-assign]
    every = [s for q in TEXT_QUERIES for s in samples[q]]
    summary = latency_summary(every)
    candidates = [results[q].candidates for q in TEXT_QUERIES]
    figures = {
        "text_query_p50_ms": summary["p50"],
        "text_query_p95_ms": summary["p95"],
        "text_query_max_ms": summary["max"],
        "text_query_first_ms": first_ms,
        "language_load_ms": language_load_ms,
        "text_candidates_median": float(np.median(candidates)),
        "text_candidates_max": float(np.max(candidates)),
    }
    for step, values in step_totals.items():
        figures[f"text_step_ms_{_key(step)}"] = float(np.median(values))
    return figures, rows


def _key(step: str) -> str:
    return step.split(" ")[0].replace("+", "_")


def text_recall_vs_exhaustive(library: Any, limit: int = 20) -> float | None:
    """Mean overlap of engine.search's top `limit` with an exhaustive ranking of every image.

    The exhaustive ranking scores every forward row with the engine's own scoring functions (the
    class priors' adjustment included), so this measures only what candidate generation
    (posting-list heads, per-list budget) loses.
    None if the engine's scoring helpers are not available under the names used here.
    """
    from pixseek.language.calibration import calibration
    from pixseek.language.query import parse_query
    from pixseek.search import engine as engine_mod
    from pixseek.search.evidence import categories
    from pixseek.store.sparse import ROW_BYTES, decode_rows

    term_scores = getattr(categories, "term_scores", None)  # the category evidence's score of a term
    conjunction = getattr(engine_mod, "_conjunction_scores", None)
    if term_scores is None or conjunction is None:
        return None
    store = library.store
    plans = {q: parse_query(q, library.concepts) for q in TEXT_QUERIES}  # the queries are English
    terms = {id(t): t for plan in plans.values() for alt in plan.alternatives for t in alt.terms}
    end = store.content_count() + 1
    scores = {k: np.zeros(end, dtype=np.float32) for k in terms}
    rows_path = store.home / "index" / "categories.rows"
    rows = np.memmap(rows_path, dtype=np.uint8, mode="r").reshape(-1, ROW_BYTES)
    for lo in range(1, end, 65536):
        hi = min(end, lo + 65536)
        class_ids, probs = decode_rows(np.asarray(rows[lo:hi]))
        probs = calibration().adjusted(class_ids, probs)  # as the category evidence scores rows
        for k, t in terms.items():
            scores[k][lo:hi] = term_scores(t.vector, class_ids, probs)
    overlaps = []
    for q, plan in plans.items():
        best = np.zeros(end, dtype=np.float32)
        for alt in plan.alternatives:
            best = np.maximum(best, conjunction(alt.terms, scores))
        best[0] = 0.0
        passing = np.flatnonzero(best >= engine_mod.DEFAULT_THRESHOLD)
        truth = set(passing[np.argsort(-best[passing], kind="stable")[:limit]].tolist())
        got = {h.content_id for h in library.engine.search(library.owner, q, limit=limit).hits}
        overlaps.append(len(truth & got) / len(truth) if truth else float(not got))
    return float(np.mean(overlaps))


# ---- similar images and k-NN ----------------------------------------------------------------------
def similar_queries(library: Any, ids: NDArray[np.int64], engine_ok: bool) -> dict[str, float]:
    """k-NN and engine.similar latency. The HNSW graph is memory-mapped, so a query's first touch
    of graph pages costs page faults: each query is run once untimed ("first touch", reported
    apart), then timed warm, as the text queries are."""
    store = library.store
    paths = [img.paths[0] for img in store.get_images(library.owner, [int(i) for i in ids])]
    vectors = store.embeddings(DEFAULT_OWNER, ids)

    def knn(v: NDArray[np.float32]) -> object:
        return store.knn(DEFAULT_OWNER, v, 84)  # what engine.similar(limit=20) asks for

    opening = timed_ms(knn, vectors[:1])[0]  # the first call opens (memory-maps) the graph
    first = latency_summary(timed_ms(knn, vectors))
    warm = latency_summary(timed_ms(knn, vectors))
    figures = {
        "knn_first_call_ms": opening,
        "knn_first_touch_p50_ms": first["p50"],
        "knn_p50_ms": warm["p50"],
        "knn_p95_ms": warm["p95"],
    }
    if engine_ok:
        engine = library.engine

        def similar(p: str) -> None:
            if not engine.similar(library.owner, Path(p), limit=20).hits:
                raise RuntimeError(f"similar({p}) found nothing")

        timed_ms(similar, paths)  # warm: every query once
        s = latency_summary(timed_ms(similar, paths))
        figures.update(similar_query_p50_ms=s["p50"], similar_query_p95_ms=s["p95"])
    return figures


# ---- ANN recall@10 against an exact scan ----------------------------------------------------------
def exact_top(embeddings_path: Path, end: int, queries: NDArray[np.float32], k: int) -> NDArray[np.int64]:
    """Exact top-k content ids by cosine over the float16 rows [1, end): one pass, all queries."""
    rows = np.memmap(embeddings_path, dtype=np.float16, mode="r").reshape(-1, queries.shape[1])
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    best_ids = np.zeros((len(q), 0), dtype=np.int64)
    best_sims = np.zeros((len(q), 0), dtype=np.float32)
    for lo in range(1, end, 32768):
        hi = min(end, lo + 32768)
        block = np.asarray(rows[lo:hi], dtype=np.float32)
        block /= np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)
        sims = q @ block.T  # (queries, block)
        take = min(k, hi - lo)
        top = np.argpartition(-sims, take - 1, axis=1)[:, :take]
        ids = np.concatenate([best_ids, top + lo], axis=1)
        vals = np.concatenate([best_sims, np.take_along_axis(sims, top, axis=1)], axis=1)
        order = np.argsort(-vals, axis=1, kind="stable")[:, :k]
        best_ids, best_sims = np.take_along_axis(ids, order, axis=1), np.take_along_axis(vals, order, axis=1)
    return best_ids


def recall(
    ann: Callable[[NDArray[np.float32], int], NDArray[np.int64]],
    queries: NDArray[np.float32],
    truth: NDArray[np.int64],
    k: int,
    exclude: NDArray[np.int64] | None = None,
) -> float:
    hits = []
    for i, q in enumerate(queries):
        found = ann(q, k + (exclude is not None))
        want = truth[i]
        if exclude is not None:
            found, want = found[found != exclude[i]][:k], want[want != exclude[i]][:k]
        hits.append(len(set(found[:k].tolist()) & set(want[:k].tolist())) / k)
    return float(np.mean(hits))


def ann_recall(library: Any, size: int, indexed_ids: NDArray[np.int64]) -> dict[str, float]:
    from bench.synth import Synthesizer, load_pool

    store = library.store
    held_out = Synthesizer(load_pool(), seed=999_999).batch(0, RECALL_QUERIES)[1]
    indexed = store.embeddings(DEFAULT_OWNER, indexed_ids)
    t = time.perf_counter()
    end = store.content_count() + 1
    truth = exact_top(store.home / "index" / "embeddings.rows", end, np.vstack([held_out, indexed]), K + 1)
    exact_s = time.perf_counter() - t
    truth_held, truth_indexed = truth[: len(held_out), :K], truth[len(held_out) :]

    def ann(q: NDArray[np.float32], k: int) -> NDArray[np.int64]:
        return store.knn(DEFAULT_OWNER, q, k)[0]

    figures = {
        "ann_recall10": recall(ann, held_out, truth_held, K),
        "ann_recall10_indexed_queries": recall(ann, indexed, truth_indexed, K, exclude=indexed_ids),
        "exact_scan_s_per_query": exact_s / len(truth),
    }
    view = getattr(getattr(store, "_dense", None), "_view", None)  # the usearch graph, if one is used
    if view is not None:
        figures["ann_expansion_search_in_use"] = float(view.expansion_search)
        original = view.expansion_search
        for ef in (128, 256):
            view.expansion_search = ef
            figures[f"ann_recall10_ef{ef}"] = recall(ann, held_out, truth_held, K)
            ms = []
            for q in held_out[:100]:
                t = time.perf_counter()
                store.knn(DEFAULT_OWNER, q, 84)
                ms.append((time.perf_counter() - t) * 1e3)
            figures[f"knn_p50_ms_ef{ef}"] = latency_summary(ms)["p50"]
        view.expansion_search = original
    return figures


# ---- sizes ------------------------------------------------------------------------------------------
def index_bytes(store: Any) -> dict[str, float]:
    stats = store.stats()
    parts = stats.bytes_by_part
    n = max(1, stats.images)
    category = parts.get("categories: forward rows", 0) + parts.get("categories: posting lists", 0)
    figures = {
        "category_index_bytes_per_image": category / n,
        "posting_bytes_per_image": parts.get("categories: posting lists", 0) / n,
        "whole_index_bytes_per_image": sum(parts.values()) / n,
        "images": float(stats.images),
    }
    for part, size in parts.items():
        print(f"  {part:28s} {size / 2**20:10.1f} MiB  {size / n:8.1f} B/image")
    return figures


def measure(size: int) -> dict[str, float]:
    setup_env()
    from bench.synth import library_dir
    from pixseek.library import Library

    home = library_dir(size)
    if not (home / "BUILT.json").exists():
        raise SystemExit(f"{home} is not built: run python -m bench.scale")
    rss_start = rss_now_mb()
    figures: dict[str, float] = {}
    with Library(home) as library:
        n = library.store.content_count()
        rng = np.random.default_rng(2024)
        sample_ids = np.sort(
            rng.choice(np.arange(1, n + 1), size=max(SIMILAR_QUERIES, RECALL_INDEXED_QUERIES), replace=False)
        )
        try:
            import pixseek.search.engine  # noqa: F401  (needs pixseek.language.query)

            engine_ok = True
        except ImportError as exc:
            print(f"text queries skipped: the search engine cannot be imported yet ({exc})")
            engine_ok = False
        if engine_ok:
            text, rows = text_queries(library)
            figures.update(text)
            print_table(
                [
                    "query",
                    "candidates",
                    "hits",
                    "p50 ms",
                    "parse",
                    "postings",
                    "fwd rows",
                    "score+rank",
                    "live+fetch",
                ],
                rows,
                title=f"text queries at {n:,} images (median of {TEXT_REPEATS}; steps from one timed pass)",
            )
        figures.update(similar_queries(library, sample_ids[:SIMILAR_QUERIES], engine_ok))
        rss_after_queries = (
            rss_peak_mb(),
            rss_now_mb(),
            _status_kb("RssAnon") / 1024,
            _status_kb("RssFile") / 1024,
        )
        # RSS of the serving workload (text + similar queries), before the measurement scans below.
        figures["rss_mb"], figures["rss_now_mb"], figures["rss_anon_mb"], figures["rss_file_mb"] = (
            rss_after_queries
        )
        figures["rss_at_start_mb"] = rss_start
        if engine_ok:
            recall20 = text_recall_vs_exhaustive(library)
            if recall20 is not None:
                figures["text_recall20_vs_exhaustive"] = recall20
        print("index size:")
        figures.update(index_bytes(library.store))
        figures.update(ann_recall(library, n, sample_ids[:RECALL_INDEXED_QUERIES]))
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = p.parse_args(argv)
    figures = measure(args.size)
    for k, v in sorted(figures.items()):
        print(f"  {k} = {v:.4g}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
