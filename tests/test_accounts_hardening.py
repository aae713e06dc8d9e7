"""Accounts, hardened (issue 12 §4), against the real app: sign-in back-off, ids that tell one user
nothing about the others' records, the CSRF check on logout.

One app serves the module (no faces, no OCR: only ids and sign-ins matter here); alice and bob sign
in with passwords and upload in turn, so their records are made interleaved.
"""

from __future__ import annotations

import itertools
import time
import warnings

import pytest

with warnings.catch_warnings():  # starlette warns that it would prefer httpx2 to httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from test_api import BASE, CSRF, models_env, png, upload, wait_jobs  # noqa: F401 (models_env: a fixture)

from pixseek.service.app import create_app
from pixseek.service.auth import LoginThrottle, hash_password
from pixseek.service.public_ids import PUBLIC_MAX, PublicIds
from pixseek.service.settings import ServiceSettings
from pixseek.store import open_store

pytestmark = pytest.mark.usefixtures("models_env")
SECRET = bytes(range(32))  # a fixed key, so that what the ids look like does not depend on luck


def client(app, address: str, **kwargs) -> TestClient:
    return TestClient(app, base_url=BASE, client=(address, 50000), **kwargs)


def sign_in(c: TestClient, name: str, password: str):
    return c.post("/api/login", json={"username": name, "password": password})


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("hardening")
    store = open_store(home)
    for name in ("alice", "bob", "carol"):
        store.accounts.add_user(name, hash_password(f"{name}-secret"))
    store.accounts.set_public_id_secret(SECRET)
    store.close()
    app = create_app(ServiceSettings(home=home, faces=False, ocr=False))
    with TestClient(app, base_url=BASE):
        users = {name: client(app, f"10.0.0.{n}", headers=CSRF) for n, name in enumerate(("alice", "bob"), 1)}
        for name, c in users.items():
            assert sign_in(c, name, f"{name}-secret").status_code == 200
        uploads: list[tuple[str, dict]] = []
        for n in range(3):  # alice, bob, alice, bob...: interleaved, as on a shared server
            for name, c in users.items():
                shade = 60 * n + (0 if name == "alice" else 30)
                uploads.append((name, upload(c, (f"{name}{n}.png", png((shade, 200 - shade, 90))))[0]))
        done = {name: wait_jobs(c, [j["id"] for owner, j in uploads if owner == name]) for name, c in users.items()}
        assert all(j["status"] == "done" for jobs in done.values() for j in jobs), done
        yield {"app": app, "home": home, **users, "jobs": done}


# ---- ids -----------------------------------------------------------------------------------------
def test_interleaved_uploads_get_ids_that_count_nothing(served):
    for kind in ("id", "image_id"):  # job ids, image ids
        alice = [j[kind] for j in served["jobs"]["alice"]]
        bob = [j[kind] for j in served["jobs"]["bob"]]
        in_turn = [i for pair in zip(alice, bob) for i in pair]  # the order they were made in
        assert all(0 <= i <= PUBLIC_MAX for i in in_turn), "exact as JavaScript numbers"
        # Internally these are 1..6 in turn; shown, they are far apart and in no order.
        assert min(abs(a - b) for a, b in itertools.combinations(in_turn, 2)) > 2**20, in_turn
        assert in_turn != sorted(in_turn) and in_turn != sorted(in_turn, reverse=True), in_turn
    image_ids = {j["image_id"] for jobs in served["jobs"].values() for j in jobs}
    job_ids = {j["id"] for jobs in served["jobs"].values() for j in jobs}
    assert not image_ids & job_ids, "one kind's id says nothing about another's"
    me = served["alice"].get("/api/me").json()
    assert me["id"] > 2**20, "user ids do not count the users either"


