"""The web UI's ES modules: served so a browser runs them, small, wired together, and shipped.

The browser tests (tests/test_browser*.py) drive the UI itself; these check what makes a module
load at all: a JavaScript MIME type (a browser refuses a module script with any other), a
Content-Security-Policy that allows same-origin scripts, imports that name what the imported
module exports, and package data that carries every file of static/ into a wheel.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pixseek.service.app import STATIC_DIR, create_app
from pixseek.service.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 400
SCRIPT_TAG = re.compile(r'<script type="module" src="([^"]+)"></script>')
IMPORT = re.compile(r"^import (?:\{([^}]*)\} from )?'(\./[\w-]+\.js)';", re.M)
EXPORT = re.compile(r"^export (?:async )?(?:function|const|let|class) ([\w$]+)", re.M)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    # No lifespan: the static files and headers need no analysis workers.
    settings = ServiceSettings(home=tmp_path_factory.mktemp("web-library"), single_user=True)
    return TestClient(create_app(settings), base_url="http://127.0.0.1")


def test_the_page_loads_every_module_as_javascript(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    entries = SCRIPT_TAG.findall(page.text)
    assert entries == ["js/main.js"]

    loaded: dict[str, str] = {}
    pending = ["/js/main.js"]
    while pending:
        path = pending.pop()
        if path in loaded:
            continue
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert answer.headers["content-type"].split(";")[0] in {"text/javascript", "application/javascript"}, (
            path, answer.headers["content-type"])
        assert answer.headers["x-content-type-options"] == "nosniff"
        loaded[path] = answer.text
        folder = path.rsplit("/", 1)[0]
        pending += [f"{folder}/{target[2:]}" for _, target in IMPORT.findall(answer.text)]

    on_disk = {f"/js/{p.name}" for p in (STATIC_DIR / "js").glob("*.js")}
    assert set(loaded) == on_disk, "every module is reached from main.js, and nothing else is loaded"
    assert not list(STATIC_DIR.glob("*.js")), "the scripts live in static/js/"


def test_each_module_is_small_and_imports_only_what_is_exported() -> None:
    modules = {p.name: p.read_text() for p in (STATIC_DIR / "js").glob("*.js")}
    assert modules
    for name, text in modules.items():
        assert text.count("\n") <= MAX_MODULE_LINES, f"{name}: {text.count(chr(10))} lines"
        for names, target in IMPORT.findall(text):
            exported = set(EXPORT.findall(modules[target[2:]]))
            for imported in filter(None, (n.strip() for n in names.split(","))):
                assert imported in exported, f"{name} imports {imported} from {target}, which does not export it"


def test_the_package_data_ships_every_web_file() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["pixseek"]
    package = ROOT / "src" / "pixseek"
    shipped = {path for pattern in patterns for path in package.glob(pattern) if path.is_file()}
    web_files = {path for path in STATIC_DIR.rglob("*") if path.is_file()}
    assert web_files, STATIC_DIR
    assert sorted(map(str, web_files - shipped)) == []
