"""The service on a PostgreSQL store: uploads analysed by the job runner's own connection,
searched, shown and deleted through the other, each user seeing only their own."""

from __future__ import annotations

import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from pixseek.service.app import create_app
from pixseek.service.auth import hash_password, new_token
from pixseek.service.settings import ServiceSettings
from pixseek.store import open_store
from test_api import BASE, CSRF, models_env, upload, wait_jobs  # noqa: F401 (fixture)


@pytest.fixture(scope="module")
def served(models_env, new_database, tmp_path_factory, gallery_master):
    url = new_database("api")
    store = open_store(url)
    store.accounts.add_user("alice", hash_password("alice-secret"))
    bob = store.accounts.add_user("bob", None)
    token, token_hash = new_token()
    store.accounts.add_token(bob.id, token_hash, "tests")
    store.close()
    settings = ServiceSettings(home=tmp_path_factory.mktemp("pg-home"), store=url, faces=False, ocr=False)
    gallery, _ = gallery_master
    with TestClient(create_app(settings), base_url=BASE) as client:
        alice = TestClient(client.app, base_url=BASE, headers=CSRF)
        assert alice.post("/api/login", json={"username": "alice", "password": "alice-secret"}).status_code == 200
        bob_client = TestClient(client.app, base_url=BASE, headers={"Authorization": f"Bearer {token}"})
        photos = gallery / "photos"
        jobs = upload(alice, ("chelsea.png", (photos / "chelsea.png").read_bytes()),
                      ("coffee.png", (photos / "coffee.png").read_bytes()))
        done = wait_jobs(alice, [j["id"] for j in jobs])
        assert all(j["status"] == "done" for j in done), done
        yield {"alice": alice, "bob": bob_client, "cat": done[0]["image_id"], "coffee": done[1]["image_id"], "url": url}


def test_uploads_are_searchable_and_shown(served):
    alice = served["alice"]
    result = alice.get("/api/search", params={"q": "cat"}).json()
    assert result["results"][0]["image"]["id"] == served["cat"]
    assert alice.get("/api/search", params={"q": "Kaffee"}).json()["results"][0]["image"]["id"] == served["coffee"]
    detail = alice.get(f"/api/images/{served['cat']}").json()
    assert detail["name"] == "chelsea.png" and detail["tags"] and detail["text"] is None
    similar = alice.get(f"/api/images/{served['coffee']}/similar", params={"limit": 5}).json()
    assert [r["image"]["id"] for r in similar["results"]] == [served["cat"]]
    listing = alice.get("/api/images").json()
    assert listing["total"] == 2 and alice.get("/api/stats").json()["images"] == 2


def test_another_user_sees_nothing(served):
    bob = served["bob"]
    assert bob.get(f"/api/images/{served['cat']}").status_code == 404
    assert bob.get("/api/search", params={"q": "cat"}).json()["results"] == []
    assert bob.get("/api/images").json()["total"] == 0


def test_delete_is_durable(served):
    alice = served["alice"]
    assert alice.delete(f"/api/images/{served['coffee']}").status_code == 204
    assert alice.get(f"/api/images/{served['coffee']}").status_code == 404
    store = open_store(served["url"])  # another process's view: committed
    try:
        assert store.count_images(1) == 0 and len(store.matching(store.accounts.user("alice").id)) == 1
    finally:
        store.close()
