"""Both stores' candidate step, when the budget cuts the posting-list heads: the embedded store
(its lists split into several segments) and PostgreSQL (one list per owner and class) must read
the same heads, so the engine's one scoring definition ranks the same images in both; concepts
that span several classes (the cat and dog breeds, "animal") included."""

from __future__ import annotations

import numpy as np
import pytest

from pixseek.records import Analysis, FileState, ImageMeta
from pixseek.search import engine as engine_mod
from pixseek.search.engine import SearchEngine
from pixseek.search.evidence.categories import MIN_IMPACT
from pixseek.store import DEFAULT_OWNER, EmbeddedStore, open_store
from pixseek.store.sparse import top_k

CATS = (281, 282, 283, 284, 285)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
DOGS = (207, 208, 162, 229, 258)  # golden retriever, Labrador, beagle, Old English sheepdog, Samoyed
IMAGES = 240
BUDGET = 60  # per term: caps of 16 entries (MIN_PER_LIST) a class, far fewer than each list holds
QUERIES = ["cat", "dog", "animal", "tabby", "cat dog", "tabby OR beagle"]


def _analysis(rng: np.random.Generator, n: int) -> Analysis:
    """Most of an image's mass on two or three breeds of one kind, coarsely rounded so that
    equal weights (ties at a head's cut) are common."""
    kind = CATS if n % 2 else DOGS
    probs = rng.dirichlet(np.full(1000, 0.05)).astype(np.float32) * 0.1
    chosen = rng.choice(len(kind), size=int(rng.integers(2, 4)), replace=False)
    shares = np.round(rng.dirichlet(np.ones(len(chosen))) * 0.9, 1)
    for k, share in zip(chosen, shares):
        probs[kind[k]] += share
    if n % 7 == 0:  # a few hold both kinds
        probs[DOGS[0] if kind is CATS else CATS[0]] += 0.3
    embedding = rng.random(1280).astype(np.float32)
    return Analysis(ImageMeta(640, 480, "JPEG"), top_k(probs / probs.sum()), embedding)


