"""The HTTP service against the real app: real models, real uploads of the sample gallery's photos.

One app (and one job runner with its spawned analysis process) is shared by the module; alice signs
in with a password (cookie session), bob uses an API token. Smaller apps test single-user mode,
resuming jobs, and the `pixseek serve` command.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from PIL import Image

with warnings.catch_warnings():  # starlette warns that it would prefer httpx2 to httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from pixseek.service.app import create_app
from pixseek.service.auth import hash_password, new_token
from pixseek.service.settings import ServiceSettings
from pixseek.service.uploads import MAX_NAME_BYTES, sanitise_name
from pixseek.store import open_store

BASE = "http://127.0.0.1"
CSRF = {"X-Requested-With": "pixseek-tests"}
LIMIT = 1024 * 1024  # max upload bytes of the module's app: small, to test 413


def wait_jobs(client: TestClient, job_ids: list[int], timeout: float = 60.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        jobs = [client.get(f"/api/jobs/{i}").json() for i in job_ids]
        if all(j["status"] in ("done", "failed") for j in jobs):
            return jobs
        assert time.monotonic() < deadline, jobs
        time.sleep(0.1)


def upload(client: TestClient, *files: tuple[str, bytes]) -> list[dict]:
    response = client.post("/api/images", files=[("files", (name, data)) for name, data in files])
    assert response.status_code == 202, response.text
    return response.json()["jobs"]


def raw_upload(client: TestClient, *files: tuple[bytes, bytes]) -> list[dict]:
    """Upload with file names sent byte for byte (HTTP clients escape odd characters)."""
    boundary = b"pixseek-test-boundary"
    body = b"".join(
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="files"; filename="' + name
        + b'"\r\nContent-Type: application/octet-stream\r\n\r\n' + data + b"\r\n"
        for name, data in files
    ) + b"--" + boundary + b"--\r\n"
    response = client.post(
        "/api/images", content=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary.decode()}"}
    )
    assert response.status_code == 202, response.text
    return response.json()["jobs"]


def png(color: tuple[int, int, int], size: tuple[int, int] = (96, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def models_env(model_dir, cache_dir):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PIXSEEK_MODEL_DIR", str(model_dir))
        mp.setenv("PIXSEEK_CACHE_DIR", str(cache_dir))
        yield {**os.environ}


@pytest.fixture(scope="module")
def server(models_env, tmp_path_factory, gallery_master):
    """The shared app: alice (password, cookie) and bob (token), each with uploads analysed."""
    home = tmp_path_factory.mktemp("api-library")
    store = open_store(home)
    alice_user = store.accounts.add_user("alice", hash_password("alice-secret"))
    bob_user = store.accounts.add_user("bob", hash_password("bob-secret"))
    bob_token, token_hash = new_token()
    store.accounts.add_token(bob_user.id, token_hash, "tests")
    store.close()
    settings = ServiceSettings(home=home, max_upload_bytes=LIMIT, max_files_per_request=5, single_user=True)
    app = create_app(settings)
    gallery, _ = gallery_master
    with TestClient(app, base_url=BASE) as lifespan_client:
        alice = TestClient(app, base_url=BASE, headers=CSRF)
        login = alice.post("/api/login", json={"username": "alice", "password": "alice-secret"})
        assert login.status_code == 200, login.text
        bob = TestClient(app, base_url=BASE, headers={"Authorization": f"Bearer {bob_token}"})
        photos = gallery / "photos"
        alice_jobs = upload(alice, ("chelsea.png", (photos / "chelsea.png").read_bytes()),
                            ("coffee.png", (photos / "coffee.png").read_bytes()))
        bob_jobs = upload(bob, ("shirt.png", (gallery / "fashion" / "fashion_00000.png").read_bytes()))
        alice_done = wait_jobs(alice, [j["id"] for j in alice_jobs])
        bob_done = wait_jobs(bob, [j["id"] for j in bob_jobs])
        assert all(j["status"] == "done" for j in alice_done + bob_done), alice_done + bob_done
        yield {
            "app": app, "home": home, "gallery": gallery, "settings": settings,
            "alice": alice, "bob": bob, "anon": TestClient(app, base_url=BASE), "client": lifespan_client,
            "alice_id": alice_user.id, "bob_id": bob_user.id, "bob_token": bob_token,
            "cat": alice_done[0]["image_id"], "coffee": alice_done[1]["image_id"],
            "shirt": bob_done[0]["image_id"], "alice_jobs": [j["id"] for j in alice_done],
            "bob_jobs": [j["id"] for j in bob_done],
        }


# ---- auth ------------------------------------------------------------------------------------------
def test_health_ui_and_openapi(server):
    anon = server["anon"]
    assert anon.get("/api/health").json() == {"status": "ok"}
    page = anon.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "nosniff" == page.headers["x-content-type-options"] and "frame-ancestors" in page.headers["content-security-policy"]
    spec = anon.get("/openapi.json").json()
    assert {"/api/search", "/api/images", "/api/jobs/{job_id}"} <= set(spec["paths"])
    docs = anon.get("/docs")
    assert docs.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in docs.text  # no CDN
    assert anon.get("/docs-assets/swagger-ui-bundle.js").status_code == 200


def test_every_api_route_needs_a_user(server):
    anon = server["anon"]
    for method, path in [("GET", "/api/me"), ("GET", "/api/images"), ("GET", f"/api/images/{server['cat']}"),
                         ("GET", "/api/search?q=cat"), ("GET", "/api/stats"), ("GET", "/api/jobs"),
                         ("GET", "/api/words?q=cat"), ("DELETE", f"/api/images/{server['cat']}")]:
        response = anon.request(method, path)
        assert response.status_code == 401, (method, path, response.text)
        assert isinstance(response.json()["detail"], str)
    bad_token = anon.get("/api/me", headers={"Authorization": "Bearer pxs_not-a-real-token"})
    assert bad_token.status_code == 401 and "token" in bad_token.json()["detail"]
    assert anon.get("/api/me", headers={"Authorization": "Basic YWxpY2U6eA=="}).status_code == 401
    assert anon.get("/api/me", headers={"Cookie": "pixseek_session=forged"}).status_code == 401


def test_login_me_and_uniform_failures(server):
    anon = server["anon"]
    wrong = anon.post("/api/login", json={"username": "alice", "password": "wrong-password"})
    unknown = anon.post("/api/login", json={"username": "mallory", "password": "wrong-password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "invalid username or password"}
    assert "set-cookie" not in wrong.headers
    malformed = anon.post("/api/login", content=b'{"username": "alice", ', headers={"Content-Type": "application/json"})
    assert malformed.status_code == 422 and "malformed JSON" in malformed.json()["detail"]
    missing = anon.post("/api/login", json={"username": "alice"})
    assert missing.status_code == 422 and "password" in missing.json()["detail"]
    me = server["alice"].get("/api/me").json()
    assert me == {"id": me["id"], "name": "alice", "single_user": False} and me["id"] != server["alice_id"]
    signed_in = server["anon"].post("/api/login", json={"username": "alice", "password": "alice-secret"})
    assert signed_in.json()["user"] == {"id": me["id"], "name": "alice"}
    assert server["bob"].get("/api/me").json()["name"] == "bob"


def test_session_cookie_flags_and_logout(server):
    client = TestClient(server["app"], base_url=BASE, headers=CSRF)
    response = client.post("/api/login", json={"username": "alice", "password": "alice-secret"})
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("pixseek_session=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    secret = client.cookies["pixseek_session"]
    assert client.get("/api/me").status_code == 200
    out = client.post("/api/logout")
    assert out.status_code == 204 and "pixseek_session=" in out.headers["set-cookie"]
    assert client.get("/api/me").status_code == 401
    # The session is gone server-side too: replaying the old cookie does not work.
    replay = TestClient(server["app"], base_url=BASE)
    assert replay.get("/api/me", headers={"Cookie": f"pixseek_session={secret}"}).status_code == 401


def test_cookie_requests_that_change_data_need_csrf_proof(server):
    client = TestClient(server["app"], base_url=BASE)  # no X-Requested-With by default
    client.post("/api/login", json={"username": "alice", "password": "alice-secret"})
    assert client.get("/api/me").status_code == 200  # reads are fine
    bare = client.delete("/api/images/999999")
    assert bare.status_code == 403 and "X-Requested-With" in bare.json()["detail"]
    cross = client.delete("/api/images/999999", headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403
    same = client.delete("/api/images/999999", headers={"Origin": BASE})
    assert same.status_code == 404  # allowed through, then: no such image
    assert client.delete("/api/images/999999", headers=CSRF).status_code == 404
    # A cross-site login form cannot log a victim into another account either.
    assert client.post("/api/login", json={"username": "bob", "password": "bob-secret"},
                       headers={"Origin": "http://evil.example"}).status_code == 403
    # Tokens are never sent by browsers on their own: no extra proof needed.
    assert server["bob"].delete("/api/images/999999").status_code == 404


# ---- the library -------------------------------------------------------------------------------------
def test_uploaded_images_are_searchable(server):
    alice = server["alice"]
    result = alice.get("/api/search", params={"q": "cat", "limit": 5}).json()
    assert result["results"][0]["image"]["id"] == server["cat"]
    assert result["interpretation"] == ["cat"] and result["results"][0]["why"]
    image = result["results"][0]["image"]
    assert image["name"] == "chelsea.png" and image["paths"] == ["uploads/chelsea.png"]
    assert (image["width"], image["height"], image["format"]) == (451, 300, "PNG")
    assert image["thumbnail"] == f"/api/images/{server['cat']}/thumbnail"
    espresso = alice.get("/api/search", params={"q": "espresso"}).json()
    assert espresso["results"][0]["image"]["id"] == server["coffee"]
    unknown = alice.get("/api/search", params={"q": "qwertyuiop"})
    assert unknown.status_code == 400 and "no known words" in unknown.json()["detail"]
    assert alice.get("/api/search", params={"q": "volcano"}).json()["results"] == []


def test_new_upload_is_searchable_as_soon_as_its_job_is_done(server):
    # The reader store follows the writer: no restart, no waiting for index rebuilds (tail scan).
    alice, gallery = server["alice"], server["gallery"]
    before = alice.get("/api/search", params={"q": "espresso", "limit": 10}).json()["results"]
    (job,) = upload(alice, ("coffee_crop.jpg", (gallery / "derived" / "coffee_crop.jpg").read_bytes()))
    (done,) = wait_jobs(alice, [job["id"]])
    assert done["status"] == "done" and done["error"] is None
    after = alice.get("/api/search", params={"q": "espresso", "limit": 10}).json()["results"]
    assert done["image_id"] in [r["image"]["id"] for r in after] and len(after) == len(before) + 1
    similar = alice.get(f"/api/images/{server['coffee']}/similar", params={"limit": 1}).json()
    assert similar["results"][0]["image"]["id"] == done["image_id"]
    assert alice.delete(f"/api/images/{done['image_id']}").status_code == 204


def test_list_detail_and_filters(server):
    alice = server["alice"]
    listing = alice.get("/api/images").json()
    ids = [i["id"] for i in listing["images"]]
    assert listing["total"] == 2 and listing["offset"] == 0 and set(ids) == {server["cat"], server["coffee"]}
    assert ids == [server["coffee"], server["cat"]]  # no EXIF dates: newest first by upload
    page = alice.get("/api/images", params={"offset": 1, "limit": 1}).json()
    assert page["total"] == 2 and [i["id"] for i in page["images"]] == ids[1:]
    assert alice.get("/api/images", params={"folder": "uploads"}).json()["total"] == 2
    assert alice.get("/api/images", params={"folder": "nope/deeper"}).json()["total"] == 0
    assert alice.get("/api/images", params={"date_from": "2000-01-01"}).json()["total"] == 0  # no dates
    assert alice.get("/api/images", params={"camera": "canon"}).json()["total"] == 0
    detail = alice.get(f"/api/images/{server['cat']}").json()
    tags = {t["name"]: t for t in detail["tags"]}
    assert {"cat", "animal"} <= set(tags) and tags["cat"]["kind"] == "concept"
    assert detail["gps"] is None and detail["camera"] is None


def test_thumbnails_and_original(server):
    alice, home, cat = server["alice"], server["home"], server["cat"]
    sizes = {}
    for size in (128, 256, 512):
        response = alice.get(f"/api/images/{cat}/thumbnail", params={"size": size})
        assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
        assert response.headers["cache-control"].startswith("private, max-age=")
        thumb = Image.open(io.BytesIO(response.content))
        sizes[size] = thumb.size
        assert thumb.format == "JPEG" and max(thumb.size) <= size
    assert sizes[128] == (128, 85) and sizes[512] == (451, 300)  # never enlarged
    default = alice.get(f"/api/images/{cat}/thumbnail")
    assert Image.open(io.BytesIO(default.content)).size == sizes[256]
    cached = list((home / "thumbnails").rglob("256.jpg"))
    assert len(cached) == 1 and cached[0].read_bytes() == default.content
    again = alice.get(f"/api/images/{cat}/thumbnail", headers={"If-None-Match": default.headers["etag"]})
    assert again.status_code == 304 and not again.content
    original = alice.get(f"/api/images/{cat}/original")
    assert original.status_code == 200 and original.headers["content-type"] == "image/png"
    assert original.content == (server["gallery"] / "photos" / "chelsea.png").read_bytes()


def test_thumbnail_is_upright(server, tmp_path):
    # A portrait photo stored sideways with EXIF orientation 6: the thumbnail must be upright.
    alice = server["alice"]
    buffer = io.BytesIO()
    sideways = Image.new("RGB", (120, 60), (200, 30, 30))
    sideways.paste((20, 20, 220), (0, 0, 40, 60))  # blue band on the left of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways.save(buffer, "JPEG", exif=exif, quality=95)
    (job,) = upload(alice, ("portrait.jpg", buffer.getvalue()))
    (done,) = wait_jobs(alice, [job["id"]])
    image_id = done["image_id"]
    detail = alice.get(f"/api/images/{image_id}").json()
    assert (detail["width"], detail["height"]) == (60, 120)
    thumb = Image.open(io.BytesIO(alice.get(f"/api/images/{image_id}/thumbnail", params={"size": 128}).content))
    assert thumb.size == (60, 120)  # smaller than 128: never enlarged
    r, _, b = thumb.convert("RGB").getpixel((30, 4))  # rotated 90° clockwise: the band is now on top
    assert b > 150 and r < 100
    assert alice.delete(f"/api/images/{image_id}").status_code == 204


def test_similar_words_stats_and_jobs(server):
    alice = server["alice"]
    similar = alice.get(f"/api/images/{server['cat']}/similar", params={"focus": "cat", "limit": 5}).json()
    assert similar["results"] and similar["results"][0]["why"] == ["focus: cat"]
    assert server["cat"] not in [r["image"]["id"] for r in similar["results"]]
    bad_focus = alice.get(f"/api/images/{server['cat']}/similar", params={"focus": "qwertyuiop"})
    assert bad_focus.status_code == 400 and "unknown focus" in bad_focus.json()["detail"]
    words = alice.get("/api/words", params={"q": "seashore"}).json()["words"]
    assert {w["word"] for w in words} & {"beach", "coast", "shore", "shoreline"}
    assert alice.get("/api/words", params={"q": "qwertyuiop"}).json() == {"words": []}
    stats = alice.get("/api/stats").json()
    assert stats["images"] == 2 and stats["files"] == 2
    assert stats["jobs"]["queued"] == 0 and stats["jobs"]["running"] == 0
    assert stats["bytes_by_part"]["categories: forward rows"] > 0
    jobs = alice.get("/api/jobs").json()["jobs"]
    assert [j["created_at"] for j in jobs] == sorted((j["created_at"] for j in jobs), reverse=True)  # newest first
    assert set(server["alice_jobs"]) <= {j["id"] for j in jobs}
    assert all(j["status"] == "failed" for j in alice.get("/api/jobs", params={"status": "failed"}).json()["jobs"])
    job = alice.get(f"/api/jobs/{server['alice_jobs'][0]}").json()
    assert job["status"] == "done" and job["name"] == "chelsea.png" and job["image_id"] == server["cat"]
    assert job["created_at"].endswith("Z") and job["finished_at"]


def test_search_by_image_is_not_stored(server):
    alice, home = server["alice"], server["home"]
    before = files_under(home / "uploads")
    data = (server["gallery"] / "derived" / "chelsea_flip.jpg").read_bytes()
    found = alice.post("/api/search/by-image", files={"file": ("q.jpg", data)}, params={"limit": 1})
    assert found.status_code == 200, found.text
    assert [r["image"]["id"] for r in found.json()["results"]] == [server["cat"]]
    focused = alice.post("/api/search/by-image", files={"file": ("q.jpg", data)}, data={"focus": "cat", "limit": "2"})
    assert focused.status_code == 200 and focused.json()["results"][0]["why"] == ["focus: cat"]
    assert files_under(home / "uploads") == before
    not_image = alice.post("/api/search/by-image", files={"file": ("q.jpg", b"just text")})
    assert not_image.status_code == 415 and "not an image" in not_image.json()["detail"]
    no_file = alice.post("/api/search/by-image", files={"other": ("q.jpg", data)})
    assert no_file.status_code == 422


def test_delete_removes_the_upload(server):
    alice, home = server["alice"], server["home"]
    (job,) = upload(alice, ("red.png", png((220, 20, 20))))
    (done,) = wait_jobs(alice, [job["id"]])
    image_id = done["image_id"]
    stored = [p for p in files_under(home / "uploads") if p.name == "red.png"]
    assert len(stored) == 1
    assert alice.get(f"/api/images/{image_id}/thumbnail").status_code == 200
    thumbs = home / "thumbnails" / stored[0].parent.name
    assert thumbs.is_dir()
    assert alice.delete(f"/api/images/{image_id}").status_code == 204
    assert not stored[0].exists() and not stored[0].parent.exists() and not thumbs.exists()
    assert alice.get(f"/api/images/{image_id}").status_code == 404
    assert alice.delete(f"/api/images/{image_id}").status_code == 404
    assert image_id not in [i["id"] for i in alice.get("/api/images").json()["images"]]


# ---- isolation ---------------------------------------------------------------------------------------
def test_bob_never_sees_alices_images(server):
    bob, alice = server["bob"], server["alice"]
    alice_ids = {server["cat"], server["coffee"]}
    gallery = server["gallery"]
    # Guessing ids: every id that is not bob's is "no image", whether it exists or not.
    guesses = set(range(1, 12)) | alice_ids | {server["shirt"] - 1, server["shirt"], server["shirt"] + 1}
    for image_id in sorted(guesses):
        expected = 200 if image_id == server["shirt"] else 404
        for suffix in ("", "/thumbnail", "/original", "/similar"):
            response = bob.get(f"/api/images/{image_id}{suffix}")
            assert response.status_code == expected, (image_id, suffix, response.text)
        if image_id != server["shirt"]:
            assert bob.get(f"/api/images/{image_id}").json() == {"detail": f"no image {image_id}"}
    for image_id in alice_ids:
        assert bob.delete(f"/api/images/{image_id}").status_code == 404
        assert alice.get(f"/api/images/{image_id}").status_code == 200  # still there
    for job_id in server["alice_jobs"]:
        assert bob.get(f"/api/jobs/{job_id}").status_code == 404
    assert {j["id"] for j in bob.get("/api/jobs").json()["jobs"]} == set(server["bob_jobs"])
    listing = bob.get("/api/images", params={"limit": 200}).json()
    assert listing["total"] == 1 and [i["id"] for i in listing["images"]] == [server["shirt"]]

    def ids(result: dict) -> set[int]:
        return {r["image"]["id"] for r in result["results"]}

    for q in ("cat", "espresso", "animal", "cup"):
        assert not ids(bob.get("/api/search", params={"q": q, "threshold": 0}).json()) & alice_ids
    cat_bytes = (gallery / "photos" / "chelsea.png").read_bytes()
    by_image = bob.post("/api/search/by-image", files={"file": ("x.png", cat_bytes)}, params={"limit": 50}).json()
    assert ids(by_image) <= {server["shirt"]}
    focused = bob.post("/api/search/by-image", files={"file": ("x.png", cat_bytes)}, data={"focus": "cat"}).json()
    assert ids(focused) <= {server["shirt"]}
    similar = bob.get(f"/api/images/{server['shirt']}/similar", params={"limit": 50}).json()
    assert not ids(similar) & alice_ids
    stats = bob.get("/api/stats").json()
    assert stats["images"] == 1 and stats["files"] == 1
    # ...and the other way round.
    assert alice.get(f"/api/images/{server['shirt']}").status_code == 404
    assert server["shirt"] not in ids(alice.get("/api/search", params={"q": "jersey", "threshold": 0}).json())


# ---- bad input ---------------------------------------------------------------------------------------
def test_oversized_and_too_many_files_are_refused_and_nothing_is_stored(server):
    alice, home = server["alice"], server["home"]
    before_files, before_jobs = files_under(home / "uploads"), alice.get("/api/jobs").json()["jobs"]
    big = os.urandom(LIMIT + 1)
    response = alice.post("/api/images", files=[("files", ("big.jpg", big))])
    assert response.status_code == 413 and "limit" in response.json()["detail"]
    small = png((1, 2, 3))
    too_many = alice.post("/api/images", files=[("files", (f"{i}.png", small)) for i in range(6)])
    assert too_many.status_code == 413 and "too many files" in too_many.json()["detail"]
    # A body declared larger than any request may be is refused before it is read.
    declared = alice.post("/api/search/by-image", content=b"x" * (LIMIT + 100 * 1024),
                          headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert declared.status_code == 413
    assert alice.post("/api/images", content=b"{}", headers={"Content-Type": "application/json"}).status_code == 415
    assert alice.post("/api/images", files=[("wrong-field", ("a.png", small))]).status_code == 422
    assert files_under(home / "uploads") == before_files
    assert alice.get("/api/jobs").json()["jobs"] == before_jobs


def test_not_an_image_becomes_a_failed_job_and_nothing_is_stored(server):
    alice, home = server["alice"], server["home"]
    before = files_under(home / "uploads")
    jobs = upload(alice, ("holiday.jpg", b"this is a text file, not a photo\n" * 20), ("empty.png", b""))
    assert [j["status"] for j in jobs] == ["failed", "failed"]
    assert jobs[0]["error"] == "not an image (unrecognised format)" and jobs[0]["name"] == "holiday.jpg"
    assert jobs[1]["error"] == "empty file" and jobs[0]["image_id"] is None
    assert alice.get(f"/api/jobs/{jobs[0]['id']}").json()["status"] == "failed"
    assert files_under(home / "uploads") == before
    assert alice.get("/api/stats").json()["images"] == 2


def test_decompression_bomb_is_refused_at_upload(server, monkeypatch):
    # Workers are separate processes: the check that counts runs in the server process, at upload.
    alice, home = server["alice"], server["home"]
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    before = files_under(home / "uploads")
    bomb = png((9, 9, 9), size=(400, 300))
    (job,) = upload(alice, ("bomb.png", bomb))
    assert job["status"] == "failed" and job["error"].startswith("decompression bomb")
    by_image = alice.post("/api/search/by-image", files={"file": ("bomb.png", bomb)})
    assert by_image.status_code == 413 and "decompression bomb" in by_image.json()["detail"]
    assert files_under(home / "uploads") == before


def test_upload_names_cannot_escape(server, tmp_path):
    alice, home = server["alice"], server["home"]
    names = [b"../../../evil.png", b"..\\..\\evil2.png", b"/etc/passwd", b"..", b"\x1b[31mred\x07\x00.png",
             "ok\u202e".encode() * 100 + b".png"]
    files = [(name, png((10 * i, 200, 40))) for i, name in enumerate(names)]
    jobs = raw_upload(alice, *files[:5]) + raw_upload(alice, *files[5:])  # at most 5 per request here
    done = wait_jobs(alice, [j["id"] for j in jobs])
    assert all(j["status"] == "done" for j in done), done
    assert [j["name"] for j in done[:5]] == ["evil.png", "evil2.png", "passwd", "upload", "[31mred.png"]
    assert len(done[5]["name"].encode()) <= MAX_NAME_BYTES and done[5]["name"].endswith(".png")
    owner_root = (home / "uploads" / str(server["alice_id"])).resolve()
    for job in done:
        (stored,) = [p for p in files_under(home / "uploads") if p.name == job["name"]]
        assert stored.resolve().parent.parent == owner_root
        image = alice.get(f"/api/images/{job['image_id']}").json()
        assert image["paths"] == [f"uploads/{job['name']}"]
    assert not list(home.parent.rglob("evil*.png")) or all(
        p.resolve().is_relative_to(owner_root) for p in home.parent.rglob("evil*.png")
    )
    for job in done:
        assert alice.delete(f"/api/images/{job['image_id']}").status_code == 204


def test_sanitise_name():
    assert sanitise_name("../../a/b/c.jpg") == "c.jpg"
    assert sanitise_name("C:\\Users\\me\\IMG_1.JPG") == "IMG_1.JPG"
    assert sanitise_name("..") == sanitise_name("") == sanitise_name(None) == sanitise_name("/") == "upload"
    assert sanitise_name(".hidden.png") == "hidden.png"
    assert sanitise_name("a\x00b\u202e.png") == "ab.png"  # NUL and right-to-left override
    long = sanitise_name("é" * 300 + ".jpeg")
    assert long.endswith(".jpeg") and len(long.encode()) <= MAX_NAME_BYTES


def test_folder_parameter_cannot_escape(server):
    alice = server["alice"]
    for folder in ("../..", "uploads/../../..", "/etc", "..\\..", "a/\x00"):
        response = alice.get("/api/images", params={"folder": folder})
        assert response.status_code == 400, (folder, response.text)
        assert alice.get("/api/search", params={"q": "cat", "folder": folder}).status_code == 400
    assert alice.get("/api/search", params={"q": "cat", "folder": "uploads"}).json()["results"]


@pytest.mark.parametrize(
    "path, params",
    [
        ("/api/images", {"limit": "-1"}),
        ("/api/images", {"limit": "abc"}),
        ("/api/images", {"limit": "201"}),
        ("/api/images", {"offset": "-1"}),
        ("/api/images", {"date_from": "yesterday"}),
        ("/api/images", {"date_to": "2023-02-30"}),
        ("/api/search", {}),
        ("/api/search", {"q": "cat", "limit": "0"}),
        ("/api/search", {"q": "cat", "threshold": "high"}),
        ("/api/images/1/thumbnail", {"size": "999"}),
        ("/api/images/abc", {}),
        ("/api/jobs", {"status": "bogus"}),
        ("/api/words", {}),
    ],
)
def test_malformed_parameters_get_a_clear_message(server, path, params):
    response = server["alice"].get(path, params=params)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail


def test_unknown_ids_are_404(server):
    alice = server["alice"]
    for path in ("/api/images/999999", "/api/images/0", "/api/images/-3", f"/api/images/{2**70}",
                 "/api/images/999999/thumbnail", "/api/images/999999/original", "/api/images/999999/similar",
                 "/api/jobs/999999", "/api/nothing-here"):
        response = alice.get(path)
        assert response.status_code == 404, (path, response.text)
        assert isinstance(response.json()["detail"], str)


# ---- folders indexed by the CLI while the server runs ----------------------------------------------
def test_server_sees_a_separate_pixseek_index_run(server, tmp_path):
    alice, home, gallery = server["alice"], server["home"], server["gallery"]
    folder = tmp_path / "photos-of-alice"
    (folder / "kitchen").mkdir(parents=True)
    shutil.copy(gallery / "derived" / "coffee_flip.jpg", folder / "kitchen" / "coffee_flip.jpg")
    shutil.copy(gallery / "fashion" / "fashion_00001.png", folder / "fashion_00001.png")
    env = {**os.environ}
    cli = [sys.executable, "-m", "pixseek.cli", "--db", str(home)]
    attach = subprocess.run([*cli, "user", "attach", "alice", str(folder)], env=env, capture_output=True, text=True)
    assert attach.returncode == 0, attach.stderr
    index = subprocess.run([*cli, "index", "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert index.returncode == 0, index.stderr
    listing = alice.get("/api/images", params={"folder": "kitchen"}).json()
    assert [i["paths"] for i in listing["images"]] == [["kitchen/coffee_flip.jpg"]]
    found = alice.get("/api/search", params={"q": "espresso", "limit": 5}).json()["results"]
    assert "kitchen/coffee_flip.jpg" in [p for r in found for p in r["image"]["paths"]]
    assert alice.get("/api/images").json()["total"] == 4
    assert server["bob"].get("/api/images").json()["total"] == 1
    original = alice.get(f"/api/images/{listing['images'][0]['id']}/original")
    assert original.headers["content-type"] == "image/jpeg"
    assert original.content == (folder / "kitchen" / "coffee_flip.jpg").read_bytes()
    refused = alice.delete(f"/api/images/{listing['images'][0]['id']}", headers={"X-Requested-With": "test"})
    assert refused.status_code == 409 and "folder on the server" in refused.json()["detail"]
    assert (folder / "kitchen" / "coffee_flip.jpg").exists()


# ---- single-user mode, resuming, the serve command -----------------------------------------------------
def test_single_user_mode_only_on_loopback_without_credentials(models_env, tmp_path):
    home = tmp_path / "solo"
    app = create_app(ServiceSettings(home=home, single_user=True))
    client = TestClient(app, base_url=BASE)
    default_id = app.state.service.ids.encode("user", 1)
    assert client.get("/api/me").json() == {"id": default_id, "name": "default", "single_user": True}
    assert client.get("/api/images").json() == {"total": 0, "offset": 0, "images": []}
    # Writes still need CSRF proof: any web page could otherwise post to a local server.
    assert client.post("/api/images", files=[("files", ("a.png", png((5, 5, 5))))]).status_code == 403
    # DNS rebinding: a page served under another name that resolves to 127.0.0.1.
    assert client.get("/api/me", headers={"Host": "evil.example"}).status_code == 401
    localhost = TestClient(app, base_url="http://localhost:8080")
    assert localhost.get("/api/me").status_code == 200
    # Once someone has a password, requests need credentials.
    app.state.service.accounts.add_user("carol", hash_password("carol-secret"))
    assert client.get("/api/me").status_code == 401
    app.state.service.close()

    strict = create_app(ServiceSettings(home=tmp_path / "strict", single_user=False))
    assert TestClient(strict, base_url=BASE).get("/api/me").status_code == 401
    strict.state.service.close()


def test_interrupted_jobs_resume_at_start(models_env, tmp_path, gallery_master):
    gallery, _ = gallery_master
    home = tmp_path / "resume"
    store = open_store(home)
    data = (gallery / "photos" / "chelsea.png").read_bytes()
    import hashlib

    stored = home / "uploads" / "1" / hashlib.sha256(data).hexdigest() / "chelsea.png"
    stored.parent.mkdir(parents=True)
    stored.write_bytes(data)
    job = store.accounts.add_job(1, "chelsea.png", str(stored))
    store.accounts.update_job(job.owner, job.id, "running")  # as a server killed mid-analysis leaves it
    store.close()
    with TestClient(create_app(ServiceSettings(home=home, single_user=True)), base_url=BASE) as client:
        (done,) = wait_jobs(client, [client.app.state.service.ids.encode("job", job.id)])
        assert done["status"] == "done"
        found = client.get("/api/search", params={"q": "cat"}).json()["results"]
        assert [r["image"]["id"] for r in found] == [done["image_id"]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_refuses_a_public_address_without_credentials(models_env, tmp_path):
    env = {**models_env, "PIXSEEK_HOME": str(tmp_path / "public")}
    result = subprocess.run([sys.executable, "-m", "pixseek.cli", "serve", "--host", "0.0.0.0"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0" in result.stderr and "pixseek user add" in result.stderr


def test_serve_runs_and_stops_cleanly(models_env, tmp_path):
    import httpx

    port = _free_port()
    env = {**models_env, "PIXSEEK_HOME": str(tmp_path / "served")}
    process = subprocess.Popen([sys.executable, "-m", "pixseek.cli", "serve", "--port", str(port)],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                me = httpx.get(f"http://127.0.0.1:{port}/api/me", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()
                time.sleep(0.2)
        assert me.json()["single_user"] is True
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "Application shutdown complete" in output


def test_revoked_token_is_refused(server):
    home, anon = server["home"], server["anon"]
    token, token_hash = new_token()
    server["app"].state.service.accounts.add_token(server["bob_id"], token_hash, "short-lived")
    assert anon.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    revoke = subprocess.run([sys.executable, "-m", "pixseek.cli", "--db", str(home), "user", "revoke", token],
                            capture_output=True, text=True, timeout=60)
    assert revoke.returncode == 0, revoke.stderr
    assert anon.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    again = subprocess.run([sys.executable, "-m", "pixseek.cli", "--db", str(home), "user", "revoke", token],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "no such token" in again.stderr


def test_uploads_are_analysed_below_the_priority_of_requests(server):
    """The analysis processes yield the CPU to the web process (service/jobs.py ANALYSIS_NICE)."""
    from pixseek.service.jobs import ANALYSIS_NICE

    pids = server["app"].state.service.runner._workers.pids
    assert pids, "the pool that analysed the module's uploads stops only after minutes idle"
    for pid in pids:
        assert os.getpriority(os.PRIO_PROCESS, pid) >= ANALYSIS_NICE
    assert os.getpriority(os.PRIO_PROCESS, 0) < ANALYSIS_NICE  # this process (the web one) is not lowered
