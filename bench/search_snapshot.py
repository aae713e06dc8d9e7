"""The search engine's answers on real data, recorded so that a refactoring can show it changed none.

    python -m bench.search_snapshot build --home DIR        # index demo gallery + text set + faces, name people
    python -m bench.search_snapshot run --home DIR --out A.json
    python -m bench.search_snapshot compare A.json B.json   # exit 1 and the first differences if any

`run` asks a few hundred queries (English words and ImageNet class names, multi-word, quoted
phrases, people's names, words of the rendered text set, six other languages, unknown words,
filters, instant-search prefixes) plus tags and similar images, and records each answer's top 20
(ids, scores, why), unknown words, interpretation, language and errors. The library is built once,
so a before/after pair reads the same records. Not a benchmark figure: nothing goes to results.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

SCORE_TOLERANCE = 1e-6

ENGLISH = """dog cat coffee ball beach car red animal bird fish food fruit cup espresso tabby kitten puppy
    vehicle rocket astronaut space flower plant shoe shoes sneaker boot sandal shirt t-shirt dress coat
    bag handbag trousers pullover sweater clothing clothes gift box present wrapping ribbon sky snow
    water sea seashore tree grass computer keyboard screen monitor paper document letter envelope book
    text sign poster menu receipt invoice table chair person people face faces selfie crowd portrait
    digit number zero seven cappuccino drink mug glass bottle animal mammal feline canine insect""".split()
MULTI = [
    "beach ball", "golden retriever on the beach", "bird of prey", "red car", "coffee cup", "a photo of a cat",
    "cat and dog", "space rocket launch", "black shoes", "gift box with ribbon", "dog asdfgh", "cat coffee",
    "people beach", "face cat", "invoice 2023", "total due", "coffee invoice", "the the the", "photo of",
    "sneaker boot sandal", "cup of coffee on a table", "espresso cappuccino", "tabby cat on a sofa",
    "a picture of two dogs", " ".join(["dog"] * 40), "cat 2023", "rocket 1969", "shirt 12%",
]
FOREIGN = [
    ("chien", None), ("Hund", None), ("perro", None), ("cane", None), ("cane", "it"), ("chat", None),
    ("chat", "fr"), ("voiture rouge", None), ("Hund am Strand", None), ("chien sur la plage", None),
    ("gato", None), ("gatto", None), ("kat", None), ("hond", None), ("Katze", None), ("café", None),
    ("cafe", None), ("tasse de café", None), ("Kaffee", None), ("chaussure", None), ("Schuh", None),
    ("zapato", None), ("sapato", None), ("scarpa", None), ("schoen", None), ("fusée", None), ("Rakete", None),
    ("cohete", None), ("astronomía", None), ("dalia", None), ("Mantel", None), ("mantel", "es"),
    ("personne", "fr"), ("gens", None), ("Leute", None), ("perro", "de"), ("chien", "klingon"),
    ("facture", None), ("Rechnung", None), ("factura", None), ("plage", None), ("Strand", None),
    ("oiseau", None), ("Vogel", None), ("pájaro", None), ("uccello", None), ("vogel", None), ("pássaro", None),
]
UNKNOWN = ["asdfgh", "qwzxv asdfgh", "🐶", "猫", "🐶 chien", "Hund собака 犬", "", "   ", "!!!", "x", "3", "the",
           '""', '"  "', '"!!"', "xyzzy 2023", "2023", "1,250.00", "EUR", "ACME", "acme supplies"]
PREFIXES = ["invo", "invoic", "cappu", "quarte", "recei", "dog ", "cat", "coff", "timet", "slid"]


def build(home: Path) -> None:
    from pixseek.library import Library
    from pixseek.demo.face_set import write_face_set
    from pixseek.demo.samples import write_demo_gallery
    from pixseek.demo.text_set import write_text_set

    gallery = home / "gallery"
    write_demo_gallery(gallery / "demo", fashion_per_class=3)
    write_text_set(gallery / "text")
    faces = write_face_set(gallery / "faces")
    with Library(home / "library") as lib:
        report = lib.indexer(workers=2).index(gallery)
        print(report)
        lib.cluster_faces()
        wanted = sorted({p for f in faces for p in f.people})
        names = {"eileen_collins": "Eileen Collins", "grace_hopper": "Grace Brewster Hopper"}
        for person in lib.store.faces.people(lib.owner):
            shown = lib.store.faces.presence(lib.owner, [person.id])
            folders = [Path(i.paths[0]).parent.name for i in lib.store.get_images(lib.owner, sorted(shown))]
            who = max(set(folders), key=folders.count) if folders else None
            if who in names:
                lib.store.faces.rename(lib.owner, person.id, names.pop(who))
        for n, person in enumerate(lib.store.faces.people(lib.owner)):
            if person.name is None and n < len(wanted) + 2:
                lib.store.faces.rename(lib.owner, person.id, f"Person{n} Rose" if n % 2 else f"Alice{n}")
        lib.store.commit()
        print(lib.store.faces.names(lib.owner))


def _queries(lib: Any) -> list[dict[str, Any]]:
    from pixseek.records import ImageFilter

    concepts = lib.engine.concepts
    labels = [concepts.label(c) for c in range(0, 1000, 7)]
    texts = sorted({t.text for cid in lib.store.matching(lib.owner, None, limit=10_000).tolist()
                    for t in (lib.store.texts.lines(lib.owner, int(cid)) or [])})
    text_words = sorted({w.strip(".,:;()%") for t in texts for w in t.split()} - {""})[:120]
    phrases = [f'"{" ".join(t.split()[:2])}"' for t in texts[:25]] + ['"total due" invoice', '"invoice" dog', 'cat "2023"']
    names = list(lib.store.faces.names(lib.owner).values())
    name_queries = names + [n.split()[0] for n in names] + [f"{n.split()[0]} beach" for n in names] + ["grace", "eileen"]
    out: list[dict[str, Any]] = []
    for q in ENGLISH + labels + MULTI + text_words + phrases + name_queries + UNKNOWN + PREFIXES:
        out.append({"query": q})
    for q, lang in FOREIGN:
        out.append({"query": q, "lang": lang})
    for q in ["chat", "cane", "strand", "auto"]:
        out.append({"query": q, "preferred_lang": "fr-FR,fr;q=0.9"})
        out.append({"query": q, "preferred_lang": "it"})
    for q in ["cat", "dog", "coffee", "invoice", "people", "shoe"]:
        out.append({"query": q, "where": {"path_prefix": str(Path(lib.paths.store).parent)}})
        out.append({"query": q, "where": {"camera": "canon"}})
        out.append({"query": q, "where": {"taken_from": "2001-01-01"}})
        out.append({"query": q, "limit": 5, "offset": 3})
        out.append({"query": q, "threshold": 0.0})
    del ImageFilter
    return out


def run(home: Path, out: Path) -> None:
    import numpy as np

    from pixseek.library import Library
    from pixseek.records import ImageFilter
    from pixseek.search.engine import QueryError

    answers: list[dict[str, Any]] = []
    with Library(home / "library") as lib:
        gallery = str((home / "gallery").resolve())
        queries = _queries(lib)
        for spec in queries:
            args = dict(spec)
            q = args.pop("query")
            if "where" in args:
                where = dict(args["where"])
                if "path_prefix" in where:
                    where["path_prefix"] = gallery + "/text"
                args["where"] = ImageFilter(**where)
            try:
                r = lib.engine.search(lib.owner, q, **args)
                answer: dict[str, Any] = {
                    "hits": [[h.content_id, h.score, h.why] for h in r.hits],
                    "unknown": r.unknown_words,
                    "interpretation": r.interpretation,
                    "candidates": r.candidates,
                    "language": r.language,
                }
            except QueryError as exc:
                answer = {"error": f"{type(exc).__name__}: {exc}"}
            answers.append({"spec": {k: str(v) for k, v in spec.items()}, **answer})
        ids = lib.store.matching(lib.owner, None, limit=10_000)
        for cid in ids.tolist()[::9]:
            tags = lib.engine.tags(lib.owner, int(cid), k=5)
            answers.append({"spec": {"tags": cid}, "tags": [[t.name, round(float(t.score), 6)] for t in tags]})
            sim = lib.engine.similar(lib.owner, int(cid), limit=5)
            answers.append({"spec": {"similar": cid}, "hits": [[h.content_id, h.score, h.why] for h in sim.hits]})
        del np
    out.write_text(json.dumps(answers, ensure_ascii=False, indent=0))
    print(f"{len(answers)} answers ({len(queries)} text queries) -> {out}")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= SCORE_TOLERANCE
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def compare(a: Path, b: Path) -> int:
    before, after = json.loads(a.read_text()), json.loads(b.read_text())
    if len(before) != len(after):
        print(f"{len(before)} answers before, {len(after)} after")
        return 1
    differ = [(x, y) for x, y in zip(before, after) if not _same(x, y)]
    for x, y in differ[:10]:
        print("BEFORE", json.dumps(x, ensure_ascii=False)[:600])
        print("AFTER ", json.dumps(y, ensure_ascii=False)[:600])
    print(f"{len(before)} answers, {len(differ)} differ")
    return 1 if differ else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("build", "run"):
        p = sub.add_parser(name)
        p.add_argument("--home", type=Path, required=True)
        if name == "run":
            p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("compare")
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    args = parser.parse_args()
    if args.command == "build":
        build(args.home)
    elif args.command == "run":
        run(args.home, args.out)
    else:
        return compare(args.before, args.after)
    return 0


if __name__ == "__main__":
    sys.exit(main())
