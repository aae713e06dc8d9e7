"""Search at scale: synthetic libraries of 100k and 1M images (built once, cached in bench/.cache).

    python -m bench.scale [--quick] [--sizes 100000,1000000]

For each size: build the library through the real store API (see bench/synth.py; the build time
of the posting segments and of the HNSW graph is reported when a build happens), then, in a fresh
process (bench/scale_query.py): text-query latency p50/p95 over a fixed list of ~30 queries
through `SearchEngine.search` (warm), similar-image latency through `engine.similar` and
`store.knn`, ANN recall@10 against an exact scan of the float16 embeddings, index bytes per image,
and the process's RSS. --quick uses one 30k library (just above the exact-scan limit, so the HNSW
path is exercised).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.common import REPO_DIR, Result, finish, parser, rounded, setup_env

GOALS = {"text_query_p50_ms": 20.0, "ann_recall10": 0.95, "category_index_bytes_per_image": 500.0}
FULL_SIZES = (100_000, 1_000_000)
QUICK_SIZES = (30_000,)


def size_suffix(size: int) -> str:
    if size % 1_000_000 == 0:
        return f"{size // 1_000_000}m"
    return f"{size // 1000}k" if size % 1000 == 0 else str(size)


def _prepare_language_tables() -> None:
    """Build the language caches once, so no query process pays for it."""
    try:
        from pixseek.language.concepts import ConceptSpace
    except ImportError:
        return
    ConceptSpace(Path(os.environ["PIXSEEK_CACHE_DIR"])).warm()


def measure_in_fresh_process(size: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figures.json"
        subprocess.run(
            [sys.executable, "-m", "bench.scale_query", "--size", str(size), "--json", str(out)],
            cwd=REPO_DIR,
            check=True,
        )
        return json.loads(out.read_text())


def run(sizes: Sequence[int]) -> Result:
    setup_env()
    from bench.synth import build_library

    _prepare_language_tables()
    results: Result = {}
    for size in sizes:
        suffix = size_suffix(size)
        build = build_library(size)
        results[f"synth_write_s_{suffix}"] = rounded(build["write_s"])
        results[f"postings_build_s_{suffix}"] = rounded(build["postings_build_s"])
        results[f"hnsw_build_s_{suffix}"] = rounded(build["hnsw_build_s"])
        print(f"\n== {size:,} images: measuring in a fresh process ==", flush=True)
        figures = measure_in_fresh_process(size)
        for key, value in figures.items():
            if key == "images":
                continue
            results[f"{key}_{suffix}"] = rounded(value, 4) if "recall" in key else rounded(value)
        for key, goal in GOALS.items():
            if key in figures:
                ok = figures[key] >= goal if "recall" in key else figures[key] <= goal
                print(f"{key} at {suffix}: {figures[key]:.4g} ({'meets' if ok else 'MISSES'} goal {goal:g})")
    # The unsuffixed size figures are those of the largest library.
    largest = size_suffix(max(sizes))
    for key in ("category_index_bytes_per_image", "whole_index_bytes_per_image"):
        if f"{key}_{largest}" in results:
            results[key] = results[f"{key}_{largest}"]
    return results


def main(argv: Sequence[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", default=None, help="comma-separated library sizes (default 100000,1000000)")
    args = p.parse_args(argv)
    if args.sizes:
        sizes = tuple(int(s) for s in args.sizes.split(","))
    else:
        sizes = QUICK_SIZES if args.quick else FULL_SIZES
    finish(run(sizes), write=not args.quick)


if __name__ == "__main__":
    main()
