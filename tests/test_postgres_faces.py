"""Faces and people in the PostgreSQL store (pixseek.store.postgres.faces), against the session's
real PostgreSQL + pgvector: the store-level checks of test_faces.py, on synthetic 128-d
embeddings (tight clusters are "people", scattered vectors are strangers), so no model is needed.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import psycopg
import pytest

from pixseek.pipeline.people import (
    NEIGHBOURS,
    CorrectionError,
    cluster_faces,
    merge_people,
    name_person,
    remove_faces,
    split_person,
)
from pixseek.records import Face, Person
from pixseek.store.postgres import faces as pg_faces
from pixseek.store.postgres.db import Database
from pixseek.store.postgres.faces import PostgresFaces, vector_literal
from pixseek.store.postgres.schema import ensure_schema

_owners = itertools.count(100)  # each test takes fresh owners: the module shares one database
_shas = itertools.count()


@pytest.fixture(scope="module")
def db(new_database) -> Iterator[Database]:
    database = Database(new_database("faces"))
    ensure_schema(database)
    yield database
    database.close()


@pytest.fixture()
def faces(db: Database) -> Iterator[PostgresFaces]:
    yield PostgresFaces(db)
    db.rollback()  # a failed test leaves no open transaction behind


class StandIn:
    """What pixseek.pipeline.people needs of a Store: its faces and commit()."""

    def __init__(self, db: Database) -> None:
        self.faces = PostgresFaces(db)
        self.commit = db.commit


def _content(db: Database, owner: int, sha: str | None = None, live: bool = True, height: int = 100,
             analyzer: str = "test+faces") -> int:
    """A content row (an analysed image), held by a file of the owner if `live`."""
    (cid,) = db.execute(
        "INSERT INTO contents (owner, sha256, analyzer, width, height, format, analyzed_at, categories, "
        "embedding) VALUES (%s, %s, %s, 200, %s, 'JPEG', 0, decode(repeat('00', 150), 'hex'), array_fill(0::real, ARRAY[1280])::halfvec) "
        "RETURNING id",
        (owner, sha or f"sha{next(_shas)}", analyzer, height),
    ).fetchone()
    if live:
        db.execute("INSERT INTO files VALUES (%s, %s, 1, 1, %s, 0)", (owner, f"/photos/{owner}/{cid}.jpg", cid))
    return int(cid)


def _face(vector, box=(10, 10, 60, 60), score: float = 1.0) -> Face:
    return Face(box, score, np.asarray(vector, dtype=np.float32))


def _one_face_images(db: Database, faces: PostgresFaces, owner: int, vectors, live: bool = True) -> list[int]:
    """One image per vector, one face in each; the face ids."""
    ids = []
    for vector in vectors:
        ids += faces.add(owner, _content(db, owner, live=live), "x", [_face(vector)])
    db.commit()
    return ids


def _people_vectors(
    rng: np.random.Generator, per_person: int, strangers: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two people (tight clusters, 0.05 apart at most) and strangers (scattered, ~1.4 apart)."""
    a, b = rng.normal(size=(2, 128)) * 0.1
    a_faces = a + rng.normal(size=(per_person, 128)) * 0.002
    b_faces = b + rng.normal(size=(per_person, 128)) * 0.002
    return a_faces, b_faces, rng.normal(size=(strangers, 128)) * 0.1


