"""Faces and people on real faces: skimage's astronaut (Eileen Collins) and matplotlib's Grace
Hopper, augmented and placed into group collages (pixseek.demo.face_set.write_face_set)."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixseek.pipeline.analysis import AnalysisOptions, ImageAnalyzer
from pixseek.imageio.decode import ImageDecodeError
from pixseek.library import Library
from pixseek.pipeline.people import (
    CLUSTER_DISTANCE,
    CorrectionError,
    PersonNotFound,
    merge_people,
    name_person,
    remove_faces,
)
from pixseek.pipeline.people import split_person as split_person_
from pixseek.demo.face_set import FaceSample, write_face_set
from pixseek.search.faces import SAME_PERSON_DISTANCE, NoFaceError
from pixseek.store import EmbeddedStore
from pixseek.store.embedded import SCHEMA_VERSION

EILEEN, GRACE = "eileen_collins", "grace_hopper"


@pytest.fixture(scope="module")
def face_set(tmp_path_factory) -> tuple[Path, list[FaceSample]]:
    root = tmp_path_factory.mktemp("faces")
    return root, write_face_set(root)


@pytest.fixture(scope="module")
def analyzer(model_dir) -> ImageAnalyzer:
    return ImageAnalyzer(model_dir, options=AnalysisOptions())


@pytest.fixture(scope="module")
def env(model_dir, cache_dir):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PIXSEEK_MODEL_DIR", str(model_dir))
        mp.setenv("PIXSEEK_CACHE_DIR", str(cache_dir))
        yield


def _library(home: Path, **options) -> Library:
    return Library(home, options=AnalysisOptions(**options))


def _index(library: Library, folder: Path):
    report = library.indexer(workers=1).index(folder)
    return report, library.cluster_faces()


@pytest.fixture(scope="module")
def people_library(env, face_set, tmp_path_factory):
    """The face set minus the 64-face sheet, indexed and grouped once for the read-only tests."""
    root, samples = face_set
    folder = tmp_path_factory.mktemp("people-gallery")
    for sample in samples:
        if sample.how != "crowd":
            target = folder / sample.path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(sample.path, target)
    library = _library(tmp_path_factory.mktemp("people-lib"))
    report, grouping = _index(library, folder)
    assert not report.skipped
    yield folder, library, grouping
    library.close()


def _who(library: Library, person_id: int) -> Counter[str]:
    """Which true person (from the folder name) the faces of a person come from."""
    prominence = library.store.faces.presence(library.owner, [person_id])
    images = library.store.get_images(library.owner, list(prominence))
    return Counter(Path(i.paths[0]).parent.name for i in images)


# ---- the analyzer -----------------------------------------------------------------------------
def test_each_face_found_once_and_the_mission_patch_rejected(analyzer, face_set):
    _, samples = face_set
    for sample in samples:
        if sample.how == "crowd":
            continue
        faces = analyzer.analyze(sample.path).faces
        assert faces is not None
        assert len(faces) == len(sample.people), (sample.path, [f.score for f in faces])
        for face in faces:
            x0, y0, x1, y1 = face.box
            assert 0 <= x0 < x1 and 0 <= y0 < y1 and face.score >= 0.6 and face.embedding.shape == (128,)


def test_astronaut_face_box_is_her_face(analyzer, face_set):
    root, _ = face_set
    (face,) = analyzer.analyze(root / EILEEN / "original.jpg").faces
    x0, y0, x1, y1 = face.box  # her face is around (180-265, 85-170) in the 512x512 photo
    assert 160 <= x0 <= 200 and 60 <= y0 <= 100 and 250 <= x1 <= 290 and 150 <= y1 <= 190


def test_boxes_are_in_original_pixels_for_huge_images(analyzer, face_set):
    root, _ = face_set
    (small,) = analyzer.analyze(root / GRACE / "original.jpg").faces
    (huge,) = analyzer.analyze(root / GRACE / "huge.jpg").faces  # 6x the size, decoded reduced
    width = small.box[2] - small.box[0]  # HOG boxes snap to its pyramid's scales: compare loosely
    assert np.allclose(np.array(huge.box) / 6, small.box, atol=0.12 * width)
    assert np.linalg.norm(huge.embedding - small.embedding) < 0.2


def test_same_person_is_close_and_different_people_are_far(analyzer, face_set):
    _, samples = face_set
    vectors: dict[str, list[np.ndarray]] = {EILEEN: [], GRACE: []}
    for sample in samples:
        if len(sample.people) == 1:
            (face,) = analyzer.analyze(sample.path).faces
            vectors[sample.people[0]].append(face.embedding)
    for person, own in vectors.items():
        other = vectors[GRACE if person == EILEEN else EILEEN]
        same = [np.linalg.norm(a - b) for i, a in enumerate(own) for b in own[i + 1 :]]
        different = [np.linalg.norm(a - b) for a in own for b in other]
        assert max(same) < CLUSTER_DISTANCE < SAME_PERSON_DISTANCE < min(different), (max(same), min(different))


def test_faces_can_be_switched_off(model_dir, face_set):
    root, _ = face_set
    plain = ImageAnalyzer(model_dir, options=AnalysisOptions(faces=False))
    assert plain.analyze(root / GRACE / "original.jpg").faces is None
    assert "faces" not in plain.version and "faces" in AnalysisOptions().version


def test_a_crowd_of_64_faces(model_dir, face_set):
    root, _ = face_set
    sheet = root / "groups" / "crowd64.jpg"  # 1600x1600, faces ~85 px: below the default's reach
    assert ImageAnalyzer(model_dir).analyze(sheet).faces == []
    fine = ImageAnalyzer(model_dir, options=AnalysisOptions(face_detect_side=1280))
    assert len(fine.analyze(sheet).faces) == 64


@pytest.mark.parametrize(
    "make",
    [
        lambda: Image.new("RGB", (12, 9), "white"),  # tiny
        lambda: Image.new("L", (300, 200), 128),  # flat grey
        lambda: Image.fromarray(np.random.default_rng(1).integers(0, 255, (700, 500, 3), dtype=np.uint8)),
    ],
    ids=["tiny", "grey", "noise"],
)
def test_pictures_without_faces(analyzer, make):
    buf = io.BytesIO()
    make().save(buf, "PNG")
    assert analyzer.analyze(buf.getvalue()).faces == []


def test_grayscale_and_palette_pictures_have_faces(analyzer, face_set):
    root, _ = face_set
    with Image.open(root / GRACE / "original.jpg") as im:
        for mode in ("L", "P", "LA"):
            buf = io.BytesIO()
            im.convert(mode).save(buf, "PNG")
            assert len(analyzer.analyze(buf.getvalue()).faces) == 1, mode


def test_find_faces_rejects_non_images(analyzer):
    with pytest.raises(ImageDecodeError):
        analyzer.find_faces(b"not an image at all")


# ---- indexing, search by face, people ------------------------------------------------------
def test_every_face_is_a_record_pointing_to_its_image(people_library, face_set):
    folder, library, _ = people_library
    cid = library.store.content_of_path(library.owner, str(folder / "groups" / "trio.jpg"))
    faces = library.store.faces.of_images(library.owner, [cid])[cid]
    assert len(faces) == 3 and all(f.content_id == cid for f in faces)
    assert [f.box[0] for f in faces] == sorted(f.box[0] for f in faces)  # left to right
    assert library.store.stats(library.owner).faces == sum(len(s.people) for s in face_set[1] if s.how != "crowd")


@pytest.mark.parametrize("person", [EILEEN, GRACE])
def test_search_by_face_finds_the_same_person_first(people_library, face_set, person):
    folder, library, _ = people_library
    root, samples = face_set
    query = folder / person / "original.jpg"  # a file of the library: it is left out
    result = library.face_search.similar(library.owner, query, limit=50)
    expected = {
        s.path.relative_to(root) for s in samples if person in s.people and s.how not in ("crowd", "original")
    }
    found = [Path(h.path).relative_to(folder) for h in result.hits]
    assert len(found) == len(expected) == 12 and set(found) == expected
    assert all(h.faces[0].box and 1 - h.score <= SAME_PERSON_DISTANCE for h in result.hits)
    # a picture from outside (bytes) finds the same, and first the library's copy of itself
    outside = library.face_search.similar(library.owner, query.read_bytes(), limit=50)
    assert Path(outside.hits[0].path) == query and outside.hits[0].score > 0.99
    assert len(outside.hits) == 13


def test_choose_a_face_of_a_group_picture(people_library, face_set):
    _, library, _ = people_library
    root, _ = face_set
    pair = (root / "groups" / "pair.jpg").read_bytes()  # eileen left, grace right
    faces = library.face_search.faces_in(library.owner, pair)
    assert [f.number for f in faces] == [1, 2]
    for number, person in ((1, EILEEN), (2, GRACE)):
        result = library.face_search.similar(library.owner, pair, face=number)
        assert result.face.number == number
        assert all(person in Path(h.path).parts or "groups" in Path(h.path).parts for h in result.hits)
        assert Path(result.hits[0].path).name == "pair.jpg"
        first_single = next(h for h in result.hits if Path(h.path).parent.name != "groups")
        assert Path(first_single.path).parent.name == person
    with pytest.raises(NoFaceError, match="choose 1..2"):
        library.face_search.similar(library.owner, pair, face=3)
    with pytest.raises(NoFaceError, match="no face"):
        library.face_search.similar(library.owner, (root / "no_face" / "coffee.jpg").read_bytes())


def test_faces_are_grouped_into_two_pure_people(people_library):
    _, library, grouping = people_library
    people = library.store.faces.people(library.owner)
    assert len(people) == 2 and grouping.new_people == 2 and grouping.waiting == 0
    for person in people:
        origins = _who(library, person.id)
        pure = {k: v for k, v in origins.items() if k != "groups"}
        assert len(pure) == 1 and sum(pure.values()) == 10, origins  # all ten copies, nobody else
        assert person.cover_face_id is not None


def test_names_work_in_text_search(people_library):
    _, library, _ = people_library
    people = library.store.faces.people(library.owner)
    grace = next(p for p in people if _who(library, p.id)[GRACE])
    library.store.faces.rename(library.owner, grace.id, "Grace Brewster Hopper")
    library.store.commit()
    for query in ("grace", "Hopper", "grace brewster hopper"):
        hits = library.engine.search(library.owner, query, limit=50).hits
        assert {Path(h.path).parent.name for h in hits} == {GRACE, "groups"}, query
        assert len(hits) == 13 and "face of Grace Brewster Hopper" in hits[0].why[0]
    # "people" is any face; the no-face pictures never match
    people_hits = library.engine.search(library.owner, "people", limit=100).hits
    assert len(people_hits) == 23 and "no_face" not in {Path(h.path).parent.name for h in people_hits}
    library.store.faces.rename(library.owner, grace.id, None)
    library.store.commit()


def test_person_and_concept(env, face_set, tmp_path):
    """"grace uniform": her photos where the classifier also sees a military uniform."""
    root, _ = face_set
    library = _library(tmp_path / "lib")
    _index(library, root / GRACE)
    (grace,) = library.store.faces.people(library.owner)
    library.store.faces.rename(library.owner, grace.id, "Grace")
    library.store.commit()
    both = library.engine.search(library.owner, "grace uniform").hits
    assert both and all(len(h.why) == 2 and "military uniform" in h.why[1] for h in both)
    assert library.engine.search(library.owner, "grace volcano").hits == []
    library.close()


def test_people_are_stable_as_photos_arrive_and_corrections_persist(env, face_set, tmp_path):
    root, samples = face_set
    folder = tmp_path / "photos"
    folder.mkdir()
    first = [s for s in samples if s.how in ("original", "mirror", "crop", "dark")]
    for sample in first:
        shutil.copy(sample.path, folder / f"{sample.people[0]}-{sample.path.name}")
    library = _library(tmp_path / "lib")
    _, grouping = _index(library, folder)
    assert grouping.new_people == 2
    before = {p.id: set(_faces_of(library, p.id)) for p in library.store.faces.people(library.owner)}
    eileen = next(p for p in before if _is(library, p, EILEEN))
    grace = next(p for p in before if p != eileen)
    # a correction: one of Grace's faces is taken out for good, another split into its own person
    removed, split_off, *_ = sorted(before[grace])
    store, owner = library.store, library.owner
    remove_faces(store, owner, grace, [removed])
    split_person = split_person_(store, owner, grace, [split_off]).new_person.id
    assert name_person(store, owner, eileen, "  Eileen ").name == "Eileen"
    with pytest.raises(PersonNotFound):
        name_person(store, owner, 10_000, "Nobody")
    with pytest.raises(CorrectionError, match="at most 100"):
        name_person(store, owner, eileen, "x" * 101)
    with pytest.raises(CorrectionError, match="not faces of person"):
        split_person_(store, owner, grace, [next(iter(before[eileen]))])
    with pytest.raises(CorrectionError, match="no faces"):
        remove_faces(store, owner, grace, [])
    # more photos of both arrive, and a group picture
    for sample in samples:
        if sample.how in ("bright", "gray", "half", "collage"):
            shutil.copy(sample.path, folder / f"{'-'.join(sample.people)}-{sample.path.name}")
    _, grouping = _index(library, folder)
    assert grouping.new_people == 0 and grouping.joined == grouping.looked_at > 0
    after = {p.id: set(_faces_of(library, p.id)) for p in library.store.faces.people(library.owner)}
    assert set(after) == {eileen, grace, split_person}
    assert before[eileen] < after[eileen] and before[grace] - {removed, split_off} < after[grace]
    assert removed not in set().union(*after.values()) and after[split_person] == {split_off}
    assert library.store.faces.person(library.owner, eileen).name == "Eileen"
    # merging the split-off face back is a correction too, and nothing is regrouped afterwards
    assert merge_people(store, owner, grace, [split_person]).person.faces == len(after[grace]) + 1
    assert library.cluster_faces().looked_at == 0
    assert library.store.faces.person(library.owner, split_person) is None
    assert split_off in _faces_of(library, grace)
    library.close()


def _faces_of(library: Library, person_id: int) -> list[int]:
    ids = library.store.faces.owner_face_ids(library.owner)
    return [f.id for f in library.store.faces.get(library.owner, ids.tolist()) if f.person_id == person_id]


def _is(library: Library, person_id: int, who: str) -> bool:
    images = library.store.get_images(library.owner, list(library.store.faces.presence(library.owner, [person_id])))
    return all(Path(i.paths[0]).name.startswith(who) for i in images)


def test_reanalysis_keeps_people_and_no_faces_run_reuses_face_analyses(env, face_set, tmp_path):
    root, _ = face_set
    home = tmp_path / "lib"
    library = _library(home)
    _index(library, root / EILEEN)
    (person,) = library.store.faces.people(library.owner)
    library.store.faces.rename(library.owner, person.id, "Eileen")
    library.store.commit()
    library.close()
    # without faces: the analyses with faces serve, nothing is analysed again
    plain = _library(home, faces=False)
    report, _ = _index(plain, root / EILEEN)
    assert report.unchanged == 10 and report.indexed == report.updated == 0
    plain.close()
    # another detection size is another analysis version: all re-analysed, the person kept
    finer = _library(home, face_detect_side=800)
    report, grouping = _index(finer, root / EILEEN)
    assert report.updated == 10 and grouping.looked_at == 0  # every new face took its old person
    (again,) = finer.store.faces.people(finer.owner)
    assert (again.id, again.name, again.faces) == (person.id, "Eileen", 10)
    finer.close()


def test_people_are_per_user(env, face_set, tmp_path):
    root, _ = face_set
    library = _library(tmp_path / "lib")
    bob = library.store.accounts.add_user("bob", None).id
    library.store.commit()
    library.indexer(workers=1, owner=bob).index(root / GRACE)
    library.cluster_faces(bob)
    (bobs,) = library.store.faces.people(bob)
    assert library.store.faces.people(library.owner) == []
    assert library.store.faces.person(library.owner, bobs.id) is None
    assert library.store.faces.rename(library.owner, bobs.id, "mine now") is False
    assert library.store.faces.assign(library.owner, _faces_of_owner(library, bob), None, "user") == 0
    assert library.face_search.similar(library.owner, root / GRACE / "original.jpg").hits == []
    assert library.face_search.similar(bob, root / GRACE / "original.jpg").hits
    library.close()


def _faces_of_owner(library: Library, owner: int) -> list[int]:
    return library.store.faces.owner_face_ids(owner).tolist()


def test_schema_2_library_gets_faces(tmp_path):
    home = tmp_path / "lib"
    EmbeddedStore(home).close()
    with sqlite3.connect(home / "pixseek.db") as db:  # back to what schema 2 had
        db.execute("DROP TABLE faces")
        db.execute("DROP TABLE people")
        db.execute("ALTER TABLE contents DROP COLUMN face_count")
        db.execute("DROP TABLE text_index")
        db.execute("DROP TABLE text_lines")
        db.execute("ALTER TABLE contents DROP COLUMN text_lines")
        db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    store = EmbeddedStore(home)
    assert store.faces.people(1) == [] and store.faces.count() == 0
    store.close()
    with sqlite3.connect(home / "pixseek.db") as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)


# ---- the command line ------------------------------------------------------------------------
def _run(environment: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pixseek.cli", *args], env=environment, capture_output=True, text=True, timeout=300
    )


def test_cli_faces_and_people(pixseek_env, face_set, tmp_path):
    root, _ = face_set
    environment = {**pixseek_env, "PIXSEEK_HOME": str(tmp_path / "lib")}
    folder = tmp_path / "photos"
    shutil.copytree(root / EILEEN, folder / EILEEN)
    shutil.copytree(root / GRACE, folder / GRACE)
    shutil.copy(root / "groups" / "pair.jpg", folder)
    indexed = _run(environment, "index", str(folder))
    assert indexed.returncode == 0 and "2 new people" in indexed.stdout, indexed.stderr
    people = json.loads(_run(environment, "people", "--json").stdout)["people"]
    assert [p["faces"] for p in people] == [11, 11]
    grace = next(p for p in people if GRACE in p["cover"]["path"])
    assert _run(environment, "people", "name", str(grace["id"]), "Grace Hopper").returncode == 0
    found = json.loads(_run(environment, "search", "hopper", "--json").stdout)["results"]
    assert len(found) == 11
    shown = json.loads(_run(environment, "faces", "show", str(folder / "pair.jpg"), "--json").stdout)
    assert [f["person"] for f in shown] == [None, "Grace Hopper"]
    largest = max(shown, key=lambda f: (f["box"][2] - f["box"][0]) * (f["box"][3] - f["box"][1]))
    default = json.loads(_run(environment, "faces", "similar", str(folder / "pair.jpg"), "--json").stdout)
    assert default["face"]["of"] == 2 and default["face"]["number"] == largest["number"]
    similar = _run(environment, "faces", "similar", str(folder / "pair.jpg"), "--face", "2", "--json")
    result = json.loads(similar.stdout)
    assert all(GRACE in r["path"] for r in result["results"]) and len(result["results"]) == 10
    wrong = _run(environment, "people", "split", str(grace["id"]), str(shown[0]["face_id"]))
    assert wrong.returncode == 1 and "not faces of person" in wrong.stderr
    missing = _run(environment, "people", "name", "999", "Nobody")
    assert missing.returncode == 1 and "no person 999" in missing.stderr
    no_face = _run(environment, "faces", "similar", str(root / "no_face" / "coffee.jpg"))
    assert no_face.returncode == 1 and "no face found" in no_face.stderr


def test_a_burst_of_near_identical_faces_is_one_person(tmp_path):
    """More copies of one face than a neighbour list holds (a burst of shots) make one person,
    and a far-away face stays alone, ungrouped."""
    from pixseek.pipeline.people import NEIGHBOURS, cluster_faces
    from pixseek.records import Analysis, Face, FileState, ImageMeta
    from pixseek.store.sparse import top_k

    rng = np.random.default_rng(3)
    store = EmbeddedStore(tmp_path / "lib")
    centre, stranger = rng.normal(size=128) * 0.1, rng.normal(size=128) * 0.1 + 1.0
    for i in range(3 * NEIGHBOURS + 1):
        vector = stranger if i == 0 else centre + rng.normal(size=128) * 0.002
        face = Face((10, 10, 60, 60), 1.0, vector.astype(np.float32))
        analysis = Analysis(ImageMeta(100, 100, "JPEG"), top_k(np.full(1000, 1e-3, np.float32)),
                            np.ones(1280, np.float32), faces=[face])
        cid = store.add_content(1, f"sha{i}", "test+faces", analysis)
        store.put_file(1, FileState(f"/p/{i}.jpg", 1, 1), cid)
    store.commit()
    report = cluster_faces(store, 1)
    assert (report.new_people, report.in_new_people, report.waiting) == (1, 3 * NEIGHBOURS, 1)
    assert [p.faces for p in store.faces.people(1)] == [3 * NEIGHBOURS]
    store.close()
