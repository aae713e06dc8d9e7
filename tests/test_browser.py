"""The web UI end to end: the real `pixseek serve` with the real models, driven in headless Chromium.

Needs Debian's `chromium` (`apt-get install chromium`) and Playwright for Python (the wheel carries
its driver; the browser is the system one, so `playwright install` is never needed). Skipped when
either is missing. Screenshots of every step go to `test-artifacts/browser/` (git-ignored).

One server and one browser serve the whole module; alice's library is filled once, through the
upload button, by the `library` fixture. Every page fails its test on an uncaught JavaScript error.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pixseek.demo.samples import SampleImage

# `./dev test` installs Playwright and Chromium, so in CI (CI=true) a missing piece is a failure,
# not a skip; a developer without them locally gets a skip with the reason.
REQUIRED = bool(os.environ.get("CI"))
if REQUIRED:
    from playwright import sync_api
else:
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra)")
expect = sync_api.expect

CHROMIUM = os.environ.get("PIXSEEK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "browser"
PASSWORD = "correct horse battery"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}
UPLOADED = ("chelsea.png", "coffee.png", "rocket.jpg")  # a cat, an espresso, a rocket at night

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not REQUIRED and not Path(CHROMIUM).exists(), reason=f"no browser at {CHROMIUM}: apt-get install chromium"
    ),
]
expect.set_options(timeout=20_000)


# ---------------------------------------------------------------------------------------------
# The server, the browser, and a signed-in page


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pixseek.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"pixseek {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def artifacts() -> Path:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@contextlib.contextmanager
def _serving(home: Path, env: dict[str, str], log_path: Path) -> Iterator[str]:
    """`pixseek serve` on a free loopback port until the block ends; yields its base URL.

    On loopback, a library where nobody has a password or token is served in single-user mode."""
    port = _free_port()
    with log_path.open("w") as log:
        serve = ["serve", "--host", "127.0.0.1", "--port", str(port)]
        proc = subprocess.Popen(
            [sys.executable, "-m", "pixseek.cli", "--db", str(home), *serve],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the server exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{base}/api/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not answer /api/health within 60 s:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
    pixseek_env: dict[str, str],
    gallery_master: tuple[Path, list[SampleImage]],
    artifacts: Path,
) -> Iterator[str]:
    """A fresh library with three users: alice and bob start empty; carol has the sample gallery
    attached as a folder and indexed by the CLI."""
    home = tmp_path_factory.mktemp("browser-library")
    env = {**pixseek_env, "PIXSEEK_HOME": str(home)}
    for name in ("alice", "bob", "carol"):
        _cli(env, "user", "add", name, "--password", PASSWORD)
    _cli(env, "user", "attach", "carol", str(gallery_master[0]))
    _cli(env, "index")
    with _serving(home, env, artifacts / "server.log") as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Shots:
    """Numbered screenshots, in the order they were taken."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.count = 0

    def __call__(self, page, name: str) -> Path:
        self.count += 1
        path = self.directory / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), animations="disabled")
        return path


@pytest.fixture(scope="module")
def shot(artifacts: Path) -> Shots:
    return Shots(artifacts)


def _new_page(browser, server: str, viewport: dict[str, int] = DESKTOP, **options):
    """A page in a fresh context that records uncaught JavaScript errors in `page.js_errors`."""
    context = browser.new_context(base_url=server, viewport=viewport, **options)
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.js_errors = []
    page.on("pageerror", lambda error: page.js_errors.append(str(error)))
    return page


def _close(page) -> None:
    errors = list(page.js_errors)
    page.context.close()
    assert not errors, f"uncaught JavaScript errors: {errors}"


def _sign_in(page, name: str) -> None:
    page.goto("/")
    page.get_by_test_id("login-username").fill(name)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("user-name")).to_have_text(name)


@pytest.fixture(scope="module")
def alice(browser, server: str) -> Iterator[object]:
    """alice, signed in on a desktop-sized page."""
    page = _new_page(browser, server)
    _sign_in(page, "alice")
    yield page
    _close(page)


def _gallery_file(gallery_master: tuple[Path, list[SampleImage]], name: str) -> Path:
    root, images = gallery_master
    matches = [im.path for im in images if im.path.name == name]
    assert matches, f"{name} is not in the sample gallery under {root}"
    return matches[0]