# ---- writes and plain reads -------------------------------------------------------------------
def test_add_of_images_get_embeddings_and_the_batch_transaction(db, faces):
    owner = next(_owners)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3, 128)).astype(np.float32)
    cid = _content(db, owner, height=400)
    boxes = [(120, 10, 180, 90), (5, 20, 50, 60), (60, 0, 100, 200)]  # not left to right
    ids = faces.add(owner, cid, "x", [_face(v, b, s) for v, b, s in zip(vectors, boxes, (0.9, 1.5, 0.7))])
    assert len(ids) == 3 and ids == sorted(ids)
    with psycopg.connect(db.url) as other:  # not committed yet
        assert other.execute("SELECT count(*) FROM faces WHERE owner = %s", (owner,)).fetchone() == (0,)
    db.commit()
    with psycopg.connect(db.url) as other:
        assert other.execute("SELECT count(*) FROM faces WHERE owner = %s", (owner,)).fetchone() == (3,)
    stored = faces.get(owner, [ids[2], ids[0], 10**30, ids[0]])  # given order; unknown ids dropped
    assert [f.id for f in stored] == [ids[2], ids[0], ids[0]]
    assert (stored[1].box, stored[1].score, stored[1].person_id) == (boxes[0], 0.9, None)
    assert (stored[1].content_id, stored[1].image_width, stored[1].image_height) == (cid, 200, 400)
    assert stored[0].prominence == 0.5
    left_to_right = faces.of_images(owner, [cid, cid + 10**6])
    assert [f.box for f in left_to_right[cid]] == sorted(boxes) and left_to_right[cid + 10**6] == []
    got = faces.embeddings(owner, np.array([ids[2], ids[0], ids[2]]))
    assert got.dtype == np.float32 and got.shape == (3, 128)
    assert np.array_equal(got, vectors[[2, 0, 2]])  # bit for bit through the text form
    assert faces.embeddings(owner, []).shape == (0, 128)
    with pytest.raises(KeyError):
        faces.embeddings(owner, [ids[0], 10**15])
    assert db.execute("SELECT face_count FROM contents WHERE id = %s", (cid,)).fetchone() == (3,)
    empty = _content(db, owner)
    assert faces.add(owner, empty, "y", []) == []
    db.commit()
    assert db.execute("SELECT face_count FROM contents WHERE id = %s", (empty,)).fetchone() == (0,)
    assert faces.count(owner) == 3 and faces.count() >= 3
    ids_now = faces.owner_face_ids(owner)
    assert ids_now.dtype == np.int64 and ids_now.tolist() == ids
    assert faces.owner_face_ids(owner, ungrouped_only=True).tolist() == ids
    with pytest.raises(ValueError, match="128"):
        vector_literal(np.zeros(64, np.float32))


def test_a_face_counts_while_a_file_of_its_owner_holds_its_image(db, faces):
    owner = next(_owners)
    rng = np.random.default_rng(1)
    a, _, _ = _people_vectors(rng, 3, 0)
    live = _one_face_images(db, faces, owner, a[:2])
    (dead,) = _one_face_images(db, faces, owner, a[2:], live=False)
    person = faces.create_person(owner, "Ann")
    faces.assign(owner, [*live, dead], person, "auto")
    db.commit()
    assert [f.id for f in faces.get(owner, [*live, dead])] == live
    assert [f.id for f in faces.get(owner, [*live, dead], live_only=False)] == [*live, dead]
    assert faces.owner_face_ids(owner).tolist() == live
    ids, _ = faces.nearest(owner, a[2], 10)
    assert sorted(ids.tolist()) == sorted(live) and dead not in ids
    assert set(faces.presence(owner)) == {f.content_id for f in faces.get(owner, live)}
    (ann,) = faces.people(owner)
    assert (ann.faces, ann.images) == (2, 2) and ann.cover_face_id in live
    assert faces.count(owner) == 3  # count is of records, live or not (as in SQLite)
    # a person whose faces are all in images no file holds any more is hidden, kept, without cover
    (lonely,) = _one_face_images(db, faces, owner, [a[0]], live=False)
    gone = faces.create_person(owner)
    faces.assign(owner, [lonely], gone, "auto")
    db.commit()
    assert [p.id for p in faces.people(owner)] == [person]
    assert faces.person(owner, gone) == Person(gone, None, 0, 0, None)


