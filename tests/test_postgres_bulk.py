"""Bulk writes on PostgreSQL (what `pixseek migrate` uses): add_contents by binary COPY stores
exactly what add_content does; bulk_load builds the HNSW indexes once at its end, and an
interrupted one has them rebuilt when the store is next opened. Also the schema 1 -> 2 upgrade."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest

from pixseek.records import Analysis, Face, ImageMeta, TextLine
from pixseek.store import DEFAULT_OWNER, open_store
from pixseek.store.postgres.schema import BULK_LOAD_LOCK, SCHEMA_VERSION, VECTOR_INDEXES
from pixseek.store.sparse import top_k


def _analyses(n: int, seed: int = 0) -> list[tuple[str, str, Analysis]]:
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        probs = rng.dirichlet(np.full(1000, 0.05)).astype(np.float32)
        faces = [Face((10, 10, 60, 60), 1.2, rng.standard_normal(128).astype(np.float32))] if i % 3 == 0 else None
        texts = [TextLine(f"Invoice {2020 + i}", 0.97, (5, 5, 200, 30))] if i % 4 == 0 else None
        meta = ImageMeta(4000, 3000, "JPEG", f"2023-01-{1 + i % 28:02d}T10:00:00" if i % 2 else None,
                         "Canon" if i % 5 else None, None, 48.85 if i % 7 == 0 else None, 2.35 if i % 7 == 0 else None)
        embedding = np.abs(rng.standard_normal(1280)).astype(np.float32)
        items.append((f"sha-{seed}-{i}", "test", Analysis(meta, top_k(probs), embedding, faces=faces, texts=texts)))
    return items


def _missing_vector_indexes(url: str) -> list[str]:
    with psycopg.connect(url) as db:
        return [n for n in VECTOR_INDEXES if db.execute("SELECT to_regclass(%s)", (n,)).fetchone()[0] is None]


def test_add_contents_stores_what_add_content_does(new_database):
    one_by_one, bulk = open_store(new_database("single")), open_store(new_database("bulk"))
    items = _analyses(40)
    singles = [one_by_one.add_content(DEFAULT_OWNER, *item) for item in items]
    one_by_one.commit()
    ids = bulk.add_contents(DEFAULT_OWNER, items[:25]) + bulk.add_contents(DEFAULT_OWNER, items[25:])
    bulk.commit()
    assert ids == sorted(ids) and len(set(ids)) == len(items)
    exported = [list(store.export_contents(DEFAULT_OWNER)) for store in (one_by_one, bulk)]
    assert [e[0] for e in exported[0]] == singles and [e[0] for e in exported[1]] == ids
    for (_, sha_a, an_a, a), (_, sha_b, an_b, b) in zip(*exported):
        assert (sha_a, an_a, a.meta) == (sha_b, an_b, b.meta)
        np.testing.assert_array_equal(a.categories.ids, b.categories.ids)
        np.testing.assert_array_equal(a.categories.weights, b.categories.weights)
        np.testing.assert_array_equal(a.embedding, b.embedding)
        assert (a.faces is None) == (b.faces is None) and (a.texts == b.texts)
        if a.faces:
            np.testing.assert_array_equal(a.faces[0].embedding, b.faces[0].embedding)
    postings = []
    for store, cids in ((one_by_one, singles), (bulk, ids)):
        rank = {cid: n for n, cid in enumerate(cids)}
        rows = store._db.execute("SELECT class, p, content_id FROM postings").fetchall()
        postings.append(sorted((c, p, rank[cid]) for c, p, cid in rows))
    assert postings[0] == postings[1] and len(postings[0]) > len(items)
    one_by_one.close()
    bulk.close()


def test_bulk_load_builds_the_hnsw_indexes_once_at_the_end(new_database):
    url = new_database("bulkload")
    store = open_store(url)
    assert _missing_vector_indexes(url) == []
    with store.bulk_load():
        assert _missing_vector_indexes(url) == list(VECTOR_INDEXES)  # no graph maintained per row
        store.add_contents(DEFAULT_OWNER, _analyses(30))
        store.commit()
    assert _missing_vector_indexes(url) == []
    ids, sims = store.knn(DEFAULT_OWNER, store.embeddings(DEFAULT_OWNER, np.array([ids_of(store)[0]]))[0], 5)
    assert ids[0] == ids_of(store)[0] and sims[0] == pytest.approx(1.0, abs=1e-3)
    with store.bulk_load():  # not empty any more: nothing is dropped
        assert _missing_vector_indexes(url) == []
    store.close()


def ids_of(store) -> list[int]:
    return [int(r[0]) for r in store._db.execute("SELECT id FROM contents ORDER BY id").fetchall()]


def test_an_interrupted_bulk_load_has_its_indexes_rebuilt_at_the_next_opening(new_database):
    url = new_database("interrupted")
    store = open_store(url)
    with pytest.raises(KeyboardInterrupt):
        with store.bulk_load():
            store.add_contents(DEFAULT_OWNER, _analyses(10))
            store.commit()
            raise KeyboardInterrupt
    assert _missing_vector_indexes(url) == list(VECTOR_INDEXES)
    # While a bulk load runs (its session holds the lock), opening the store leaves the indexes alone.
    with psycopg.connect(url, autocommit=True) as loader:
        loader.execute(f"SELECT pg_advisory_lock({BULK_LOAD_LOCK})")
        open_store(url).close()
        assert _missing_vector_indexes(url) == list(VECTOR_INDEXES)
    open_store(url).close()
    assert _missing_vector_indexes(url) == []
    store.close()


def test_schema_1_forward_rows_are_upgraded(new_database):
    """Schema 1 kept the forward row as two arrays; opening it converts them to the bytea row."""
    url = new_database("schema1")
    store = open_store(url)
    items = _analyses(12, seed=3)
    ids = store.add_contents(DEFAULT_OWNER, items)
    store.commit()
    want = store.categories(DEFAULT_OWNER, np.array(ids))
    store.close()
    with psycopg.connect(url, autocommit=True) as db:  # back to schema 1's layout
        db.execute("ALTER TABLE contents ADD COLUMN class_ids smallint[], ADD COLUMN probs real[]")
        for cid, (_, _, analysis) in zip(ids, items):
            row = store_row(want, ids.index(cid))
            db.execute("UPDATE contents SET class_ids = %s, probs = %s WHERE id = %s", (*row, cid))
        db.execute("ALTER TABLE contents DROP COLUMN categories")
        db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    store = open_store(url)
    got = store.categories(DEFAULT_OWNER, np.array(ids))
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    (version,) = store._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert version == str(SCHEMA_VERSION)  # upgraded through every step to today's
    store.close()


def store_row(categories: tuple[np.ndarray, np.ndarray], n: int) -> tuple[list[int], list[float]]:
    """Schema 1's arrays for one forward row: the classes present and their probabilities."""
    classes, probs = categories
    keep = probs[n] > 0
    return classes[n][keep].tolist(), probs[n][keep].tolist()