@pytest.fixture(scope="module")
def library(alice, gallery_master, shot: Shots) -> dict[str, int]:
    """alice uploads three gallery photos with the upload button; returns {name: image id} once all are indexed."""
    page = alice
    page.get_by_test_id("upload-input").set_input_files([str(_gallery_file(gallery_master, n)) for n in UPLOADED])
    expect(page.get_by_test_id("upload-panel")).to_be_visible()
    items = page.get_by_test_id("upload-item")
    expect(items).to_have_count(len(UPLOADED))
    shot(page, "uploading")
    expect(page.locator('[data-testid="upload-item"][data-status="done"]')).to_have_count(len(UPLOADED), timeout=90_000)
    ids = {}
    for name in UPLOADED:
        tile = page.locator(f'[data-testid="tile"][data-name="{name}"]')
        expect(tile).to_be_visible()
        ids[name] = int(tile.get_attribute("data-id"))
    shot(page, "uploaded")
    return ids


def _open_library(page) -> None:
    page.get_by_test_id("search-input").fill("")
    page.locator("#home-link").click()
    expect(page.get_by_test_id("context-bar")).to_contain_text("Photos")


def _search(page, text: str) -> None:
    box = page.get_by_test_id("search-input")
    box.fill(text)
    box.press("Enter")


# ---------------------------------------------------------------------------------------------
# Flows


def test_sign_in_rejects_a_wrong_password_then_signs_in(browser, server: str, shot: Shots) -> None:
    page = _new_page(browser, server)
    page.goto("/")
    expect(page.get_by_test_id("login-form")).to_be_visible()
    expect(page.get_by_test_id("grid")).to_be_hidden()
    shot(page, "sign-in")
    page.get_by_test_id("login-username").fill("alice")
    page.get_by_test_id("login-password").fill("not the password")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-error")).to_be_visible()
    expect(page.get_by_test_id("login-form")).to_be_visible()
    shot(page, "sign-in-wrong-password")
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("user-name")).to_have_text("alice")
    expect(page.get_by_test_id("login-form")).to_be_hidden()
    expect(page.get_by_test_id("search-input")).to_be_visible()
    # The session survives a reload (cookie), and signing out returns to the form.
    page.reload()
    expect(page.get_by_test_id("user-name")).to_have_text("alice")
    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("login-form")).to_be_visible()
    page.reload()
    expect(page.get_by_test_id("login-form")).to_be_visible()
    _close(page)


def test_upload_three_photos_with_the_upload_button(alice, library: dict[str, int]) -> None:
    page = alice
    assert set(library) == set(UPLOADED)
    for name in UPLOADED:
        item = page.locator(f'[data-testid="upload-item"][data-name="{name}"]')
        expect(item).to_have_attribute("data-status", "done")
        expect(item.get_by_test_id("upload-open")).to_be_visible()  # the new photo's thumbnail
    # The library grid shows them newest first, with lazy square thumbnails and useful alt text.
    tiles = page.get_by_test_id("tile")
    expect(tiles).to_have_count(len(UPLOADED))
    image = page.locator('[data-testid="tile"][data-name="chelsea.png"] img')
    expect(image).to_have_attribute("loading", "lazy")
    expect(image).to_have_attribute("src", re.compile(r"/api/images/\d+/thumbnail\?size=256$"))
    expect(image).to_have_attribute("alt", re.compile(r"^chelsea\.png"))
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    expect(page.get_by_test_id("context-bar")).to_contain_text("3 photos")


def test_search_cat_finds_the_cat(alice, library: dict[str, int], shot: Shots) -> None:
    page = alice
    _open_library(page)
    searches: list[str] = []
    page.on("request", lambda r: searches.append(r.url) if "/api/search?" in r.url else None)
    page.get_by_test_id("search-input").press_sequentially("cat", delay=40)  # instant search, debounced
    first = page.get_by_test_id("tile").first
    expect(first).to_have_attribute("data-name", "chelsea.png")
    expect(page.get_by_test_id("interpretation")).to_contain_text("cat")
    assert 1 <= len(searches) <= 2, searches  # one request per pause in typing, not per key
    assert "q=cat" in searches[-1]
    assert "q=cat" in page.url  # the search is in the address, so reload and back work
    first.hover()
    expect(first).to_have_attribute("title", re.compile(r"chelsea\.png\n.+"))  # the "why" on hover
    shot(page, "search-cat")