def test_every_read_and_write_is_per_owner(db, faces):
    alice, bob = next(_owners), next(_owners)
    rng = np.random.default_rng(2)
    a, _, _ = _people_vectors(rng, 4, 0)
    alices = _one_face_images(db, faces, alice, a[:2])
    bobs = _one_face_images(db, faces, bob, a[2:])
    bob_person = faces.create_person(bob, "Bob's")
    faces.assign(bob, bobs, bob_person, "auto")
    alice_person = faces.create_person(alice)
    faces.assign(alice, alices, alice_person, "auto")
    db.commit()
    assert sorted(faces.nearest(alice, a[3], 10)[0].tolist()) == sorted(alices)
    assert sorted(faces.nearest(bob, a[0], 10)[0].tolist()) == sorted(bobs)
    assert faces.get(alice, bobs) == [] and faces.get(alice, bobs, live_only=False) == []
    bob_images = [f.content_id for f in faces.get(bob, bobs)]
    assert faces.of_images(alice, bob_images) == {c: [] for c in bob_images}
    assert set(faces.presence(alice)) == {f.content_id for f in faces.get(alice, alices)}
    assert faces.presence(alice, [bob_person]) == {} and faces.presence(alice, content_ids=bob_images) == {}
    assert [p.id for p in faces.people(alice)] == [alice_person] and faces.names(alice) == {}
    assert faces.person(alice, bob_person) is None and faces.people(alice, bob_person) == []
    assert faces.rename(alice, bob_person, "mine now") is False
    assert faces.assign(alice, bobs, None, "user") == 0
    faces.merge(alice, alice_person, [bob_person])  # another user's person is no one here
    with pytest.raises(KeyError):
        faces.merge(alice, bob_person, [alice_person])
    db.commit()
    bobs_person = faces.person(bob, bob_person)
    assert bobs_person is not None and (bobs_person.name, bobs_person.faces, bobs_person.images) == ("Bob's", 2, 2)
    assert faces.names(bob) == {bob_person: "Bob's"} and faces.owner_face_ids(alice).tolist() == alices
    assert faces.count(alice) == 2 and faces.count(bob) == 2


def test_a_reanalysed_face_keeps_its_person_by_overlap(db, faces):
    owner = next(_owners)
    rng = np.random.default_rng(3)
    v = rng.normal(size=(4, 128)) * 0.1
    old = _content(db, owner, sha="same-bytes", analyzer="v1")
    grouped, removed, never = faces.add(
        owner, old, "same-bytes", [_face(v[0], (0, 0, 100, 100)), _face(v[1], (200, 0, 300, 100)),
                                   _face(v[2], (400, 0, 500, 100))],
    )
    person = faces.create_person(owner, "Kept")
    faces.assign(owner, [grouped], person, "auto")
    faces.assign(owner, [removed], None, "user")  # taken out of every person for good
    db.commit()
    # another analyzer version of the same bytes: boxes moved a little, one new face
    new = _content(db, owner, sha="same-bytes", analyzer="v2")
    a, b, c, d = faces.add(
        owner, new, "same-bytes",
        [_face(v[0], (5, 5, 105, 105)), _face(v[1], (210, 0, 310, 100)), _face(v[2], (400, 0, 500, 100)),
         _face(v[3], (600, 0, 700, 100))],
    )
    other = _content(db, owner, sha="other-bytes")  # the same box in other bytes takes nothing
    (e,) = faces.add(owner, other, "other-bytes", [_face(v[0], (0, 0, 100, 100))])
    db.commit()
    got = {f.id: f.person_id for f in faces.get(owner, [a, b, c, d, e])}
    assert got == {a: person, b: None, c: None, d: None, e: None}
    # a and b were carried over (grouped, and removed by the user): the clustering skips them
    assert set(faces.owner_face_ids(owner, ungrouped_only=True).tolist()) == {never, c, d, e}
    # a carried-over face whose IoU is below 0.5 does not count
    third = _content(db, owner, sha="same-bytes", analyzer="v3")
    (f,) = faces.add(owner, third, "same-bytes", [_face(v[0], (50, 50, 150, 150))])  # IoU 1/7
    db.commit()
    assert faces.get(owner, [f])[0].person_id is None


