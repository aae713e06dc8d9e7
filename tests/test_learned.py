"""Learned concepts (issue 16): the joint image-word space (`pixseek learn`), taught concepts
(`pixseek teach`, `pixseek concepts`), on real pictures (Fashion-MNIST from the demo gallery),
both stores, isolation between users, migrate, and the stale-model messages."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pixseek.demo.samples import write_demo_gallery

PER_CLASS = 8
TAUGHT = "ankle boot"  # the Fashion-MNIST class the tests teach as "boots"


def _slug(name: str) -> str:
    return name.lower().replace("/", " ").replace("-", " ").replace(" ", "_")


@pytest.fixture(scope="session")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[Path]]]:
    """A folder of labelled sub-folders (one per Fashion-MNIST class, real pictures), and the
    files of each class."""
    gallery = tmp_path_factory.mktemp("learn-gallery")
    images = [im for im in write_demo_gallery(gallery, fashion_per_class=PER_CLASS) if im.source.startswith("fashion")]
    root = tmp_path_factory.mktemp("labelled")
    by_class: dict[str, list[Path]] = {}
    for im in images:
        target = root / "clothes" / _slug(im.category) / Path(im.path).name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(im.path, target)
        by_class.setdefault(im.category.lower(), []).append(target)
    return root, by_class


@pytest.fixture(scope="session")
def env(model_dir: Path, cache_dir: Path) -> dict[str, str]:
    import os

    return {**os.environ, "PIXSEEK_MODEL_DIR": str(model_dir), "PIXSEEK_CACHE_DIR": str(cache_dir),
            "HF_HUB_OFFLINE": "1", "OPENBLAS_NUM_THREADS": "1"}


def _cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "pixseek.cli", *args], env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert done.returncode == 0, done.stderr + done.stdout
    return done


@pytest.fixture(scope="session")
def learnt_home(tmp_path_factory: pytest.TempPathFactory, labelled, env, concepts) -> Path:
    """A library that indexed the labelled folder and learnt its joint space (the real CLI)."""
    home = tmp_path_factory.mktemp("learnt")
    root, _ = labelled
    done = _cli(env, "--db", str(home), "learn", str(root), "--holdout", "0.25", "--json")
    figures = json.loads(done.stdout)
    assert figures["pictures"] == 10 * PER_CLASS
    assert figures["heldout_queries"] >= 10 and figures["heldout_p10"] > 0.5, figures  # a split it never saw
    return home


def _search(env, home: Path, query: str, *extra: str) -> list[dict]:
    done = _cli(env, "--db", str(home), *extra, "search", query, "--json", "-n", "8")
    return json.loads(done.stdout)["results"]


def test_learnt_space_finds_a_label_by_its_word_and_says_why(learnt_home, labelled, env):
    _, by_class = labelled
    hits = _search(env, learnt_home, "trouser")
    trousers = {str(p) for p in by_class["trouser"]}
    assert sum(h["path"] in trousers for h in hits[:PER_CLASS]) >= PER_CLASS - 2
    assert any(w.startswith("learned: trouser") for h in hits for w in h["why"]), hits


def test_teach_search_not_this_concepts(learnt_home, labelled, env):
    _, by_class = labelled
    boots = by_class[TAUGHT]
    done = _cli(env, "--db", str(learnt_home), "teach", "rex", *map(str, boots[:4]))
    assert "rex: 4 examples" in done.stdout
    hits = _search(env, learnt_home, "rex")
    wanted = {str(p) for p in boots}
    assert [h["path"] in wanted for h in hits[:4]] == [True] * 4, hits
    assert all(any(w.startswith("concept: rex") for w in h["why"]) for h in hits[:4])
    # Relevance feedback: a boot marked "not this" is no longer found, at once; the examples are.
    wrong = boots[5]
    assert str(wrong) in {h["path"] for h in hits}, hits  # a boot: the concept found it before
    _cli(env, "--db", str(learnt_home), "teach", "rex", "--not", str(wrong), str(boots[4]))
    after = {h["path"] for h in _search(env, learnt_home, "rex")}
    assert str(wrong) not in after and {str(p) for p in boots[:5]} <= after, after
    # Tags: the concept names a picture it accepts, neither the marked boot nor a trouser; the
    # learnt space's nearest words are there too.
    def tags_of(picture: Path) -> dict[str, str]:
        done = _cli(env, "--db", str(learnt_home), "tags", str(picture), "--json")
        return {t["tag"]: t["kind"] for t in json.loads(done.stdout)}

    assert tags_of(boots[0]).get("rex") == "taught"
    assert "rex" not in tags_of(wrong)
    trouser = tags_of(by_class["trouser"][0])
    assert "rex" not in trouser and trouser.get("trouser") == "learned", trouser
    shown = json.loads(_cli(env, "--db", str(learnt_home), "concepts", "show", "rex", "--json").stdout)
    assert shown["examples"] == 5 and shown["not_this"] == 1 and not shown["stale"]
    listed = json.loads(_cli(env, "--db", str(learnt_home), "concepts", "list", "--json").stdout)
    assert [c["name"] for c in listed] == ["rex"]
    # Combined with another word: both must hold.
    _search(env, learnt_home, "rex trouser")  # an AND of two kinds of evidence runs (_cli checks the exit)
    # Bad input: a clear error, exit 2.
    bad = _cli(env, "--db", str(learnt_home), "teach", "two words", str(boots[0]), check=False)
    assert bad.returncode == 2 and "one word" in bad.stderr
    _cli(env, "--db", str(learnt_home), "concepts", "forget", "rex")
    gone = _cli(env, "--db", str(learnt_home), "search", "rex", check=False)
    assert gone.returncode != 0 or "concept: rex" not in gone.stdout


def test_a_learnt_people_label_answers_people_without_faces(tmp_path, labelled, env):
    """"people" is answered by faces and, for pictures whose people have no face a detector finds
    (drawings, clip art), by the joint space: a head that learnt a "people" folder finds it."""
    _, by_class = labelled
    root = tmp_path / "labelled"
    for folder, category in (("people", "dress"), ("trouser", "trouser"), ("bag", "bag")):
        (root / folder).mkdir(parents=True)
        for path in by_class[category]:
            shutil.copy(path, root / folder / path.name)
    home = tmp_path / "home"
    _cli(env, "--db", str(home), "learn", str(root), "--json")
    people = {str(root / "people" / p.name) for p in by_class["dress"]}
    hits = _search(env, home, "people")
    assert sum(h["path"] in people for h in hits[:PER_CLASS]) >= PER_CLASS - 2, hits
    assert any(w.startswith("learned: people") for h in hits for w in h["why"]), hits


@pytest.fixture()
def library_of(tmp_path, model_dir, cache_dir, monkeypatch):
    """A Library over a store (a path or a PostgreSQL URL) with the session's models."""
    monkeypatch.setenv("PIXSEEK_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("PIXSEEK_CACHE_DIR", str(cache_dir))
    opened = []

    def make(store: str | None = None, home: Path | None = None, user: str | None = None):
        from pixseek.library import Library
        from pixseek.pipeline.analysis import AnalysisOptions

        library = Library(home or tmp_path / "home", user=user, options=AnalysisOptions(faces=False, text=False), store=store)
        opened.append(library)
        return library

    yield make
    for library in opened:
        library.close()


def _teach_and_search(library, files: list[Path], owner: int | None = None) -> list:
    ids = [library.store.content_of_path(library.owner if owner is None else owner, str(p)) for p in files]
    library.teacher(owner).teach("rex", ids[:4])
    return library.engine.search(library.owner if owner is None else owner, "rex", limit=6).hits


def _index(library, root: Path, owner: int | None = None) -> None:
    library.indexer(workers=1, owner=owner).index(root)


def test_concepts_on_postgresql_and_migrated_both_ways(library_of, labelled, new_database, tmp_path):
    from pixseek.store.migrate import migrate
    from pixseek.store import open_store

    root, by_class = labelled
    pg = library_of(store=new_database("learned"))
    _index(pg, root / "clothes")
    hits = _teach_and_search(pg, by_class[TAUGHT])
    assert {h.path for h in hits[:4]} <= {str(p) for p in by_class[TAUGHT]}
    assert hits[0].why == [f"concept: rex {hits[0].score:.2f}"] or hits[0].why[0].startswith("concept: rex")
    # PostgreSQL -> embedded: the concept and its examples come along and still answer.
    target = open_store(str(tmp_path / "migrated"))
    report = migrate(pg.store, target)
    target.close()
    assert report.learned == 1
    back = library_of(home=tmp_path / "migrated")
    assert back.store.learned.examples(back.owner, "concept", "rex") == pg.store.learned.examples(pg.owner, "concept", "rex")
    again = back.engine.search(back.owner, "rex", limit=6).hits
    assert [h.path for h in again[:4]] == [h.path for h in hits[:4]]


def test_a_picture_marked_not_this_is_never_the_concepts_however_alike(library_of, labelled, tmp_path):
    """A re-encoded copy of an example looks to the concept like its examples, so the fit alone
    (which weighs a "not this" picture lightly) still scores it high: it is the user's word that
    keeps it out of the concept's results and tags, whatever the scores."""
    from PIL import Image

    root, by_class = labelled
    folder = tmp_path / "pictures"
    for category in (TAUGHT, "bag", "trouser"):
        for path in by_class[category]:
            (folder / _slug(category)).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, folder / _slug(category) / path.name)
    boots = sorted((folder / _slug(TAUGHT)).iterdir())
    copy = folder / "copy-of-a-boot.jpg"
    Image.open(boots[0]).convert("RGB").save(copy, quality=90)  # other bytes, the same picture
    library = library_of()
    _index(library, folder)
    owner = library.owner
    content = {p: library.store.content_of_path(owner, str(p)) for p in [*boots, copy]}
    teacher = library.teacher()
    teacher.teach("rex", [content[p] for p in boots[:4]])
    found = [h.content_id for h in library.engine.search(owner, "rex", limit=10).hits]
    assert content[copy] in found[:5], found  # as alike as the examples
    assert any(t.name == "rex" and t.kind == "taught" for t in library.engine.tags(owner, content[copy]))
    teacher.not_this("rex", [content[copy]])
    from pixseek.search.evidence.taught import CONCEPT_KIND, concept_pictures
    from pixseek.search.taught import TaughtConcept

    concept = TaughtConcept.from_bytes(library.store.learned.get(owner, CONCEPT_KIND, "rex").model)

    pictures, _ = concept_pictures(library.store, owner, library.class_hierarchy, np.array([content[copy]]), concept)
    assert concept.scores(pictures)[0] > 0.10  # the fit alone would still show it ...
    found = [h.content_id for h in library.engine.search(owner, "rex", limit=10).hits]
    assert content[copy] not in found and {content[p] for p in boots[:4]} <= set(found), found  # ... the user's word does not
    assert not any(t.name == "rex" for t in library.engine.tags(owner, content[copy]))
    assert any(t.name == "rex" for t in library.engine.tags(owner, content[boots[1]]))
    # A picture outside the library is tagged by what it is: the copy, sent as bytes, is the concept's.
    assert any(t.name == "rex" and t.kind == "taught" for t in library.engine.tags(owner, copy.read_bytes()))


