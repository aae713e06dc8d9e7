"""The web UI's places and query language, in headless Chromium against the real `pixseek serve`:
the map of geotagged photos (clusters on the offline lat/lon grid) and its list of places, a
cluster opening its place's photos, the photo view's place, the interpretation of a query with an
exclusion and a filter, the note of a filter that matches nothing, and sorting by date."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_browser import CHROMIUM, REQUIRED, _close, _cli, _new_page, _serving, browser, expect, sync_api  # noqa: F401
from tests.test_places import write_geotagged

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not REQUIRED and not Path(CHROMIUM).exists(), reason=f"no browser at {CHROMIUM}"),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory, pixseek_env, gallery_master):
    root = tmp_path_factory.mktemp("browser-places")
    folder = write_geotagged(gallery_master[0], root / "photos")
    home = root / "lib"
    env = {**pixseek_env, "PIXSEEK_HOME": str(home)}
    _cli(env, "user", "attach", "default", str(folder))
    _cli(env, "index", "--no-faces", "--no-ocr")
    with _serving(home, env, root / "server.log") as base:
        yield base


def test_map_view_and_the_query_language(browser, served):
    page = _new_page(browser, served)
    try:
        page.goto("/")
        page.get_by_test_id("places-link").click()
        expect(page.get_by_test_id("places-summary")).to_have_text("4 geotagged photos in 3 places")
        expect(page.get_by_test_id("places-link")).to_have_attribute("aria-current", "page")
        clusters = page.get_by_test_id("map-cluster")
        expect(clusters).to_have_count(2)  # 20-degree cells: Lisbon's two photos; Paris and Berlin together
        page.get_by_test_id("map-zoom-in").click()  # 10-degree cells: Paris and Berlin apart
        expect(clusters).to_have_count(3)
        assert sorted(int(c.get_attribute("data-count")) for c in clusters.all()) == [1, 1, 2]
        expect(page.get_by_test_id("place")).to_have_count(3)
        page.locator('[data-testid="map-cluster"][data-count="2"]').click()
        expect(page.get_by_test_id("description")).to_have_text("Searched for taken in Lisbon")
        expect(page.get_by_test_id("places-link")).not_to_have_attribute("aria-current", "page")  # the map is left
        expect(page.locator('[data-testid="grid"] li')).to_have_count(2)
        page.locator('[data-testid="grid"] li').first.click()
        expect(page.get_by_test_id("photo-view")).to_contain_text("Lisbon, Portugal")
        page.keyboard.press("Escape")
        page.get_by_test_id("search-input").fill("portugal -cat")
        expect(page.get_by_test_id("description")).to_have_text("Searched for portugal, not cat")
        expect(page.locator('[data-testid="grid"] li')).to_have_count(1)
        page.get_by_test_id("search-input").fill("cat in:atlantis")
        expect(page.get_by_test_id("search-note").first).to_contain_text("atlantis")
        page.get_by_test_id("search-input").fill("after:2015")
        expect(page.locator('[data-testid="grid"] li')).to_have_count(5)
        page.get_by_test_id("sort").select_option("date")
        expect(page.locator('[data-testid="grid"] li').first).to_contain_text("motorbike_lisbon")
    finally:
        _close(page)
