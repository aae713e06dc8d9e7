"""Text in pictures and other languages through the real `pixseek` command line: index the
rendered text set (documents, screens, photos with text) with the real OCR, then search it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_cli import names, run

from pixseek.demo.text_set import TextSample, write_text_set


@pytest.fixture(scope="module")
def text_library(pixseek_env, tmp_path_factory) -> tuple[Path, dict[str, str], list[TextSample]]:
    root = tmp_path_factory.mktemp("text-set")
    samples = write_text_set(root)
    env = {**pixseek_env, "PIXSEEK_HOME": str(tmp_path_factory.mktemp("text-library"))}
    result = run(env, "index", str(root), "--no-faces", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["indexed"] == len(samples)
    return root, env, samples


def test_search_finds_a_document_by_its_words(text_library):
    root, env, _ = text_library
    result = run(env, "search", "invoice 2023", "--json")
    data = json.loads(result.stdout)
    assert Path(data["results"][0]["path"]).name == "invoice.png", data
    snippet = [w for w in data["results"][0]["why"] if w.startswith("text: ")]
    assert snippet and "[" in snippet[0], data["results"][0]["why"]
    human = run(env, "search", "invoice 2023", "-n", "1")
    assert "invoice.png" in human.stdout and "text:" in human.stdout


def test_quoted_phrase_and_text_over_photos(text_library):
    _, env, _ = text_library
    assert names(run(env, "search", '"open daily"', "--json")) == ["cat_sign.jpg"]
    assert names(run(env, "search", '"daily open"', "--json")) == []
    assert "coffee_caption.jpg" in names(run(env, "search", "lisbon", "--json"))
    # The cat photo is found by the class *and* by the word on its sign.
    assert names(run(env, "search", "cat cafe", "--json"))[0] == "cat_sign.jpg"


def test_rotated_scan_is_read(text_library):
    root, env, samples = text_library
    scan = next(s for s in samples if s.how == "rotated 90")
    found = names(run(env, "search", " ".join(scan.words[:3]), "--json"))
    assert found and found[0] == scan.path.name


def test_text_command_prints_lines_with_boxes(text_library, tmp_path):
    root, env, samples = text_library
    invoice = next(s for s in samples if s.path.name == "invoice.png")
    result = run(env, "text", str(invoice.path), "--json")
    assert result.returncode == 0, result.stderr
    lines = json.loads(result.stdout)
    read = " ".join(line["text"] for line in lines).lower()
    assert "invoice" in read and "2023" in read
    for line in lines:
        x0, y0, x1, y1 = line["box"]
        assert 0 <= x0 < x1 and 0 <= y0 < y1 and 0 < line["score"] <= 1
    human = run(env, "text", str(invoice.path))
    assert "invoice" in human.stdout.lower()
    # A picture outside the library is read on the spot.
    outside = tmp_path / "copy.png"
    shutil.copy(invoice.path, outside)
    assert json.loads(run(env, "text", str(outside), "--json").stdout) == lines
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    failed = run(env, "text", str(bad))
    assert failed.returncode == 1 and "bad.png" in failed.stderr


def test_no_ocr_index_reads_no_text(text_library, tmp_path):
    root, env, _ = text_library
    plain = {**env, "PIXSEEK_HOME": str(tmp_path / "plain")}
    subset = tmp_path / "docs"
    shutil.copytree(root / "documents", subset)
    assert run(plain, "index", str(subset), "--no-ocr", "--no-faces").returncode == 0
    assert names(run(plain, "search", "invoice 2023", "--json")) == []
    stats = json.loads(run(plain, "stats", "--json").stdout)
    assert stats["with_text"] == 0


def test_queries_in_other_languages(text_library):
    _, env, _ = text_library
    # "chat" is English too: auto-detection reads it as English, --lang fr as the cat.
    french = json.loads(run(env, "search", "chat", "--lang", "fr", "--json").stdout)
    assert french["language"] == "fr" and "cat_sign.jpg" in [Path(r["path"]).name for r in french["results"]]
    german = json.loads(run(env, "search", "Katze", "--json").stdout)
    assert german["language"] == "de" and Path(german["results"][0]["path"]).name == "cat_sign.jpg"
    # The locale breaks ties: "chat" in a French session is the cat.
    in_french = {**env, "LANG": "fr_FR.UTF-8", "LC_ALL": ""}
    assert json.loads(run(in_french, "search", "chat", "--json").stdout)["language"] == "fr"
    unknown = run(env, "search", "chat", "--lang", "xx")
    assert unknown.returncode == 1 and "fr" in unknown.stderr


def test_tags_in_another_language(text_library):
    root, env, _ = text_library
    cat = root / "photos" / "cat_sign.jpg"
    english = json.loads(run(env, "tags", str(cat), "--json").stdout)
    french = json.loads(run(env, "tags", str(cat), "--lang", "fr", "--json").stdout)
    assert 0 < len(french) <= len(english)  # two English names may share one French word
    assert any(t["tag"] == "chat" for t in french), french
    assert {t["score"] for t in french} <= {t["score"] for t in english}
    assert run(env, "tags", str(cat), "--lang", "klingon").returncode == 2
