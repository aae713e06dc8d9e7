"""People and faces over HTTP, against the real app: real models, real uploads of the face set
(pixseek.demo.face_set.write_face_set: eileen_collins and grace_hopper, augmented, group collages,
pictures without a face).

One app serves the module. alice (password, cookie) uploads most of the face set and is only
read from, apart from naming; carol (token) gets a small set to correct (merge, split, remove,
add) and then more photos of the same people; bob (token) has a person of his own, for isolation.
"""

from __future__ import annotations

import io
import time
import warnings
from pathlib import Path

import pytest
from PIL import Image

with warnings.catch_warnings():  # starlette warns that it would prefer httpx2 to httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from test_api import BASE, CSRF, models_env, upload, wait_jobs  # noqa: F401 (models_env: a fixture)

from pixseek.demo.face_set import FaceSample, write_face_set
from pixseek.service.app import create_app
from pixseek.service.auth import hash_password, new_token
from pixseek.service.settings import ServiceSettings
from pixseek.service.thumbnails import crop_box
from pixseek.store import DEFAULT_OWNER, open_store

pytestmark = pytest.mark.usefixtures("models_env")  # the session's models, for the app and its workers
EILEEN, GRACE = "eileen_collins", "grace_hopper"
LATER = ("mirror", "gray")  # alice's photos of each person that arrive after the corrections
CAROL_FIRST = ("original", "crop", "bright", "jpeg15")
CAROL_LATER = ("mirror",)


def upload_name(sample: FaceSample) -> str:
    """A unique upload name: `eileen_collins-original.jpg`, `groups-pair.jpg`, ..."""
    return f"{sample.path.parent.name}-{sample.path.name}"


def upload_all(client: TestClient, samples: list[FaceSample]) -> dict[str, int]:
    """Upload, wait for the analysis; {upload name: image id}."""
    jobs = []
    for start in range(0, len(samples), 5):  # the app takes 5 files per request
        chunk = samples[start : start + 5]
        jobs += upload(client, *[(upload_name(s), s.path.read_bytes()) for s in chunk])
    done = wait_jobs(client, [j["id"] for j in jobs], timeout=180)
    assert all(j["status"] == "done" for j in done), done
    return {j["name"]: j["image_id"] for j in done}


def wait_grouped(client: TestClient, timeout: float = 30.0) -> dict:
    """/api/people once every face has been grouped (faces are grouped moments after their jobs)."""
    deadline = time.monotonic() + timeout
    while True:
        people = client.get("/api/people").json()
        if people["people"] and people["ungrouped_faces"] == 0:
            return people
        assert time.monotonic() < deadline, people
        time.sleep(0.1)


def person_photos(client: TestClient, person_id: int) -> list[dict]:
    answer = client.get(f"/api/people/{person_id}?limit=200")
    assert answer.status_code == 200, answer.text
    return answer.json()["photos"]


def face_of(client: TestClient, image_id: int) -> dict:
    """The one face of a single-person photo."""
    faces = client.get(f"/api/images/{image_id}/faces").json()["faces"]
    assert len(faces) == 1, faces
    return faces[0]


@pytest.fixture(scope="module")
def faceset(tmp_path_factory) -> dict[str, FaceSample]:
    samples = write_face_set(tmp_path_factory.mktemp("faces"))
    return {upload_name(s): s for s in samples}


def _single(faceset: dict[str, FaceSample], person: str, hows: tuple[str, ...]) -> list[FaceSample]:
    return [faceset[f"{person}-{how}.jpg"] for how in hows]