def test_ids_round_trip_through_every_endpoint(served):
    alice = served["alice"]
    listing = alice.get("/api/images").json()
    jobs = {j["id"]: j for j in alice.get("/api/jobs").json()["jobs"]}
    assert {i["id"] for i in listing["images"]} == {j["image_id"] for j in jobs.values()}
    for job_id, job in jobs.items():
        assert alice.get(f"/api/jobs/{job_id}").json() == job
    for image in listing["images"]:
        detail = alice.get(f"/api/images/{image['id']}")
        assert detail.status_code == 200 and detail.json()["id"] == image["id"]
        assert alice.get(f"/api/images/{image['id']}/text").status_code == 200
        assert alice.get(f"/api/images/{image['id']}/faces").json() == {"faces": []}
        assert alice.get(image["thumbnail"]).headers["content-type"] == "image/jpeg"
        assert alice.get(image["original"]).status_code == 200
        similar = alice.get(f"/api/images/{image['id']}/similar").json()["results"]
        assert {r["image"]["id"] for r in similar} <= {i["id"] for i in listing["images"]}
    found = alice.get("/api/search", params={"q": "thing", "threshold": 0, "limit": 50}).json()["results"]
    assert {r["image"]["id"] for r in found} <= {i["id"] for i in listing["images"]}


def test_foreign_and_garbage_ids_are_404(served):
    alice, bob = served["alice"], served["bob"]
    bobs_image = served["jobs"]["bob"][0]["image_id"]
    bobs_job = served["jobs"]["bob"][0]["id"]
    for path in (f"/api/images/{bobs_image}", f"/api/images/{bobs_image}/thumbnail", f"/api/images/{bobs_image}/similar",
                 f"/api/jobs/{bobs_job}"):
        answer = alice.get(path)
        assert answer.status_code == 404, path
        kind, number = path.split("/")[2].rstrip("s"), path.split("/")[3]
        assert answer.json() == {"detail": f"no {kind} {number}"}, "the id as sent, nothing more"
    assert alice.delete(f"/api/images/{bobs_image}").status_code == 404
    assert bob.get(f"/api/images/{bobs_image}").status_code == 200, "still there"
    # Numbers nobody was given: small ones (the internal ids), random ones, ones no id can be.
    for number in (1, 2, 3, 4, 5, 6, 7, 123456789, PUBLIC_MAX, PUBLIC_MAX + 1, 2**70, -1):
        for path in (f"/api/images/{number}", f"/api/jobs/{number}", f"/api/faces/{number}/thumbnail",
                     f"/api/people/{number}"):
            answer = alice.get(path)
            assert answer.status_code == 404 and answer.json()["detail"].endswith(str(number)), (path, answer.text)
    # Ids in bodies too.
    for body in ({"people": [2]}, {"people": [2**60]}):
        assert alice.post("/api/people/1/merge", json=body).status_code == 404
    answer = alice.post(f"/api/people/{PUBLIC_MAX}/split", json={"faces": [7]})
    assert answer.status_code == 404 and answer.json() == {"detail": f"no person {PUBLIC_MAX}"}
    assert alice.post("/api/people/-5/remove", json={"faces": [1]}).status_code == 404
    # Anonymous requests are a 401 whatever the id.
    for number in (1, -1, bobs_image):
        assert TestClient(served["app"], base_url=BASE).get(f"/api/images/{number}").status_code == 401


def test_public_ids_are_a_keyed_permutation_per_kind():
    ids = PublicIds(SECRET)
    sample = list(range(0, 5000)) + [2**40 + 7, PUBLIC_MAX]
    for kind in ("image", "job", "face", "person", "user"):
        shown = [ids.encode(kind, i) for i in sample]
        assert len(set(shown)) == len(sample) and all(0 <= s <= PUBLIC_MAX for s in shown)
        assert [ids.decode(kind, s) for s in shown] == sample
    assert ids.decode("image", -1) is None and ids.decode("image", PUBLIC_MAX + 1) is None
    # Consecutive ids land anywhere: their order and gaps say nothing.
    shown = [ids.encode("image", i) for i in range(1, 1001)]
    ranks = {s: r for r, s in enumerate(sorted(shown))}
    rho = 1 - 6 * sum((ranks[s] - n) ** 2 for n, s in enumerate(shown)) / (1000 * (1000**2 - 1))
    assert abs(rho) < 0.1, rho
    # Another library's key gives other ids; another kind too.
    assert PublicIds(bytes(32)).encode("image", 1) != ids.encode("image", 1) != ids.encode("job", 1)
    with pytest.raises(ValueError):
        PublicIds(b"short")


