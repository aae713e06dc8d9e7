"""The PostgreSQL the tests run against: a real server from a pip wheel, with pgvector, that no
one outside this machine can reach. (The PostgreSQL store itself: issue 6, in progress.)"""

from __future__ import annotations

import numpy as np
import psycopg
import pytest


def test_server_has_pgvector_with_iterative_scans_and_no_tcp_listener(postgres_url):
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("CREATE EXTENSION IF NOT EXISTS vector")
        (version,) = db.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        assert tuple(int(v) for v in version.split(".")[:2]) >= (0, 8)  # hnsw.iterative_scan
        assert db.execute("SHOW listen_addresses").fetchone() == ("",)  # unix socket only


def test_owner_filtered_hnsw_needs_iterative_scans(postgres_url):
    """The pgvector behaviour the PostgreSQL store must handle: an HNSW search with a selective
    owner filter returns too few rows unless iterative scans are on."""
    rng = np.random.default_rng(0)
    n, dim = 20_000, 32
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    owners = np.where(rng.random(n) < 0.01, 2, 1)  # owner 2 has ~1 % of the rows
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("CREATE EXTENSION IF NOT EXISTS vector")
        db.execute("DROP TABLE IF EXISTS hnsw_probe")
        db.execute(f"CREATE TABLE hnsw_probe (id bigint PRIMARY KEY, owner int NOT NULL, e vector({dim}))")
        with db.cursor().copy("COPY hnsw_probe (id, owner, e) FROM STDIN") as copy:
            for i in range(n):
                copy.write_row((i, int(owners[i]), "[" + ",".join(f"{v:.5f}" for v in vectors[i]) + "]"))
        db.execute("CREATE INDEX ON hnsw_probe USING hnsw (e vector_cosine_ops)")
        query = "[" + ",".join(f"{v:.5f}" for v in rng.standard_normal(dim)) + "]"
        sql = "SELECT id FROM hnsw_probe WHERE owner = 2 ORDER BY e <=> %s::vector LIMIT 10"
        db.execute("SET enable_seqscan = off")  # at this size the planner might scan; a library would not
        db.execute("SET hnsw.ef_search = 40")
        db.execute("SET hnsw.iterative_scan = off")
        plan = " ".join(r[0] for r in db.execute("EXPLAIN " + sql, (query,)).fetchall())
        assert "hnsw_probe_e_idx" in plan, plan
        plain = db.execute(sql, (query,)).fetchall()
        db.execute("SET hnsw.iterative_scan = relaxed_order")
        iterative = db.execute(sql, (query,)).fetchall()
        db.execute("DROP TABLE hnsw_probe")
    assert len(plain) < 10 and len(iterative) == 10


def test_citus_distribution_by_owner(postgres_url, new_database):
    """Where the server has Citus, the schema distributes by owner and the store still works;
    elsewhere (this wheel has no Citus) the test says so and is skipped."""
    from pixseek.records import Analysis, FileState, ImageMeta
    from pixseek.store import open_store
    from pixseek.store.postgres.db import Database
    from pixseek.store.postgres.schema import citus_available
    from pixseek.store.sparse import top_k

    db = Database(postgres_url)
    try:
        available = citus_available(db)
    finally:
        db.close()
    if not available:
        pytest.skip("the citus extension is not installed on this PostgreSQL")
    store = open_store(new_database("citus"))
    store.distribute_by_owner()
    probs = np.full(1000, 1e-4, np.float32)
    probs[281] = 0.9
    cid = store.add_content(1, "sha", "a", Analysis(ImageMeta(10, 10, "PNG"), top_k(probs), np.ones(1280, np.float32)))
    store.put_file(1, FileState("/x.png", 1, 1), cid)
    store.commit()
    assert store.get_images(1, [cid])[0].paths == ["/x.png"]
    store.close()
