"""The PostgreSQL store's export reads (what `pixseek migrate` copies to another store), against the
session's real PostgreSQL + pgvector: export_contents gives back every content record as it went in
(after the store's own quantisation), faces' assignments and the account tokens as stored.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import psycopg
import pytest

from pixseek.records import Analysis, Face, FileState, ImageMeta, SparseVector, TextLine
from pixseek.store import open_store
from pixseek.store.postgres import store as pg_store
from pixseek.store.postgres.store import PostgresStore
from pixseek.store.sparse import decode_row, encode_row

DBNAME = "pixseek_export"
OWNER, OTHER = 7, 8


@pytest.fixture(scope="module")
def url(postgres_url: str) -> str:
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DBNAME}")
        admin.execute(f"CREATE DATABASE {DBNAME}")
    assert "/postgres?" in postgres_url
    return postgres_url.replace("/postgres?", f"/{DBNAME}?")


@pytest.fixture(scope="module")
def store(url: str) -> Iterator[PostgresStore]:
    opened = open_store(url)
    assert isinstance(opened, PostgresStore)
    yield opened
    opened.close()


def _categories(rng: np.random.Generator, n: int) -> SparseVector:
    ids = rng.choice(1000, size=n, replace=False).astype(np.int32)
    weights = np.sort(rng.dirichlet(np.ones(n)).astype(np.float32))[::-1].copy()
    return SparseVector(ids, weights)


def _faces(rng: np.random.Generator, n: int) -> list[Face]:
    return [
        Face((10 + 40 * i, 20, 40 + 40 * i, 60), 1.0 + 0.25 * i, rng.normal(size=128).astype(np.float32))
        for i in range(n)
    ]


def _analysis(rng: np.random.Generator, n: int, faces: list[Face] | None, texts: list[TextLine] | None,
              n_categories: int = 50) -> Analysis:
    meta = ImageMeta(
        640 + n, 480, "JPEG", f"2021-05-0{n}T10:00:00", "Canon", f"EOS {n}D", 47.25 + n, -122.5
    ) if n % 2 else ImageMeta(320, 200 + n, "PNG")
    return Analysis(
        meta=meta,
        categories=_categories(rng, n_categories),
        embedding=rng.normal(size=1280).astype(np.float32),
        faces=faces,
        texts=texts,
        timings_ms={"classify": 12.0},
    )


@pytest.fixture(scope="module")
def library(store: PostgresStore) -> dict:
    """Contents of OWNER (with and without files, with and without faces/text) and of OTHER."""
    rng = np.random.default_rng(5)
    added: dict[int, tuple[int, str, str, Analysis]] = {}

    def add(owner: int, n: int, analysis: Analysis, path: str | None) -> int:
        sha = f"{n:064x}"
        cid = store.add_content(owner, sha, "pixseek-1.0", analysis)
        if path is not None:
            store.put_file(owner, FileState(path, 1000 + n, 10**18 + n), cid)
        added[cid] = (owner, sha, "pixseek-1.0", analysis)
        return cid

    lines = [TextLine("Hello world", 0.875, (5, 6, 100, 20)), TextLine("Café ½ 1,250.00", 0.5, (5, 30, 90, 44))]
    c1 = add(OWNER, 1, _analysis(rng, 1, _faces(rng, 2), lines), "/photos/a.jpg")
    c2 = add(OWNER, 2, _analysis(rng, 2, None, None, n_categories=10), "/photos/b.png")
    c3 = add(OWNER, 3, _analysis(rng, 3, [], []), None)  # looked for, found nothing; no file
    c4 = add(OWNER, 4, _analysis(rng, 4, _faces(rng, 1), [TextLine("gone", 0.25, (1, 2, 3, 4))]), None)
    o1 = add(OTHER, 5, _analysis(rng, 5, _faces(rng, 3), None), "/other/c.jpg")
    store.commit()

    faces = store.faces
    mine = [f for f, *_ in faces.assignments(OWNER)]
    theirs = [f for f, *_ in faces.assignments(OTHER)]
    assert len(mine) == 3 and len(theirs) == 3
    alice = faces.create_person(OWNER, "Alice")
    bob = faces.create_person(OWNER)
    faces.assign(OWNER, [mine[0]], alice, "user")
    faces.assign(OWNER, [mine[2]], bob, "auto")  # a face of c4, which has no file
    carol = faces.create_person(OTHER, "Carol")
    faces.assign(OTHER, theirs[:2], carol, "auto")
    store.commit()

    return {
        "added": added,
        "mine": [c1, c2, c3, c4],
        "other": [o1],
        "faces": (mine, theirs),
        "people": (alice, bob, carol),
    }


def _check_export(store: PostgresStore, library: dict, owner: int, expected_ids: list[int]) -> None:
    exported = list(store.export_contents(owner))
    assert [e[0] for e in exported] == sorted(expected_ids)
    for cid, sha, analyzer, got in exported:
        want_owner, want_sha, want_analyzer, want = library["added"][cid]
        assert (want_owner, sha, analyzer) == (owner, want_sha, want_analyzer)
        assert isinstance(got, Analysis)
        assert got.meta == want.meta
        stored = decode_row(encode_row(want.categories))
        assert got.categories.ids.dtype == np.int32 and got.categories.weights.dtype == np.float32
        np.testing.assert_array_equal(got.categories.ids, stored.ids)
        np.testing.assert_array_equal(got.categories.weights, stored.weights)
        assert got.embedding.dtype == np.float32 and got.embedding.shape == (1280,)
        np.testing.assert_allclose(got.embedding, want.embedding.astype(np.float16).astype(np.float32),
                                   rtol=2e-3, atol=1e-4)
        np.testing.assert_array_equal(got.embedding, store.embeddings(owner, np.array([cid]))[0])  # the stored halfvec
        assert got.timings_ms == {}
        if want.faces is None:
            assert got.faces is None
        else:
            assert got.faces is not None and len(got.faces) == len(want.faces)
            for g, w in zip(got.faces, want.faces):
                assert isinstance(g, Face)
                assert tuple(g.box) == tuple(w.box)
                assert g.score == w.score
                assert g.embedding.dtype == np.float32 and g.embedding.shape == (128,)
                np.testing.assert_array_equal(g.embedding, w.embedding)
        if want.texts is None:
            assert got.texts is None
        else:
            assert got.texts is not None
            assert [(t.text, t.score, tuple(t.box)) for t in got.texts] == [
                (t.text, t.score, tuple(t.box)) for t in want.texts
            ]


def test_export_contents_gives_back_what_went_in(store: PostgresStore, library: dict) -> None:
    _check_export(store, library, OWNER, library["mine"])
    _check_export(store, library, OTHER, library["other"])
    assert list(store.export_contents(999)) == []


def test_export_contents_streams_in_batches(
    store: PostgresStore, library: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    for batch in (1, 2, 3, 4):
        monkeypatch.setattr(pg_store, "EXPORT_BATCH", batch)
        _check_export(store, library, OWNER, library["mine"])
    exported = store.export_contents(OWNER)
    assert isinstance(exported, Iterator)  # a generator: nothing read until asked


def test_assignments_cover_every_face_of_the_owner(store: PostgresStore, library: dict) -> None:
    c1, _, _, c4 = library["mine"]
    (o1,) = library["other"]
    mine, theirs = library["faces"]
    alice, bob, carol = library["people"]
    assert store.faces.assignments(OWNER) == [
        (mine[0], c1, alice, "user"),
        (mine[1], c1, None, None),
        (mine[2], c4, bob, "auto"),  # not live (no file), still exported
    ]
    assert store.faces.assignments(OTHER) == [
        (theirs[0], o1, carol, "auto"),
        (theirs[1], o1, carol, "auto"),
        (theirs[2], o1, None, None),
    ]
    assert store.faces.assignments(999) == []


def test_tokens_in_creation_order(store: PostgresStore, url: str) -> None:
    accounts = store.accounts
    assert accounts.tokens() == []
    user = accounts.add_user("exporter", None)
    accounts.add_token(1, "f" * 64, "laptop")
    accounts.add_token(user.id, "0" * 64, "phone")
    accounts.add_token(user.id, "b" * 64, "tie-b")
    accounts.add_token(1, "a" * 64, "tie-a")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE tokens SET created_at = 5.5 WHERE label LIKE 'tie-%'")
        conn.execute("UPDATE tokens SET created_at = 7.25 WHERE label = 'laptop'")
        conn.execute("UPDATE tokens SET created_at = 8.0 WHERE label = 'phone'")
    tokens = accounts.tokens()
    assert tokens == [
        ("a" * 64, 1, "tie-a", 5.5),  # same time: by hash
        ("b" * 64, user.id, "tie-b", 5.5),
        ("f" * 64, 1, "laptop", 7.25),  # then by time, whatever the hash
        ("0" * 64, user.id, "phone", 8.0),
    ]
    assert all(isinstance(t[3], float) and isinstance(t[1], int) for t in tokens)
