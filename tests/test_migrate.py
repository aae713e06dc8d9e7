"""Moving a library: embedded → PostgreSQL → embedded, nothing analysed again, nothing lost."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from pixseek.store.migrate import MigrationError, migrate
from pixseek.records import Analysis, Face, FileState, ImageMeta, TextLine
from pixseek.search.engine import SearchEngine
from pixseek.service.public_ids import PublicIds
from pixseek.store import DEFAULT_OWNER, EmbeddedStore, open_store
from pixseek.store.sparse import top_k

ANALYZER = "test+faces+ocr"
QUERIES = ("cat", "dog", "espresso", "invoice 2023", '"total due"', "people")


def _library(store) -> int:
    """A small library: two users, faces grouped and corrected, text, a token, a folder, jobs,
    an analysis no file holds any more."""
    rng = np.random.default_rng(3)
    alice = store.accounts.add_user("alice", "scrypt$hash")
    store.accounts.add_token(alice.id, "token-hash-1", "phone")
    store.accounts.attach_folder(alice.id, "/srv/alice")
    person_vectors = [rng.standard_normal(128).astype(np.float32) for _ in range(2)]
    for n in range(24):
        owner = alice.id if n % 3 == 0 else DEFAULT_OWNER
        probs = rng.dirichlet(np.full(1000, 0.05)).astype(np.float32) * 0.2
        probs[(281, 207, 967)[n % 3]] += 0.8
        faces = [
            Face((10 + 5 * k, 10, 60 + 5 * k, 60), 1.0, person_vectors[k] + rng.normal(0, 0.01, 128).astype(np.float32))
            for k in range(n % 3)
        ] if n % 4 else None
        texts = [TextLine("INVOICE 2023", 0.97, (5, 5, 200, 40)), TextLine("Total due: 12.00", 0.95, (5, 50, 200, 80))]
        analysis = Analysis(
            ImageMeta(800, 600, "JPEG", taken_at=f"2022-05-{n + 1:02d}T09:00:00" if n % 5 else None),
            top_k(probs), rng.random(1280).astype(np.float32), faces=faces, texts=texts if n % 6 == 0 else None,
        )
        cid = store.add_content(owner, f"sha{n}", ANALYZER, analysis)
        if n != 23:  # the last one is an analysis no file holds any more
            store.put_file(owner, FileState(f"/lib/{owner}/{n}.jpg", 100 + n, n), cid)
    store.commit()
    ids = store.faces.owner_face_ids(DEFAULT_OWNER)
    by_person: dict[int, list[int]] = {}
    for face_id, _, _, _ in store.faces.assignments(DEFAULT_OWNER):
        by_person.setdefault(face_id % 2, []).append(face_id)
    grace = store.faces.create_person(DEFAULT_OWNER, "Grace Hopper")
    store.faces.assign(DEFAULT_OWNER, by_person[0], grace, "user")
    other = store.faces.create_person(DEFAULT_OWNER)
    store.faces.assign(DEFAULT_OWNER, by_person[1][:-1], other, "auto")
    store.faces.assign(DEFAULT_OWNER, by_person[1][-1:], None, "user")  # "not this person"
    job = store.accounts.add_job(alice.id, "upload.jpg", "/uploads/x/upload.jpg")
    done_content = store.content_of_path(alice.id, "/lib/%d/0.jpg" % alice.id)
    store.accounts.update_job(job.owner, job.id, "done", None, done_content)
    store.accounts.add_job(DEFAULT_OWNER, "broken.jpg", "/uploads/y/broken.jpg", "failed", "not an image")
    store.commit()
    store.refresh_indexes()
    assert len(ids)
    return alice.id


def _snapshot(store, concepts) -> dict:
    """What a user of the library sees, with ids taken out (they are the target's own)."""
    engine = SearchEngine(store, concepts)
    out: dict = {}
    for user in store.accounts.users():
        owner = user.id
        files = store.indexed_files(owner)
        people = store.faces.people(owner, include_empty=True)
        out[user.name] = {
            "password": store.accounts.password_hash(owner),
            "files": sorted((p, f.size, f.mtime_ns, f.sha256, f.analyzer) for p, f in files.items()),
            "contents": store.count_images(owner),
            "search": {q: _hits(engine, owner, q) for q in QUERIES},
            "people": sorted((p.name or "", p.faces, p.images) for p in people),
            "assigned": sorted(by or "-" for _, _, _, by in store.faces.assignments(owner)),
            "jobs": [(j.name, j.status, j.error, j.content_id is not None) for j in store.accounts.jobs(owner)],
            "folders": [p for _, p in store.accounts.folders(owner)],
            "text": sorted(
                (path, tuple(t.text for t in store.texts.lines(owner, f.content_id) or []))
                for path, f in files.items()
            ),
        }
    out["tokens"] = [(h, label) for h, _, label, _ in store.accounts.tokens()]
    return out


def _hits(engine: SearchEngine, owner: int, query: str) -> list[tuple[str, float]]:
    try:
        return [(h.path, round(h.score, 3)) for h in engine.search(owner, query, limit=10).hits]
    except Exception as exc:  # a query this user's library cannot answer: the same message both ways
        return [(type(exc).__name__, str(exc))]


@pytest.fixture()
def database(new_database) -> str:
    return new_database("migrate")


def test_round_trip_through_postgresql(tmp_path, database, concepts):
    original = EmbeddedStore(tmp_path / "original")
    _library(original)
    before = _snapshot(original, concepts)
    postgres = open_store(database)
    report = migrate(original, postgres)
    assert (report.users, report.tokens, report.folders, report.contents, report.files, report.jobs) == (
        2, 1, 1, 24, 23, 2)
    assert _snapshot(postgres, concepts) == before
    back = EmbeddedStore(tmp_path / "back")
    migrate(postgres, back)
    assert _snapshot(back, concepts) == before
    # Faces keep their vectors: the same person is found again on the other side.
    vector = next(iter(original.export_contents(DEFAULT_OWNER)))[3]
    for store in (original, postgres, back):
        assert store.faces.count(DEFAULT_OWNER) == original.faces.count(DEFAULT_OWNER)
    assert vector is not None
    for store in (original, postgres, back):
        store.close()


def _public_view(store) -> dict:
    """Every id the HTTP API shows (service/public_ids.py), by what it names."""
    ids = PublicIds(store.accounts.public_id_secret())
    view: dict = {}
    for user in store.accounts.users():
        files = store.indexed_files(user.id)
        faces = store.faces.of_images(user.id, sorted({f.content_id for f in files.values()}))
        view[user.name] = {
            "images": {path: ids.encode("image", f.content_id) for path, f in files.items()},
            "faces": sorted(
                (path, face.box, ids.encode("face", face.id), ids.encode_optional("person", face.person_id))
                for path, f in files.items() for face in faces[f.content_id]
            ),
            "people": sorted((p.name or "", p.faces, ids.encode("person", p.id)) for p in store.faces.people(user.id, include_empty=True)),
            "jobs": [(j.name, ids.encode("job", j.id), ids.encode_optional("image", j.content_id)) for j in store.accounts.jobs(user.id)],
        }
    return view


def test_public_ids_survive_a_migration(tmp_path, database):
    """Links into the web UI and API clients' ids keep working after `pixseek migrate`, both ways,
    though the two users' records were made interleaved; new records then get ids of their own."""
    original = EmbeddedStore(tmp_path / "original")
    alice = _library(original)
    before = _public_view(original)
    assert before["alice"]["images"] and before["default"]["faces"] and before["default"]["people"]
    postgres = open_store(database)
    migrate(original, postgres)
    assert _public_view(postgres) == before
    back = EmbeddedStore(tmp_path / "back")
    migrate(postgres, back)
    assert _public_view(back) == before
    for store in (postgres, back):
        taken = {
            "content": {f.content_id for user in store.accounts.users() for f in store.indexed_files(user.id).values()},
            "face": set(store.faces.owner_face_ids(DEFAULT_OWNER).tolist()) | set(store.faces.owner_face_ids(alice).tolist()),
            "person": {p.id for owner in (DEFAULT_OWNER, alice) for p in store.faces.people(owner, include_empty=True)},
            "job": {j.id for j in store.accounts.jobs()},
        }
        analysis = next(a for _, _, _, a in original.export_contents(DEFAULT_OWNER) if a.faces)
        new_content = store.add_content(alice, "sha-new", ANALYZER, analysis)
        new_faces = {f for f, c, _, _ in store.faces.assignments(alice) if c == new_content}
        assert new_content > max(taken["content"]) and len(new_faces) == len(analysis.faces)
        assert not new_faces & taken["face"]
        assert store.faces.create_person(alice) not in taken["person"]
        assert store.accounts.add_job(alice, "new.jpg", "/x/new.jpg").id not in taken["job"]
        store.commit()
    for store in (original, postgres, back):
        store.close()


def test_target_must_be_empty(tmp_path, database):
    source = EmbeddedStore(tmp_path / "a")
    _library(source)
    target = open_store(database)
    migrate(source, target)
    with pytest.raises(MigrationError, match="empty"):
        migrate(source, target)
    source.close()
    target.close()


def test_cli_migrate(tmp_path, database, pixseek_env):
    source = EmbeddedStore(tmp_path / "lib")
    _library(source)
    source.close()
    run = subprocess.run(
        [sys.executable, "-m", "pixseek.cli", "migrate", "--from", str(tmp_path / "lib"), "--to", database, "--json"],
        env=pixseek_env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["contents"] == 24
    again = subprocess.run(
        [sys.executable, "-m", "pixseek.cli", "migrate", "--from", str(tmp_path / "lib"), "--to", database],
        env=pixseek_env, capture_output=True, text=True, timeout=300,
    )
    assert again.returncode == 1 and "empty" in again.stderr