def test_assign_rename_merge_and_the_order_of_people(db, faces):
    owner = next(_owners)
    rng = np.random.default_rng(4)
    vectors = rng.normal(size=(9, 128)) * 0.1
    ids = []
    for i, vector in enumerate(vectors):  # face heights 10..90: the tallest clear face is the cover
        ids += faces.add(owner, _content(db, owner), "x", [_face(vector, (0, 0, 10, 10 * (i + 1)), 1.0)])
    p1, p2, p3, p4 = (faces.create_person(owner) for _ in range(4))
    assert faces.assign(owner, ids[0:2], p1, "auto") == 2
    assert faces.assign(owner, ids[2:5], p2, "auto") == 3
    assert faces.assign(owner, ids[5:6], p3, "auto") == 1
    assert faces.assign(owner, ids[6:8], p4, "auto") == 2
    with pytest.raises(ValueError, match="assigned_by"):
        faces.assign(owner, ids, p1, "robot")
    assert faces.rename(owner, p3, "Zed") and faces.rename(owner, p4, "Amy")
    db.commit()
    # named first, then by face count (not by name), then by id
    assert [p.id for p in faces.people(owner)] == [p4, p3, p2, p1]
    assert faces.person(owner, p2) == Person(p2, None, 3, 3, ids[4])
    assert faces.names(owner) == {p3: "Zed", p4: "Amy"}
    # "auto" leaves an emptied person alone; "user" (a correction) drops it
    assert faces.assign(owner, ids[5:6], None, "auto") == 1
    assert faces.person(owner, p3) is not None and faces.people(owner, p3) == []
    assert faces.people(owner, p3, include_empty=True)[0].faces == 0
    assert faces.assign(owner, ids[0:2], None, "user") == 2
    assert faces.person(owner, p1) is None and faces.person(owner, p3) is None  # every empty one goes
    assert set(faces.owner_face_ids(owner, ungrouped_only=True).tolist()) == {ids[8]}  # "user" counts as grouped
    # merge: the faces move (as corrections), an unnamed target takes the first name among the others
    faces.merge(owner, p2, [p2, p4])
    db.commit()
    merged = faces.person(owner, p2)
    assert (merged.name, merged.faces, faces.person(owner, p4)) == ("Amy", 5, None)
    assert {f.person_id for f in faces.get(owner, ids[2:8])} == {p2, None}
    assert db.execute(
        "SELECT DISTINCT assigned_by FROM faces WHERE owner = %s AND id = ANY(%s)", (owner, ids[6:8])
    ).fetchall() == [("user",)]
    named = faces.create_person(owner, "Named")
    faces.assign(owner, ids[8:9], named, "user")
    faces.merge(owner, named, [p2])  # a named target keeps its name
    db.commit()
    assert faces.person(owner, named).name == "Named" and faces.person(owner, named).faces == 6
    with pytest.raises(KeyError):
        faces.merge(owner, p1, [named])
    faces.merge(owner, named, [])  # nothing to merge: nothing happens
    assert faces.rename(owner, named, None) and faces.person(owner, named).name is None


def test_presence(db, faces):
    owner = next(_owners)
    rng = np.random.default_rng(5)
    v = rng.normal(size=(5, 128)) * 0.1
    tall, short, two, other = (_content(db, owner, height=h) for h in (100, 400, 200, 100))
    faces.add(owner, tall, "a", [_face(v[0], (0, 0, 50, 80))])  # 0.8
    faces.add(owner, short, "b", [_face(v[1], (0, 0, 50, 40))])  # 0.1
    f2 = faces.add(owner, two, "c", [_face(v[2], (0, 0, 50, 60)), _face(v[3], (60, 0, 90, 100))])  # 0.3, 0.5
    (f3,) = faces.add(owner, other, "d", [_face(v[4], (0, 0, 50, 50))])  # 0.5
    person = faces.create_person(owner)
    faces.assign(owner, [f2[0], f3], person, "auto")
    db.commit()
    assert list(faces.presence(owner).items()) == [(tall, 0.8), (two, 0.5), (other, 0.5), (short, 0.1)]
    assert list(faces.presence(owner, [person]).items()) == [(other, 0.5), (two, 0.3)]  # only the person's face
    assert faces.presence(owner, limit=2) == {tall: 0.8, two: 0.5}
    assert faces.presence(owner, content_ids=[short, two]) == {two: 0.5, short: 0.1}
    assert faces.presence(owner, content_ids=[]) == {} and faces.presence(owner, []) == {}


def test_bytes_on_disk_and_no_op_index_maintenance(faces):
    sizes = faces.bytes_on_disk()
    assert set(sizes) == {"faces: records and embeddings", "faces: ANN graph", "people"}
    assert all(isinstance(n, int) and n > 0 for n in sizes.values())
    faces.sync()
    assert faces.catch_up() is False
    faces.rebuild()
    faces.reopen_index()


