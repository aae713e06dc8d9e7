"""Places and the query language through the HTTP API: geotagged real photos uploaded by two users,
their places, the map's clusters, search with filters, exclusions, sorting, and bad queries (4xx)."""

from __future__ import annotations

import os

import pytest

from tests.test_api import BASE, CSRF, upload, wait_jobs
from tests.test_places import write_geotagged

pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from pixseek.service.app import create_app  # noqa: E402
from pixseek.service.auth import hash_password, new_token  # noqa: E402
from pixseek.service.settings import ServiceSettings  # noqa: E402
from pixseek.store import open_store  # noqa: E402


@pytest.fixture(scope="module")
def geo_server(model_dir, cache_dir, tmp_path_factory, gallery_master):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PIXSEEK_MODEL_DIR", str(model_dir))
        mp.setenv("PIXSEEK_CACHE_DIR", str(cache_dir))
        home = tmp_path_factory.mktemp("api-places")
        photos = write_geotagged(gallery_master[0], tmp_path_factory.mktemp("api-geotagged"))
        store = open_store(home)
        store.accounts.add_user("alice", hash_password("alice-secret"))
        bob = store.accounts.add_user("bob", hash_password("bob-secret"))
        bob_token, token_hash = new_token()
        store.accounts.add_token(bob.id, token_hash, "tests")
        store.close()
        app = create_app(ServiceSettings(home=home, single_user=True, workers=1))
        with TestClient(app, base_url=BASE):
            alice = TestClient(app, base_url=BASE, headers=CSRF)
            assert alice.post("/api/login", json={"username": "alice", "password": "alice-secret"}).status_code == 200
            bob_client = TestClient(app, base_url=BASE, headers={"Authorization": f"Bearer {bob_token}"})
            mine = [photos / "holidays" / "cat_lisbon.jpg", photos / "city" / "coffee_paris.jpg",
                    photos / "city" / "rocket_berlin.jpg", photos / "misc" / "astronaut.jpg"]
            jobs = upload(alice, *[(p.name, p.read_bytes()) for p in mine])
            theirs = upload(bob_client, ("motorbike_lisbon.jpg", (photos / "holidays" / "motorbike_lisbon.jpg").read_bytes()))
            done = wait_jobs(alice, [j["id"] for j in jobs]) + wait_jobs(bob_client, [j["id"] for j in theirs])
            assert all(j["status"] == "done" for j in done), done
            yield alice, bob_client


def _names(answer) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [r["image"]["name"] for r in answer.json()["results"]]


def _eventually(get, check, timeout: float = 30.0):
    """Places are named when the job runner refreshes after the uploads' analyses."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if check(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def test_places_per_user(geo_server):
    alice, bob = geo_server
    places = _eventually(lambda: alice.get("/api/places").json()["places"], lambda p: len(p) == 3)
    assert {p["place"]: p["images"] for p in places} == {
        "Lisbon, Portugal": 1, "Paris, Île-de-France, France": 1, "Berlin, State of Berlin, Germany": 1}
    assert next(p for p in places if p["city"] == "Lisbon")["query"] == 'in:"Lisbon"'
    theirs = _eventually(lambda: bob.get("/api/places").json()["places"], lambda p: len(p) == 1)
    assert [(p["place"], p["images"]) for p in theirs] == [("Lisbon, Portugal", 1)]


def test_the_map_groups_positions(geo_server):
    alice, _ = geo_server
    _eventually(lambda: alice.get("/api/places").json()["places"], lambda p: len(p) == 3)
    world = alice.get("/api/places/map", params={"cell": 30}).json()
    assert world["points"] == 3 and sum(c["count"] for c in world["clusters"]) == 3
    europe = {(round(c["lat"]), round(c["lon"])) for c in alice.get("/api/places/map", params={"cell": 1}).json()["clusters"]}
    assert europe == {(39, -9), (49, 2), (53, 13)}
    coarse = alice.get("/api/places/map", params={"cell": 90}).json()["clusters"]
    assert len(coarse) == 2 and coarse[0]["count"] == 2 and coarse[0]["image"]["thumbnail"].startswith("/api/images/")
    for bad in ("0", "-1", "x", "91"):
        assert alice.get("/api/places/map", params={"cell": bad}).status_code == 422


def test_search_with_the_query_language(geo_server):
    alice, bob = geo_server
    _eventually(lambda: alice.get("/api/places").json()["places"], lambda p: len(p) == 3)
    lisbon = alice.get("/api/search", params={"q": "lisbon"})
    assert _names(lisbon) == ["cat_lisbon.jpg"]  # bob's Lisbon photo is his
    first = lisbon.json()["results"][0]["image"]
    assert first["place"] == "Lisbon, Portugal"
    assert alice.get(f"/api/images/{first['id']}").json()["place"] == "Lisbon, Portugal"
    assert _names(bob.get("/api/search", params={"q": "portugal"})) == ["motorbike_lisbon.jpg"]
    assert set(_names(alice.get("/api/search", params={"q": "year:2019"}))) == {"cat_lisbon.jpg", "coffee_paris.jpg"}
    dated = _names(alice.get("/api/search", params={"q": "after:2018", "sort": "date"}))
    assert dated == ["rocket_berlin.jpg", "coffee_paris.jpg", "cat_lisbon.jpg", "astronaut.jpg"]
    described = alice.get("/api/search", params={"q": "cat -espresso in:lisbon"}).json()
    assert described["description"] == "cat, not espresso, taken in lisbon"
    nowhere = alice.get("/api/search", params={"q": "cat in:atlantis"}).json()
    assert nowhere["results"] == [] and "atlantis" in " ".join(nowhere["notes"])


@pytest.mark.parametrize(
    "params, status, says",
    [
        ({"q": "cat colour:red"}, 400, "unknown filter 'colour:'"),
        ({"q": "after:2019-13"}, 400, "expected a date like"),
        ({"q": "type:sound"}, 400, "type:photo or type:video"),
        ({"q": "cat", "sort": "size"}, 422, "sort"),
    ],
)
def test_bad_queries_are_4xx(geo_server, params, status, says):
    alice, _ = geo_server
    answer = alice.get("/api/search", params=params)
    assert answer.status_code == status and says in answer.text, answer.text
