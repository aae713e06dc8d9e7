"""English words spelled almost like a foreign word the dictionaries lack ("astronomía" ~ astronomy).

The FreeDict dictionaries are small (Italian-English has 3.3k headwords and no "architettura"),
but many words that name things in photos are shared across European languages up to a suffix.
A word of COGNATE_MIN_LENGTH letters or more is mapped through the usual suffix correspondences
(-ía/-ie -> -y, -ción/-zione -> -tion, -ura -> -ure, ...), accent-folded, and compared with the
common English nouns (difflib ratio). Only a clear winner counts: COGNATE_MIN_RATIO or more, and no
other noun within COGNATE_MARGIN ("página": paging or pain? neither). On words held out of the
dictionaries (eng-X equivalents with no X-eng entry) this is rarely wrong, but it finds few.
"""

from __future__ import annotations

import difflib
import threading

from pixseek.language.concepts import ConceptSpace
from pixseek.language.freedict import fold
from pixseek.language.languages import inflections, strip_elision

COGNATE_MIN_LENGTH = 5
COGNATE_MIN_RATIO = 0.9  # difflib ratio between the (suffix-mapped, accent-folded) word and the English
COGNATE_MARGIN = 0.05  # ...and no other English noun this close to it
COGNATE_MAX_RANK = 60_000  # English nouns among this many most frequent GloVe words
MAX_LENGTH_DIFFERENCE = 3

_SUFFIXES = (
    ("ción", "tion"), ("zione", "tion"), ("ção", "tion"), ("tie", "tion"), ("sión", "sion"),
    ("dad", "ty"), ("tà", "ty"), ("dade", "ty"), ("té", "ty"), ("teit", "ty"),
    ("ía", "y"), ("ia", "y"), ("ie", "y"),
    ("ico", "ic"), ("ica", "ic"), ("ique", "ic"), ("isch", "ic"),
    ("ismo", "ism"), ("isme", "ism"), ("ismus", "ism"), ("ista", "ist"), ("iste", "ist"),
    ("oso", "ous"), ("osa", "ous"), ("eux", "ous"),
    ("ura", "ure"), ("uur", "ure"), ("ur", "ure"),
    ("ère", "er"), ("ero", "er"), ("era", "er"),
    ("ículo", "icle"), ("icolo", "icle"), ("grafo", "grapher"), ("graaf", "grapher"), ("graphe", "grapher"),
    ("o", ""), ("a", ""), ("e", ""),
)  # fmt: skip


class Cognates:
    """Finds English look-alikes of foreign words (the English noun list is built on first use)."""

    def __init__(self, concepts: ConceptSpace) -> None:
        self.concepts = concepts
        self._vocabulary: dict[str, list[str]] | None = None
        self._lock = threading.Lock()

    def find(self, lang: str, word: str) -> str | None:
        """The English noun `word` is a cognate of, or None (see module doc)."""
        word = strip_elision(lang, word.lower())
        if " " in word or len(word) < COGNATE_MIN_LENGTH or not word.isalpha():
            return None
        forms = {fold(v) for form in inflections(lang, word) for v in variants(form)}
        vocabulary = self._english()
        floor = COGNATE_MIN_RATIO - COGNATE_MARGIN
        ratios: dict[str, float] = {}
        for form in forms:
            for english in vocabulary.get(form[:1], ()):
                if abs(len(english) - len(form)) > MAX_LENGTH_DIFFERENCE:
                    continue
                m = difflib.SequenceMatcher(None, form, english)
                if m.real_quick_ratio() < floor or m.quick_ratio() < floor:
                    continue
                ratios[english] = max(ratios.get(english, 0.0), m.ratio())
        ranked = sorted(ratios.items(), key=lambda kv: -kv[1])
        if not ranked or ranked[0][1] < COGNATE_MIN_RATIO:
            return None
        if len(ranked) > 1 and ranked[1][1] > ranked[0][1] - COGNATE_MARGIN:
            return None  # a close second means a guess
        return ranked[0][0]

    def _english(self) -> dict[str, list[str]]:
        """Common English common nouns (no names), by first letter."""
        if self._vocabulary is None:
            with self._lock:
                if self._vocabulary is None:
                    glove, wn = self.concepts.glove, self.concepts.wordnet
                    out: dict[str, list[str]] = {}
                    for row in range(min(COGNATE_MAX_RANK, len(glove))):
                        w = glove.word(row)
                        if len(w) >= 4 and w.isalpha() and w.isascii() and any(not s.proper for s in wn.senses(w)):
                            out.setdefault(w[0], []).append(w)
                    self._vocabulary = out
        return self._vocabulary


def variants(word: str) -> list[str]:
    """The word and its English-looking forms after the usual Romance/Germanic spelling changes."""
    starts = [word]
    if word.startswith("fot"):  # foto-, fotógrafo: photo-
        starts.append("ph" + word[1:])
    if "k" in word:  # Kamera, Krater, Mikroskopie
        starts.append(word.replace("k", "c"))
    if "qu" in word:  # arquitectura, jerarquía: Greek "ch"
        starts.append(word.replace("qu", "ch"))
    out = list(starts)
    for w in starts:
        for suffix, repl in _SUFFIXES:
            if w.endswith(suffix) and len(w) - len(suffix) >= 3:
                out.append(w[: len(w) - len(suffix)] + repl)
    return out