# ---- nearest faces --------------------------------------------------------------------------
def _exact(vectors: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    distances = np.linalg.norm(vectors - query, axis=1)
    order = np.lexsort((ids, distances))[:k]
    return ids[order], distances[order]


def test_nearest_small_owner_is_exact(db, faces):
    owner = next(_owners)
    rng = np.random.default_rng(6)
    vectors = (rng.normal(size=(300, 128)) * 0.1).astype(np.float32)
    ids = np.array(_one_face_images(db, faces, owner, vectors))
    for query in rng.normal(size=(5, 128)).astype(np.float32) * 0.1:
        got_ids, got_distances = faces.nearest(owner, query, 12)
        want_ids, want_distances = _exact(vectors, ids, query, 12)
        assert got_ids.dtype == np.int64 and got_distances.dtype == np.float32
        assert got_ids.tolist() == want_ids.tolist()
        assert np.allclose(got_distances, want_distances, atol=1e-5)
    assert faces.nearest(next(_owners), vectors[0], 5)[0].size == 0  # an owner without faces
    assert faces.nearest(owner, vectors[0], 0)[0].size == 0


@pytest.fixture()
def crowded(new_database) -> Iterator[tuple[Database, np.ndarray, np.ndarray, np.ndarray]]:
    """20 000 faces of 400 "people" (tight clusters) in one table; owner 2 holds ~1 % of them,
    scattered among everyone else's, and a few of those are in images no file holds."""
    db = Database(new_database("faces_hnsw"))
    ensure_schema(db)
    rng = np.random.default_rng(7)
    n = 20_000
    centres = rng.normal(size=(400, 128)) * 0.1
    vectors = (centres[rng.integers(0, 400, n)] + rng.normal(size=(n, 128)) * 0.03).astype(np.float32)
    owners = np.where(rng.random(n) < 0.01, 2, 1)
    dead = (owners == 2) & (rng.random(n) < 0.1)
    contents = {(1, True): _content(db, 1), (2, True): _content(db, 2), (2, False): _content(db, 2, live=False)}
    # Bulk load: the graph is built once afterwards (same index as the schema's), much faster than
    # 20 000 single inserts into a live graph.
    db.execute("DROP INDEX faces_embedding")
    # Binary COPY, each vector in pgvector's binary form (int16 dim, int16 0, big-endian float4s),
    # passed through as bytes: formatting 20 000 text vectors would take longer than the graph.
    rows = np.zeros(n, dtype=[("dim", ">u2"), ("unused", ">u2"), ("values", ">f4", 128)])
    rows["dim"], rows["values"] = 128, vectors
    sql = "COPY faces (owner, content_id, x0, y0, x1, y1, score, embedding) FROM STDIN (FORMAT BINARY)"
    with db.conn.cursor().copy(sql) as copy:
        copy.set_types(["int8", "int8", "int4", "int4", "int4", "int4", "float4", "bytea"])
        for i in range(n):
            owner = int(owners[i])
            copy.write_row((owner, contents[owner, not dead[i]], 0, 0, 10, 10, 1.0, rows[i].tobytes()))
    db.execute("CREATE INDEX faces_embedding ON faces USING hnsw (embedding vector_l2_ops)")
    db.execute("ANALYZE")
    ids = np.array([r[0] for r in db.execute("SELECT id FROM faces ORDER BY id").fetchall()], dtype=np.int64)
    yield db, ids[(owners == 2) & ~dead], vectors[(owners == 2) & ~dead], vectors
    db.close()


def test_nearest_for_a_small_owner_in_a_big_graph_uses_iterative_hnsw(crowded, monkeypatch):
    db, mine, my_vectors, everyone = crowded
    faces = PostgresFaces(db)
    monkeypatch.setattr(pg_faces, "EXACT_BELOW", 50)  # the owner's ~200 faces: through the graph
    graph_answers: list[int] = []
    hnsw = PostgresFaces._hnsw

    def spy(self, params):
        rows = hnsw(self, params)
        graph_answers.append(len(rows))
        return rows

    monkeypatch.setattr(PostgresFaces, "_hnsw", spy)
    rng = np.random.default_rng(8)
    queries = everyone[rng.integers(0, len(everyone), 30)] + rng.normal(size=(30, 128)).astype(np.float32) * 0.01
    recalls = []
    for query in queries:
        ids, distances = faces.nearest(2, query, 10)
        want, _ = _exact(my_vectors, mine, query, 10)
        recalls.append(len(set(ids.tolist()) & set(want.tolist())) / 10)
        assert set(ids.tolist()) <= set(mine.tolist())  # the owner's live faces only
        assert np.all(np.diff(distances) >= 0)  # re-sorted by exact distance
    assert graph_answers == [10] * len(queries)  # the graph answered every query in full
    assert np.array_equal(faces.embeddings(2, mine[:3]), my_vectors[:3])
    assert np.mean(recalls) >= 0.9, recalls
    # without iterative scans, the same graph search starves: most of its candidates are others'
    db.begin()
    db.execute("SET LOCAL enable_sort = off")  # the graph, not the owner's btree + a sort
    plain = [
        db.execute(
            "SELECT count(*) FROM (SELECT id FROM faces WHERE owner = 2 ORDER BY embedding <-> %s::vector LIMIT 10) t",
            (vector_literal(query),),
        ).fetchone()[0]
        for query in queries
    ]
    db.rollback()
    assert np.mean(plain) < 5, plain
    # inside the store's open batch: it sees the batch's rows, and its settings do not leak
    db.begin()
    cid = _content(db, 2)
    (new,) = faces.add(2, cid, "new", [_face(queries[1])])
    ids, distances = faces.nearest(2, queries[1], 10)
    assert ids[0] == new and distances[0] == 0
    assert db.execute("SHOW enable_sort").fetchone() == ("on",)
    assert db.execute("SHOW hnsw.iterative_scan").fetchone() == ("off",)
    db.rollback()


# ---- pixseek.pipeline.people on this store --------------------------------------------------------------
def test_clustering_and_corrections_on_postgres(db):
    owner = next(_owners)
    store = StandIn(db)
    rng = np.random.default_rng(9)
    a, b, strangers = _people_vectors(rng, 5, 3)
    a_ids = _one_face_images(db, store.faces, owner, a[:4])
    b_ids = _one_face_images(db, store.faces, owner, b)
    stranger_ids = _one_face_images(db, store.faces, owner, strangers)
    report = cluster_faces(store, owner)
    assert (report.looked_at, report.new_people, report.in_new_people, report.waiting) == (12, 2, 9, 3)
    people = store.faces.people(owner)
    assert sorted(p.faces for p in people) == [4, 5]
    of = {f.id: f.person_id for f in store.faces.get(owner, [*a_ids, *b_ids, *stranger_ids])}
    alice, bert = of[a_ids[0]], of[b_ids[0]]
    assert {of[i] for i in a_ids} == {alice} and {of[i] for i in b_ids} == {bert} and alice != bert
    assert {of[i] for i in stranger_ids} == {None}
    # corrections, through pixseek.pipeline.people
    assert name_person(store, owner, alice, "  Alice ").name == "Alice"
    split = split_person(store, owner, bert, b_ids[:1])
    assert split.new_person.faces == 1 and split.person.faces == 4
    with pytest.raises(CorrectionError, match="not faces of person"):
        split_person(store, owner, bert, a_ids[:1])
    remove_faces(store, owner, bert, b_ids[1:2])
    # a new photo of each: joins the existing people; corrected faces stay as the user left them
    new_a = _one_face_images(db, store.faces, owner, a[4:])
    new_b = _one_face_images(db, store.faces, owner, b[:1] + 0.001)
    report = cluster_faces(store, owner)
    assert (report.looked_at, report.joined, report.new_people) == (5, 2, 0)
    of = {f.id: f.person_id for f in store.faces.get(owner, [*new_a, *new_b, *b_ids[:2]])}
    assert of[new_a[0]] == alice and of[new_b[0]] == bert
    assert of[b_ids[0]] == split.new_person.id and of[b_ids[1]] is None
    merged = merge_people(store, owner, alice, [split.new_person.id])
    assert merged.person.faces == 6 and merged.person.name == "Alice"
    assert cluster_faces(store, owner).looked_at == 3  # only the strangers are still waiting


def test_a_burst_of_near_identical_faces_is_one_person(db):
    """More copies of one face than a neighbour list holds make one person; a far-away face waits."""
    owner = next(_owners)
    store = StandIn(db)
    rng = np.random.default_rng(3)
    centre, stranger = rng.normal(size=128) * 0.1, rng.normal(size=128) * 0.1 + 1.0
    burst = [stranger] + [centre + rng.normal(size=128) * 0.002 for _ in range(3 * NEIGHBOURS)]
    _one_face_images(db, store.faces, owner, burst)
    report = cluster_faces(store, owner)
    assert (report.new_people, report.in_new_people, report.waiting) == (1, 3 * NEIGHBOURS, 1)
    assert [p.faces for p in store.faces.people(owner)] == [3 * NEIGHBOURS]
