"""Lookups by id on PostgreSQL name the owner, so they go through the owner-first keys.

PostgreSQL 18 could serve `WHERE id = …` from a primary key (owner, id) by a skip scan; 16 (the
test server, and many users' servers) reads the whole index or the table instead (measured on
200k rows: face embeddings 26 ms instead of 0.1, a content's owner 8.7 ms instead of 0.06, a job
update a 22 ms sequential scan). Each statement the store runs for these calls is explained on the
real server with sequential scans disabled (what the planner does on a large table): every scan
of an owner-keyed table must have the owner in its index condition."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import psycopg
import pytest

from pixseek.records import Analysis, Face, FileState, ImageMeta, TextLine
from pixseek.store import open_store
from pixseek.store.postgres.store import PostgresStore
from pixseek.store.sparse import top_k

OWNER_KEYED = {"contents", "files", "postings", "faces", "people", "text_lines", "texts", "jobs"}
SCANS = {"Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan"}


class Statements:
    """The SQL a store's connection runs (a recording wrapper: the statements still run)."""

    def __init__(self, store: PostgresStore) -> None:
        self.seen: list[tuple[str, Any]] = []
        db = store._db
        execute, executemany = db.execute, db.executemany

        def recording_execute(sql: str, params: Any = None, binary: bool = False) -> Any:
            self.seen.append((sql, params))
            return execute(sql, params, binary=binary)

        def recording_executemany(sql: str, rows: Any) -> None:
            self.seen.extend((sql, row) for row in rows[:1])
            executemany(sql, rows)

        db.execute, db.executemany = recording_execute, recording_executemany  # type: ignore[method-assign]


def _nodes(plan: dict) -> Iterator[dict]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def scans_without_owner(url: str, statements: list[tuple[str, Any]]) -> list[str]:
    """Scans of owner-keyed tables whose index condition does not name the owner."""
    bad = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")
        for sql, params in statements:
            if not sql.lstrip().upper().startswith(("SELECT", "WITH", "UPDATE", "DELETE", "INSERT")):
                continue
            (plan,) = conn.execute("EXPLAIN (FORMAT JSON) " + sql, params).fetchone()[0]
            for node in _nodes(plan["Plan"]):
                relation = node.get("Relation Name", "")
                space_table = relation.startswith("space_") and relation[6:].isdigit()  # store.spaces' tables
                if node["Node Type"] not in SCANS or (relation not in OWNER_KEYED and not space_table):
                    continue
                condition = node.get("Index Cond", "") + " ".join(c.get("Index Cond", "") for c in node.get("Plans", []))
                if "owner" not in condition:
                    bad.append(f"{node['Node Type']} on {node['Relation Name']} ({condition or 'no index condition'}): {sql}")
    return bad


def _analysis(rng: np.random.Generator, i: int) -> Analysis:
    probs = rng.dirichlet(np.full(1000, 0.05)).astype(np.float32)
    return Analysis(
        ImageMeta(640, 480, "JPEG", None, None, None, None, None),
        top_k(probs),
        np.abs(rng.standard_normal(1280)).astype(np.float32),
        faces=[Face((10, 10, 60, 60), 1.2, rng.standard_normal(128).astype(np.float32))],
        texts=[TextLine(f"Invoice {i}", 0.97, (5, 5, 200, 30))],
    )


@pytest.fixture(scope="module")
def library(new_database) -> Iterator[tuple[str, PostgresStore, int, int]]:
    """Two owners with 150 images each (a face and a line of text in each), analysed."""
    url = new_database("owner_keys")
    store = open_store(url)
    assert isinstance(store, PostgresStore)
    alice = store.accounts.add_user("alice", None).id
    bob = store.accounts.add_user("bob", None).id
    rng = np.random.default_rng(3)
    with store.bulk_load():
        for owner in (alice, bob):
            store.add_contents(owner, [(f"sha-{owner}-{i}", "test", _analysis(rng, i)) for i in range(150)])
    store.commit()
    store._db.execute("ANALYZE")
    yield url, store, alice, bob
    store.close()


def test_adding_an_analysis_with_text_and_faces_reads_by_owner(library):
    url, store, alice, _ = library
    statements = Statements(store)
    store.add_content(alice, "sha-new", "test", _analysis(np.random.default_rng(4), 1))
    store.rollback()
    assert any("text_lines" in sql for sql, _ in statements.seen)  # the text part ran
    assert scans_without_owner(url, statements.seen) == []


def test_face_embeddings_are_read_by_owner_and_only_the_owners(library):
    url, store, alice, bob = library
    mine = np.array([face for face, *_ in store.faces.assignments(alice)])
    theirs = np.array([face for face, *_ in store.faces.assignments(bob)])
    statements = Statements(store)
    vectors = store.faces.embeddings(alice, mine[[3, 0, 3]])
    assert vectors.shape == (3, 128) and np.array_equal(vectors[0], vectors[2])
    assert scans_without_owner(url, statements.seen) == []
    with pytest.raises(KeyError):
        store.faces.embeddings(alice, theirs[:1])  # another user's face is no face of hers


def test_job_updates_are_by_owner(library):
    url, store, alice, bob = library
    for n in range(200):
        store.accounts.add_job(bob if n % 2 else alice, f"{n}.jpg", f"/uploads/{n}.jpg")
    store._db.execute("ANALYZE jobs")
    job = store.accounts.add_job(alice, "mine.jpg", "/uploads/mine.jpg")
    statements = Statements(store)
    store.accounts.update_job(alice, job.id, "running")
    assert store.accounts.job(alice, job.id).status == "running"
    store.accounts.update_job(bob, job.id, "failed", error="not his")  # the id is alice's: nothing changes
    assert store.accounts.job(alice, job.id).status == "running"
    assert scans_without_owner(url, statements.seen) == []


def test_vector_space_statements_read_by_owner(library):
    url, store, alice, bob = library
    mine = [cid for cid, *_ in store.export_contents(alice)][:20]
    theirs = [cid for cid, *_ in store.export_contents(bob)][:100]
    for cid in mine[:10]:
        store.put_file(alice, FileState(f"/alice/{cid}.jpg", 1, 1), cid)
    rng = np.random.default_rng(5)
    store.spaces.ensure("owner-keys@1", 32)
    store.spaces.put(bob, "owner-keys@1", theirs, rng.standard_normal((100, 32)).astype(np.float32))
    store.commit()
    store._db.execute("ANALYZE")
    statements = Statements(store)
    store.spaces.put(alice, "owner-keys@1", mine, rng.standard_normal((20, 32)).astype(np.float32))
    store.commit()
    assert store.spaces.get(alice, "owner-keys@1", np.array(mine + theirs[:3], dtype=np.int64))[0].sum() == 20
    assert store.spaces.missing(alice, "owner-keys@1", 50).tolist() == []
    assert store.spaces.count("owner-keys@1", alice) == 10  # the live ones
    found, _ = store.spaces.nearest(alice, "owner-keys@1", rng.standard_normal(32).astype(np.float32), 5)
    assert len(found) == 5 and set(found.tolist()) <= set(mine[:10])
    list(store.export_contents(alice))
    assert any("space_" in sql for sql, _ in statements.seen)
    assert scans_without_owner(url, statements.seen) == []
