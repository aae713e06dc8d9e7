"""The embedded store on its own: real SQLite and files, synthetic analyses."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from pixseek.records import Analysis, FileState, ImageFilter, ImageMeta, SparseVector
from pixseek.store import DEFAULT_OWNER, EmbeddedStore, StoreError
from pixseek.store import embedded as embedded_module
from pixseek.store.dense import DenseIndex
from pixseek.store.sparse import DEQUANT, decode_row, encode_row, quantise, top_k

ANALYZER = "test-analyzer"
OWNER = DEFAULT_OWNER


def make_analysis(rng: np.random.Generator, main_class: int, taken_at: str | None = None) -> Analysis:
    probs = rng.dirichlet(np.full(1000, 0.05)).astype(np.float32) * 0.3
    probs[main_class] += 0.7
    embedding = rng.random(1280).astype(np.float32)
    embedding[main_class] += 40.0  # images of one class sit together
    return Analysis(ImageMeta(640, 480, "JPEG", taken_at=taken_at), top_k(probs), embedding)


def test_quantisation_round_trip_is_within_three_percent():
    p = np.array([0.9, 0.31, 0.05, 1e-3, 2e-5, 1e-6], dtype=np.float32)
    back = DEQUANT[quantise(p)]
    assert np.allclose(back, p, rtol=0.03)
    assert quantise(np.array([1e-9]))[0] == 0


def test_encoded_row_keeps_top_classes_in_order():
    vector = SparseVector(np.array([7, 3, 999]), np.array([0.6, 0.3, 0.1], dtype=np.float32))
    row = encode_row(vector)
    assert len(row) == 150
    back = decode_row(row)
    assert back.ids.tolist() == [7, 3, 999]
    assert np.allclose(back.weights, [0.6, 0.3, 0.1], rtol=0.03)


def test_add_query_move_remove_and_reopen(tmp_path):
    rng = np.random.default_rng(0)
    store = EmbeddedStore(tmp_path / "lib")
    ids = []
    for i in range(30):
        cid = store.add_content(OWNER, f"sha{i}", ANALYZER, make_analysis(rng, main_class=i % 3, taken_at=f"2020-01-{i + 1:02d}T10:00:00"))
        store.put_file(OWNER, FileState(f"/photos/{i}.jpg", 100 + i, i), cid)
        ids.append(cid)
    store.commit()

    # Before refresh_indexes the rows are searched as an unindexed tail; after, via posting lists.
    query = SparseVector(np.array([1]), np.array([1.0], dtype=np.float32))
    tail = store.sparse_candidates(OWNER, query, 0.01, 1000)
    store.refresh_indexes()
    indexed = store.sparse_candidates(OWNER, query, 0.01, 1000)
    expected = [c for i, c in enumerate(ids) if i % 3 == 1]
    assert tail.tolist() == expected == indexed.tolist()

    near, sims = store.knn(OWNER, make_analysis(rng, 2).embedding, 10)
    assert all((i - 1) % 3 == 2 for i in near[:10])
    assert sims[0] > 0.9

    store.move_file(OWNER, "/photos/4.jpg", FileState("/albums/four.jpg", 104, 4))
    store.remove_files(OWNER, ["/photos/7.jpg"])
    store.commit()
    assert store.content_of_path(OWNER, "/albums/four.jpg") == ids[4]
    assert store.content_of_path(OWNER, "/photos/4.jpg") is None
    live = store.live(OWNER, np.array(ids))
    assert not live[7] and live[4] and live.sum() == 29
    assert [img.paths for img in store.get_images(OWNER, [ids[4]])] == [["/albums/four.jpg"]]
    assert store.get_images(OWNER, [ids[7]]) == []  # dead contents are not returned

    only_albums = store.live(OWNER, np.array(ids), ImageFilter(path_prefix="/albums"))
    assert np.flatnonzero(only_albums).tolist() == [4]
    january_first_week = store.live(OWNER, np.array(ids), ImageFilter(taken_from="2020-01-01", taken_to="2020-01-07"))
    assert january_first_week.sum() == 7
    store.close()

    reopened = EmbeddedStore(tmp_path / "lib")
    assert reopened.stats().images == 29
    assert reopened.stats().unreferenced == 1
    assert reopened.find_content(OWNER, "sha7", ANALYZER) == ids[7]  # kept: a restored file reuses it
    assert reopened.sparse_candidates(OWNER, query, 0.01, 1000).tolist() == expected
    reopened.close()


def test_uncommitted_work_is_rolled_back_and_rows_are_reused(tmp_path):
    rng = np.random.default_rng(1)
    store = EmbeddedStore(tmp_path / "lib")
    cid = store.add_content(OWNER, "a", ANALYZER, make_analysis(rng, 5))
    store.put_file(OWNER, FileState("/a.jpg", 1, 1), cid)
    store.commit()
    lost = store.add_content(OWNER, "b", ANALYZER, make_analysis(rng, 6))
    store.close()  # like a crash: never committed

    store = EmbeddedStore(tmp_path / "lib")
    assert store.find_content(OWNER, "b", ANALYZER) is None
    again = store.add_content(OWNER, "c", ANALYZER, make_analysis(rng, 7))
    store.put_file(OWNER, FileState("/c.jpg", 1, 1), again)
    store.commit()
    assert again == lost  # the id and its rows were reused, so no orphan rows accumulate
    store.refresh_indexes()
    hits = store.sparse_candidates(OWNER, SparseVector(np.array([7]), np.array([1.0], np.float32)), 0.01, 100)
    assert hits.tolist() == [again]
    store.close()


def test_interrupted_segment_write_is_cleaned_up(tmp_path):
    rng = np.random.default_rng(2)
    store = EmbeddedStore(tmp_path / "lib")
    for i in range(5):
        cid = store.add_content(OWNER, f"s{i}", ANALYZER, make_analysis(rng, 9))
        store.put_file(OWNER, FileState(f"/{i}.jpg", 1, 1), cid)
    store.commit()
    store.refresh_indexes()
    store.close()
    postings = tmp_path / "lib" / "index" / "postings"
    (postings / ".tmp-half-written").mkdir()
    (postings / "seg-0000000003-0000000004").mkdir()  # stale, overlaps the valid chain
    store = EmbeddedStore(tmp_path / "lib")
    # a reader ignores them (they may be a concurrent writer's work in progress) ...
    assert len(store.sparse_candidates(OWNER, SparseVector(np.array([9]), np.array([1.0], np.float32)), 0.01, 100)) == 5
    assert len(list(postings.iterdir())) == 3
    # ... and a writer, holding the refresh lock, removes them
    store.refresh_indexes()
    assert sorted(p.name for p in postings.iterdir()) == ["seg-0000000001-0000000006"]
    store.close()


def test_ann_graph_agrees_with_exact_search(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    store = EmbeddedStore(tmp_path / "lib")
    store._dense = DenseIndex(tmp_path / "lib" / "index", 1280, exact_below=100)
    for i in range(300):
        cid = store.add_content(OWNER, f"s{i}", ANALYZER, make_analysis(rng, i % 50))
        store.put_file(OWNER, FileState(f"/{i}.jpg", 1, 1), cid)
    store.commit()
    query = make_analysis(rng, 17).embedding
    exact_ids, _ = store.knn(OWNER, query, 6)
    store.refresh_indexes()
    assert (tmp_path / "lib" / "index" / "dense.usearch").exists()
    ann_ids, _ = store.knn(OWNER, query, 6)
    # approximate (graph built by parallel inserts): allow one miss of the six, never a wrong best
    assert len(set(ann_ids.tolist()) & set(exact_ids.tolist())) >= 5 and ann_ids[0] in exact_ids
    # rows added after the graph was built are still found (exact scan of the tail)
    cid = store.add_content(OWNER, "late", ANALYZER, make_analysis(rng, 17))
    store.put_file(OWNER, FileState("/late.jpg", 1, 1), cid)
    store.commit()
    assert cid in store.knn(OWNER, query, 7)[0].tolist()
    store.refresh_indexes()  # a tail this small stays out of the graph: still found exactly
    assert store._dense.covered_until == cid and cid in store.knn(OWNER, query, 7)[0].tolist()
    store.close()


def test_newer_schema_is_refused(tmp_path, monkeypatch):
    EmbeddedStore(tmp_path / "lib").close()
    monkeypatch.setattr(embedded_module, "SCHEMA_VERSION", 0)
    with pytest.raises(StoreError, match="newer pixseek"):
        EmbeddedStore(tmp_path / "lib")


def test_onnxruntime_loads_after_the_ann_library():
    # usearch loaded first used to make `import onnxruntime` segfault (exit 139) in the process
    code = "from pixseek.store.dense import usearch_index_class; usearch_index_class(); import onnxruntime"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# The schema pixseek 0.1 (schema 1) wrote: no owners.
_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS contents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sha256 TEXT NOT NULL,
    analyzer TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    format TEXT NOT NULL,
    taken_at TEXT,
    camera_make TEXT,
    camera_model TEXT,
    gps_lat REAL,
    gps_lon REAL,
    analyzed_at REAL NOT NULL,
    UNIQUE (sha256, analyzer)
);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    content_id INTEGER NOT NULL REFERENCES contents (id),
    indexed_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS files_by_content ON files (content_id);
CREATE INDEX IF NOT EXISTS contents_by_taken_at ON contents (taken_at);
"""