def test_concepts_are_per_user(library_of, labelled):
    from pixseek.search.engine import QueryError
    from pixseek.search.taught import ConceptError

    root, by_class = labelled
    library = library_of()
    alice = library.store.accounts.add_user("alice", None).id
    bob = library.store.accounts.add_user("bob", None).id
    _index(library, root / "clothes" / _slug(TAUGHT), owner=alice)
    _index(library, root / "clothes" / "trouser", owner=bob)
    alice_ids = [library.store.content_of_path(alice, str(p)) for p in by_class[TAUGHT]]
    library.teacher(alice).teach("rex", alice_ids[:3])
    assert library.engine.search(alice, "rex").hits
    try:  # bob has no "rex": at most the joint space's reading of the word, over his own pictures
        bobs = library.engine.search(bob, "rex").hits
    except QueryError:
        bobs = []
    assert not any(w.startswith("concept:") for h in bobs for w in h.why)
    assert not {h.content_id for h in bobs} & set(alice_ids)
    assert library.teacher(bob).concepts() == []
    with pytest.raises(ConceptError, match="no image"):  # alice's pictures are not bob's to teach
        library.teacher(bob).teach("rex", alice_ids[:3])


def test_a_new_classifier_invalidates_with_a_message(library_of, labelled, capsys):
    from pixseek.search.engine import QueryError
    from pixseek.search.joint import JointHead, shipped_head
    from pixseek.search.taught import TaughtConcept

    root, by_class = labelled
    library = library_of()
    _index(library, root / "clothes" / _slug(TAUGHT))
    _index(library, root / "clothes" / "trouser")
    ids = [library.store.content_of_path(library.owner, str(p)) for p in by_class[TAUGHT]]
    library.teacher().teach("rex", ids[:3])
    record = library.store.learned.get(library.owner, "concept", "rex")
    old = TaughtConcept.from_bytes(record.model)
    old.trained_on = "effnet-lite0/onnx-0"
    library.store.learned.put(library.owner, "concept", "rex", old.trained_on, old.to_bytes())
    library.store.commit()
    with pytest.raises(QueryError, match=r"taught on embeddings of effnet-lite0/onnx-0.*concepts retrain rex"):
        library.engine.search(library.owner, "rex")
    info = library.teacher().retrain("rex")  # from the kept examples, on the current embeddings
    assert not info.stale and library.engine.search(library.owner, "rex").hits
    # A joint head of another classifier is not used (and says so), never silently wrong.
    head = shipped_head()
    assert head is not None
    head.trained_on = "effnet-lite0/onnx-0"
    library.store.learned.put(library.owner, "head", "default", head.trained_on, head.to_bytes())
    library.store.commit()
    assert library.joint_head() is None
    assert "trained on embeddings of effnet-lite0/onnx-0" in capsys.readouterr().err


