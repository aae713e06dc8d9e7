"""store.spaces, one contract on both stores: named vector spaces per image content (a
vision-language model's image embeddings, a learned space), owner-filtered, crash-safe on the
embedded store, carried by `migrate`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from pixseek.records import Analysis, FileState, ImageMeta
from pixseek.store import DEFAULT_OWNER, EmbeddedStore, StoreError, open_store
from pixseek.store import spaces as embedded_spaces
from pixseek.store.migrate import migrate
from pixseek.store.postgres import spaces as pg_spaces
from pixseek.store.sparse import top_k

DIM = 16
SPACE = "tiny-clip@abc123"


def _analysis(rng: np.random.Generator, vectors: dict | None = None) -> Analysis:
    probs = rng.dirichlet(np.full(1000, 0.05)).astype(np.float32)
    return Analysis(ImageMeta(64, 48, "JPEG"), top_k(probs), rng.random(1280).astype(np.float32), vectors=vectors or {})


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def _fill(store, other: int, n: int = 40) -> dict[int, list[int]]:
    """n contents (every 4th the other user's), a file each but the last of each owner."""
    rng = np.random.default_rng(11)
    ids: dict[int, list[int]] = {DEFAULT_OWNER: [], other: []}
    for i in range(n):
        owner = other if i % 4 == 0 else DEFAULT_OWNER
        cid = store.add_content(owner, f"sha{i}", "test", _analysis(rng))
        ids[owner].append(cid)
    for owner, cids in ids.items():
        for cid in cids[:-1]:
            store.put_file(owner, FileState(f"/p/{owner}/{cid}.jpg", 10, 1), cid)
    store.commit()
    return ids


@pytest.fixture(scope="module")
def database_url(new_database) -> str:
    return new_database("spaces")


@pytest.fixture(params=["embedded", "postgres"])
def store_and_ids(request, tmp_path, new_database):
    store = EmbeddedStore(tmp_path / "lib") if request.param == "embedded" else open_store(new_database("spaces"))
    other = store.accounts.add_user("other", None).id
    ids = _fill(store, other)
    yield store, other, ids
    store.close()


def test_spaces_have_names_and_fixed_dimensions(store_and_ids):
    store, _, _ = store_and_ids
    assert store.spaces.spaces() == {}
    store.spaces.ensure(SPACE, DIM)
    store.spaces.ensure(SPACE, DIM)  # again: nothing changes
    store.spaces.ensure("learned@1", 8)
    store.commit()
    assert store.spaces.spaces() == {SPACE: DIM, "learned@1": 8}
    with pytest.raises(StoreError, match="16-d vectors, not 32-d"):
        store.spaces.ensure(SPACE, 32)
    for name, dim in (("", 4), ("a\nb", 4), ("x" * 201, 4), ("ok", 0), ("ok", 5000)):
        with pytest.raises(StoreError):
            store.spaces.ensure(name, dim)
    with pytest.raises(StoreError, match="no vector space named 'nope'"):
        store.spaces.missing(DEFAULT_OWNER, "nope", 10)
    assert store.spaces.count("nope") == 0
    store.spaces.drop("nope")  # nothing to drop: nothing happens


def test_put_get_missing_count_by_owner(store_and_ids):
    store, other, ids = store_and_ids
    mine, theirs = ids[DEFAULT_OWNER], ids[other]
    store.spaces.ensure(SPACE, DIM)
    live = mine[:-1]  # the last has no file
    assert store.spaces.missing(DEFAULT_OWNER, SPACE, 1000).tolist() == live
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((len(live[:10]), DIM)).astype(np.float32) * 3
    store.spaces.put(DEFAULT_OWNER, SPACE, live[:10], vectors)
    store.commit()
    assert store.spaces.missing(DEFAULT_OWNER, SPACE, 1000).tolist() == live[10:]
    assert store.spaces.missing(DEFAULT_OWNER, SPACE, 3, after=live[12]).tolist() == live[13:16]
    assert store.spaces.count(SPACE, DEFAULT_OWNER) == 10 and store.spaces.count(SPACE, other) == 0
    asked = np.array([live[3], theirs[0], live[20], live[0], 10**9], dtype=np.int64)
    has, got = store.spaces.get(DEFAULT_OWNER, SPACE, asked)
    assert has.tolist() == [True, False, False, True, False]
    assert np.allclose(got[0], _unit(vectors[3]), atol=2e-3) and np.allclose(got[3], _unit(vectors[0]), atol=2e-3)
    assert not got[1].any() and not got[2].any()
    has, _ = store.spaces.get(other, SPACE, asked)  # her vectors are no vectors of his
    assert not has.any()
    # Another user's content, a wrong shape, a NaN: refused, nothing written.
    with pytest.raises(StoreError, match="no content"):
        store.spaces.put(DEFAULT_OWNER, SPACE, [theirs[0]], vectors[:1])
    with pytest.raises(StoreError, match="16-d"):
        store.spaces.put(DEFAULT_OWNER, SPACE, [live[11]], np.ones((1, DIM + 1), np.float32))
    bad = np.ones((1, DIM), np.float32)
    bad[0, 3] = np.nan
    with pytest.raises(StoreError, match="finite"):
        store.spaces.put(DEFAULT_OWNER, SPACE, [live[11]], bad)
    store.rollback()
    assert store.spaces.count(SPACE, DEFAULT_OWNER) == 10
    # A file removed: its content is no longer counted, nor in the work list.
    store.remove_image(DEFAULT_OWNER, live[0])
    store.remove_image(DEFAULT_OWNER, live[15])
    store.commit()
    assert store.spaces.count(SPACE, DEFAULT_OWNER) == 9
    assert live[15] not in store.spaces.missing(DEFAULT_OWNER, SPACE, 1000).tolist()
    assert store.stats(DEFAULT_OWNER).spaces == {SPACE: 9}
    assert any(SPACE in part for part in store.stats(DEFAULT_OWNER).bytes_by_part)


def test_nearest_is_the_exact_answer_among_the_owners_vectors(store_and_ids):
    store, other, ids = store_and_ids
    rng = np.random.default_rng(8)
    store.spaces.ensure(SPACE, DIM)
    mine = ids[DEFAULT_OWNER][:-1]
    theirs = ids[other][:-1]
    my_vectors = rng.standard_normal((len(mine), DIM)).astype(np.float32)
    store.spaces.put(DEFAULT_OWNER, SPACE, mine, my_vectors)
    store.spaces.put(other, SPACE, theirs, rng.standard_normal((len(theirs), DIM)).astype(np.float32))
    store.commit()
    store.refresh_indexes()
    query = rng.standard_normal(DIM).astype(np.float32)
    ids_, cosines = store.spaces.nearest(DEFAULT_OWNER, SPACE, query, 50)
    ids_, cosines = ids_[store.live(DEFAULT_OWNER, ids_)], cosines[store.live(DEFAULT_OWNER, ids_)]
    truth = _unit(my_vectors) @ _unit(query)
    order = np.argsort(-truth)
    assert ids_[:10].tolist() == np.array(mine)[order[:10]].tolist()
    assert np.allclose(cosines[:10], truth[order[:10]], atol=3e-3)
    assert np.all(np.diff(cosines) <= 1e-6)
    # Re-embedded: the new vector is what is found.
    store.spaces.put(DEFAULT_OWNER, SPACE, [mine[5]], query[None, :] * 2)
    store.commit()
    top, score = store.spaces.nearest(DEFAULT_OWNER, SPACE, query, 1)
    assert top.tolist() == [mine[5]] and score[0] == pytest.approx(1.0, abs=2e-3)
    with pytest.raises(StoreError, match="16-d"):
        store.spaces.nearest(DEFAULT_OWNER, SPACE, query[:4], 3)


def test_analysis_vectors_are_written_with_the_content_and_exported(store_and_ids):
    store, _, _ = store_and_ids
    rng = np.random.default_rng(2)
    one = store.add_content(DEFAULT_OWNER, "with-vectors", "test", _analysis(rng, {SPACE: rng.standard_normal(DIM), "learned@1": rng.standard_normal(8)}))
    many = store.add_contents(DEFAULT_OWNER, [
        (f"batch{i}", "test", _analysis(rng, {SPACE: np.full(DIM, i + 1.0, np.float32)} if i % 2 else {})) for i in range(4)
    ])
    store.commit()
    assert store.spaces.spaces() == {SPACE: DIM, "learned@1": 8}
    exported = {cid: analysis.vectors for cid, _, _, analysis in store.export_contents(DEFAULT_OWNER)}
    assert set(exported[one]) == {SPACE, "learned@1"}
    assert [set(exported[cid]) for cid in many] == [set(), {SPACE}, set(), {SPACE}]
    assert np.allclose(exported[many[1]][SPACE], np.full(DIM, DIM**-0.5), atol=1e-3)


def test_drop_forgets_the_space(store_and_ids):
    store, _, ids = store_and_ids
    store.spaces.ensure(SPACE, DIM)
    store.spaces.put(DEFAULT_OWNER, SPACE, ids[DEFAULT_OWNER][:3], np.ones((3, DIM), np.float32))
    store.commit()
    store.spaces.drop(SPACE)
    store.commit()
    assert store.spaces.spaces() == {} and store.spaces.count(SPACE) == 0
    store.spaces.ensure(SPACE, 4)  # the name is free again, with another dimension
    store.commit()
    assert store.spaces.missing(DEFAULT_OWNER, SPACE, 5).tolist() == ids[DEFAULT_OWNER][:5]
    if isinstance(store, EmbeddedStore):
        assert sorted(p.name for p in (store.home / "index" / "spaces").iterdir()) in ([], ["2.rows"])


def test_embedded_graph_is_caught_up_and_stays_right(tmp_path, monkeypatch):
    """Above the exact-scan size the embedded store searches a usearch graph, caught up from the
    rows by write order; vectors written since (new or re-embedded) are scanned exactly."""
    monkeypatch.setattr(embedded_spaces, "SPACE_EXACT_BELOW", 100)
    monkeypatch.setattr(embedded_spaces, "TAIL_MIN", 50)
    store = EmbeddedStore(tmp_path / "lib")
    rng = np.random.default_rng(4)
    ids = store.add_contents(DEFAULT_OWNER, [(f"s{i}", "t", _analysis(rng)) for i in range(400)])
    for cid in ids:
        store.put_file(DEFAULT_OWNER, FileState(f"/p/{cid}.jpg", 1, 1), cid)
    store.spaces.ensure(SPACE, DIM)
    vectors = rng.standard_normal((400, DIM)).astype(np.float32)
    store.spaces.put(DEFAULT_OWNER, SPACE, ids[:300], vectors[:300])
    store.commit()
    store.refresh_indexes()
    graph = tmp_path / "lib" / "index" / "spaces" / "1.usearch"
    assert graph.exists()
    store.spaces.put(DEFAULT_OWNER, SPACE, ids[300:], vectors[300:])  # the tail: not in the graph
    store.spaces.put(DEFAULT_OWNER, SPACE, ids[:20], -vectors[:20])  # re-embedded: stale in the graph
    store.commit()
    vectors[:20] *= -1
    truth = _unit(vectors)
    recall = []
    for q in rng.standard_normal((20, DIM)).astype(np.float32):
        found, _ = store.spaces.nearest(DEFAULT_OWNER, SPACE, q, 10)
        best = np.array(ids)[np.argsort(-(truth @ _unit(q)))[:10]]
        recall.append(len(set(found.tolist()) & set(best.tolist())) / 10)
    assert np.mean(recall) >= 0.95
    assert store.spaces.nearest(DEFAULT_OWNER, SPACE, vectors[5], 1)[0].tolist() == [ids[5]]  # re-embedded one
    assert store.spaces.nearest(DEFAULT_OWNER, SPACE, vectors[350], 1)[0].tolist() == [ids[350]]  # tail one
    store.refresh_indexes()  # 120 written since > TAIL_MIN: the graph takes them
    found, _ = store.spaces.nearest(DEFAULT_OWNER, SPACE, vectors[5], 1)
    assert found.tolist() == [ids[5]]
    store.rebuild_indexes()
    assert store.spaces.nearest(DEFAULT_OWNER, SPACE, vectors[350], 1)[0].tolist() == [ids[350]]
    store.close()


_WRITER = textwrap.dedent("""
    import sys, numpy as np
    from pathlib import Path
    from pixseek.store import EmbeddedStore
    from pixseek.records import FileState, ImageMeta, Analysis
    from pixseek.store.sparse import top_k
    store = EmbeddedStore(Path(sys.argv[1]))
    store.spaces.ensure("kill@1", 64)
    rng = np.random.default_rng(0)
    for batch in range(10_000):
        items = [(f"s{batch}-{i}", "t", Analysis(ImageMeta(8, 8, "PNG"), top_k(rng.random(1000).astype(np.float32)),
                  rng.random(1280).astype(np.float32))) for i in range(20)]
        ids = store.add_contents(1, items)
        for cid in ids:
            store.put_file(1, FileState(f"/p/{cid}", 1, 1), cid)
        # each content's vector is a function of its id, so a reader can check every row
        store.spaces.put(1, "kill@1", ids, np.stack([np.sin(np.arange(64) * 0.1 + cid) for cid in ids]))
        store.commit()
        if batch == 2:
            print("ready", flush=True)
""")


def test_embedded_vectors_survive_kill_9(tmp_path):
    library = tmp_path / "lib"
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(library)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    store = EmbeddedStore(library)
    ids = store.matching(DEFAULT_OWNER)
    assert len(ids) >= 60
    has, got = store.spaces.get(DEFAULT_OWNER, "kill@1", ids)
    assert has.all()  # every committed content has its vector (they were committed together)
    expected = _unit(np.stack([np.sin(np.arange(64) * 0.1 + cid) for cid in ids]))
    assert np.abs(got - expected).max() < 2e-3
    store.refresh_indexes()
    assert store.spaces.nearest(DEFAULT_OWNER, "kill@1", expected[7], 1)[0].tolist() == [ids[7]]
    store.close()


def test_postgres_large_owner_goes_through_the_graph(database_url, monkeypatch):
    monkeypatch.setattr(pg_spaces, "EXACT_BELOW", 50)
    store = open_store(database_url)
    rng = np.random.default_rng(6)
    ids = store.add_contents(DEFAULT_OWNER, [(f"g{i}", "t", _analysis(rng)) for i in range(300)])
    for cid in ids:
        store.put_file(DEFAULT_OWNER, FileState(f"/g/{cid}.jpg", 1, 1), cid)
    store.spaces.ensure(SPACE, DIM)
    vectors = rng.standard_normal((300, DIM)).astype(np.float32)
    store.spaces.put(DEFAULT_OWNER, SPACE, ids, vectors)
    store.commit()
    plans = []
    original = store._db.execute

    def spying(sql, params=None, binary=False):
        if "ORDER BY v.embedding <=>" in sql:
            plans.append(sql)
        return original(sql, params, binary=binary)

    monkeypatch.setattr(store._db, "execute", spying)
    query = rng.standard_normal(DIM).astype(np.float32)
    found, cosines = store.spaces.nearest(DEFAULT_OWNER, SPACE, query, 10)
    assert plans  # the graph was asked
    best = np.array(ids)[np.argsort(-(_unit(vectors) @ _unit(query)))[:10]]
    assert len(set(found.tolist()) & set(best.tolist())) >= 9 and len(found) == 10
    store.close()


def test_migrate_carries_every_space(tmp_path, new_database):
    source = EmbeddedStore(tmp_path / "source")
    alice = source.accounts.add_user("alice", None).id
    rng = np.random.default_rng(9)
    expected: dict[str, dict[str, np.ndarray]] = {}
    for owner in (DEFAULT_OWNER, alice):
        for i in range(6):
            vectors = {SPACE: rng.standard_normal(DIM).astype(np.float32)}
            if i % 2:
                vectors["learned@1"] = rng.standard_normal(8).astype(np.float32)
            cid = source.add_content(owner, f"m{owner}-{i}", "t", _analysis(rng, vectors))
            source.put_file(owner, FileState(f"/m/{owner}/{i}.jpg", 1, 1), cid)
            expected[f"/m/{owner}/{i}.jpg"] = {space: _unit(v) for space, v in vectors.items()}
    source.spaces.ensure("empty@1", 32)
    source.commit()
    postgres = open_store(new_database("spaces_migrate"))
    report = migrate(source, postgres)
    assert report.vectors == 18
    back = EmbeddedStore(tmp_path / "back")
    migrate(postgres, back)
    for store in (postgres, back):
        assert store.spaces.spaces() == {SPACE: DIM, "learned@1": 8, "empty@1": 32}
        for user in store.accounts.users():
            for path, indexed in store.indexed_files(user.id).items():
                for space in (SPACE, "learned@1"):
                    has, got = store.spaces.get(user.id, space, np.array([indexed.content_id]))
                    assert has[0] == (space in expected[path])
                    if has[0]:
                        assert np.allclose(got[0], expected[path][space], atol=2e-3)
        assert store.stats(DEFAULT_OWNER).spaces == {SPACE: 6, "learned@1": 3, "empty@1": 0}
        # the graph is there after the bulk load
        if store is postgres:
            assert store.spaces.missing_indexes() == []
    for store in (source, postgres, back):
        store.close()


def test_a_v4_library_is_upgraded(tmp_path):
    """A library written before vector spaces (schema 4, made from the scripts of its time) opens
    with its contents, and gets spaces."""
    import sqlite3

    from pixseek.store import embedded
    from pixseek.store.faces import MIGRATE_V2_TO_V3
    from pixseek.store.texts import MIGRATE_V3_TO_V4

    (tmp_path / "lib").mkdir()
    db = sqlite3.connect(tmp_path / "lib" / "pixseek.db")
    db.executescript(embedded._SCHEMA_V2 + MIGRATE_V2_TO_V3 + MIGRATE_V3_TO_V4)
    db.execute("INSERT INTO users (id, name, created_at) VALUES (1, 'default', 0)")
    db.execute(
        "INSERT INTO contents (id, owner, sha256, analyzer, width, height, format, analyzed_at) "
        "VALUES (1, 1, 'old', 't', 8, 8, 'PNG', 0)"
    )
    db.execute("INSERT INTO files (path, owner, size, mtime_ns, content_id, indexed_at) VALUES ('/old.png', 1, 1, 1, 1, 0)")
    db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '4')")
    db.commit()
    db.close()
    store = EmbeddedStore(tmp_path / "lib")
    store.spaces.ensure(SPACE, DIM)
    assert store.spaces.missing(DEFAULT_OWNER, SPACE, 10).tolist() == [1]
    store.spaces.put(DEFAULT_OWNER, SPACE, [1], np.ones((1, DIM), np.float32))
    store.commit()
    assert store.spaces.count(SPACE, DEFAULT_OWNER) == 1
    store.close()
