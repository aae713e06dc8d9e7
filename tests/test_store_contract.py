"""Both stores, one contract: the same library written into the embedded store and into
PostgreSQL (a real server, tests/conftest.py) must read back alike and search alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import psycopg
import pytest

from pixseek.records import Analysis, FileState, ImageFilter, ImageMeta
from pixseek.search.engine import SearchEngine
from pixseek.store import DEFAULT_OWNER, EmbeddedStore, StoreError, open_store
from pixseek.store.postgres import store as pg_store
from pixseek.store.sparse import top_k

ANALYZER = "test-analyzer"
# Classes a query can name: tabby, Egyptian cat, golden retriever, beagle, espresso, sports car.
CLASSES = (281, 285, 207, 162, 967, 817)


def _analysis(rng: np.random.Generator, main: int, taken_at: str | None) -> Analysis:
    probs = rng.dirichlet(np.full(1000, 0.05)).astype(np.float32) * 0.3
    probs[main] += 0.7
    embedding = rng.random(1280).astype(np.float32)
    embedding[main] += 40.0
    meta = ImageMeta(640, 480, "JPEG", taken_at=taken_at, camera_make="Canon" if main % 2 else "Nikon")
    return Analysis(meta, top_k(probs), embedding)


def _fill(store, other: int) -> None:
    rng = np.random.default_rng(7)
    for n in range(60):
        owner = DEFAULT_OWNER if n % 4 else other
        taken = f"2021-0{1 + n % 9}-1{n % 10}T10:00:00" if n % 5 else None
        cid = store.add_content(owner, f"sha{n}", ANALYZER, _analysis(rng, CLASSES[n % len(CLASSES)], taken))
        store.put_file(owner, FileState(f"/photos/{'sub/' if n % 3 else ''}{n}.jpg", 1000 + n, n), cid)
    store.commit()
    store.refresh_indexes()


@pytest.fixture(scope="module")
def database_url(new_database) -> str:
    return new_database("contract")


@pytest.fixture(scope="module")
def stores(database_url: str, tmp_path_factory: pytest.TempPathFactory):
    embedded = EmbeddedStore(tmp_path_factory.mktemp("embedded"))
    postgres = open_store(database_url)
    pairs = []
    for store in (embedded, postgres):
        other = store.accounts.add_user("other", None).id
        _fill(store, other)
        pairs.append((store, other))
    yield pairs
    embedded.close()
    postgres.close()


def _both(stores, read):
    (a, other_a), (b, other_b) = stores
    return read(a, other_a), read(b, other_b)


def _paths(store, owner: int, ids) -> list[str]:
    return [image.paths[0] for image in store.get_images(owner, [int(i) for i in ids])]


def test_reads_agree(stores):
    embedded, postgres = _both(stores, lambda s, o: s)
    for owner_index in (0, 1):
        e_owner, p_owner = (DEFAULT_OWNER, DEFAULT_OWNER) if owner_index == 0 else (stores[0][1], stores[1][1])
        e_files, p_files = embedded.indexed_files(e_owner), postgres.indexed_files(p_owner)
        assert sorted(e_files) == sorted(p_files) and e_files
        assert {(f.size, f.mtime_ns, f.sha256) for f in e_files.values()} == {
            (f.size, f.mtime_ns, f.sha256) for f in p_files.values()
        }
        for where in (None, ImageFilter(path_prefix="/photos/sub"), ImageFilter(camera="canon"),
                      ImageFilter(taken_from="2021-03-01", taken_to="2021-06-30")):
            e_total, e_page = embedded.list_images(e_owner, where, 0, 100)
            p_total, p_page = postgres.list_images(p_owner, where, 0, 100)
            assert e_total == p_total
            assert [i.paths for i in e_page] == [i.paths for i in p_page]  # same order, undated last
            assert [i.meta for i in e_page] == [i.meta for i in p_page]
    e_stats, p_stats = embedded.stats(DEFAULT_OWNER), postgres.stats(DEFAULT_OWNER)
    assert (e_stats.images, e_stats.files, e_stats.unreferenced) == (p_stats.images, p_stats.files, p_stats.unreferenced)


def test_rows_hold_the_same_numbers(stores):
    (embedded, _), (postgres, _) = stores
    e_ids = embedded.matching(DEFAULT_OWNER)
    p_ids = postgres.matching(DEFAULT_OWNER)
    e_classes, e_probs = embedded.categories(DEFAULT_OWNER, e_ids)
    p_classes, p_probs = postgres.categories(DEFAULT_OWNER, p_ids)
    assert np.array_equal(e_classes[:, :10], p_classes[:, :10]) and np.allclose(e_probs, p_probs)
    assert np.allclose(embedded.embeddings(DEFAULT_OWNER, e_ids), postgres.embeddings(DEFAULT_OWNER, p_ids), rtol=1e-3)


@pytest.mark.parametrize("query", ["cat", "dog", "espresso", "sports car", "animal", "cat dog"])
def test_text_search_gives_the_same_top_ten(stores, concepts, query):
    results = []
    for store, _ in stores:
        hits = SearchEngine(store, concepts).search(DEFAULT_OWNER, query, limit=10).hits
        results.append([(h.path, round(h.score, 3)) for h in hits])
    assert results[0] == results[1]
    assert results[0] or query == "cat dog"  # no image holds both here


def test_similar_gives_the_same_top_ten(stores, concepts):
    results = []
    for store, _ in stores:
        engine = SearchEngine(store, concepts)
        first = int(store.matching(DEFAULT_OWNER)[0])
        results.append([h.path for h in engine.similar(DEFAULT_OWNER, first, limit=10).hits])
    assert results[0] == results[1] and len(results[0]) == 10


def test_other_owners_rows_never_come_back(stores):
    for store, other in stores:
        theirs = set(store.matching(other).tolist())
        mine = set(store.matching(DEFAULT_OWNER).tolist())
        assert theirs and mine and not theirs & mine
        assert store.get_images(DEFAULT_OWNER, sorted(theirs)) == []
        assert not store.live(DEFAULT_OWNER, np.array(sorted(theirs))).any()


def test_whether_other_owners_have_contents(stores):
    for store, other in stores:
        assert store.others_have_contents(DEFAULT_OWNER) and store.others_have_contents(other)
        newcomer = store.accounts.add_user(f"newcomer-{type(store).__name__}", None).id
        assert store.others_have_contents(newcomer)  # the store's users hold contents, he has none
        assert store.count_images(newcomer) == 0
        store.rollback()


def test_postgres_candidates_and_neighbours_are_the_owners_own(stores):
    (_, _), (postgres, other) = stores
    theirs = set(postgres.matching(other).tolist())
    from pixseek.records import SparseVector

    query = SparseVector(np.array(CLASSES, dtype=np.int32), np.ones(len(CLASSES), dtype=np.float32))
    candidates = set(postgres.sparse_candidates(DEFAULT_OWNER, query, 0.01, 10_000).tolist())
    assert candidates and not candidates & theirs
    vector = postgres.embeddings(other, np.array([min(theirs)]))[0]
    ids, sims = postgres.knn(DEFAULT_OWNER, vector, 10)
    assert len(ids) == 10 and not set(ids.tolist()) & theirs and np.all(np.diff(sims) <= 1e-6)


def test_large_owner_is_searched_through_hnsw_with_full_pages(stores, monkeypatch):
    """Above EXACT_BELOW the HNSW index answers; iterative scans keep the owner's page full."""
    (_, _), (postgres, other) = stores
    monkeypatch.setattr(pg_store, "EXACT_BELOW", 1)
    monkeypatch.setattr(pg_store, "HNSW_MIN_MATCHES", 1)
    assert postgres._hnsw_pays_off(other)
    vector = postgres.embeddings(DEFAULT_OWNER, np.array([int(postgres.matching(DEFAULT_OWNER)[0])]))[0]
    ids, _ = postgres.knn(other, vector, 10)
    monkeypatch.setattr(pg_store, "EXACT_BELOW", 10**9)
    assert not postgres._hnsw_pays_off(other)
    exact, _ = postgres.knn(other, vector, 10)
    assert len(ids) == 10 and len(set(ids.tolist()) & set(exact.tolist())) >= 9


