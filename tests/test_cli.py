"""The real `pixseek` command line, run as a user runs it, on the real sample gallery."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def indexed(gallery_master, pixseek_env, tmp_path_factory):
    """One library over the sample gallery, shared by the read-only tests of this module."""
    gallery, _ = gallery_master
    env = {**pixseek_env, "PIXSEEK_HOME": str(tmp_path_factory.mktemp("cli-library"))}
    result = run(env, "index", str(gallery), "--json")
    assert result.returncode == 0, result.stderr
    return gallery, env, json.loads(result.stdout)


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pixseek.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


def names(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 0, result.stderr
    return [Path(r["path"]).name for r in json.loads(result.stdout)["results"]]


def test_index_report(indexed):
    gallery, _, report = indexed
    assert report["indexed"] == sum(1 for p in gallery.rglob("*") if p.is_file())
    assert report["skipped"] == []


@pytest.mark.parametrize("query", ["cat", "kitten", "animal"])
def test_cat_photo_found_by_words(indexed, query):
    _, env, _ = indexed
    found = names(run(env, "search", query, "--json", "-n", "5"))
    assert "chelsea.png" in found, found


def test_espresso_finds_coffee_with_reason(indexed):
    _, env, _ = indexed
    result = run(env, "search", "espresso", "--json", "-n", "3")
    data = json.loads(result.stdout)
    assert Path(data["results"][0]["path"]).name.startswith("coffee")
    assert "espresso" in " ".join(data["results"][0]["why"])
    human = run(env, "search", "espresso", "-n", "2")
    assert "coffee" in human.stdout and "espresso" in human.stdout


def test_unknown_words_give_a_clear_message(indexed):
    _, env, _ = indexed
    result = run(env, "search", "qwertyuiop")
    assert result.returncode == 1
    assert "no known words in query" in result.stderr
    stopwords = run(env, "search", "the of and")
    assert stopwords.returncode == 1 and "error:" in stopwords.stderr


def test_no_good_match_returns_nothing(indexed):
    _, env, _ = indexed
    # there is no volcano in the gallery: nothing above the threshold, rather than noise
    assert names(run(env, "search", "volcano", "--json")) == []


def test_similar_and_focus(indexed):
    gallery, env, _ = indexed
    found = names(run(env, "similar", str(gallery / "derived" / "chelsea_flip.jpg"), "--json", "-n", "3"))
    assert "chelsea.png" in found and "chelsea_flip.jpg" not in found
    focused = names(run(env, "similar", str(gallery / "photos" / "chelsea.png"), "--focus", "cat", "--json", "-n", "3"))
    assert all(n.startswith("chelsea") for n in focused)
    assert run(env, "similar", str(gallery / "nope.jpg")).returncode == 1


def test_tags_include_hypernyms(indexed):
    gallery, env, _ = indexed
    result = run(env, "tags", str(gallery / "photos" / "chelsea.png"), "--json")
    tags = {t["tag"] for t in json.loads(result.stdout)}
    assert {"cat", "animal"} <= tags, tags


def test_words(indexed):
    _, env, _ = indexed
    result = run(env, "words", "seashore", "--json")
    words = {w["word"] for w in json.loads(result.stdout)}
    assert words & {"beach", "coast", "shore", "shoreline"}


def test_stats(indexed):
    gallery, env, report = indexed
    data = json.loads(run(env, "stats", "--json").stdout)
    assert data["images"] == report["indexed"]
    assert data["bytes_per_image"]["categories: forward rows"] <= 160


def test_folder_filter(indexed):
    gallery, env, _ = indexed
    found = names(run(env, "search", "cat", "--in", str(gallery / "derived"), "--json"))
    assert found and all(n.startswith("chelsea_") for n in found)


def test_similar_inside_a_selective_filter_fills_the_page(indexed):
    # the nearest neighbours of the cat are mostly outside photos/: the page is filled exactly
    gallery, env, _ = indexed
    found = names(run(env, "similar", str(gallery / "derived" / "chelsea_flip.jpg"), "--in", str(gallery / "photos"), "--json", "-n", "15"))
    photos = {p.name for p in (gallery / "photos").iterdir()}
    assert len(found) == 15 and set(found) <= photos and found[0] == "chelsea.png"


def test_bad_options_are_refused_clearly(indexed):
    gallery, env, _ = indexed
    bad_date = run(env, "search", "cat", "--from", "yesterday")
    assert bad_date.returncode == 2 and "expected a date" in bad_date.stderr
    assert run(env, "search", "cat", "--limit", "0").returncode == 2
    missing = run(env, "index", str(gallery / "no-such-folder"))
    assert missing.returncode == 1 and "not a folder" in missing.stderr
    unknown_focus = run(env, "similar", str(gallery / "photos" / "chelsea.png"), "--focus", "qwertyuiop")
    assert unknown_focus.returncode == 1 and "unknown focus concept" in unknown_focus.stderr


def test_users_with_attached_folders(gallery_master, pixseek_env, tmp_path):
    gallery, _ = gallery_master
    env = {**pixseek_env, "PIXSEEK_HOME": str(tmp_path / "lib")}
    assert run(env, "index").returncode == 2  # nothing attached, no folder given
    assert run(env, "user", "add", "alice", "--password", "short").returncode == 1
    assert run(env, "user", "add", "alice", "--password", "correct horse").returncode == 0
    assert run(env, "user", "add", "bob", "--password", "").returncode == 0
    assert "exists already" in run(env, "user", "add", "alice", "--password", "").stderr
    assert run(env, "user", "attach", "alice", str(gallery / "derived")).returncode == 0
    assert "another user" in run(env, "user", "attach", "bob", str(gallery / "derived")).stderr
    indexed = run(env, "index", "--json")
    assert indexed.returncode == 0, indexed.stderr
    assert [r["indexed"] for r in json.loads(indexed.stdout)] == [6]
    assert set(names(run(env, "--user", "alice", "search", "cat", "--json"))) == {
        "chelsea_crop.jpg", "chelsea_flip.jpg", "chelsea_jpeg.jpg"}
    assert names(run(env, "--user", "bob", "search", "cat", "--json")) == []
    assert names(run(env, "search", "cat", "--json")) == []  # the default user has nothing
    users = {u["name"]: u for u in json.loads(run(env, "user", "list", "--json").stdout)}
    assert users["alice"]["images"] == 6 and users["alice"]["password"] and not users["bob"]["password"]
    token = run(env, "user", "token", "bob", "--label", "phone").stdout.strip()
    assert token.startswith("pxs_") and len(token) > 40
    assert "no user named" in run(env, "--user", "carol", "search", "cat").stderr


def test_global_options_move_before_the_command():
    from pixseek.cli import hoist_global_options

    assert hoist_global_options(["index", "pics", "--db", "lib", "-u", "ann"]) == ["--db", "lib", "-u", "ann", "index", "pics"]
    assert hoist_global_options(["search", "cat", "--store=postgresql://x/y"]) == ["--store=postgresql://x/y", "search", "cat"]
    assert hoist_global_options(["search", "--", "--db", "x"]) == ["search", "--", "--db", "x"]  # after --: words
    assert hoist_global_options(["search", "cat", "--db"]) == ["search", "cat", "--db"]  # no value: click says so


def test_global_options_after_the_command(gallery_master, pixseek_env, tmp_path):
    """`pixseek index ~/Pictures --db lib`, as people type it; the default library stays untouched."""
    gallery, _ = gallery_master
    env = {k: v for k, v in pixseek_env.items() if k not in ("PIXSEEK_HOME", "XDG_DATA_HOME")}
    env["HOME"] = str(tmp_path / "home")
    lib = tmp_path / "lib"
    assert run(env, "index", str(gallery / "photos"), "--db", str(lib), "--json").returncode == 0
    assert "chelsea.png" in names(run(env, "search", "cat", "--json", "--db", str(lib)))
    assert (lib / "pixseek.db").exists() and not (tmp_path / "home" / ".local" / "share" / "pixseek").exists()
    stranger = run(env, "search", "cat", "--db", str(lib), "--user", "nobody")
    assert stranger.returncode == 1 and "nobody" in stranger.stderr


def test_query_from_several_words(indexed):
    _, env, _ = indexed
    typed = json.loads(run(env, "search", "tabby", "cat", "--json", "-n", "5").stdout)
    quoted = json.loads(run(env, "search", "tabby cat", "--json", "-n", "5").stdout)
    assert typed["query"] == "tabby cat" and typed["results"] == quoted["results"] and typed["results"]
    misspelt = run(env, "search", "cat", "--limt", "3")
    assert misspelt.returncode == 2 and "no such option: --limt" in misspelt.stderr


# What a text search must not import (issue 18): model runtimes, the web service's stack, the
# analysis pass and PIL, and the modules of the CLI's other commands.
NOT_FOR_A_TEXT_SEARCH = (
    "onnxruntime", "dlib", "cv2", "torch", "transformers", "rapidocr_onnxruntime", "tokenizers", "PIL",
    "fastapi", "pydantic", "uvicorn", "starlette", "pixseek.service", "pixseek.pipeline.analysis",
    "pixseek.pipeline.indexer", "pixseek.pipeline.workers", "pixseek.cli.index", "pixseek.cli.people",
    "pixseek.cli.users", "pixseek.cli.serve", "pixseek.cli.models", "pixseek.cli.learn", "pixseek.cli.duplicates",
)


def test_a_text_search_loads_no_model(indexed):
    """A text query needs no model: the CLI must not pay for loading one, nor for importing what
    only other commands use (issue 18)."""
    _, env, _ = indexed
    probe = (
        "import sys; sys.argv = ['pixseek', 'search', 'cat', 'chien'];"
        "from pixseek.cli import main\ntry: main()\nexcept SystemExit: pass\n"
        f"print('MODULES:' + ','.join(sorted(m for m in {NOT_FOR_A_TEXT_SEARCH!r} if m in sys.modules)), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    assert "MODULES:\n" in done.stderr + "\n", done.stderr[-2000:]
    assert done.stdout.strip(), done.stderr[-2000:]  # it did search (hits, or "no image matches")