@pytest.fixture(scope="module")
def server(tmp_path_factory, faceset):
    home = tmp_path_factory.mktemp("people-library")
    store = open_store(home)
    users = {name: store.accounts.add_user(name, hash_password(f"{name}-secret")) for name in ("alice", "bob", "carol")}
    tokens = {}
    for name in ("bob", "carol"):
        token, token_hash = new_token()
        store.accounts.add_token(users[name].id, token_hash, "tests")
        tokens[name] = token
    store.close()
    settings = ServiceSettings(home=home, max_files_per_request=5, workers=2)
    app = create_app(settings)
    with TestClient(app, base_url=BASE):
        alice = TestClient(app, base_url=BASE, headers=CSRF)
        assert alice.post("/api/login", json={"username": "alice", "password": "alice-secret"}).status_code == 200
        bob = TestClient(app, base_url=BASE, headers={"Authorization": f"Bearer {tokens['bob']}"})
        carol = TestClient(app, base_url=BASE, headers={"Authorization": f"Bearer {tokens['carol']}"})
        later = {f"{person}-{how}.jpg" for person in (EILEEN, GRACE) for how in LATER}
        alice_ids = upload_all(alice, [s for name, s in faceset.items() if name not in later])
        bob_ids = upload_all(bob, _single(faceset, GRACE, ("dark", "half", "rotate8")))
        carol_ids = upload_all(carol, _single(faceset, EILEEN, CAROL_FIRST) + _single(faceset, GRACE, CAROL_FIRST))
        wait_grouped(alice)
        wait_grouped(bob)
        wait_grouped(carol)
        yield {
            "app": app, "home": home, "alice": alice, "bob": bob, "carol": carol,
            "ids": {"alice": alice_ids, "bob": bob_ids, "carol": carol_ids},
            "users": {name: user.id for name, user in users.items()},
            "later": sorted(later),
        }


def _who(server, user: str, person_id: int, faceset) -> set[str]:
    """The sample people in a person's single-person photos (one name if the grouping is right)."""
    names = {v: k for k, v in server["ids"][user].items()}
    return {
        faceset[names[p["image"]["id"]]].people[0]
        for p in person_photos(server[user], person_id)
        if len(faceset[names[p["image"]["id"]]].people) == 1
    }


def _person_of(server, user: str, sample_person: str, faceset) -> dict:
    for person in server[user].get("/api/people").json()["people"]:
        if _who(server, user, person["id"], faceset) == {sample_person}:
            return person
    raise AssertionError(f"no person of {user} is {sample_person}")


# ---- people and faces ------------------------------------------------------------------------------
def test_uploaded_faces_become_people(server, faceset):
    alice = server["alice"]
    answer = alice.get("/api/people").json()
    people = answer["people"]
    assert len(people) == 2 and answer["ungrouped_faces"] == 0, answer
    for person in people:
        assert person["name"] is None and person["photos"] >= 9 and person["faces"] >= person["photos"]
        assert person["thumbnail"] == f"/api/faces/{person['cover_face_id']}/thumbnail"
    # Each person is one of the two sample people, never a mix.
    assert sorted(tuple(_who(server, "alice", p["id"], faceset)) for p in people) == [(EILEEN,), (GRACE,)]
    stats = alice.get("/api/stats").json()
    assert stats["people"] == 2 and stats["faces"] == sum(p["faces"] for p in people)
    assert stats["bytes_by_part"]["faces: embeddings"] == stats["faces"] * 128 * 4
    spec = alice.get("/openapi.json").json()["paths"]
    assert {"/api/people", "/api/people/{person_id}", "/api/faces/{face_id}/thumbnail", "/api/search/face"} <= set(spec)
    assert "patch" in spec["/api/people/{person_id}"]


