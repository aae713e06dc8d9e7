"""The labelled dev set of photos, drawings and clip art (issue 15's yardstick), as bench.quality reads it.

The set is built from Debian packages (GCompris, openclipart, art4apps) by the script beside the
project, `../shared/devset/build_devset.py OUT` (15 s; `--cache DIR` keeps the .debs), into
bench/.cache/shared-devset (or `--devset DIR` / $PIXSEEK_DEVSET: any folder with a labels.jsonl of
the same form can be measured, which is how independent checks on other pictures run). Its
labels.jsonl has one picture per line: `file` (relative), `labels` (a category path, coarse to
fine), `style` (photo | drawing | clipart).

* Label queries: every label (coarse or fine) on at least MIN_LABEL_IMAGES pictures. The query is
  the label's natural word(s) (QUERY_OF_LABEL; otherwise the label with "_" read as a space);
  labels that name the same thing ("fish" and "fishes", "sport" and "sports") share one query,
  whose relevant pictures are those carrying any of them anywhere in their path. EXCLUDED labels
  name no thing one could picture ("others", a miscellany; "actions", verbs).
* Halves: a fixed split by a hash of the file's base name, "tune" and "heldout". Anything learnt
  from the set (bench/calibrate.py) learns from the tune half only; the held-out figures say how
  it does on pictures it never saw.
* The pictures are indexed under neutral names (hard links named by a hash of the path), so no
  file name can leak its label into a search.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

from bench.common import CACHE_DIR, REPO_DIR

DEVSET_ENV = "PIXSEEK_DEVSET"
DEFAULT_DEVSET = CACHE_DIR / "shared-devset"
BUILD_SCRIPT = REPO_DIR.parent / "shared" / "devset" / "build_devset.py"
MIN_LABEL_IMAGES = 5
STYLES = ("photo", "drawing", "clipart")
HALVES = ("tune", "heldout")

# The word(s) a person would type for the pictures under a label (the set's labels are category
# folder names: plurals, "breads_and_carbs", "fruit n veg").
QUERY_OF_LABEL = {
    "animals": "animal",
    "tools": "tool",
    "jobs": "worker",
    "monuments": "monument",
    "body": "body part",
    "clothes n accessories": "clothing",
    "fruit n veg": "produce",
    "mammals": "mammal",
    "buildings": "building",
    "plants": "plant",
    "transportation": "transport",
    "vehicles": "vehicle",
    "sports": "sport",
    "fishes": "fish",
    "renewable": "renewable energy",
    "beverages": "drink",
    "birds": "bird",
    "homes": "house",
    "trees": "tree",
    "music": "musical instrument",
    "breads_and_carbs": "bread",
    "meats_and_eggs": "meat",
    "weapons": "weapon",
    "bugs": "insect",
    "vegetables": "vegetable",
    "hats": "hat",
    "dinosaurs": "dinosaur",
    "big_cats": "big cat",
    "horses": "horse",
    "housecats": "cat",
    "evergreen": "evergreen tree",
    "boating": "boat",
}
EXCLUDED = {"others": "a miscellany", "actions": "verbs (clap, dig, dive): no noun names the pictures"}

# Concepts to ask for that no picture of the set should hold; those a label, caption or file name
# of the set mentions are dropped (so another set gets the ones that hold for it).
DISTRACTOR_CANDIDATES = (
    "laptop", "umbrella", "bicycle", "guitar", "clock", "airplane", "truck", "keyboard",
    "television", "banana", "computer", "train", "bus", "camera", "chair", "lamp", "cup", "sofa",
    "book", "pizza", "dog", "car", "beach", "bottle",
)


@dataclass(frozen=True)
class DevPicture:
    file: str  # relative to the set's folder
    labels: tuple[str, ...]
    style: str
    half: str  # "tune" | "heldout"
    label: str = ""  # the fine label (for reports)


@dataclass(frozen=True)
class LabelQuery:
    query: str
    labels: tuple[str, ...]
    relevant: frozenset[str]  # files (relative) carrying one of the labels: the judgments
    kinds: frozenset[str] = frozenset()  # other files whose own label names a kind of the query (kinds_of_query)

    @property
    def completed(self) -> frozenset[str]:
        """The judgments with the set's missing ones added: a chicken photo is a bird."""
        return self.relevant | self.kinds


def devset_dir(given: str | Path | None = None) -> Path:
    """The set's folder: given, $PIXSEEK_DEVSET, or bench/.cache/shared-devset (built if missing)."""
    folder = Path(given or os.environ.get(DEVSET_ENV) or DEFAULT_DEVSET)
    if (folder / "labels.jsonl").exists():
        return folder
    if folder != DEFAULT_DEVSET or not BUILD_SCRIPT.exists():
        raise SystemExit(f"no labels.jsonl in {folder}: build it with `python3 {BUILD_SCRIPT} {folder}`")
    print(f"building the dev set into {folder} ({BUILD_SCRIPT})")
    subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), str(folder), "--cache", str(CACHE_DIR / "devset-debs")], check=True
    )
    return folder


