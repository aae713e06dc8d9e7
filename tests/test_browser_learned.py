"""Teaching concepts in the web UI, in headless Chromium against the real `pixseek serve`: select
photos, "Teach: these are rex", search rex, the photo's tags name rex, and "Not this" and "This
too" on a result retrain at once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.test_browser import CHROMIUM, REQUIRED, _cli, _new_page, _serving, browser, expect, sync_api  # noqa: F401

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not REQUIRED and not Path(CHROMIUM).exists(), reason=f"no browser at {CHROMIUM}"),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory, pixseek_env, gallery_master, cache_dir):
    from pixseek.language.prepare import is_prepared, prepare

    if not is_prepared(cache_dir):  # here, not inside the CLI's time limit (a loaded box is slow)
        prepare(cache_dir)
    gallery, images = gallery_master
    root = tmp_path_factory.mktemp("browser-learned")
    folder = root / "server-folder"
    folder.mkdir()
    boots = [im for im in images if im.category == "Ankle boot"][:3]
    others = [im for im in images if im.source.startswith("fashion") and im.category in ("Trouser", "Bag")]
    for im in boots + others:
        shutil.copyfile(im.path, folder / f"{im.category.replace(' ', '_').lower()}_{Path(im.path).name}")
    home = root / "lib"
    env = {**pixseek_env, "PIXSEEK_HOME": str(home), "OPENBLAS_NUM_THREADS": "1"}
    _cli(env, "user", "attach", "default", str(folder))
    _cli(env, "index", "--no-faces", "--no-ocr")
    with _serving(home, env, root / "server.log") as base:
        yield base


def test_select_teach_search_and_not_this(browser, served, tmp_path):
    page = _new_page(browser, served)
    try:
        page.goto("/")
        tiles = page.get_by_test_id("tile")
        expect(tiles).to_have_count(9)
        page.get_by_test_id("teach-select").click()
        boots = page.locator('.tile[data-name^="ankle_boot"]')
        expect(boots).to_have_count(3)
        taught = set()
        for n in range(2):
            taught.add(boots.nth(n).get_attribute("data-name"))
            boots.nth(n).click()
        expect(page.get_by_test_id("teach-count")).to_have_text("2 photos selected")
        expect(page.locator(".viewer:visible")).to_have_count(0)  # selecting opened no photo
        page.get_by_test_id("teach-name").fill("rex")
        page.get_by_test_id("teach-submit").click()
        expect(page.get_by_test_id("toast").last).to_contain_text("Taught “rex” from 2 examples")
        expect(page.get_by_test_id("teach-bar")).to_be_hidden()
        page.get_by_test_id("search-input").fill("rex")
        page.get_by_test_id("search-input").press("Enter")
        first = page.get_by_test_id("tile").first
        expect(first).to_have_attribute("data-name", __import__("re").compile("^ankle_boot"))
        expect(first).to_have_attribute("title", __import__("re").compile("concept: rex"))
        # The photo's tags name the concept, in a group of its own.
        first.click()
        expect(page.locator('[data-testid="tag"][data-kind="taught"][data-tag="rex"]')).to_be_visible()
        expect(page.locator(".tag-group", has_text="Your concepts")).to_be_visible()
        page.keyboard.press("Escape")
        expect(page.locator(".viewer:visible")).to_have_count(0)
        marks = page.get_by_test_id("not-this")
        expect(marks.first).to_be_attached()
        shown = page.get_by_test_id("tile").count()
        names = [page.get_by_test_id("tile").nth(n).get_attribute("data-name") for n in range(shown)]
        others = [n for n, name in enumerate(names) if name not in taught]
        target = others[-1] if others else shown - 1  # the weakest non-example (else an example: it flips)
        name = names[target]
        item = page.locator("#grid > li").nth(target)
        item.hover()
        item.get_by_test_id("not-this").click()
        expect(page.get_by_test_id("toast").last).to_contain_text("retrained")
        expect(page.get_by_test_id("tile")).to_have_count(shown - 1)
        concept = page.request.get("/api/concepts/rex").json()
        assert concept["not_this"] == 1 and concept["examples"] == (2 if others else 1), (concept, name)
        # "This too" on a result: an example more (unless it is one already), retrained at once.
        left = [page.get_by_test_id("tile").nth(n).get_attribute("data-name") for n in range(shown - 1)]
        pick = next((n for n, other in enumerate(left) if other not in taught), 0)  # a new one if shown
        examples = concept["examples"] + (left[pick] not in taught)
        item = page.locator("#grid > li").nth(pick)
        item.hover()
        item.get_by_test_id("this-too").click()
        expect(page.get_by_test_id("toast").last).to_contain_text(
            f"too: retrained from {examples} example{'s' if examples != 1 else ''}")
        expect(item.get_by_test_id("this-too")).to_have_count(0)
        assert page.request.get("/api/concepts/rex").json()["examples"] == examples
        page.screenshot(path=str(tmp_path / "taught.png"))
    finally:
        page.context.close()