def test_a_persons_photos_page_by_prominence(server, faceset):
    alice = server["alice"]
    person = _person_of(server, "alice", GRACE, faceset)
    first = alice.get(f"/api/people/{person['id']}?limit=5").json()
    rest = alice.get(f"/api/people/{person['id']}?offset=5&limit=200").json()
    assert first["person"] == person and first["total"] == person["photos"] and first["offset"] == 0
    photos = first["photos"] + rest["photos"]
    assert len(first["photos"]) == 5 and len(photos) == person["photos"]
    assert len({p["image"]["id"] for p in photos}) == len(photos), "no photo on two pages"
    prominence = []
    for photo in photos:
        image = photo["image"]
        assert photo["faces"] and all(f["person_id"] == person["id"] for f in photo["faces"])
        for face in photo["faces"]:
            x0, y0, x1, y1 = face["box"]
            assert 0 <= x0 < x1 <= image["width"] and 0 <= y0 < y1 <= image["height"]
            assert face["image_id"] == image["id"] and face["thumbnail"] == f"/api/faces/{face['id']}/thumbnail"
        prominence.append(max((f["box"][3] - f["box"][1]) / image["height"] for f in photo["faces"]))
    assert prominence == sorted(prominence, reverse=True), "largest face first"
    assert alice.get(f"/api/people/{person['id']}?limit=0").status_code == 422
    assert alice.get(f"/api/people/{person['id']}?limit=201").status_code == 422


def test_faces_of_an_image_and_its_detail(server, faceset):
    alice, ids = server["alice"], server["ids"]["alice"]
    pair = ids["groups-pair.jpg"]
    faces = alice.get(f"/api/images/{pair}/faces").json()["faces"]
    assert len(faces) == 2 and faces[0]["box"][0] < faces[1]["box"][0], "left to right"
    eileen, grace = _person_of(server, "alice", EILEEN, faceset), _person_of(server, "alice", GRACE, faceset)
    assert [f["person_id"] for f in faces] == [eileen["id"], grace["id"]]  # the pair is eileen, then grace
    detail = alice.get(f"/api/images/{pair}").json()
    assert detail["faces"] == faces and detail["tags"]
    no_face = alice.get(f"/api/images/{ids['no_face-coffee.jpg']}").json()
    assert no_face["faces"] == [] and alice.get(f"/api/images/{ids['no_face-coffee.jpg']}/faces").json() == {"faces": []}
    assert alice.get("/api/images/999999/faces").status_code == 404


