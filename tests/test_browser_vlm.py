"""Search with a vision-language model in the web UI: the real `pixseek serve` on a library with the
tiny CLIP of tests/test_vlm_search.py active, in headless Chromium. The result header names the
model that answered; a query only the model answers finds its picture. Needs what
tests/test_browser.py needs.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from test_browser import (  # noqa: F401 (browser: the module's browser fixture)
    ARTIFACTS,
    _close,
    _new_page,
    _search,
    _serving,
    browser,
    expect,
    pytestmark,
)
from test_vlm_search import TRAINED_CLIP_SCALE, build_library, with_scale

from pixseek.language.concepts import ConceptSpace


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, tiny_clip_onnx: Path, concepts: ConceptSpace, pixseek_env: dict[str, str], cache_dir: Path
) -> Iterator[str]:
    folder = with_scale(tiny_clip_onnx, tmp_path_factory.mktemp("browser-clip") / "clip-test", TRAINED_CLIP_SCALE)
    home = tmp_path_factory.mktemp("browser-vlm-library") / "lib"
    library, _ = build_library(home, folder, concepts)
    library.close()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    env = {**pixseek_env, "PIXSEEK_CACHE_DIR": str(cache_dir)}
    with _serving(home, env, tmp_path_factory.mktemp("browser-vlm-log") / "serve.log") as url:
        # The first query reads the dictionaries and embeds the zero-shot vocabulary (~10-30 s on a
        # cold cache): done here, not on a page's clock.
        with urllib.request.urlopen(f"{url}/api/search?q=sunset", timeout=300) as warm:
            assert json.load(warm)["model"] == "clip-test"
        yield url


def test_the_result_header_names_the_model(browser, server: str) -> None:
    page = _new_page(browser, server)
    page.goto("/")
    _search(page, "sunset")
    expect(page.get_by_test_id("model")).to_contain_text("clip-test")
    expect(page.get_by_test_id("result-count")).to_contain_text("1")
    _close(page)
