"""Index the real sample gallery with the real classifier, then change the folder and re-index."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixseek.library import Library
from pixseek.demo.samples import write_demo_gallery


@pytest.fixture()
def library(tmp_path: Path, pixseek_env: dict[str, str], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PIXSEEK_MODEL_DIR", pixseek_env["PIXSEEK_MODEL_DIR"])
    monkeypatch.setenv("PIXSEEK_CACHE_DIR", pixseek_env["PIXSEEK_CACHE_DIR"])
    with Library(tmp_path / "library") as lib:
        yield lib


def paths_of(result) -> list[str]:
    return [Path(h.path).name for h in result.hits]


def test_index_search_and_reindex(gallery: Path, library: Library):
    n_images = sum(1 for p in gallery.rglob("*") if p.is_file())
    report = library.indexer(workers=2).index(gallery)
    assert report.indexed == n_images and not report.skipped
    assert report.analysed_per_s > 0 and {"decode", "classify"} <= set(report.stage_ms)

    engine = library.engine
    for query in ("cat", "kitten", "animal"):
        names = paths_of(engine.search(library.owner, query, limit=5))
        assert "chelsea.png" in names[:3] or any("chelsea" in n for n in names[:3]), (query, names)
    assert paths_of(engine.search(library.owner, "espresso", limit=3))[0].startswith("coffee")
    hit = engine.search(library.owner, "espresso", limit=1).hits[0]
    assert any("espresso" in why for why in hit.why)

    # an edited copy (crop + flip + recompress) from outside the library finds its original first
    edited = library.paths.home / "edited.jpg"
    with Image.open(gallery / "photos" / "coffee.png") as im:
        w, h = im.size
        im.convert("RGB").crop((20, 10, w - 30, h - 20)).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(edited, quality=60)
    assert paths_of(engine.similar(library.owner, edited, limit=3))[0].startswith("coffee")

    # second run: nothing to do
    again = library.indexer().index(gallery)
    assert (again.indexed, again.updated, again.moved, again.removed) == (0, 0, 0, 0)
    assert again.unchanged == n_images

    # rename, move, delete, modify, add a duplicate
    (gallery / "albums").mkdir()
    shutil.move(gallery / "photos" / "chelsea.png", gallery / "albums" / "my cat.png")
    (gallery / "photos" / "coins.png").unlink()
    with Image.open(gallery / "photos" / "china.jpg") as im:
        im.transpose(Image.Transpose.ROTATE_90).save(gallery / "photos" / "china.jpg")
    shutil.copy(gallery / "photos" / "coffee.png", gallery / "albums" / "coffee copy.png")
    third = library.indexer().index(gallery)
    assert (third.moved, third.removed, third.updated, third.reused, third.indexed) == (1, 1, 1, 1, 0)
    names = paths_of(engine.search(library.owner, "cat", limit=5))
    assert "my cat.png" in names and "chelsea.png" not in names
    assert not any(n == "coins.png" for n in paths_of(engine.search(library.owner, "coin", limit=50, threshold=0.0)))


def test_bad_files_are_skipped_with_reasons(gallery: Path, library: Library):
    bad = gallery / "bad"
    bad.mkdir()
    (bad / "empty.jpg").write_bytes(b"")
    (bad / "notes.jpg").write_text("this is not a picture")
    data = (gallery / "photos" / "coffee.png").read_bytes()
    (bad / "truncated.png").write_bytes(data[: len(data) // 3])
    os.symlink(bad, bad / "loop")
    os.symlink(bad / "gone.jpg", bad / "dangling.jpg")
    shutil.copy(gallery / "photos" / "coffee.png", os.fsencode(bad) + b"/caf\xe9.png")  # Latin-1 name
    # 90 MP, over PIL's default limit (89.5 MP): the analysis runs in a worker process, with it.
    Image.new("1", (10_000, 9_000)).save(bad / "bomb.png")
    report = library.indexer(workers=1).index(gallery)
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert set(reasons) >= {"empty.jpg", "notes.jpg", "truncated.png", "loop", "dangling.jpg", "bomb.png"}, reasons
    assert "empty" in reasons["empty.jpg"]
    assert "not an image" in reasons["notes.jpg"]
    assert "truncated" in reasons["truncated.png"] or "corrupt" in reasons["truncated.png"]
    assert "symlink loop" in reasons["loop"]
    assert "decompression bomb" in reasons["bomb.png"]
    assert any("UTF-8" in s.reason for s in report.skipped)
    assert report.indexed > 0  # the run went on


def start_index_and_wait_for_commits(cmd: list[str], env: dict[str, str], home: Path, **popen) -> subprocess.Popen:
    """Start `pixseek index` and return once its first results are committed."""
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, **popen)
    deadline = time.time() + 120
    db = home / "pixseek.db"
    while time.time() < deadline and proc.poll() is None:
        if db.exists():
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                    if conn.execute("SELECT count(*) FROM files").fetchone()[0] > 0:
                        break
            except sqlite3.OperationalError:  # schema not created yet
                pass
        time.sleep(0.05)
    assert proc.poll() is None, "indexing finished before it could be interrupted"
    return proc


def test_kill_9_during_index_then_resume(gallery: Path, tmp_path: Path, pixseek_env: dict[str, str]):
    home = tmp_path / "killed"
    env = {**pixseek_env, "PIXSEEK_HOME": str(home)}
    cmd = [sys.executable, "-m", "pixseek.cli", "index", str(gallery), "--workers", "1"]
    proc = start_index_and_wait_for_commits(cmd, env, home, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole process group, without warning
    proc.wait()

    resumed = subprocess.run(cmd + ["--json"], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    import json

    report = json.loads(resumed.stdout)
    total = sum(1 for p in gallery.rglob("*") if p.is_file())
    assert report["unchanged"] > 0 and report["unchanged"] + report["indexed"] == total
    with Library(home) as lib:
        assert lib.store.stats(lib.owner).files == total  # every file is indexed exactly once
        ids = np.arange(1, lib.store.content_count() + 1)
        assert lib.store.live(lib.owner, ids).sum() == total


def test_ctrl_c_saves_work_and_exits_130(tmp_path: Path, pixseek_env: dict[str, str]):
    gallery = tmp_path / "bigger-gallery"  # large enough that Ctrl-C lands mid-analysis
    write_demo_gallery(gallery, fashion_per_class=40)
    home = tmp_path / "interrupted"
    env = {**pixseek_env, "PIXSEEK_HOME": str(home)}
    cmd = [sys.executable, "-m", "pixseek.cli", "index", str(gallery), "--workers", "1"]
    proc = start_index_and_wait_for_commits(
        cmd, env, home, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as in a terminal
    )
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group, workers too
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in out + err, (proc.returncode, out, err[-2000:])
    with sqlite3.connect(home / "pixseek.db") as conn:
        saved = conn.execute("SELECT count(*) FROM files").fetchone()[0]
    assert saved > 0