# ---- sign-in back-off ------------------------------------------------------------------------------
def test_wrong_passwords_make_the_account_wait(served):
    app = served["app"]
    guesser = client(app, "10.1.0.1")
    for _ in range(5):
        assert sign_in(guesser, "carol", "wrong-password").status_code == 401
    refused = sign_in(guesser, "carol", "carol-secret")  # the right one, during the wait
    assert refused.status_code == 429, refused.text
    wait = int(refused.headers["Retry-After"])
    assert wait >= 1 and "try again" in refused.json()["detail"] and "set-cookie" not in refused.headers
    # Per account: from another address as well.
    assert sign_in(client(app, "10.1.0.2"), "carol", "carol-secret").status_code == 429
    time.sleep(wait)
    assert sign_in(guesser, "carol", "carol-secret").status_code == 200
    # A success clears the account: the next mistake is an ordinary 401 again.
    assert sign_in(guesser, "carol", "wrong-password").status_code == 401
    assert sign_in(guesser, "carol", "carol-secret").status_code == 200


def test_guesses_at_many_accounts_make_the_client_wait(served):
    app = served["app"]
    sprayer = client(app, "10.2.0.1")
    for n in range(20):
        assert sign_in(sprayer, f"user{n}", "Summer2026!").status_code == 401
    assert sign_in(sprayer, "bob", "bob-secret").status_code == 429
    assert sign_in(client(app, "10.2.0.2"), "bob", "bob-secret").status_code == 200  # others are not held up


def test_throttle_waits_double_and_are_bounded():
    now = [0.0]
    throttle = LoginThrottle(free_per_account=2, free_per_client=100, first_wait_s=1, max_wait_s=8, memory_s=60,
                             max_keys=10, timer=lambda: now[0])
    waits = []
    for _ in range(7):  # wrong passwords, each tried as soon as allowed
        wait = throttle.waiting("alice", "c1")
        if wait:
            assert throttle.begin("alice", "c1") == wait  # refused (and not counted)
        now[0] += wait
        assert throttle.begin("alice", "c1") == 0  # let through, and counted as failed
        waits.append(wait)
    assert waits == [0, 0, 1, 2, 4, 8, 8]
    assert throttle.begin("alice", "c2") == 8, "the account waits, whatever the client"
    now[0] += 8
    assert throttle.begin("alice", "c1") == 0
    throttle.succeeded("alice", "c1")
    assert throttle.waiting("alice", "c1") == 0
    assert throttle.begin("alice", "c1") == 0 and throttle.begin("alice", "c1") == 0  # free again
    # Bounded memory: at most max_keys names, each forgotten after memory_s.
    for n in range(50):
        throttle.begin(f"name{n}", "c2")
    assert len(throttle) <= 10
    now[0] += 61
    assert len(throttle) == 0


# ---- logout --------------------------------------------------------------------------------------------
def test_logout_needs_csrf_proof(served):
    app = served["app"]
    browser = client(app, "10.3.0.1")
    assert sign_in(browser, "carol", "carol-secret").status_code == 200
    cross = browser.post("/api/logout", headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403 and "set-cookie" not in cross.headers
    assert browser.post("/api/logout").status_code == 403  # neither Origin nor X-Requested-With
    assert browser.get("/api/me").status_code == 200, "still signed in"
    assert browser.post("/api/logout", headers={"Origin": BASE}).status_code == 204
    assert browser.get("/api/me").status_code == 401