def test_a_small_share_of_a_big_table_is_searched_exactly(stores, monkeypatch):
    """An iterative scan stops after HNSW_MAX_SCAN_TUPLES rows: an owner too small a share of the
    table to be met that soon is scanned exactly, whatever its own size."""
    (_, _), (postgres, other) = stores
    monkeypatch.setattr(pg_store, "EXACT_BELOW", 1)
    mine, total = postgres.count_images(other), postgres.content_count()
    expected = mine * pg_store.HNSW_MAX_SCAN_TUPLES / total  # the owner's rows met within a scan
    monkeypatch.setattr(pg_store, "HNSW_MIN_MATCHES", expected * 0.9)
    assert postgres._hnsw_pays_off(other)
    monkeypatch.setattr(pg_store, "HNSW_MIN_MATCHES", expected * 1.1)
    assert not postgres._hnsw_pays_off(other)


def test_unreachable_server_names_the_url_without_its_password():
    with pytest.raises(StoreError) as caught:
        open_store("postgresql://alice:s3cret@127.0.0.1:1/photos")
    message = str(caught.value)
    assert "127.0.0.1" in message and "s3cret" not in message and "alice" in message


def test_newer_schema_is_refused(database_url):
    store = open_store(database_url)
    store.close()
    with psycopg.connect(database_url, autocommit=True) as db:
        db.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    try:
        with pytest.raises(StoreError, match="newer pixseek"):
            open_store(database_url)
    finally:
        with psycopg.connect(database_url, autocommit=True) as db:
            db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")


def test_unknown_scheme_is_refused(tmp_path: Path):
    with pytest.raises(StoreError, match="postgresql://"):
        open_store("mysql://x@y/z")


def test_libpq_connection_strings_are_postgresql(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError) as caught:
        open_store("host=127.0.0.1 port=1 dbname=photos password=s3cret")
    assert "PostgreSQL" in str(caught.value) and "s3cret" not in str(caught.value)
    assert not any(tmp_path.iterdir())  # not taken for a directory to create


def test_a_library_of_one_user_has_no_other_owner(new_database, tmp_path: Path):
    rng = np.random.default_rng(3)
    for store in (EmbeddedStore(tmp_path / "one"), open_store(new_database("one_user"))):
        try:
            assert not store.others_have_contents(DEFAULT_OWNER)
            cid = store.add_content(DEFAULT_OWNER, "sha-one", ANALYZER, _analysis(rng, CLASSES[0], None))
            store.put_file(DEFAULT_OWNER, FileState("/photos/one.jpg", 1, 1), cid)
            store.commit()
            assert not store.others_have_contents(DEFAULT_OWNER) and store.count_images(DEFAULT_OWNER) == 1
        finally:
            store.close()
