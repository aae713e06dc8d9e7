"""Text in pictures and other languages in the web UI: the real `pixseek serve`, models and OCR, in headless Chromium.

The library is single-user (nobody has a password, served on loopback): the text set
(pixseek.demo.text_set.write_text_set: an invoice, a receipt, a slide, a cat photo with a "Cat Cafe" sign, ...)
plus a plain cat photo without any text, indexed by the CLI with OCR; and a copy of the invoice in
another folder indexed with --no-ocr. The flows: the photo view's "Text in the picture" and the
marked words in "Why it matched"; the section hidden for pictures without text or read without
OCR; a French browser (locale fr-FR) reading "chat" as French and seeing tags in French; an
English one not; the phone layout. Screenshots go to `test-artifacts/browser-text/`; every page
fails its test on an uncaught JavaScript error. Needs what tests/test_browser.py needs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from test_browser import (
    ARTIFACTS,
    DESKTOP,
    PHONE,
    Shots,
    _cli,
    _close,
    _new_page,
    _search,
    _serving,
    browser,  # noqa: F401 (the module's browser fixture)
    expect,
    pytestmark,  # noqa: F401 (slow; skipped only where no browser is installed and CI does not require one)
)

from pixseek.demo.text_set import write_text_set

SHOTS = ARTIFACTS.parent / "browser-text"
PLAIN = "chelsea_plain.png"  # a cat photo with no text at all: OCR reads nothing
NO_OCR = "invoice_no_ocr.jpg"  # the invoice, analysed without OCR: its text is unknown


@pytest.fixture(scope="module")
def shot() -> Shots:
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    return Shots(SHOTS)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, pixseek_env: dict[str, str], shot: Shots) -> Iterator[str]:
    import skimage.data

    home = tmp_path_factory.mktemp("browser-text-library")
    root = tmp_path_factory.mktemp("browser-text-set")
    samples = {s.path.name: s.path for s in write_text_set(root)}
    Image.fromarray(skimage.data.chelsea()).save(root / "photos" / PLAIN)
    unread = tmp_path_factory.mktemp("browser-text-no-ocr")
    with Image.open(samples["invoice.png"]) as invoice:
        invoice.convert("RGB").save(unread / NO_OCR, quality=90)  # other bytes: not a duplicate of invoice.png
    env = {**pixseek_env, "PIXSEEK_HOME": str(home)}
    # The first query whose language is detected builds the dictionaries' cache (~20 s when cold,
    # shared through PIXSEEK_CACHE_DIR): done meanwhile, in an empty library, not on a page's clock.
    warm_env = {
        **pixseek_env,
        "PIXSEEK_HOME": str(tmp_path_factory.mktemp("browser-text-warm-up")),
    }
    warm = subprocess.Popen(
        [sys.executable, "-m", "pixseek.cli", "search", "Katze", "--json"],
        env=warm_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _cli(env, "index", str(root), "--no-faces")
        _cli(env, "index", str(unread), "--no-faces", "--no-ocr")
        output, _ = warm.communicate(timeout=180)
    finally:
        if warm.poll() is None:
            warm.kill()
            warm.wait()
    assert warm.returncode == 0, f"warming the language cache failed:\n{output}"
    with _serving(home, env, SHOTS / "server.log") as base:
        for query in ("invoice+2023", "chat&lang=fr"):  # the server loads the tables once
            with urllib.request.urlopen(f"{base}/api/search?q={query}", timeout=120) as answer:
                assert answer.status == 200
        yield base


def _get(page, path: str) -> dict:
    answer = page.request.get(path)
    assert answer.ok, f"{path}: {answer.status} {answer.text()}"
    return answer.json()


def _tile(page, name: str):
    return page.locator(f'[data-testid="tile"][data-name="{name}"]')


def _details_loaded(page) -> None:
    """The photo view has its /api/images/{id} answer (tags, text, details) on screen."""
    expect(page.get_by_test_id("photo-view-tags")).not_to_have_attribute("aria-busy", "true")
    expect(page.get_by_test_id("photo-view-tags").get_by_test_id("tag").first).to_be_visible()


def _no_sideways_overflow(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "no sideways scrolling"
    for selector in (".viewer-info", "#viewer-text", "#viewer-why"):
        sizes = page.locator(selector).evaluate("e => [e.scrollWidth, e.clientWidth, e.getBoundingClientRect().right]")
        scroll_width, client_width, right = sizes
        assert scroll_width <= client_width, f"{selector} scrolls sideways: {sizes}"
        assert right <= width + 0.5, f"{selector} sticks out of the screen: {sizes}"


# ---------------------------------------------------------------------------------------------
# Flows


def test_text_in_the_picture_and_the_words_that_matched(browser, server: str, shot: Shots) -> None:  # noqa: F811
    page = _new_page(browser, server)
    page.goto("/")
    expect(page.get_by_test_id("login-form")).to_be_hidden()  # single-user: straight into the photos
    _search(page, "invoice 2023")
    first = page.get_by_test_id("tile").first
    expect(first).to_have_attribute("data-name", "invoice.png")
    expect(first).to_have_attribute("title", re.compile(r"text: .*\[2023\]"))  # the raw "why" on hover
    # The alt text names the photo and its top tag; "in its text" and the snippet are not tags.
    expect(first.locator("img")).to_have_attribute("alt", re.compile(r"^invoice\.png"))
    expect(first.locator("img")).not_to_have_attribute("alt", re.compile(r"in its text|\["))
    shot(page, "search-invoice-2023")
    first.click()
    expect(page.get_by_test_id("photo-view")).to_be_visible()
    expect(page.get_by_test_id("photo-view-title")).to_have_text("invoice.png")

    section = page.locator("#viewer-text-section")
    lines = page.get_by_test_id("photo-view-text")
    expect(section).to_be_visible()
    expect(section.locator("h3")).to_have_text(re.compile("text in the picture", re.IGNORECASE))
    expect(lines).to_contain_text(re.compile("invoice", re.IGNORECASE))
    expect(lines).to_contain_text("2023")
    assert lines.locator("li").count() >= 3, lines.inner_text()  # one item per line read
    expect(lines.locator("li").first).to_have_attribute("title", re.compile(r"^confidence 0\.\d\d$|^confidence 1\.00$"))

    why = page.get_by_test_id("photo-view-why")
    marks = why.locator("mark")
    expect(marks.first).to_be_visible()
    marked = {m.lower() for m in marks.all_inner_texts()}
    assert marked >= {"invoice", "2023"}, marked
    snippet = why.locator("li").filter(has=page.locator("mark"))
    expect(snippet).to_have_count(1)
    expect(snippet).to_contain_text(re.compile(r"^text: ", re.IGNORECASE))
    assert "[" not in snippet.inner_text() and "]" not in snippet.inner_text(), "brackets become <mark>s"
    shot(page, "photo-view-text-and-marks")
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("photo-view")).to_be_hidden()
    _close(page)


def test_the_text_section_is_hidden_without_text(browser, server: str, shot: Shots) -> None:  # noqa: F811
    """A photo where OCR read nothing, and a picture analysed without OCR, have no text section,
    also when the photo view steps to them from one that has text."""
    page = _new_page(browser, server)
    page.goto("/")
    tiles = page.get_by_test_id("tile")
    expect(page.get_by_test_id("context-bar")).to_contain_text("12 photos")
    names = tiles.evaluate_all("els => els.map(e => e.dataset.name)")
    ids = {n: int(i) for n, i in zip(names, tiles.evaluate_all("els => els.map(e => e.dataset.id)"))}
    assert _get(page, f"/api/images/{ids[PLAIN]}")["text"] == []
    assert _get(page, f"/api/images/{ids[NO_OCR]}")["text"] is None
    assert _get(page, f"/api/images/{ids['invoice.png']}")["text"]

    title = page.get_by_test_id("photo-view-title")
    section = page.locator("#viewer-text-section")
    lines = page.get_by_test_id("photo-view-text")
    # The plain photo's details wait until the check below: the invoice's text must be gone before.
    held = []
    plain_details = re.compile(rf"/api/images/{ids[PLAIN]}(\?.*)?$")
    page.route(plain_details, lambda route: held.append(route))
    _tile(page, "invoice.png").click()
    _details_loaded(page)
    expect(section).to_be_visible()
    here = names.index("invoice.png")
    for name in (PLAIN, NO_OCR, "invoice.png"):
        there = names.index(name)
        for _ in range(abs(there - here)):
            page.keyboard.press("ArrowRight" if there > here else "ArrowLeft")
        here = there
        expect(title).to_have_text(name)
        if name == PLAIN:
            for _ in range(200):
                if held:
                    break
                page.wait_for_timeout(50)
            assert held, "the photo view asks for the plain photo's details"
            expect(page.get_by_test_id("photo-view-tags")).to_have_attribute("aria-busy", "true")
            expect(section).to_be_hidden()  # not the previous photo's text while this one's loads
            expect(lines.locator("li")).to_have_count(0)
            held[0].continue_()
            page.unroute(plain_details)
        _details_loaded(page)
        if name == "invoice.png":
            expect(section).to_be_visible()
            expect(lines).to_contain_text(re.compile("invoice", re.IGNORECASE))
        else:
            expect(section).to_be_hidden()
            expect(lines.locator("li")).to_have_count(0)
            shot(page, f"no-text-{Path(name).stem}")
    page.keyboard.press("Escape")
    _close(page)


def _detail_requests(page) -> list[str]:
    """The URLs of the photo-detail requests the page makes from now on (filled as they happen)."""
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url) if re.search(r"/api/images/\d+(\?|$)", r.url) else None)
    return urls


def test_a_french_browser_reads_french_and_names_tags_in_french(browser, server: str, shot: Shots) -> None:  # noqa: F811
    page = _new_page(browser, server, locale="fr-FR")
    assert page.evaluate("navigator.languages")[0].startswith("fr")
    details = _detail_requests(page)
    page.goto("/")
    _search(page, "chat")
    interpretation = page.get_by_test_id("interpretation")
    expect(interpretation).to_contain_text("Read as French")
    expect(interpretation).to_contain_text(re.compile(r"chat\s*→\s*cat"))
    expect(_tile(page, "cat_sign.jpg")).to_be_visible()
    expect(_tile(page, PLAIN)).to_be_visible()
    shot(page, "french-search-chat")
    _tile(page, "cat_sign.jpg").click()
    tags = page.get_by_test_id("photo-view-tags")
    expect(tags.locator('[data-testid="tag"][data-tag="chat"]')).to_be_visible()
    # The cat photo's sign is read too, whatever the language.
    expect(page.get_by_test_id("photo-view-text")).to_contain_text(re.compile("cat cafe", re.IGNORECASE))
    assert details and all(url.endswith("?lang=fr") for url in details), details
    shot(page, "french-photo-view-tags")
    page.keyboard.press("Escape")
    _close(page)


def test_an_english_browser_reads_chat_as_english(browser, server: str, shot: Shots) -> None:  # noqa: F811
    page = _new_page(browser, server, locale="en-US")
    details = _detail_requests(page)
    page.goto("/")
    _search(page, "chat")
    expect(page.get_by_test_id("empty-state")).to_contain_text("No photos match")  # "chat" is a talk, in English
    expect(page.get_by_test_id("context-bar")).not_to_contain_text("Read as French")
    expect(page.get_by_test_id("tile")).to_have_count(0)
    shot(page, "english-search-chat")
    # "Katze" is German only: read as German, whatever the browser speaks; the tags stay English.
    _search(page, "Katze")
    expect(page.get_by_test_id("interpretation")).to_contain_text("Read as German")
    expect(page.get_by_test_id("tile").first).to_have_attribute("data-name", "cat_sign.jpg")
    page.get_by_test_id("tile").first.click()
    _details_loaded(page)
    tags = page.get_by_test_id("photo-view-tags")
    expect(tags.locator('[data-testid="tag"][data-tag="cat"]')).to_be_visible()
    expect(tags.locator('[data-testid="tag"][data-tag="chat"]')).to_have_count(0)
    assert details and not any("lang=" in url for url in details), details
    page.keyboard.press("Escape")
    _close(page)


def test_phone_shows_the_text_without_sideways_scrolling(browser, server: str, shot: Shots) -> None:  # noqa: F811
    page = _new_page(browser, server, PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    page.goto("/")
    _search(page, "invoice 2023")
    expect(page.get_by_test_id("tile").first).to_have_attribute("data-name", "invoice.png")
    page.get_by_test_id("tile").first.click()
    _details_loaded(page)
    section = page.locator("#viewer-text-section")
    expect(section).to_be_visible()
    expect(page.get_by_test_id("photo-view-text")).to_contain_text(re.compile("invoice", re.IGNORECASE))
    expect(page.get_by_test_id("photo-view-why").locator("mark").first).to_be_visible()
    section.scroll_into_view_if_needed()
    expect(section).to_be_in_viewport()
    _no_sideways_overflow(page, PHONE["width"])
    shot(page, "phone-text-section")
    # The dark theme, and a letter's long lines, on the same small screen.
    page.emulate_media(color_scheme="dark")
    page.keyboard.press("Escape")
    _search(page, '"guided tour"')
    expect(page.get_by_test_id("tile").first).to_have_attribute("data-name", "letter.jpg")
    page.get_by_test_id("tile").first.click()
    _details_loaded(page)
    expect(page.get_by_test_id("photo-view-text")).to_contain_text(re.compile("booking number", re.IGNORECASE))
    section.scroll_into_view_if_needed()
    _no_sideways_overflow(page, PHONE["width"])
    shot(page, "phone-letter-text-dark")
    _close(page)


def test_desktop_layout_keeps_the_text_in_the_side_panel(browser, server: str) -> None:  # noqa: F811
    page = _new_page(browser, server, DESKTOP)
    page.goto("/")
    _search(page, "invoice 2023")
    page.get_by_test_id("tile").first.click()
    _details_loaded(page)
    panel = page.locator(".viewer-info").bounding_box()
    text = page.get_by_test_id("photo-view-text").bounding_box()
    assert panel["x"] <= text["x"] and text["x"] + text["width"] <= panel["x"] + panel["width"] + 0.5, (panel, text)
    _no_sideways_overflow(page, DESKTOP["width"])
    _close(page)