def test_the_shipped_head_fits_this_classifier():
    """The head shipped in the package was trained on this classifier's embeddings: after a
    change of CLASSIFIER_VERSION this fails until tools/build_devset_head.py is run again."""
    from pixseek.analyzers.classifier import CLASSIFIER_VERSION
    from pixseek.search.joint import JointHead, shipped_head

    head = shipped_head()
    assert head is not None and head.trained_on == CLASSIFIER_VERSION
    assert {"windmill", "trees", "money"} & set(head.labels)
    assert JointHead.from_bytes(head.to_bytes()).labels == head.labels
    provenance = json.loads((Path(__import__("pixseek.search").search.__file__).parent / "data" / "joint-devset-1.json").read_text())
    assert provenance["trained_on"] == CLASSIFIER_VERSION and provenance["heldout_half_p10"] >= 0.35  # never seen


def test_scores_are_in_the_engine_scale():
    from pixseek.search import joint, taught
    from pixseek.search.engine import DEFAULT_THRESHOLD

    assert taught.CALIBRATED_AT == joint.CALIBRATED_AT == DEFAULT_THRESHOLD


def test_names_and_training_on_synthetic_clusters():
    from pixseek.search.joint import train_head
    from pixseek.search.taught import ConceptError, check_name, train_concept

    assert check_name(" Rex ") == "rex" and check_name("my-bike") == "my-bike"
    for bad in ("", "two words", "x" * 41, "<b>", "-dash"):
        with pytest.raises(ConceptError):
            check_name(bad)
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(3, 64)).astype(np.float32) * 3
    points = np.concatenate([c + rng.normal(size=(40, 64)) for c in centres]).astype(np.float32)
    concept = train_concept("a", points[:5], points[:0], points[40:80], points[80:120], "v")
    scores = concept.scores(points)
    assert scores[5:40].min() > scores[40:].max()  # the cluster taught scores above the others
    assert (scores[5:40] >= 0.10).mean() > 0.8 and (scores[40:] >= 0.10).mean() < 0.05
    words = {"red": np.eye(50)[0], "green": np.eye(50)[1], "blue": np.eye(50)[2]}
    labels = [["red"]] * 40 + [["green"]] * 40 + [["blue"]] * 40
    head, training = train_head(points, labels, lambda w: words.get(" ".join(w)), "v", holdout=0.25, checkpoints=(0, 20))
    assert training.heldout_p10 == 1.0
    assert head.scores(points[:40], words["red"]).mean() > head.scores(points[40:], words["red"]).mean()


