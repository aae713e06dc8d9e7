"""Places and the query language: geocoding speed, and the 1M-image text query p50 with a date
filter and with an exclusion (issue 17).

    python -m bench.places [--quick] [--size 1000000]

`geocode_ms_per_image`: 20,000 photos around 200 real GeoNames places (the gazetteer's own, each
photo moved by up to ~5 km), named in one batch as indexing does; `..._scattered`: each photo
near another place (the worst case); the gazetteer's one-off load is `geocode_load_s`. The query figures use the cached synthetic
library (bench.synth, as bench.scale_query: EXIF dates 2010-2024, no GPS): the same 32 queries
plain, with `after:2015 before:2018` (a date filter written in the query), and with ` -car` (an
exclusion), interleaved in one run so that the box's load weighs on all three alike.
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np

from bench.common import finish, latency_summary, parser, setup_env

POSITIONS = 20_000
REPEATS = 3


def geocoding(n: int) -> dict[str, float]:
    from pixseek.language.places import Gazetteer

    started = time.perf_counter()
    gazetteer = Gazetteer()
    load_s = time.perf_counter() - started
    rng = np.random.default_rng(17)
    out = {"geocode_load_s": round(load_s, 2)}
    # A library: photos crowd into the places one lives in and travels to (here 200, each photo
    # within ~5 km of one); scattered: every photo near another place (the worst case).
    for name, places in (("geocode_ms_per_image", 200), ("geocode_ms_per_image_scattered", n)):
        rows = rng.choice(len(gazetteer._locations), size=places, replace=False)[rng.integers(0, places, n)]
        positions = [
            (gazetteer._locations[r]["latitude"] + dy, gazetteer._locations[r]["longitude"] + dx)
            for r, dy, dx in zip(rows, rng.uniform(-0.05, 0.05, n), rng.uniform(-0.05, 0.05, n))
        ]
        started = time.perf_counter()
        named = gazetteer.places_at(positions)
        out[name] = round((time.perf_counter() - started) * 1e3 / n, 4)
        assert sum(p is not None and p.city is not None for p in named) > 0.95 * n
    return out


def queries(size: int) -> dict[str, float]:
    from bench.scale_query import TEXT_QUERIES
    from bench.synth import library_dir
    from pixseek.library import Library

    home = library_dir(size)
    forms = {"plain": "{}", "date_filter": "{} after:2015 before:2018", "exclusion": "{} -car"}
    samples: dict[str, list[float]] = defaultdict(list)
    counts: dict[str, list[int]] = defaultdict(list)
    with Library(home) as library:
        engine = library.engine
        library.concepts.warm()
        for q in TEXT_QUERIES:  # warm every form once
            for form in forms.values():
                engine.search(library.owner, form.format(q))
        for _ in range(REPEATS):
            for q in TEXT_QUERIES:
                for name, form in forms.items():
                    started = time.perf_counter()
                    result = engine.search(library.owner, form.format(q))
                    samples[name].append((time.perf_counter() - started) * 1e3)
                    counts[name].append(len(result.hits))
    label = f"{size // 1_000_000}m" if size >= 1_000_000 else f"{size // 1000}k"
    out: dict[str, float] = {}
    for name in forms:
        summary = latency_summary(samples[name])
        key = f"query_language_{label}_text_{name}"
        out[f"{key}_p50_ms"] = round(summary["p50"], 2)
        out[f"{key}_p95_ms"] = round(summary["p95"], 2)
    out[f"query_language_{label}_date_filter_vs_plain"] = round(
        out[f"query_language_{label}_text_date_filter_p50_ms"] / out[f"query_language_{label}_text_plain_p50_ms"], 2)
    out[f"query_language_{label}_exclusion_vs_plain"] = round(
        out[f"query_language_{label}_text_exclusion_p50_ms"] / out[f"query_language_{label}_text_plain_p50_ms"], 2)
    out[f"query_language_{label}_date_filter_hits_mean"] = round(float(np.mean(counts["date_filter"])), 1)
    return out


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=1_000_000)
    args = p.parse_args()
    setup_env()
    results = geocoding(2_000 if args.quick else POSITIONS)
    results.update(queries(30_000 if args.quick else args.size))
    finish(results, write=not args.quick)


if __name__ == "__main__":
    main()
