"""The language tables are built before anyone searches: by `pixseek prepare` (setup) or by the
first index, never by a user's first query."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from pixseek.language.prepare import PREPARED_KEY, is_prepared, marker_path


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pixseek.cli", *args], env=env, capture_output=True, text=True, timeout=600)


def listing(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


def test_prepare_builds_once_and_searches_only_read(pixseek_env, cache_dir, tmp_path):
    first = run(pixseek_env, "prepare")
    assert first.returncode == 0, first.stderr
    assert is_prepared(cache_dir) and marker_path(cache_dir).read_text() == PREPARED_KEY
    again = run(pixseek_env, "prepare")
    assert again.returncode == 0 and again.stdout.startswith("ready:")
    before = listing(cache_dir)
    for query in ("cat", "chien", "gato"):  # detection reads every language's tables
        assert run(pixseek_env, "--db", str(tmp_path / "lib"), "search", query).returncode == 0
    assert listing(cache_dir) == before  # nothing built or rewritten by a search


def test_first_index_prepares(gallery_master, pixseek_env, cache_dir, tmp_path):
    gallery, _ = gallery_master
    run(pixseek_env, "prepare")  # the tables themselves (shared with the session)
    copy = tmp_path / "cache"
    shutil.copytree(cache_dir, copy)
    marker_path(copy).unlink()
    env = {**pixseek_env, "PIXSEEK_CACHE_DIR": str(copy)}
    index = ("index", str(gallery / "photos"), "--db", str(tmp_path / "lib"), "--no-faces", "--no-ocr")
    indexed = run(env, *index)
    assert indexed.returncode == 0, indexed.stderr
    assert "preparing the dictionaries" in indexed.stderr and is_prepared(copy)
    later = run(env, *index)
    assert later.returncode == 0 and "preparing" not in later.stderr


def test_the_cache_is_per_user_not_per_library(tmp_path, monkeypatch):
    from pixseek.config import resolve_paths

    monkeypatch.delenv("PIXSEEK_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_paths(tmp_path / "a").cache == resolve_paths(tmp_path / "b").cache == tmp_path / "xdg" / "pixseek"
