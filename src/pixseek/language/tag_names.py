"""Tag names in the user's language: "dog" -> "chien", "sports car" -> "auto", "tabby" stays "tabby".

An English class or concept name is translated with the eng-X dictionary, plus X-eng read
backwards (eng-nld has no "dog"). The dictionaries list every sense, so a candidate is kept only if
X-eng translates it back to the name among its main meanings ("cat" never shows as French
"mégère", a shrew), it is a noun, and it scores best on: the share of its meaning that is the name
or a synonym, the eng-X domain ("Hund" [zool.] before "Bandhaken", a cooper's dog), how well all its
senses agree with the tag's WordNet synset, and how much the dictionary writes about it (a proxy
for how common a German word is). A multi-word name with no entry falls back to its head noun when
the thing is a kind of it in the head's main sense ("sports car" -> car; a "hot dog" is a dog only
in dog's sausage sense, so it stays English). Anything else stays English.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from pixseek.language.concepts import Tag
from pixseek.language.languages import check_language, domain_factor
from pixseek.language.wordnet import normalize_lemma

if TYPE_CHECKING:
    from pixseek.language.multilingual import Multilingual

TAG_POSITION_DECAY = 0.9  # eng-X lists the usual translation first ("car": auto, bagnole)
TAG_RICHNESS = 0.15
SYNONYM_COSINE = 0.6  # GloVe cosine from which two English words count as one meaning ("car", "automobile")
MAX_WORDS = 3

_PLAIN = re.compile(r"^[^\W\d_]+(?:[ '\-][^\W\d_]+)*$")  # letters, spaces, hyphens, apostrophes


class TagNames:
    """Translates tag names through one Multilingual's dictionaries (results cached)."""

    def __init__(self, ml: Multilingual) -> None:
        self.ml = ml
        self.concepts = ml.concepts
        self._names: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def translate_tags(self, tags: Iterable[Tag], lang: str) -> list[Tag]:
        """Tags with names in `lang` (English where no trustworthy translation exists), repeats merged."""
        lang = check_language(lang)
        out: list[Tag] = []
        seen: set[str] = set()
        for tag in tags:
            name = self.translate_tag(tag.name, lang)
            if name.lower() not in seen:
                seen.add(name.lower())
                out.append(replace(tag, name=name))
        return out

    def translate_tag(self, name: str, lang: str) -> str:
        """An English class or concept name in `lang`: the whole name, else its head noun if the
        thing is a kind of it in the head's main sense ("sports car" -> car), else English."""
        lang = check_language(lang)
        if lang == "en":
            return name
        key = (lang, name)
        if key not in self._names:
            base = " ".join(re.sub(r"\([^()]*\)", " ", name).split())
            synset = self._tag_synset(name, base)
            context = self._synset_vector(synset) if synset is not None else None
            out = self._translate_english(base, lang, context) if base else None
            if out is None and " " in base and synset is not None:
                head = base.rsplit(" ", 1)[1]
                if self._is_kind_of(synset, head):
                    out = self._translate_english(head, lang, context)
            with self._lock:
                self._names[key] = out or name
        return self._names[key]

    def _translate_english(self, english: str, lang: str, context: np.ndarray | None) -> str | None:
        """The best foreign noun for an English word, or None if no candidate is trustworthy.

        Candidates come from eng-X (and X-eng read backwards). A candidate must translate back to
        the English word among its main meanings (Multilingual.translate, outliers dropped); it
        scores by the share of its meaning that is the English word, by the domain of the eng-X
        sense that offered it ([techn.] less, [zool.] more: "Hund" before "Bandhaken", both a
        dog), by its position there, and by how well its meanings agree with the tag's WordNet
        synset (`context`).
        """
        target = english.lower()
        bases = {target, *self.concepts.wordnet.morphy(target)}
        offered: dict[str, float] = {}  # foreign word -> eng-X factor (domain, position)
        for entry in self.ml.from_english(lang).lookup(english):
            for k, sense in enumerate(entry.senses):
                if sense.pos not in ("", "n"):
                    continue  # "bird" <v>: Vögel beobachten
                for i, foreign in enumerate(sense.words):
                    factor = domain_factor(sense.domain) * TAG_POSITION_DECAY ** (k + i)
                    offered[foreign] = max(offered.get(foreign, 0.0), factor)
        for foreign, k in self.ml.backwards(self.ml.to_english(lang)).get(target, ()):
            # Read backwards: after what eng-X itself lists first ("car": auto, then bagnole).
            offered[foreign] = max(offered.get(foreign, 0.0), TAG_POSITION_DECAY ** (k + 1))
        best: tuple[float, str] | None = None
        for foreign, factor in offered.items():
            if not _PLAIN.match(foreign) or len(foreign.split()) > MAX_WORDS or not self._is_noun(lang, foreign):
                continue
            meanings = self.ml.translate(lang, foreign)
            wn = self.concepts.wordnet
            if not any({c.english.lower(), *wn.morphy(c.english)} & bases for c in meanings):
                continue  # "cat" -> "mégère": the round trip says shrew, not cat
            # How much of the foreign word's meaning is the English one or a synonym of it:
            # "clébard" is a dog and a monster, "chien" only a dog; "Auto" a car and an automobile.
            target_vector = self.ml.english_vector(english)
            same = sum(
                c.weight
                for c in meanings
                if {c.english.lower(), *wn.morphy(c.english)} & bases
                or (target_vector is not None and _cos(self.ml.english_vector(c.english), target_vector) >= SYNONYM_COSINE)
            )
            share = same / sum(c.weight for c in meanings)
            # Every sense of the foreign word, outliers included, against the tag's synset: "Nörgler"
            # (a grouch) is a "crab" too, but its other words say grumbler.
            agreement = 1.0
            v = self.ml.context_vector(lang, foreign)
            if context is not None and v is not None:
                agreement = 0.5 + 0.5 * max(0.0, float(v @ context))
            # Big dictionaries write more about common words ("Auto": examples, "see:" lists) than
            # about rare ones ("Fahrkorb", the car of a lift).
            extent = sum(e.extent for e in self.ml.entries(lang, foreign))
            richness = 1.0 + TAG_RICHNESS * math.log2(1 + extent)
            score = factor * agreement * share * richness
            if best is None or score > best[0]:
                best = (score, foreign)
        return best[1] if best else None

    def _is_noun(self, lang: str, foreign: str) -> bool:
        """Tags are nouns: "flower" is "fleur", not "fleurir"; German nouns are capitalised."""
        if lang == "de" and not foreign[:1].isupper():
            return False
        entries = self.ml.entries(lang, foreign)
        return not entries or any(e.pos in ("", "n") for e in entries)

    def _tag_synset(self, name: str, base: str) -> int | None:
        """The WordNet synset a tag names: its ImageNet class, else the first sense of the name."""
        wn, cs = self.concepts.wordnet, self.concepts
        if name in cs.class_names:
            return wn.synset_by_wnid(cs.class_wnids[cs.class_names.index(name)])
        senses = wn.senses(normalize_lemma(base))
        return senses[0].synset if senses else None

    def _synset_vector(self, synset: int) -> np.ndarray | None:
        """GloVe vector of a synset's lemmas and its parents' (what the tag means)."""
        wn = self.concepts.wordnet
        names = wn.lemmas(synset)[:3] + [n for p in wn.hypernyms(synset)[:2] for n in wn.lemmas(p)[:2]]
        vecs = [v for n in names for v in [self.ml.english_vector(n.replace("_", " "))] if v is not None]
        if not vecs:
            return None
        m = np.mean(vecs, axis=0)
        return m / max(float(np.linalg.norm(m)), 1e-8)

    def _is_kind_of(self, synset: int, head: str) -> bool:
        """Whether the synset is a kind of `head` in one of its main senses ("sports car" is a car;
        a "hot dog" is a dog only in dog's fifth sense, the sausage)."""
        wn = self.concepts.wordnet
        senses = wn.lookup(head)
        top = max((s.count for s in senses), default=0)
        main = {s.synset for i, s in enumerate(senses) if i == 0 or (top > 0 and s.count >= top / 2)}
        return bool(main & wn.ancestors(synset))


def _cos(a: np.ndarray | None, b: np.ndarray) -> float:
    return -1.0 if a is None else float(a @ b)