def test_photo_view_shows_tags_and_navigates_with_the_keyboard(alice, library: dict[str, int], shot: Shots) -> None:
    page = alice
    _search(page, "cat")
    page.locator('[data-testid="tile"][data-name="chelsea.png"]').click()
    viewer = page.get_by_test_id("photo-view")
    expect(viewer).to_be_visible()
    expect(page.get_by_test_id("photo-view-title")).to_have_text("chelsea.png")
    expect(page.get_by_test_id("photo-view-tags").locator('[data-testid="tag"][data-tag="cat"]')).to_be_visible()
    groups = page.get_by_test_id("photo-view-tags").locator(".tag-group")
    expect(groups).to_contain_text(["Looks like", "Broader", "Characteristics"])  # every kind named alike
    expect(page.get_by_test_id("photo-view-why")).to_contain_text("cat")
    meta = page.get_by_test_id("photo-view-meta")
    expect(meta).to_contain_text("451 × 300")
    expect(meta).to_contain_text("uploads/chelsea.png")
    big = page.get_by_test_id("photo-view-image")
    cat_id = library["chelsea.png"]
    expect(big).to_have_attribute("src", re.compile(rf"/api/images/{cat_id}/(thumbnail\?size=512|original)$"))
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=big.element_handle())
    shot(page, "photo-view")
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()

    _open_library(page)  # three photos to walk through
    page.get_by_test_id("tile").first.click()
    title = page.get_by_test_id("photo-view-title")
    expect(viewer).to_be_visible()
    first = title.inner_text()
    page.keyboard.press("ArrowRight")
    expect(title).not_to_have_text(first)
    page.keyboard.press("ArrowLeft")
    expect(title).to_have_text(first)
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()


def test_more_like_this(alice, library: dict[str, int], shot: Shots) -> None:
    page = alice
    _search(page, "cat")
    page.locator('[data-testid="tile"][data-name="chelsea.png"]').click()
    page.get_by_test_id("more-like-this").click()
    expect(page.get_by_test_id("photo-view")).to_be_hidden()
    expect(page.get_by_test_id("context-bar")).to_contain_text("Like chelsea.png")
    tiles = page.get_by_test_id("tile")
    expect(tiles.first).to_be_visible()
    names = tiles.evaluate_all("els => els.map(e => e.dataset.name)")
    assert "chelsea.png" not in names and set(names) <= set(UPLOADED), names
    assert f"similar={library['chelsea.png']}" in page.url
    shot(page, "more-like-this")


def test_search_by_dropping_a_picture(alice, library: dict[str, int], gallery_master, shot: Shots, tmp_path: Path) -> None:
    """A mirrored copy of the cat, dropped on "Search by this photo", finds the cat; it is not stored.
    A video is searched by its first frame."""
    page = alice
    _open_library(page)
    picture = _gallery_file(gallery_master, "chelsea_flip.jpg")
    page.evaluate(
        """({b64, name}) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], name, {type: 'image/jpeg'}));
            window.__drop = dt;
            const init = {dataTransfer: dt, bubbles: true, cancelable: true};
            document.body.dispatchEvent(new DragEvent('dragenter', init));
        }""",
        {"b64": base64.b64encode(picture.read_bytes()).decode(), "name": picture.name},
    )
    expect(page.get_by_test_id("drop-zone")).to_be_visible()
    expect(page.get_by_test_id("drop-search")).to_be_visible()
    shot(page, "drop-zone")
    page.get_by_test_id("drop-search").evaluate(
        """target => {
            const dt = window.__drop;
            target.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true}));
            target.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
        }"""
    )
    expect(page.get_by_test_id("drop-zone")).to_be_hidden()
    expect(page.get_by_test_id("context-bar")).to_contain_text("Like chelsea_flip.jpg")
    expect(page.get_by_test_id("tile").first).to_have_attribute("data-name", "chelsea.png")
    shot(page, "search-by-dropped-picture")

    # The file-picker fallback does the same.
    page.get_by_test_id("search-image-input").set_input_files(str(_gallery_file(gallery_master, "coffee_crop.jpg")))
    expect(page.get_by_test_id("context-bar")).to_contain_text("Like coffee_crop.jpg")
    expect(page.get_by_test_id("tile").first).to_have_attribute("data-name", "coffee.png")
    from pixseek.demo.video_set import write_video_set

    clip = write_video_set(tmp_path)["holiday.mp4"].path  # the cat first, then coffee
    page.get_by_test_id("search-image-input").set_input_files(str(clip))
    expect(page.get_by_test_id("context-bar")).to_contain_text("Like holiday.mp4")
    expect(page.get_by_test_id("ctx-video")).to_have_count(1)
    page.wait_for_function("() => document.querySelector('[data-testid=ctx-video]').readyState >= 2")  # its first frame shows
    expect(page.get_by_test_id("tile").first).to_have_attribute("data-name", "chelsea.png")
    shot(page, "search-by-video")
    # Nothing was added to the library by searching.
    _open_library(page)
    expect(page.get_by_test_id("tile")).to_have_count(len(UPLOADED))