def half_of(file: str) -> str:
    """'tune' or 'heldout', fixed by a hash of the base name (so a copy elsewhere falls alike)."""
    return HALVES[hashlib.sha256(Path(file).name.encode()).digest()[0] % 2]


def read_devset(folder: Path) -> list[DevPicture]:
    pictures = []
    with open(folder / "labels.jsonl", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                pictures.append(
                    DevPicture(
                        row["file"], tuple(row.get("labels") or ()), row.get("style", "photo"),
                        half_of(row["file"]), row.get("label", ""),
                    )
                )
    return pictures


def tune_half_provenance(folder: Path, pictures: list[DevPicture]) -> dict[str, object]:
    """Where a file learnt from the tune half's `pictures` came from, for its provenance record: the
    set and its labels' digest, the pictures' packages and licences, the split, their styles."""
    from collections import Counter

    labels = (folder / "labels.jsonl").read_bytes()
    rows = [json.loads(line) for line in labels.decode("utf-8").splitlines() if line.strip()]
    tune = {p.file for p in pictures}
    return {
        "dev_set": "../shared/devset/build_devset.py (GCompris, openclipart, art4apps Debian packages)",
        "labels_jsonl_sha256": hashlib.sha256(labels).hexdigest(),
        "packages": dict(sorted(Counter(r.get("package", "?") for r in rows if r["file"] in tune).items())),
        "licenses": sorted({r.get("license", "?") for r in rows if r["file"] in tune}),
        "split": "tune half only: sha256(base name)[0] % 2 == 0 (bench/devset.py half_of)",
        "tune_pictures": len(pictures),
        "styles": dict(sorted(Counter(p.style for p in pictures).items())),
    }


def query_of(label: str) -> str:
    return QUERY_OF_LABEL.get(label, label.replace("_", " "))


def label_queries(pictures: list[DevPicture], min_images: int = MIN_LABEL_IMAGES) -> list[LabelQuery]:
    """One query per natural word of the labels on >= min_images pictures, sorted by query, with
    the kinds of it that other labels name (`LabelQuery.kinds`)."""
    carrying: dict[str, set[str]] = defaultdict(set)
    for picture in pictures:
        for label in picture.labels:
            carrying[label].add(picture.file)
    by_query: dict[str, list[str]] = defaultdict(list)
    for label, files in carrying.items():
        if len(files) >= min_images and label not in EXCLUDED:
            by_query[query_of(label)].append(label)
    plain = [
        LabelQuery(q, tuple(sorted(labels)), frozenset().union(*(carrying[lab] for lab in labels)))
        for q, labels in sorted(by_query.items())
    ]
    kinds = kinds_of_query(pictures, plain)
    return [replace(q, kinds=kinds[q.query]) for q in plain]


# ---- the set's missing judgments ---------------------------------------------------------------
# The set's sources label alike things differently: openclipart files birds under "animals/birds",
# GCompris and art4apps under "animal/chicken", "animals/owl"; art4apps's fruits are "fruit n
# veg/lemon", while the query "fruit" is openclipart's "food/fruit" folder. Judged by the labels
# alone, a chicken photo is a wrong answer to "bird" and a lemon drawing one to "fruit". The
# completed judgments add every picture whose own label WordNet makes a kind of the query: each
# label read in the sense its coarser labels confirm ("chicken" under "animal" is the bird, not the
# meat), the query in the senses its own pictures' labels take. The candidates were reviewed by
# hand (Dec 4 2026, by label, 247 on this set); the ones below were rejected: a sense no picture of
# the label has, or a kind by WordNet that a person asking would not want. Another set's
# candidates are used unreviewed (bench.quality prints how many each query gains).
NOT_KINDS: dict[str, dict[str, str]] = {
    "alcohol": {"food/corn": "corn whiskey is not the drawn ear of corn"},
    "drink": {"food/corn": "corn whiskey is not the drawn ear of corn"},
    "animal": {"jobs/queen": "the queen bee is not the drawn queen"},
    "insect": {
        "jobs/queen": "the queen bee is not the drawn queen",
        "animal/crab": "a crab louse is not the crab", "animals/crab": "a crab louse is not the crab",
    },
    "big cat": {"animal/cat": "a house cat", "animals/mammals/housecats": "house cats"},
    "cat": {  # WordNet's cat takes in the wild cats; the set files them apart, as a person asking would
        "animal/cheetah": "a big cat", "animal/jaguar": "a big cat", "animals/lion": "a big cat",
        "animals/lion cub": "a big cat", "animals/mammals/big_cats": "big cats", "animals/panther": "a big cat",
    },
    "fish": {"animals/dolphin": "the mammal, not the dolphinfish", "dolphin": "the mammal, not the dolphinfish"},
    "fruit": {"food/peanut": "a legume's fruit only to a botanist"},
    "meat": {"chicken": "the drawing is of the bird"},
    "tree": {"apricot": "the drawing is of the fruit", "plum": "the drawing is of the fruit"},
    "worker": {"tools/plier": "pliers, not a person who plies"},
    "recreation": {  # things and postures filed under sport, not pastimes
        **{f"sport/{w}": "not a pastime" for w in ("helmet", "rope", "squat", "stand", "whistle", "win", "ride", "skate")},
    },
}


# Kinds WordNet cannot see, judged by hand from the label: named places it does not know. Only
# what a person would call one without a second thought ("building": a palace, a temple, a
# cathedral; not a gate, an arch, a tower, a statue, a ruin).
HAND_KINDS: dict[str, tuple[str, ...]] = {
    "building": tuple(f"monument/{name}" for name in (
        "arles amphitheatre", "château de chambord", "colosseum", "george washington birthplace", "golden temple",
        "konark sun temple", "lincoln memorial", "neuschwanstein castle", "palais des papes", "rang ghar",
        "schwerin palace", "taj mahal, india", "victoria memorial", "worms cathedral",
    )) + tuple(f"monuments/{name}" for name in ("burj", "taj mahal", "us capitol", "victoria memorial", "zimni palace")),
    "house": ("monument/george washington birthplace",),
}


def kinds_of_query(pictures: list[DevPicture], queries: list[LabelQuery]) -> dict[str, frozenset[str]]:
    """query -> the files not carrying its labels whose own label WordNet makes a kind of it (in
    the senses their label paths confirm), less NOT_KINDS, plus HAND_KINDS."""
    from pixseek.language.wordnet import WordNet

    wordnet = WordNet.load()
    ancestors: dict[int, set[int]] = {}

    def above(synset: int) -> set[int]:
        if synset not in ancestors:
            ancestors[synset] = wordnet.ancestors(synset) | {synset}
        return ancestors[synset]

    def senses(path: tuple[str, ...]) -> list[tuple[str, list[int]]]:
        """Each label's senses: those under a sense of a coarser label, else its first sense."""
        out: list[tuple[str, list[int]]] = []
        coarser: set[int] = set()
        for label in path:
            found = [s.synset for s in wordnet.lookup(query_of(label))]
            if found:
                chosen = [s for s in found if above(s) & coarser] or found[:1]
                out.append((label, chosen))
                coarser.update(chosen)
        return out

    read = {p.file: senses(p.labels) for p in pictures}
    kinds: dict[str, frozenset[str]] = {}
    for q in queries:
        wanted = {s for p in pictures if p.file in q.relevant for label, chosen in read[p.file] if label in q.labels for s in chosen}
        rejected = NOT_KINDS.get(q.query, {})
        kinds[q.query] = frozenset(
            p.file for p in pictures
            if p.file not in q.relevant and "/".join(p.labels) not in rejected
            and (
                "/".join(p.labels) in HAND_KINDS.get(q.query, ())
                or any(above(s) & wanted for _, chosen in read[p.file] for s in chosen)
            )
        )
    return kinds


def distractors(folder: Path, pictures: list[DevPicture]) -> list[str]:
    """The candidate distractor words no label, caption or file name of the set mentions."""
    words: set[str] = set()
    with open(folder / "labels.jsonl", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                text = " ".join([row.get("caption") or "", row["file"], row.get("label", ""), *row.get("labels", [])])
                words.update(re.split(r"[^a-z]+", text.lower()))
    words |= {w[:-1] for w in words if w.endswith("s")}
    return [w for w in DISTRACTOR_CANDIDATES if w not in words]


def neutral_copy(folder: Path, pictures: list[DevPicture]) -> tuple[Path, dict[str, DevPicture]]:
    """Hard links (copies across file systems) of the pictures under names that say nothing:
    (their folder, absolute neutral path -> picture)."""
    digest = hashlib.sha256((folder / "labels.jsonl").read_bytes()).hexdigest()[:12]
    out = CACHE_DIR / f"devset-neutral-{digest}"
    out.mkdir(parents=True, exist_ok=True)
    by_path = {}
    for picture in pictures:
        source = folder / picture.file
        name = hashlib.sha256(picture.file.encode()).hexdigest()[:20] + source.suffix.lower()
        target = out / name
        if not target.exists():
            try:
                os.link(source, target)
            except OSError:
                shutil.copyfile(source, target)
        by_path[str(target.resolve())] = picture
    return out, by_path
