"""The demo: build a real sample gallery from installed packages, index it, and search it.

Runs the real `pixseek` command line, printing each command before its output, so what you see
is exactly what a user gets. Usage: python -m pixseek.demo [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from pixseek.demo.face_set import write_face_set
from pixseek.demo.samples import write_demo_gallery
from pixseek.demo.text_set import write_text_set
from pixseek.demo.video_set import write_video_set


def run(args: list[str], env: dict[str, str]) -> None:
    print(f"\n$ pixseek {' '.join(shlex.quote(a) for a in args)}", flush=True)
    started = time.perf_counter()
    completed = subprocess.run([sys.executable, "-m", "pixseek.cli", *args], env=env)
    print(f"  ({time.perf_counter() - started:.1f} s, exit {completed.returncode})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m pixseek.demo", description=__doc__)
    parser.add_argument("--dir", type=Path, default=Path(".pixseek-demo"), help="where to put the gallery and library")
    parser.add_argument("--fresh", action="store_true", help="start from an empty library")
    options = parser.parse_args()

    root = options.dir.resolve()
    gallery, library = root / "gallery", root / "library"
    if options.fresh and library.exists():
        shutil.rmtree(library)
    images = write_demo_gallery(gallery)
    faces = write_face_set(gallery / "people")
    texts = write_text_set(gallery / "text")
    videos = write_video_set(gallery / "video")
    print(
        f"sample gallery: {len(images) + len(faces) + len(texts)} images from scikit-image, scikit-learn, "
        f"matplotlib and Fashion-MNIST in {gallery} (people/: two real people in {len(faces)} pictures; "
        f"text/: {len(texts)} documents, screens and photos with text rendered in Debian's fonts; "
        f"video/: {len(videos)} short clips encoded from those photos)"
    )

    env = {**os.environ, "PIXSEEK_HOME": str(library)}
    cat = gallery / "photos" / "chelsea.png"
    cat_copy = next((p.path for p in images if "chelsea" in p.source and "flip" in p.source), cat)
    for args in (
        ["index", str(gallery)],
        ["index", str(gallery)],  # the second run only checks what changed
        ["search", "cat", "-n", "5"],
        ["search", "kitten", "-n", "3"],
        ["search", "animal", "-n", "5"],
        ["search", "espresso", "-n", "3"],
        ["search", "motorbike", "-n", "3"],
        ["search", "flower", "-n", "3"],
        ["search", "building", "-n", "3"],
        ["search", "tiger cat", "-n", "3"],  # (tiger AND cat) OR the known phrase "tiger cat"
        ["search", "shoe", "-n", "5"],
        ["search", "bag", "-n", "3"],
        ["search", "volcano"],  # nothing like it in the gallery: no results rather than noise
        ["search", "qwertyuiop"],
        ["similar", str(cat_copy), "-n", "5"],
        ["similar", str(cat), "--focus", "cat", "-n", "5"],
        ["tags", str(cat)],
        ["words", "seashore", "-n", "8"],
        ["people"],  # faces grouped into people
        ["faces", "show", str(gallery / "people" / "groups" / "pair.jpg")],
        ["faces", "similar", str(gallery / "people" / "groups" / "pair.jpg"), "--face", "2", "-n", "5"],
        ["search", "people", "-n", "5"],  # no ImageNet class for people: faces answer
        ["search", "invoice 2023", "-n", "3"],  # words in the pictures (OCR) and concepts, one list
        ["search", '"open daily"', "-n", "3"],  # a quoted phrase: exactly these words in the text
        ["text", str(gallery / "text" / "documents" / "invoice.png")],
        ["search", "fusée", "-n", "3"],  # other languages: French, German, Spanish, Italian, ...
        ["search", "Katze", "-n", "3"],
        ["search", "Kaffee", "-n", "3"],
        ["search", "flor", "-n", "3"],
        ["search", "chat", "--lang", "fr", "-n", "3"],  # "chat" is English too: say which
        ["tags", str(cat), "--lang", "fr"],
        ["search", "red", "motorcycle", "-n", "3"],  # several words, no quotes; a colour AND a class
        ["search", "black", "and", "white", "-n", "3"],  # image characteristics
        ["search", "animal", "-cat", "-n", "5"],  # the query language: animals, not the cat
        ["search", "coffee", "type:video", "-n", "3"],  # a hit in a video names the time
        ["similar", f"{gallery / 'video' / 'holiday.mp4'}#t=4.000", "-n", "3"],  # ... and its path is a picture to search by
        ["duplicates"],  # the gallery's edited copies (flipped, recompressed) grouped
    ):
        run(args, env)
    grace = _person_shown_in(env, "grace_hopper")
    if grace is not None:
        for args in (["people", "name", str(grace), "Grace Hopper"], ["search", "grace", "-n", "5"], ["stats"]):
            run(args, env)
    print(
        f"\nBrowse it: .venv/bin/pixseek --db {library} serve   (then open http://127.0.0.1:8080/)",
        flush=True,
    )


def _person_shown_in(env: dict[str, str], folder: str) -> int | None:
    """The id of the person whose face `pixseek people` shows from a picture in `folder`."""
    listed = subprocess.run(
        [sys.executable, "-m", "pixseek.cli", "people", "--json"], env=env, capture_output=True, text=True
    )
    if listed.returncode != 0:
        return None
    for person in json.loads(listed.stdout)["people"]:
        if person["cover"] and f"/{folder}/" in person["cover"]["path"]:
            return int(person["id"])
    return None


if __name__ == "__main__":
    main()