def test_a_search_without_results_suggests_broader_words(alice, library: dict[str, int], shot: Shots) -> None:
    page = alice
    _search(page, "giraffe")
    empty = page.get_by_test_id("empty-state")
    expect(empty).to_contain_text("No photos match “giraffe”")
    expect(empty).to_contain_text("broader")
    expect(page.get_by_test_id("tile")).to_have_count(0)
    shot(page, "search-without-results")
    empty.get_by_test_id("suggestion").filter(has_text=re.compile(r"^animal$")).click()
    expect(page.get_by_test_id("search-input")).to_have_value("animal")
    expect(page.get_by_test_id("tile").first).to_have_attribute("data-name", "chelsea.png")
    # Words pixseek does not know are explained in place, without an error toast.
    _search(page, "qwxyz")
    expect(empty).to_contain_text("qwxyz")
    expect(empty).to_contain_text("spelling")
    _search(page, "qwxyz cat")
    expect(page.get_by_test_id("unknown-words")).to_contain_text("qwxyz")
    expect(page.get_by_test_id("tile").first).to_have_attribute("data-name", "chelsea.png")
    expect(page.get_by_test_id("error-toast")).to_have_count(0)


def test_a_bad_upload_shows_why_it_failed(alice, library: dict[str, int], shot: Shots) -> None:
    page = alice
    page.get_by_test_id("upload-input").set_input_files(
        [{"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"this is a shopping list, not a picture\n"}]
    )
    item = page.locator('[data-testid="upload-item"][data-name="notes.jpg"]')
    expect(item).to_have_attribute("data-status", "failed", timeout=60_000)
    reason = item.get_by_test_id("upload-status").inner_text()
    assert reason.strip(), "a failed upload says why"
    toast = page.get_by_test_id("error-toast").filter(has_text="notes.jpg")
    expect(toast).to_be_visible()
    expect(toast).to_contain_text(reason.strip()[:40])
    shot(page, "bad-upload")
    _open_library(page)
    expect(page.get_by_test_id("tile")).to_have_count(len(UPLOADED))


def test_phone_sized_screen(browser, server: str, alice, library: dict[str, int], shot: Shots) -> None:
    page = _new_page(
        browser,
        server,
        PHONE,
        storage_state=alice.context.storage_state(),
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
        color_scheme="dark",  # the phone screenshots show the dark theme
    )
    page.goto("/")
    tiles = page.get_by_test_id("tile")
    expect(tiles).to_have_count(len(UPLOADED))
    expect(page.get_by_test_id("search-input")).to_be_visible()
    expect(page.locator("#upload-btn")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "no sideways scrolling"
    for link in ("people-link", "places-link", "duplicates-link"):  # labels are hidden: each shows its icon
        icon_box = page.get_by_test_id(link).locator("svg").bounding_box()
        assert icon_box is not None and icon_box["width"] >= 16, link
    brand, select = page.locator(".brand").bounding_box(), page.get_by_test_id("teach-select").bounding_box()
    assert select["x"] > brand["x"], "the Select button sits after the brand, not before it"
    boxes = [tiles.nth(i).bounding_box() for i in range(len(UPLOADED))]
    assert len({round(b["y"]) for b in boxes}) == 1, "three square tiles in one row"
    assert all(abs(b["width"] - b["height"]) < 1 for b in boxes)
    shot(page, "phone-library")
    tiles.first.click()
    expect(page.get_by_test_id("photo-view")).to_be_visible()
    expect(page.get_by_test_id("more-like-this")).to_be_visible()
    expect(page.get_by_test_id("photo-view-tags").get_by_test_id("tag").first).to_be_visible()
    shot(page, "phone-photo-view")
    page.keyboard.press("Escape")
    _search(page, "cat")
    expect(tiles.first).to_have_attribute("data-name", "chelsea.png")
    shot(page, "phone-search")
    _close(page)


def test_the_library_loads_more_as_you_scroll(browser, server: str, gallery_master, shot: Shots) -> None:
    """carol's library (the gallery, indexed from an attached folder) is more than one page."""
    page = _new_page(browser, server, PHONE, is_mobile=True, has_touch=True)
    _sign_in(page, "carol")
    total = len(gallery_master[1])
    tiles = page.get_by_test_id("tile")
    expect(page.get_by_test_id("context-bar")).to_contain_text(f"{total} photos")
    expect(tiles).to_have_count(48)  # one page; the rest waits below the fold
    shot(page, "phone-long-library")
    page.get_by_test_id("tile").last.scroll_into_view_if_needed()
    page.mouse.wheel(0, 5000)
    expect(tiles).to_have_count(total)
    names = tiles.evaluate_all("els => els.map(e => e.dataset.id)")
    assert len(set(names)) == total, "no photo twice"
    # Folder files show their path inside the attached folder.
    page.locator('[data-testid="tile"][data-name="chelsea.png"]').click()
    expect(page.get_by_test_id("photo-view-meta")).to_contain_text("photos/chelsea.png")
    # "More like this" pages by asking for more: 48 first, then the rest on "Show more results".
    page.get_by_test_id("more-like-this").click()
    expect(tiles).to_have_count(48)
    page.get_by_test_id("load-more").click()
    expect(tiles).to_have_count(total - 1)
    expect(page.get_by_test_id("load-more")).to_be_hidden()
    _close(page)


def test_a_fresh_user_sees_what_to_do(browser, server: str, library: dict[str, int], shot: Shots) -> None:
    """bob has no photos (alice's are not his): the page says how to add some; an empty search says so."""
    page = _new_page(browser, server)
    _sign_in(page, "bob")
    empty = page.get_by_test_id("empty-state")
    expect(empty).to_be_visible()
    expect(empty).to_contain_text("No photos yet")
    expect(empty).to_contain_text("pixseek index")
    expect(page.get_by_test_id("tile")).to_have_count(0)
    shot(page, "fresh-user-empty-library")
    _search(page, "cat")
    expect(empty).to_contain_text("No photos match")
    expect(empty).to_contain_text("library is empty")
    expect(page.get_by_test_id("tile")).to_have_count(0)
    shot(page, "fresh-user-empty-search")
    # Another user's photo is a 404, shown as a readable error.
    page.goto(f"/?similar={library['chelsea.png']}")
    expect(page.get_by_test_id("error-toast")).to_be_visible()
    expect(page.get_by_test_id("tile")).to_have_count(0)
    _close(page)


def test_single_user_mode_needs_no_sign_in(
    browser, tmp_path: Path, pixseek_env: dict[str, str], artifacts: Path, shot: Shots
) -> None:
    """A loopback server whose library has no credentials opens straight into the photos."""
    home = tmp_path / "single-user-library"
    env = {**pixseek_env, "PIXSEEK_HOME": str(home)}
    with _serving(home, env, artifacts / "server-single-user.log") as base:
        page = _new_page(browser, base)
        page.goto("/")
        expect(page.get_by_test_id("empty-state")).to_contain_text("No photos yet")
        expect(page.get_by_test_id("login-form")).to_be_hidden()
        expect(page.get_by_test_id("logout")).to_be_hidden()  # nobody to sign out
        shot(page, "single-user")
        _close(page)