def _fill(store) -> None:
    """Two batches, each indexed on its own: the embedded store's lists in two segments."""
    rng = np.random.default_rng(18)
    for n in range(IMAGES):
        cid = store.add_content(DEFAULT_OWNER, f"sha{n}", "test-analyzer", _analysis(rng, n))
        store.put_file(DEFAULT_OWNER, FileState(f"/photos/{n}.jpg", 1000 + n, n), cid)
        if n in (IMAGES // 2 - 1, IMAGES - 1):
            store.commit()
            store.refresh_indexes()


@pytest.fixture(scope="module")
def stores(new_database, tmp_path_factory: pytest.TempPathFactory):
    embedded = EmbeddedStore(tmp_path_factory.mktemp("embedded-heads"))
    postgres = open_store(new_database("heads"))
    for store in (embedded, postgres):
        _fill(store)
    yield embedded, postgres
    embedded.close()
    postgres.close()


def test_the_embedded_lists_are_in_several_segments(stores):
    embedded, _ = stores
    assert len(embedded._postings.segments) == 2


@pytest.mark.parametrize("word", ["cat", "dog", "animal"])
def test_cut_heads_are_the_same_candidates(stores, concepts, word):
    embedded, postgres = stores
    term = concepts.encode_term(word)
    assert term is not None and len(term.vector) >= 5  # a concept of several classes
    every = embedded.sparse_candidates(DEFAULT_OWNER, term.vector, MIN_IMPACT, 10**6)
    found = [s.sparse_candidates(DEFAULT_OWNER, term.vector, MIN_IMPACT, BUDGET) for s in stores]
    assert len(found[0]) < len(every)  # the budget did cut the heads
    assert found[0].tolist() == found[1].tolist()
    assert set(found[0].tolist()) <= set(every.tolist())


@pytest.mark.parametrize("query", QUERIES)
def test_cut_heads_give_the_same_top_ten(stores, concepts, query, monkeypatch):
    monkeypatch.setattr(engine_mod, "CANDIDATE_BUDGET", BUDGET)
    results = []
    for store in stores:
        result = SearchEngine(store, concepts).search(DEFAULT_OWNER, query, limit=10)
        results.append(([(h.path, round(h.score, 4)) for h in result.hits], result.candidates))
    assert results[0] == results[1]
    assert len(results[0][0]) == 10


def _queries(concepts) -> list:
    from pixseek.records import SparseVector

    cat = concepts.encode_term("cat")
    assert cat is not None
    # weights above 1.25 reach entries below HEAD_ROWS_FROM: those heads are read without rows
    strong = SparseVector(np.array([DOGS[0], CATS[1]], dtype=np.int32), np.array([3.0, 0.5], dtype=np.float32))
    return [cat.vector, strong]


def test_heads_come_with_the_rows_categories_reads(stores, concepts):
    for store in stores:
        for query in _queries(concepts):
            ids, class_ids, probs = store.sparse_heads(DEFAULT_OWNER, query, MIN_IMPACT, BUDGET)
            assert ids.tolist() == store.sparse_candidates(DEFAULT_OWNER, query, MIN_IMPACT, BUDGET).tolist()
            expected_classes, expected_probs = store.categories(DEFAULT_OWNER, ids)
            assert len(ids) and np.array_equal(class_ids, expected_classes) and np.array_equal(probs, expected_probs)


def test_a_database_written_before_the_heads_carried_rows_gets_them(new_database, concepts):
    from pixseek.store.postgres.schema import HEAD_ROWS_MARKER

    url = new_database("heads_upgrade")
    store = open_store(url)
    _fill(store)
    query = concepts.encode_term("dog").vector
    before = store.sparse_heads(DEFAULT_OWNER, query, MIN_IMPACT, BUDGET)
    with store._db.transaction():  # as the schema was before: no rows in the postings, no index
        store._db.execute("DROP INDEX postings_head_rows")
        store._db.execute("ALTER TABLE postings DROP COLUMN categories")
        store._db.execute("DELETE FROM meta WHERE key = %s", (HEAD_ROWS_MARKER,))
    store.close()
    store = open_store(url)
    try:
        (carrying,) = store._db.execute("SELECT count(*) FROM postings WHERE categories IS NOT NULL").fetchone()
        assert carrying > IMAGES  # a few strong classes an image
        after = store.sparse_heads(DEFAULT_OWNER, query, MIN_IMPACT, BUDGET)
        assert all(np.array_equal(a, b) for a, b in zip(before, after))
    finally:
        store.close()


def test_rewritten_rows_move_with_their_heads(stores, concepts):
    """replace_categories (an older analysis given the newer parts): the heads carry the new row.
    Last in this module: it changes both stores' libraries alike."""
    from pixseek.records import SparseVector

    beagle = SparseVector(np.array([DOGS[2]], dtype=np.int32), np.ones(1, dtype=np.float32))
    for store in stores:
        target = int(store.matching(DEFAULT_OWNER)[5])
        probs = np.full(1000, 0.02 / 999, dtype=np.float32)
        probs[DOGS[2]] = 0.98  # now the surest beagle of all
        assert store.replace_categories(DEFAULT_OWNER, target, top_k(probs), "test-analyzer+new")
        store.commit()
        store.refresh_indexes()
        ids, class_ids, probs_read = store.sparse_heads(DEFAULT_OWNER, beagle, MIN_IMPACT, 16)
        assert target in ids.tolist()
        expected = store.categories(DEFAULT_OWNER, ids)
        assert np.array_equal(class_ids, expected[0]) and np.array_equal(probs_read, expected[1])
        assert class_ids[ids.tolist().index(target)][0] == DOGS[2]
    results = [[h.path for h in SearchEngine(s, concepts).search(DEFAULT_OWNER, "beagle", limit=10).hits] for s in stores]
    assert results[0] == results[1] and results[0][0] == "/photos/5.jpg"
