"""Text in pictures and other languages through the HTTP API: the real app, models and OCR."""

from __future__ import annotations

import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from test_api import BASE, CSRF, models_env, upload, wait_jobs  # noqa: F401 (fixture)

from pixseek.demo.text_set import write_text_set
from pixseek.service.app import create_app
from pixseek.service.settings import ServiceSettings


def _serve(home, ocr: bool = True) -> TestClient:
    app = create_app(ServiceSettings(home=home, single_user=True, faces=False, ocr=ocr))
    return TestClient(app, base_url=BASE, headers=CSRF)


@pytest.fixture(scope="module")
def texts(models_env, tmp_path_factory):
    samples = {s.path.name: s for s in write_text_set(tmp_path_factory.mktemp("text-set"))}
    with _serve(tmp_path_factory.mktemp("api-text-library")) as client:
        names = ("invoice.png", "cat_sign.jpg", "receipt.jpg")
        jobs = wait_jobs(client, [j["id"] for j in upload(client, *((n, samples[n].path.read_bytes()) for n in names))])
        assert all(j["status"] == "done" for j in jobs), jobs
        yield client, {n: j["image_id"] for n, j in zip(names, jobs)}, samples


def test_image_detail_and_text_endpoint_carry_the_lines(texts):
    client, ids, _ = texts
    detail = client.get(f"/api/images/{ids['invoice.png']}").json()
    read = " ".join(line["text"] for line in detail["text"]).lower()
    assert "invoice" in read and "2023" in read
    assert all(len(line["box"]) == 4 and 0 < line["score"] <= 1 for line in detail["text"])
    assert client.get(f"/api/images/{ids['invoice.png']}/text").json() == {"text": detail["text"]}
    assert client.get("/api/images/999999/text").status_code == 404


def test_search_merges_text_and_concepts_with_the_snippet(texts):
    client, ids, _ = texts
    result = client.get("/api/search", params={"q": "invoice 2023"}).json()
    first = result["results"][0]
    assert first["image"]["id"] == ids["invoice.png"]
    assert any(w.startswith("text: ") and "[" in w for w in first["why"]), first["why"]
    assert client.get("/api/search", params={"q": '"open daily"'}).json()["results"][0]["image"]["id"] == ids["cat_sign.jpg"]
    # Words only text knows, none of them anywhere: a clear 400, as for any unknown word.
    missing = client.get("/api/search", params={"q": "zxqv"})
    assert missing.status_code == 400 and "zxqv" in missing.json()["detail"]


def test_search_language_from_parameter_or_browser(texts):
    client, ids, _ = texts
    german = client.get("/api/search", params={"q": "Katze"}).json()
    assert german["language"] == "de" and german["results"][0]["image"]["id"] == ids["cat_sign.jpg"]
    assert any("→" in alt for alt in german["interpretation"]), german["interpretation"]
    # "chat" is English too: the browser's language decides, and `lang` overrides both.
    english = client.get("/api/search", params={"q": "chat"}).json()
    french = client.get("/api/search", params={"q": "chat"}, headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}).json()
    assert english["language"] == "en" and french["language"] == "fr"
    assert ids["cat_sign.jpg"] in [r["image"]["id"] for r in french["results"]]
    forced = client.get("/api/search", params={"q": "chat", "lang": "fr"}, headers={"Accept-Language": "de"}).json()
    assert forced["language"] == "fr"
    bad = client.get("/api/search", params={"q": "chat", "lang": "xx"})
    assert bad.status_code == 422 and "fr" in bad.json()["detail"]  # as any bad query parameter
    nasty = client.get("/api/search", params={"q": "chat"}, headers={"Accept-Language": "*;q=x, ;;,,\xe9".encode("latin-1")})
    assert nasty.status_code == 200


def test_tags_in_the_requested_language(texts):
    client, ids, _ = texts
    english = client.get(f"/api/images/{ids['cat_sign.jpg']}").json()["tags"]
    french = client.get(f"/api/images/{ids['cat_sign.jpg']}", params={"lang": "fr"}).json()["tags"]
    assert french != english and any(t["name"] == "chat" for t in french)
    bad = client.get(f"/api/images/{ids['cat_sign.jpg']}", params={"lang": "klingon"})
    assert bad.status_code == 422 and "lang" in bad.json()["detail"]
    # The same answer as a search with that language.
    assert client.get("/api/search", params={"q": "cat", "lang": "klingon"}).json() == bad.json()


def test_uploads_without_ocr_have_no_text(models_env, tmp_path, texts):
    _, _, samples = texts
    with _serve(tmp_path / "library", ocr=False) as client:
        (job,) = wait_jobs(client, [upload(client, ("invoice.png", samples["invoice.png"].path.read_bytes()))[0]["id"]])
        assert client.get(f"/api/images/{job['image_id']}").json()["text"] is None
        assert client.get("/api/stats").json()["with_text"] == 0