def test_schema_1_library_is_migrated_to_owners(tmp_path):
    import sqlite3

    home = tmp_path / "old"
    home.mkdir()
    with sqlite3.connect(home / "pixseek.db") as db:
        db.executescript(_SCHEMA_V1)
        db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        db.execute(
            "INSERT INTO contents (sha256, analyzer, width, height, format, analyzed_at) "
            "VALUES ('abc', ?, 10, 20, 'PNG', 0)", (ANALYZER,)
        )
        db.execute("INSERT INTO files VALUES ('/p/a.png', 5, 6, 1, 0)")
    store = EmbeddedStore(home)
    assert store.find_content(OWNER, "abc", ANALYZER) == 1
    assert list(store.indexed_files(OWNER)) == ["/p/a.png"]
    assert store.accounts.user("default").id == OWNER
    alice = store.accounts.add_user("alice", None)
    assert store.indexed_files(alice.id) == {} and store.find_content(alice.id, "abc", ANALYZER) is None
    store.close()


def test_every_read_is_filtered_by_owner(tmp_path):
    rng = np.random.default_rng(5)
    store = EmbeddedStore(tmp_path / "lib")
    alice = store.accounts.add_user("alice", None).id
    bob = store.accounts.add_user("bob", None).id
    same = make_analysis(rng, 3)
    a = store.add_content(alice, "same-bytes", ANALYZER, same)
    store.put_file(alice, FileState("/alice/cat.jpg", 1, 1), a)
    b = store.add_content(bob, "same-bytes", ANALYZER, same)  # same bytes: a separate record
    store.put_file(bob, FileState("/bob/cat.jpg", 1, 1), b)
    store.commit()
    store.refresh_indexes()
    assert a != b
    ids = np.array([a, b])
    assert store.live(alice, ids).tolist() == [True, False]
    assert [i.content_id for i in store.get_images(bob, [a, b])] == [b]
    assert store.matching(alice).tolist() == [a]
    assert store.content_of_path(bob, "/alice/cat.jpg") is None
    assert store.list_images(bob)[0] == 1 and store.list_images(bob)[1][0].paths == ["/bob/cat.jpg"]
    assert store.remove_image(bob, a) == []  # bob cannot delete alice's image
    assert store.stats(alice).images == 1 and store.stats().images == 2
    assert store.count_images(alice) == store.count_images(bob) == 1 and store.count_images(DEFAULT_OWNER) == 0
    store.close()


def test_count_images_of_a_library_of_one_user(tmp_path):
    """With no other owner's rows the count is the table's (the fast path); a second user's first
    image makes it an owner's count again, whatever the ids' order."""
    rng = np.random.default_rng(6)
    store = EmbeddedStore(tmp_path / "lib")
    assert store.count_images(OWNER) == 0
    for i in range(3):
        store.add_content(OWNER, f"bytes-{i}", ANALYZER, make_analysis(rng, i))
    store.commit()
    assert store.count_images(OWNER) == 3 and store.count_images(OWNER + 1) == 0
    late = store.accounts.add_user("late", None).id
    store.add_content(late, "late-bytes", ANALYZER, make_analysis(rng, 4))
    store.commit()
    assert (store.count_images(OWNER), store.count_images(late), store.content_count()) == (3, 1, 4)
    store.close()
