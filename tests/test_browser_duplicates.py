"""The web UI's duplicates view and videos, in headless Chromium against the real `pixseek serve`:
groups shown side by side with size, date and resolution, keeping one deletes the uploaded copies
(never the server folder's picture); a search hit in a video opens the video at its second; a video
uploaded with the upload button is searched by its frames."""

from __future__ import annotations

import io
import shutil
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.test_browser import CHROMIUM, REQUIRED, _close, _cli, _new_page, _serving, expect, sync_api  # noqa: F401

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not REQUIRED and not Path(CHROMIUM).exists(), reason=f"no browser at {CHROMIUM}"),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory, pixseek_env, gallery_master):
    from pixseek.demo.video_set import Scene, photo, write_video

    gallery, _ = gallery_master
    root = tmp_path_factory.mktemp("browser-dups")
    folder = root / "server-folder"
    folder.mkdir()
    shutil.copyfile(gallery / "photos" / "coffee.png", folder / "coffee.png")
    write_video(folder / "trip.webm", [Scene(photo("flower"), 3.0), Scene(photo("chelsea"), 3.0)],
                codec="libvpx-vp9", bit_rate=300_000, options={"deadline": "realtime", "cpu-used": "8"})
    home = root / "lib"
    env = {**pixseek_env, "PIXSEEK_HOME": str(home)}
    _cli(env, "user", "attach", "default", str(folder))
    _cli(env, "index", "--no-faces", "--no-ocr")
    with _serving(home, env, root / "server.log") as base:
        yield base, folder, root


def _jpeg(path: Path, scale: float, quality: int) -> bytes:
    with Image.open(path) as im:
        im = im.convert("RGB")
        im = im.resize((round(im.width * scale), round(im.height * scale)))
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=quality)
        return buf.getvalue()


def test_duplicates_view_keeps_one_and_deletes_the_uploaded_copies(browser, served, tmp_path):
    base, folder, _ = served
    page = _new_page(browser, base)
    try:
        page.goto("/")
        copies = []
        for name, scale, quality in (("coffee_small.jpg", 0.5, 60), ("coffee_q30.jpg", 1.0, 30)):
            path = tmp_path / name
            path.write_bytes(_jpeg(folder / "coffee.png", scale, quality))
            copies.append(str(path))
        page.locator("#upload-input").set_input_files(copies)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # the two uploads analysed
            groups = page.request.get("/api/duplicates").json()["groups"]
            if groups and len(groups[0]["images"]) == 3:
                break
            time.sleep(1)
        page.get_by_test_id("duplicates-link").click()
        group = page.get_by_test_id("duplicate-group")
        expect(group).to_have_count(1)
        cards = group.get_by_test_id("duplicate")
        expect(cards).to_have_count(3)
        first = cards.first
        expect(first).to_contain_text("600 × 400")  # the server folder's PNG: most pixels, suggested
        expect(first).to_contain_text("server folder")
        expect(cards.nth(1)).to_contain_text("KB")
        page.screenshot(path=str(tmp_path / "duplicates.png"))
        group.get_by_test_id("duplicates-keep").click()
        expect(page.get_by_test_id("duplicate-group")).to_have_count(0)
        assert (folder / "coffee.png").exists()
        page.reload()
        expect(page.get_by_test_id("duplicates-summary")).to_contain_text("No duplicates")
    finally:
        _close(page)


def test_duplicates_only_in_server_folders_offer_no_deleting(browser, served, pixseek_env):
    """Copies that are all in a server folder: the view says where to delete them, with no button."""
    base, folder, root = served
    shutil.copyfile(folder / "coffee.png", folder / "coffee copy.png")
    _cli({**pixseek_env, "PIXSEEK_HOME": str(root / "lib")}, "index", "--no-faces", "--no-ocr")
    page = _new_page(browser, base)
    try:
        page.goto("/?q=coffee")
        expect(page.get_by_test_id("tile").first).to_be_visible()
        expect(page.get_by_test_id("video-badge")).to_have_count(0)  # photos have no badge
        page.goto("/?view=duplicates")
        group = page.get_by_test_id("duplicate-group")
        expect(group).to_have_count(1)
        expect(page.get_by_test_id("duplicates-summary")).to_contain_text("all in folders on the server")
        expect(group.get_by_test_id("duplicates-server-only")).to_be_visible()
        expect(group.get_by_test_id("duplicates-keep")).to_have_count(0)
    finally:
        _close(page)
        (folder / "coffee copy.png").unlink()


def test_a_hit_in_a_video_opens_the_video_at_its_second(browser, served):
    base, _, _ = served
    page = _new_page(browser, base)
    try:
        hit = page.request.get("/api/search?q=cat").json()["results"][0]["image"]
        seconds = hit["video"]["seconds"]
        assert seconds > 2 and hit["name"] == f"trip.webm @ {hit['video']['at']}"  # the cat, after the flower
        page.goto("/?q=cat")
        tile = page.get_by_test_id("grid").locator("li").first
        expect(tile).to_be_visible()
        expect(tile.get_by_test_id("video-badge")).to_have_text(hit["video"]["at"])  # a clip's frame, by its time
        tile.locator("button, a").first.click()
        video = page.get_by_test_id("photo-view-video")
        expect(video).to_be_visible()
        src = video.get_attribute("src")
        assert src == f"{hit['original']}#t={seconds:g}" or src == f"{hit['original']}#t={seconds}", src
        expect(page.locator("#viewer-title")).to_contain_text(f"trip.webm @ {hit['video']['at']}")
        page.wait_for_function(
            "(s) => { const v = document.getElementById('viewer-video'); return v && v.readyState >= 1 && Math.abs(v.currentTime - s) < 0.6; }",
            arg=seconds, timeout=20_000,
        )
    finally:
        _close(page)


def test_a_video_uploaded_with_the_upload_button_is_searchable_by_its_frames(browser, served, tmp_path):
    from pixseek.demo.video_set import Scene, photo, write_video

    base, _, _ = served
    clip = write_video(tmp_path / "picnic.mp4", [Scene(photo("coffee"), 3.0), Scene(photo("chelsea"), 3.0)])
    page = _new_page(browser, base)
    try:
        page.goto("/")
        page.get_by_test_id("upload-input").set_input_files(str(clip))
        item = page.locator('[data-testid="upload-item"][data-name="picnic.mp4"]')
        expect(item).to_have_attribute("data-status", "done", timeout=90_000)
        expect(item.get_by_test_id("upload-open")).to_be_visible()  # the poster's thumbnail
        hits = page.request.get("/api/search?q=cat").json()["results"]
        cat = next(h["image"] for h in hits if h["image"]["name"].startswith("picnic.mp4"))
        assert cat["video"]["seconds"] > 2 and cat["name"] == f"picnic.mp4 @ {cat['video']['at']}"  # after the coffee
        page.goto("/?q=cat")
        tile = page.locator(f'[data-testid="tile"][data-id="{cat["id"]}"]')
        expect(tile).to_be_visible()
    finally:
        _close(page)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        from tests.test_browser import CHROMIUM_ARGS

        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