def test_face_thumbnails_are_square_cached_crops(server, faceset):
    alice, home = server["alice"], server["home"]
    face = face_of(alice, server["ids"]["alice"]["grace_hopper-original.jpg"])
    answer = alice.get(face["thumbnail"])
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(answer.content)) as im:
        assert im.format == "JPEG" and im.width == im.height and im.width <= 128  # size=128 by default
    for size in (64, 256):
        with Image.open(io.BytesIO(alice.get(f"{face['thumbnail']}?size={size}").content)) as im:
            assert im.width == im.height <= size
    etag = answer.headers["etag"]
    assert "private" in answer.headers["cache-control"]
    again = alice.get(face["thumbnail"], headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.content
    cached = list((home / "thumbnails").glob("*/face-*.jpg"))
    assert len(cached) >= 3, "every size is kept on disk"
    bad = alice.get(f"{face['thumbnail']}?size=100")
    assert bad.status_code == 422 and "64, 128, 256" in bad.json()["detail"]
    assert alice.get("/api/faces/999999/thumbnail").status_code == 404
    assert alice.get("/api/faces/0/thumbnail").status_code == 404


def test_naming_a_person_makes_the_name_searchable(server, faceset):
    alice = server["alice"]
    person = _person_of(server, "alice", GRACE, faceset)
    url = f"/api/people/{person['id']}"
    named = alice.patch(url, json={"name": "  Grace \t Hopper  "})
    assert named.status_code == 200, named.text
    assert named.json() == {**person, "name": "Grace Hopper"}
    people = alice.get("/api/people").json()["people"]
    assert people[0]["name"] == "Grace Hopper", "named people first"
    photos = {p["image"]["id"] for p in person_photos(alice, person["id"])}
    for query in ("grace", "Grace Hopper", "hopper"):
        found = alice.get("/api/search", params={"q": query, "limit": 200}).json()
        assert {r["image"]["id"] for r in found["results"]} == photos, query
        assert all("face of Grace Hopper" in " ".join(r["why"]) for r in found["results"])
    # Faces carry the name wherever they are shown.
    face = face_of(alice, server["ids"]["alice"]["grace_hopper-original.jpg"])
    assert face["person_name"] == "Grace Hopper"
    # Clearing: "" or null; bad names are refused and change nothing.
    assert alice.patch(url, json={"name": ""}).json()["name"] is None
    assert alice.patch(url, json={"name": "Grace"}).json()["name"] == "Grace"
    assert alice.patch(url, json={"name": None}).json()["name"] is None
    too_long = alice.patch(url, json={"name": "x" * 101})
    assert too_long.status_code == 422 and "100 characters" in too_long.json()["detail"]
    assert alice.patch(url, json={"name": "x" * 100}).status_code == 200
    control = alice.patch(url, json={"name": "Grace\x00Hopper"})
    assert control.status_code == 422 and "control" in control.json()["detail"]
    # Bidi overrides and zero-width characters (which make a name show as another) are dropped,
    # as from file names.
    spoofed = alice.patch(url, json={"name": "Gr\u202eecar\u202c\u200b Hopper\u2066"})
    assert spoofed.status_code == 200 and spoofed.json()["name"] == "Grecar Hopper"
    assert alice.patch(url, json={"name": "\u200f\u202e"}).json()["name"] is None
    assert alice.patch(url, json={}).status_code == 422  # the field is required
    assert alice.patch(url, json={"name": 5}).status_code == 422
    assert alice.patch(url, content=b"{", headers={"Content-Type": "application/json"}).status_code == 422
    assert alice.patch("/api/people/999999", json={"name": "X"}).status_code == 404
    assert alice.patch("/api/people/0", json={"name": "X"}).status_code == 404
    assert alice.patch("/api/people/99999999999999999999", json={"name": "X"}).status_code in (404, 422)
    assert alice.patch(url, json={"name": "Grace Hopper"}).json()["name"] == "Grace Hopper"


def test_similar_faces_of_a_stored_face(server, faceset):
    alice, ids = server["alice"], server["ids"]["alice"]
    grace = _person_of(server, "alice", GRACE, faceset)
    face = face_of(alice, ids["grace_hopper-original.jpg"])
    found = alice.get(f"/api/faces/{face['id']}/similar", params={"limit": 200}).json()
    assert found["query_face"]["face_id"] == face["id"] and found["query_face"]["person_id"] == grace["id"]
    assert found["query_faces"] == [found["query_face"]]
    results = found["results"]
    names = {v: k for k, v in ids.items()}
    assert results and all(GRACE in faceset[names[r["image"]["id"]]].people for r in results), "only grace"
    assert ids["grace_hopper-original.jpg"] not in {r["image"]["id"] for r in results}, "not the face itself"
    assert len(results) == grace["photos"] - 1
    for r in results:
        (matched,) = r["faces"]
        assert matched["person_id"] == grace["id"] and matched["image_id"] == r["image"]["id"]
        assert r["why"][0].startswith("face distance") and 0 < r["score"] <= 1
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
    page = alice.get(f"/api/faces/{face['id']}/similar", params={"limit": 3, "offset": 3}).json()["results"]
    assert [r["image"]["id"] for r in page] == [r["image"]["id"] for r in results[3:6]]
    assert alice.get(f"/api/faces/{face['id']}/similar", params={"max_distance": 0}).json()["results"] == []
    assert alice.get(f"/api/faces/{face['id']}/similar", params={"max_distance": 3}).status_code == 422
    assert alice.get("/api/faces/999999/similar").status_code == 404


def test_search_by_the_face_in_a_picture(server, faceset):
    alice, ids = server["alice"], server["ids"]["alice"]
    names = {v: k for k, v in ids.items()}
    pair = faceset["groups-pair.jpg"].path.read_bytes()  # eileen, then grace
    grace = _person_of(server, "alice", GRACE, faceset)

    def search(data: bytes, name: str = "query.jpg", **form) -> object:
        return alice.post("/api/search/face", files={"file": (name, data)}, data={k: str(v) for k, v in form.items()})

    second = search(pair, face=2, limit=50)
    assert second.status_code == 200, second.text
    body = second.json()
    assert [f["number"] for f in body["query_faces"]] == [1, 2] and body["query_face"]["number"] == 2
    # The picture is one of alice's: the faces searched for are hers, named by their ids.
    stored = alice.get(f"/api/images/{ids['groups-pair.jpg']}/faces").json()["faces"]
    assert [(f["face_id"], f["person_id"]) for f in body["query_faces"]] == [(f["id"], f["person_id"]) for f in stored]
    assert body["query_face"]["face_id"] == stored[1]["id"] and body["query_face"]["person_id"] == grace["id"]
    # A picture that is not in the library (the same photo, saved again) has faces of no one.
    resaved = io.BytesIO()
    Image.open(io.BytesIO(pair)).save(resaved, "JPEG", quality=90)
    outside = search(resaved.getvalue(), face=2).json()
    assert outside["query_face"]["face_id"] is None and outside["query_face"]["person_id"] is None
    assert body["query_faces"][0]["box"][0] < body["query_faces"][1]["box"][0]
    found = {names[r["image"]["id"]] for r in body["results"]}
    assert all(GRACE in faceset[n].people for n in found) and len(found) == grace["photos"]
    assert all(r["faces"][0]["person_id"] == grace["id"] for r in body["results"])
    first = search(pair, face=1).json()
    assert all(EILEEN in faceset[names[r["image"]["id"]]].people for r in first["results"])
    # The largest face by default; `face` as a query parameter too; paging.
    assert search(faceset["grace_hopper-original.jpg"].path.read_bytes()).json()["query_face"]["number"] == 1
    by_query = alice.post("/api/search/face?face=2&limit=2&offset=1", files={"file": ("q.jpg", pair)}).json()
    assert [r["image"]["id"] for r in by_query["results"]] == [r["image"]["id"] for r in body["results"][1:3]]
    # What cannot be searched says why.
    wrong_number = search(pair, face=3)
    assert wrong_number.status_code == 422 and wrong_number.json()["detail"] == "the picture has 2 face(s): choose 1..2, not 3"
    assert search(pair, face=0).status_code == 422
    assert search(pair, face="two").status_code == 422
    no_face = search(faceset["no_face-chelsea.jpg"].path.read_bytes())
    assert no_face.status_code == 422 and no_face.json()["detail"] == "no face found in the picture"
    not_image = search(b"just some text, not a picture\n", "notes.jpg")
    assert not_image.status_code == 415 and "not an image" in not_image.json()["detail"]
    assert search(b"").status_code == 422
    missing = alice.post("/api/search/face", files={"other": ("q.jpg", pair)})
    assert missing.status_code == 422 and "'file'" in missing.json()["detail"]
    # Nothing was stored by searching.
    assert alice.get("/api/stats").json()["images"] == len(ids)


# ---- isolation and CSRF --------------------------------------------------------------------------------
def test_people_and_faces_are_private(server, faceset):
    alice, bob = server["alice"], server["bob"]
    theirs = alice.get("/api/people").json()["people"]
    mine = bob.get("/api/people").json()["people"]
    assert len(mine) == 1 and {p["id"] for p in mine}.isdisjoint(p["id"] for p in theirs)
    assert bob.get("/api/stats").json()["people"] == 1
    alice_face = face_of(alice, server["ids"]["alice"]["grace_hopper-original.jpg"])
    bob_face = face_of(bob, server["ids"]["bob"]["grace_hopper-dark.jpg"])
    person, face, missing = theirs[0]["id"], alice_face["id"], 999_999
    # Another user's person or face is exactly a missing one: same status, same message.
    for method, path, body in [
        ("GET", "/api/people/{}", None),
        ("PATCH", "/api/people/{}", {"name": "Mallory"}),
        ("POST", "/api/people/{}/merge", {"people": [mine[0]["id"]]}),
        ("POST", "/api/people/{}/split", {"faces": [bob_face["id"]]}),
        ("POST", "/api/people/{}/remove", {"faces": [bob_face["id"]]}),
        ("POST", "/api/people/{}/add", {"faces": [bob_face["id"]]}),
    ]:
        for guess in (person, missing):
            answer = bob.request(method, path.format(guess), json=body)
            assert answer.status_code == 404 and answer.json() == {"detail": f"no person {guess}"}, (method, path)
    for path in ("/api/faces/{}/thumbnail", "/api/faces/{}/similar"):
        for guess in (face, missing):
            answer = bob.get(path.format(guess))
            assert answer.status_code == 404 and answer.json() == {"detail": f"no face {guess}"}, path
    # Bob cannot pull alice's people or faces into his own person either.
    merge = bob.post(f"/api/people/{mine[0]['id']}/merge", json={"people": [person]})
    assert merge.status_code == 404 and merge.json()["detail"] == f"no person {person}"
    for action in ("split", "remove", "add"):
        answer = bob.post(f"/api/people/{mine[0]['id']}/{action}", json={"faces": [face]})
        assert answer.status_code == 404 and answer.json()["detail"] == f"no face {face}", action
    assert bob.get(f"/api/images/{alice_face['image_id']}/faces").status_code == 404
    # Alice's names mean nothing in bob's searches; his face search finds only his photos.
    assert alice.get(f"/api/people/{person}").json()["person"]["id"] == person  # still hers, unchanged
    found = bob.get("/api/search", params={"q": "Grace Hopper"})
    if found.status_code == 200:  # the words may mean something; never alice's photos
        assert not {r["image"]["id"] for r in found.json()["results"]} - set(server["ids"]["bob"].values())
        assert not any("face of" in " ".join(r["why"]) for r in found.json()["results"])
    else:
        assert found.status_code == 400, found.text
    picture = faceset["grace_hopper-original.jpg"].path.read_bytes()
    results = bob.post("/api/search/face", files={"file": ("q.jpg", picture)}).json()["results"]
    assert {r["image"]["id"] for r in results} == set(server["ids"]["bob"].values())
    assert bob.get("/api/people").json()["people"] == mine, "nothing of bob's changed"


def test_cookie_writes_to_people_need_csrf_proof(server):
    client = TestClient(server["app"], base_url=BASE)  # no X-Requested-With
    assert client.post("/api/login", json={"username": "alice", "password": "alice-secret"}).status_code == 200
    person = client.get("/api/people").json()["people"][0]
    url = f"/api/people/{person['id']}"
    for method, path, body in [("PATCH", url, {"name": "Mallory"}), ("POST", f"{url}/merge", {"people": [1]}),
                               ("POST", f"{url}/remove", {"faces": [1]})]:
        refused = client.request(method, path, json=body)
        assert refused.status_code == 403, (method, path)
        assert client.request(method, path, json=body, headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.get(url).json()["person"]["name"] == person["name"], "nothing changed"
    same_origin = client.patch(url, json={"name": person["name"]}, headers={"Origin": BASE})
    assert same_origin.status_code == 200
    anon = TestClient(server["app"], base_url=BASE)
    assert anon.get("/api/people").status_code == 401 and anon.get("/api/faces/1/thumbnail").status_code == 401


# ---- corrections -----------------------------------------------------------------------------------------
def test_corrections_persist_and_survive_new_uploads(server, faceset):
    carol, home, carol_id = server["carol"], server["home"], server["users"]["carol"]
    ids = server["ids"]["carol"]
    eileen, grace = _person_of(server, "carol", EILEEN, faceset), _person_of(server, "carol", GRACE, faceset)
    assert len(carol.get("/api/people").json()["people"]) == 2

    # Bad requests change nothing.
    url = f"/api/people/{eileen['id']}"
    assert carol.post(f"{url}/merge", json={"people": []}).status_code == 422
    itself = carol.post(f"{url}/merge", json={"people": [eileen["id"]]})
    assert itself.status_code == 422 and "themselves" in itself.json()["detail"]
    assert carol.post(f"{url}/merge", json={"people": ["x"]}).status_code == 422
    assert carol.post(f"{url}/split", json={"faces": []}).status_code == 422
    assert carol.post(f"{url}/remove", json={}).status_code == 422
    not_hers = carol.post(f"{url}/remove", json={"faces": [face_of(carol, ids["grace_hopper-original.jpg"])["id"]]})
    assert not_hers.status_code == 422 and f"not faces of person {eileen['id']}" in not_hers.json()["detail"]
    assert carol.post(f"{url}/split", json={"faces": [999_999]}).json() == {"detail": "no face 999999"}

    # A wrong merge (as users make them): everyone is one person, who takes grace's name.
    assert carol.patch(f"/api/people/{grace['id']}", json={"name": "Grace"}).status_code == 200
    merged = carol.post(f"{url}/merge", json={"people": [grace["id"], grace["id"]]})
    assert merged.status_code == 200, merged.text
    change = merged.json()
    assert change["faces_moved"] == grace["faces"] and change["new_person"] is None
    assert change["person"]["faces"] == eileen["faces"] + grace["faces"] and change["person"]["name"] == "Grace"
    assert carol.get(f"/api/people/{grace['id']}").status_code == 404
    assert [p["id"] for p in carol.get("/api/people").json()["people"]] == [eileen["id"]]

    # Split grace's faces back out, into a new person.
    grace_faces = [face_of(carol, ids[f"grace_hopper-{how}.jpg"])["id"] for how in CAROL_FIRST]
    split = carol.post(f"{url}/split", json={"faces": grace_faces})
    assert split.status_code == 201, split.text
    change = split.json()
    new_grace = change["new_person"]
    assert change["faces_moved"] == len(grace_faces) and new_grace["faces"] == len(grace_faces)
    assert new_grace["name"] is None and change["person"]["faces"] == eileen["faces"]
    assert {p["image"]["id"] for p in person_photos(carol, new_grace["id"])} == {
        ids[f"grace_hopper-{how}.jpg"] for how in CAROL_FIRST
    }
    assert carol.patch(url, json={"name": "Eileen"}).status_code == 200

    # Remove one wrong face: it belongs to nobody now.
    bright = face_of(carol, ids["eileen_collins-bright.jpg"])
    removed = carol.post(f"{url}/remove", json={"faces": [bright["id"]]}).json()
    assert removed["faces_moved"] == 1 and removed["person"]["faces"] == eileen["faces"] - 1
    assert face_of(carol, ids["eileen_collins-bright.jpg"])["person_id"] is None
    assert carol.get("/api/people").json()["ungrouped_faces"] == 0, "a removed face is not waiting to be grouped"

    # All of it is stored (another connection sees it).
    store = open_store(home)
    try:
        public = server["app"].state.service.ids
        stored = {public.encode("person", p.id): (p.name, p.faces) for p in store.faces.people(carol_id)}
    finally:
        store.close()
    assert stored == {eileen["id"]: ("Eileen", eileen["faces"] - 1), new_grace["id"]: (None, len(grace_faces))}

    # New photos of both join the corrected people; the grouping undoes none of the corrections.
    later = upload_all(carol, _single(faceset, EILEEN, CAROL_LATER) + _single(faceset, GRACE, CAROL_LATER))
    wait_grouped(carol)
    assert face_of(carol, later["eileen_collins-mirror.jpg"])["person_id"] == eileen["id"]
    assert face_of(carol, later["grace_hopper-mirror.jpg"])["person_id"] == new_grace["id"]
    assert face_of(carol, ids["eileen_collins-bright.jpg"])["person_id"] is None
    people = {p["id"]: p for p in carol.get("/api/people").json()["people"]}
    assert set(people) == {eileen["id"], new_grace["id"]}
    assert people[eileen["id"]]["faces"] == eileen["faces"] and people[new_grace["id"]]["faces"] == len(grace_faces) + 1

    # "This is Eileen after all": the removed face goes back (the undo of a removal).
    added = carol.post(f"{url}/add", json={"faces": [bright["id"]]}).json()
    assert added["person"]["faces"] == eileen["faces"] + 1 and added["faces_moved"] == 1

    # Removing a person's last faces removes the person.
    gone = carol.post(f"/api/people/{new_grace['id']}/remove", json={"faces": [
        f["id"] for p in person_photos(carol, new_grace["id"]) for f in p["faces"]
    ]}).json()
    assert gone["person"] is None and carol.get(f"/api/people/{new_grace['id']}").status_code == 404


def test_alices_later_photos_join_her_people(server, faceset):
    """Uploads after naming: the new faces join the named person, who finds them by name."""
    alice = server["alice"]
    grace = _person_of(server, "alice", GRACE, faceset)
    assert alice.patch(f"/api/people/{grace['id']}", json={"name": "Grace Hopper"}).status_code == 200
    later = upload_all(alice, [faceset[name] for name in server["later"]])
    wait_grouped(alice)
    assert face_of(alice, later["grace_hopper-gray.jpg"])["person_name"] == "Grace Hopper"
    found = {r["image"]["id"] for r in alice.get("/api/search", params={"q": "grace", "limit": 200}).json()["results"]}
    assert {later["grace_hopper-gray.jpg"], later["grace_hopper-mirror.jpg"]} <= found
    assert alice.get(f"/api/people/{grace['id']}").json()["total"] == grace["photos"] + 2


# ---- the faces switch ----------------------------------------------------------------------------------
def test_faces_can_be_switched_off(tmp_path: Path, faceset):
    home = tmp_path / "no-faces"
    app = create_app(ServiceSettings(home=home, single_user=True, faces=False))
    with TestClient(app, base_url=BASE, headers=CSRF) as client:
        ids = upload_all(client, _single(faceset, GRACE, ("original", "crop")))
        image = client.get(f"/api/images/{ids['grace_hopper-original.jpg']}").json()
        assert image["faces"] == [] and image["tags"]
        assert client.get("/api/people").json() == {"people": [], "ungrouped_faces": 0}
        assert client.get("/api/stats").json()["faces"] == 0
        # Searching by a face still works (the picture is analysed on the spot); nobody matches.
        picture = faceset["grace_hopper-original.jpg"].path.read_bytes()
        answer = client.post("/api/search/face", files={"file": ("q.jpg", picture)})
        assert answer.status_code == 200 and answer.json()["results"] == []
    store = open_store(home)
    try:
        versions = {f.analyzer for f in store.indexed_files(DEFAULT_OWNER).values()}
    finally:
        store.close()
    assert len(versions) == 1 and "faces" not in versions.pop(), "stored as analysed: without faces"


def test_face_crops_are_squares_inside_the_picture():
    assert crop_box((100, 100, 200, 200), 1000, 800) == (65, 65, 235, 235)  # the box and 35 % of it around
    assert crop_box((0, 0, 100, 100), 1000, 800) == (0, 0, 170, 170)  # moved in at an edge
    assert crop_box((950, 700, 1000, 800), 1000, 800) == (830, 630, 1000, 800)
    assert crop_box((0, 10, 90, 100), 120, 100) == (0, 0, 100, 100)  # larger than the picture: shrunk