def test_api_teach_not_this_per_user(tmp_path, labelled, model_dir, cache_dir, monkeypatch):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    from pixseek.library import Library
    from pixseek.pipeline.analysis import AnalysisOptions
    from pixseek.service.app import create_app
    from pixseek.service.auth import hash_password, new_token
    from pixseek.service.public_ids import PublicIds
    from pixseek.service.settings import ServiceSettings

    monkeypatch.setenv("PIXSEEK_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("PIXSEEK_CACHE_DIR", str(cache_dir))
    root, by_class = labelled
    home = tmp_path / "api-home"
    with Library(home, options=AnalysisOptions(faces=False, text=False)) as library:
        alice = library.store.accounts.add_user("alice", hash_password("alice-secret")).id
        bob = library.store.accounts.add_user("bob", None).id
        token, token_hash = new_token()
        library.store.accounts.add_token(bob, token_hash, "tests")
        library.indexer(workers=1, owner=alice).index(root / "clothes" / _slug(TAUGHT))
        library.indexer(workers=1, owner=alice).index(root / "clothes" / "bag")
        library.indexer(workers=1, owner=bob).index(root / "clothes" / "trouser")
        ids = PublicIds(library.store.accounts.public_id_secret())
        boots = [ids.encode("image", library.store.content_of_path(alice, str(p))) for p in by_class[TAUGHT]]
        bags = [ids.encode("image", library.store.content_of_path(alice, str(p))) for p in by_class["bag"]]
        library.store.commit()
    base = "http://127.0.0.1"
    app = create_app(ServiceSettings(home=home, single_user=False))
    with TestClient(app, base_url=base) as client:
        as_alice = TestClient(app, base_url=base, headers={"X-Requested-With": "tests"})
        assert as_alice.post("/api/login", json={"username": "alice", "password": "alice-secret"}).status_code == 200
        as_bob = TestClient(app, base_url=base, headers={"Authorization": f"Bearer {token}"})
        taught = as_alice.post("/api/concepts/rex/examples", json={"images": boots[:4]})
        assert taught.status_code == 200, taught.text
        assert taught.json()["examples"] == 4 and sorted(taught.json()["example_images"]) == sorted(boots[:4])
        found = as_alice.get("/api/search", params={"q": "rex", "limit": 8}).json()["results"]
        assert {r["image"]["id"] for r in found[:4]} <= set(boots)
        assert found[0]["why"][0].startswith("concept: rex")
        # "not this" on a result: trained again at once, the picture drops.
        wrong = found[-1]["image"]["id"]
        marked = as_alice.post("/api/concepts/rex/not-this", json={"images": [wrong]})
        assert marked.status_code == 200 and marked.json()["not_this_images"] == [wrong]
        again = {r["image"]["id"] for r in as_alice.get("/api/search", params={"q": "rex", "limit": 20}).json()["results"]}
        assert wrong not in again, again
        # The image view's tags: the concept on a boot it accepts, not on the marked one.
        def tags_of(image: str) -> dict[str, str]:
            detail = as_alice.get(f"/api/images/{image}")
            assert detail.status_code == 200, detail.text
            return {t["name"]: t["kind"] for t in detail.json()["tags"]}

        assert tags_of(boots[0]).get("rex") == "taught"
        assert "rex" not in tags_of(wrong)
        assert [c["name"] for c in as_alice.get("/api/concepts").json()["concepts"]] == ["rex"]
        # Per user: bob sees no concept of alice's and cannot teach from her pictures.
        assert as_bob.get("/api/concepts").json() == {"concepts": []}
        assert as_bob.get("/api/concepts/rex").status_code == 404
        assert as_bob.post("/api/concepts/rex/examples", json={"images": boots[:2]}).status_code == 404
        assert as_bob.post("/api/concepts/rex/not-this", json={"images": [bags[0]]}).status_code == 404
        # Bad input: 4xx with a reason, never a 500.
        assert as_alice.post("/api/concepts/two%20words/examples", json={"images": boots[:1]}).status_code == 422
        assert as_alice.post("/api/concepts/new/examples", json={"images": []}).status_code == 422  # schema: one at least
        assert as_alice.post("/api/concepts/new/not-this", json={"images": [bags[0]]}).status_code == 404
        assert as_alice.post("/api/concepts/rex/examples", json={"images": ["x"]}).status_code == 422
        assert as_alice.post("/api/concepts/rex/examples", json={"images": [12345]}).status_code == 404
        assert client.get("/api/concepts").status_code == 401
        assert as_alice.delete("/api/concepts/rex").status_code == 204
        assert as_alice.delete("/api/concepts/rex").status_code == 404


def test_class_ancestry_features_and_what_they_teach():
    """A concept whose examples share a WordNet ancestor but not an embedding cluster (five
    different instruments) is learnt from the ancestry block; the sparse features equal the dense
    product; a concept of an older trainer or another hierarchy says it is stale."""
    from pixseek.search.taught import ClassHierarchy, Pictures, TaughtConcept, train_concept

    rng = np.random.default_rng(3)
    classes, synsets = 40, 6
    matrix = np.zeros((classes, synsets), dtype=bool)
    matrix[np.arange(classes), np.arange(classes) // 8 % synsets] = True  # 8 classes under each of 5 synsets
    matrix[:, 5] = np.arange(classes) < 20  # and a broad one over the first 20
    hierarchy = ClassHierarchy.from_matrix(matrix)
    ids = np.stack([rng.permutation(classes + 3)[:4] for _ in range(300)])  # ids from 40 on: no ancestors
    probs = np.sort(rng.uniform(0, 1, size=(300, 4)).astype(np.float32), axis=1)[:, ::-1]
    dense = np.zeros((300, classes + 3), np.float32)
    np.put_along_axis(dense, ids, probs, axis=1)
    assert np.allclose(hierarchy.features(ids, probs), np.sqrt(dense[:, :classes] @ matrix), atol=1e-6)
    weights = rng.normal(size=synsets).astype(np.float32)
    assert np.allclose(hierarchy.class_weights(weights), matrix @ weights, atol=1e-6)

    # Pictures whose top class lies under synset 1 ("instrument") have unrelated embeddings.
    embeddings = rng.normal(size=(300, 32)).astype(np.float32)
    top = ids[:, 0]
    member = (top < classes) & (matrix[np.minimum(top, classes - 1), 1])
    probs[:, 0] = np.where(member, 0.95, probs[:, 0])
    pictures = Pictures(embeddings, hierarchy.features(ids, probs))
    members, others = np.flatnonzero(member), np.flatnonzero(~member)
    assert len(members) > 10
    examples = members[:5]

    def take(rows: np.ndarray) -> Pictures:
        return Pictures(pictures.embeddings[rows], pictures.ancestry[rows])

    concept = train_concept("music", take(examples), take(examples[:0]), take(others[:150]), take(others[150:]), "v", hierarchy)
    rest = np.setdiff1d(np.arange(300), examples)
    ranked = rest[np.argsort(-concept.scores(take(rest)))]
    assert np.isin(ranked[:5], members).sum() >= 4  # the other instruments come first
    plain = train_concept("music", embeddings[examples], embeddings[:0], embeddings[others[:150]], embeddings[others[150:]], "v")
    assert np.isin(rest[np.argsort(-plain.scores(embeddings[rest]))][:5], members).sum() <= 2  # the embedding alone cannot

    back = TaughtConcept.from_bytes(concept.to_bytes())
    assert np.allclose(back.scores(take(rest)), concept.scores(take(rest))) and back.stale("v", hierarchy) is None
    other = ClassHierarchy.from_matrix(~matrix)
    assert "class hierarchy" in (back.stale("v", other) or "") and back.stale("w", hierarchy).startswith("it was taught on")
    import io

    out = io.BytesIO()  # a concept as the first trainer wrote it (format 1: unit embeddings only)
    meta = {"format": 1, "name": "music", "bias": 0.0, "threshold": 0.0, "scale": 1.0, "trained_on": "v", "info": {}}
    np.savez(out, weights=back.weights[:32], meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))
    old = TaughtConcept.from_bytes(out.getvalue())
    assert old.format == 1 and "older pixseek" in (old.stale("v", hierarchy) or "")
    assert old.scores(embeddings[:3]).shape == (3,)  # still readable (concepts list shows it stale)


def test_a_concept_is_fit_on_one_blas_thread():
    """OpenBLAS's threads only spin on the fit's small products (2.5 s CPU instead of 0.1 s on a
    busy 2-core machine): the fit runs with one."""
    from threadpoolctl import threadpool_info

    from pixseek.search.taught import _one_blas_thread

    with _one_blas_thread():
        blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
        assert blas and all(pool["num_threads"] == 1 for pool in blas)
