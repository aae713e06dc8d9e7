"""Queries in French, German, Spanish, Italian, Portuguese and Dutch (and tags in those languages).

A foreign query word is translated with the FreeDict X-eng dictionary (freedict.py) into English
senses, and the English words then go through the concept space exactly like an English query
(ConceptSpace.encode_term, or the user's PeopleVocabulary), combined into one TermVector whose
`why` says the translation ("chien → dog"). Dictionaries list every sense a word has (German
"Hund" is a dog, but also a mine car, "tub", "corf"), so the senses are weighed first:

  * prior: how common the sense's English words are (GloVe rank, WordNet SemCor tag count:
    "dog" 42, "mine car" 0), with technical domains ([techn.], [min.]) and non-nouns counting
    less and zoological/botanical ones more;
  * agreement: the cosine of the sense's GloVe vector with the word's other senses (dog and
    canine agree, mine car agrees with neither) and with the rest of the query ("Hund am Strand");
  * senses scoring under KEEP x the best are dropped as outliers; within a sense, an equivalent
    that disagrees with its siblings ("bouquet, aroma, nose" of a wine) or is a distant hypernym
    of one ("vehicle, car": the car is meant) counts less; at most MAX_ENGLISH English words are
    encoded, combined by weighted per-class maximum.

A word X-eng lacks is looked up in eng-X read backwards (small dictionaries only), then read as
English (a loanword: "pizza"), as a cognate (cognates.py: "astronomía" ~ astronomy), and in a
related language's dictionary (Spanish "dalia" in the Portuguese one); else it is unknown.

A query's language is detected from its words (detection.py); if no word of the query is known
in the likeliest language, the others are tried in turn.

Word forms and stopwords are in languages.py, tag names in tag_names.py.
"""

from __future__ import annotations

import math
import re
import threading
import weakref
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixseek.language import freedict
from pixseek.language.characteristics import foreign_english
from pixseek.language.cognates import Cognates
from pixseek.language.concepts import ConceptSpace, FaceTerm, Tag, TermVector
from pixseek.language.detection import LanguageDetector
from pixseek.language.freedict import Dictionary, Entry, Sense, fold
from pixseek.language.languages import (
    STOPWORDS_BY_LANGUAGE,
    SUPPORTED,
    UnsupportedLanguageError,
    check_language,
    domain_factor,
    inflections,
    preferred_language,
    strip_elision,
)
from pixseek.language.query import (
    MAX_TOKENS,
    QueryPlan,
    QueryText,
    UnknownQueryError,
    Vocabulary,
    is_stopword,
    looks_like_word,
    parse_query,
    read_query,
)
from pixseek.language.tag_names import TagNames
from pixseek.records import SparseVector

# Sense weighing (see module doc).
ITEM_DECAY = 0.9  # later equivalents in a sense's list count a little less ("mine car, ..., tub")
GENERAL_FACTOR = 0.5  # an equivalent more general than another of the same sense
COMMON_ENOUGH = 0.3  # an equivalent this common (see _commonness) counts fully
SENSE_ORDER_STEP = 0.05  # the dictionary's first sense is a little more likely...
SENSE_ORDER_MIN = 0.8  # ...but the order is no frequency order ("Hund": mine car comes first)
AGREEMENT_GAIN = 1.0
CONTEXT_GAIN = 0.5
KEEP = 0.6  # senses (and equivalents) scoring below this share of the best are dropped
MAX_ENGLISH = 4  # English words encoded per foreign word
WN_COUNT_SATURATION = 40  # SemCor tag count that counts as fully common
GLOVE_VOCAB = 400_000
POS_FACTOR = {"": 1.0, "n": 1.0, "adj": 1.0, "v": 0.6}  # other parts of speech: OTHER_POS_FACTOR
OTHER_POS_FACTOR = 0.3
# Where to look up a word the query language's dictionaries lack: related languages first.
SIBLINGS = {
    "fr": ("it", "es", "pt"),
    "es": ("pt", "it", "fr"),
    "it": ("es", "pt", "fr"),
    "pt": ("es", "it", "fr"),
    "nl": ("de",),
    "de": ("nl",),
}
# Where X-eng and eng-X both lack a word, a bigger dictionary into a language whose X-eng knows
# it, read backwards: ita-eng has 3.4k headwords and no "occhio", fra-ita has 55k (it -> fr -> en).
BRIDGES = {"it": ("fra-ita", "fr")}
MAX_WHY = 6
REVERSE_MAX_HEADWORDS = 50_000  # dictionaries read backwards only up to this size (not the German ones)
WEAK_EVIDENCE = 0.5  # a headword only up to accents, or only a name, is weaker evidence



@dataclass
class TranslatedTerm(TermVector):
    """A query term read through a dictionary: `translation` lists the English words used."""

    translation: str = ""
    language: str = ""


@dataclass(frozen=True)
class Candidate:
    """An English word for a foreign one, with its weight (the best is 1)."""

    english: str
    weight: float


@dataclass(frozen=True)
class _Reading:
    """A foreign word's senses, weighed without context (cached per language and word)."""

    headword: str
    senses: tuple[Sense, ...]
    priors: tuple[float, ...]
    items: tuple[tuple[float, ...], ...]  # per sense: each equivalent's commonness relative to the best
    vectors: tuple[np.ndarray | None, ...]  # unit GloVe vector per sense


class Multilingual:
    """The dictionaries of one concept space (loaded lazily, per language) and what uses them."""

    def __init__(self, concepts: ConceptSpace, dict_dir: Path = freedict.DEFAULT_DIR) -> None:
        self.concepts = concepts
        self._dict_dir = dict_dir
        self._dicts: dict[str, Dictionary] = {}
        self._readings: dict[tuple[str, str], _Reading | None] = {}
        self.cognates = Cognates(concepts)
        self.tag_names = TagNames(self)
        self.detector = LanguageDetector(concepts, self)
        self._lock = threading.RLock()

    # ---- dictionaries ----------------------------------------------------------------------

    def dictionary(self, pair: str) -> Dictionary:
        """A FreeDict dictionary by pair ("fra-eng", "eng-fra"), loaded once."""
        if pair not in self._dicts:
            with self._lock:
                if pair not in self._dicts:
                    self._dicts[pair] = Dictionary(pair, self.concepts.cache_dir, self._dict_dir)
        return self._dicts[pair]

    def warm(self) -> None:
        """Load (building caches if needed: ~10 s once for a fresh cache dir, tens of ms after)
        every dictionary, the backwards readings and the cognate vocabulary, so that no query
        pays for it. Detection looks at all languages, so even an English query loads them."""
        for lang in SUPPORTED:
            if lang != "en":
                self.backwards(self.to_english(lang))
                self.backwards(self.from_english(lang))
        for pair, _ in BRIDGES.values():
            self.dictionary(pair).reverse()
        self.cognates.find("es", "astronomía")

    def to_english(self, lang: str) -> Dictionary:
        return self.dictionary(f"{SUPPORTED[lang][1]}-eng")

    def from_english(self, lang: str) -> Dictionary:
        return self.dictionary(f"eng-{SUPPORTED[lang][1]}")

    def headword_forms(self, lang: str, word: str) -> tuple[list[str], float]:
        """Headwords a foreign word may be, and how sure: 1 for a word, WEAK_EVIDENCE for a match
        only up to accents ("the" ~ French "thé") or a name ("praia" ~ German "Praia", the city).

        Tries the word, then plural/inflection stripping, then both up to accents; [] if none.
        """
        d = self.to_english(lang)
        word = strip_elision(lang, word)
        forms = inflections(lang, word)
        evidence = 1.0
        for candidates in (([f] for f in forms), (d.folded_matches(f) for f in forms)):
            for group in candidates:
                # Bridged translations only for the word as typed: "pizza" is no form of "pizzo".
                found = [f for f in group if self.entries(lang, f, bridge=f == word)]
                if found:
                    names = all(e.is_name for f in found for e in self.entries(lang, f))
                    return found, WEAK_EVIDENCE if names else evidence
            evidence = WEAK_EVIDENCE
        return [], 0.0

    def entries(self, lang: str, headword: str, bridge: bool = True) -> list[Entry]:
        """X-eng entries of a headword; if X-eng lacks it, eng-X read backwards (ita-eng has no
        "borsa", but eng-ita translates "bag" as "borsa")."""
        found = self.to_english(lang).lookup(headword)
        if found:
            return found
        backwards = self.backwards(self.from_english(lang)).get(headword.lower())
        if backwards:
            ordered = sorted(backwards, key=lambda hk: hk[1])
            return [Entry(headword, "", tuple(Sense((english,)) for english, _ in ordered))]
        return self._bridged(lang, headword) if bridge else []

    def _bridged(self, lang: str, headword: str) -> list[Entry]:
        """The English senses of the word's translations into the bridge language (see BRIDGES).
        Two steps of translation stray further: a word that is also English ("pizza") is left to
        be read as English."""
        if lang not in BRIDGES or self.concepts.wordnet.morphy(headword):  # an English noun too
            return []
        pair, via = BRIDGES[lang]
        found = self.dictionary(pair).reverse().get(headword.lower(), ())
        into = self.to_english(via)
        senses = [
            sense
            for word, _ in sorted(found, key=lambda hk: hk[1])
            for spelling in dict.fromkeys([word, fold(word), *into.folded_matches(word)])  # "œil" is "oeil"
            for entry in into.lookup(spelling)
            for sense in entry.senses
        ]
        return [Entry(headword, "", tuple(dict.fromkeys(senses)))] if senses else []

    def backwards(self, d: Dictionary) -> dict[str, tuple[tuple[str, int], ...]]:
        """A small dictionary read backwards; {} for the big German ones (rich enough either way)."""
        return d.reverse() if len(d) <= REVERSE_MAX_HEADWORDS else {}

    # ---- language detection (detection.py) ------------------------------------------------

    def detect_language(
        self, tokens: list[str], preferred: str | None = None, capitalized: Collection[str] = ()
    ) -> str:
        """The query's language (detection.LanguageDetector.detect)."""
        return self.detector.detect(tokens, preferred, capitalized)

    # ---- queries ---------------------------------------------------------------------------

    def language_of(self, text: str | QueryText, lang: str | None = None, preferred: str | None = None) -> str:
        """`lang` checked (UnsupportedLanguageError if unknown), else the language detected in `text`."""
        return self._languages(_words(text), lang, preferred)[0]

    def parse(
        self, text: str | QueryText, base: Vocabulary, lang: str | None = None, preferred: str | None = None
    ) -> QueryPlan:
        """Read a query in `lang` (or the detected language) with `base` as the English vocabulary.

        Raises UnsupportedLanguageError for an unknown `lang`, UnknownQueryError as parse_query does.
        """
        words = _words(text)
        return self._parse_ranked(words, base, self._languages(words, lang, preferred))

    def read(self, query: str, base: Vocabulary, lang: str | None = None, preferred: str | None = None) -> QueryPlan:
        """The one reading of a search query: quoted phrases split off, the rest parsed as `parse`
        does, everything tokenised once. When no word is read as a concept, the plan has no
        alternatives, its content words as unknown words (text in images may know them) and the
        reason in `error`; UnknownQueryError only when nothing at all is left to look for.

        Raises UnsupportedLanguageError for an unknown `lang`.
        """
        words = read_query(query)
        ranked = self._languages(words, lang, preferred)
        try:
            plan = self._parse_ranked(words, base, ranked)
        except UnknownQueryError as exc:
            # Nothing read as concepts: the language only decides which words are stopwords.
            content = _content_words(words.tokens, ranked[0])
            if not words.phrases and not content:
                raise
            plan = QueryPlan(words.rest, words.tokens[:MAX_TOKENS], [], content, language=ranked[0], error=str(exc))
        plan.phrases, plan.last_word = words.phrases, words.last_word
        return plan

    def _languages(self, words: QueryText, lang: str | None, preferred: str | None) -> list[str]:
        """[lang] when given (checked), else every language, the likeliest for the words first."""
        if lang is not None and lang.strip():
            return [check_language(lang)]
        return self.detector.ranked(words.tokens[:MAX_TOKENS], preferred, words.capitalized)

    def _parse_ranked(self, words: QueryText, base: Vocabulary, ranked: list[str]) -> QueryPlan:
        try:
            return self._parse_in(words, base, ranked[0])
        except UnknownQueryError as first:
            if len(ranked) == 1:
                raise  # the language was given
            stop = STOPWORDS_BY_LANGUAGE[ranked[0]]
            if not [t for t in words.tokens if not is_stopword(t, stop)]:
                raise  # empty, or only stopwords: no other language will do better
            # No word known in the likeliest language ("astronomía" is in no dictionary and no
            # English word): the other languages may still read it (backwards, as a cognate).
            for language in ranked[1:]:
                try:
                    return self._parse_in(words, base, language)
                except UnknownQueryError:
                    continue
            raise first

    def _parse_in(self, words: QueryText, base: Vocabulary, language: str) -> QueryPlan:
        if language == "en":
            plan = parse_query(words, base)
        else:
            stop = STOPWORDS_BY_LANGUAGE[language]
            content = [t for t in words.tokens if not is_stopword(t, stop) and looks_like_word(t)]
            vocabulary = TranslatingVocabulary(self, language, base, content)
            plan = parse_query(words, vocabulary, stopwords=stop)
        plan.language = language
        return plan

    def reading(self, lang: str, word: str) -> _Reading | None:
        """The senses of a foreign word (or phrase) with their context-free weights; None if unknown."""
        key = (lang, word)
        if key not in self._readings:
            reading = self._read(lang, word)
            with self._lock:
                self._readings[key] = reading
                if len(self._readings) > 20_000:
                    self._readings.pop(next(iter(self._readings)))
        return self._readings[key]

    def _read(self, lang: str, word: str) -> _Reading | None:
        forms, _ = self.headword_forms(lang, word)
        entries: list[Entry] = [e for form in forms for e in self.entries(lang, form)]
        if any(not e.is_name for e in entries):  # "noir": black, not "Noir" (Negro)
            entries = [e for e in entries if not e.is_name]
        senses: list[Sense] = []
        for entry in entries:
            for sense in entry.senses:
                # A sense saying nothing new ("pocket" [textil.] after "pocket, receptacle") would
                # count twice in the agreement.
                if not any(set(sense.words) <= set(s.words) for s in senses):
                    senses.append(sense)
        if not senses:
            return None
        items = [self._item_scores(s) for s in senses]
        common = [max(ITEM_DECAY**i * self._commonness(w) for i, w in enumerate(s.words)) for s in senses]
        priors = tuple(self._prior(s, k, c) for k, (s, c) in enumerate(zip(senses, common, strict=True)))
        relative = tuple(tuple(v / max(max(x), 1e-9) for v in x) for x in items)
        vectors = tuple(self._sense_vector(s) for s in senses)
        return _Reading(entries[0].headword, tuple(senses), priors, relative, vectors)

    def _prior(self, sense: Sense, k: int, common: float) -> float:
        order = max(SENSE_ORDER_MIN, 1.0 - SENSE_ORDER_STEP * k)
        pos = POS_FACTOR.get(sense.pos, OTHER_POS_FACTOR)
        return common * order * pos * domain_factor(sense.domain)

    def _item_scores(self, sense: Sense) -> list[float]:
        """Each equivalent's agreement with the sense's other equivalents (in "bouquet, aroma,
        nose" of a wine, "nose" means something else), times its commonness up to COMMON_ENOUGH
        (rare words, "corf", "dawg", say little). The equivalents are synonyms, often listed
        alphabetically: a common word is no better a translation than a less common one."""
        vectors = [self.english_vector(w) for w in sense.words]
        general = self._more_general(sense.words)
        out = []
        for i, (w, v) in enumerate(zip(sense.words, vectors, strict=True)):
            score = ITEM_DECAY**i * min(1.0, self._commonness(w) / COMMON_ENOUGH)
            if i in general:
                score *= GENERAL_FACTOR
            others = [u for j, u in enumerate(vectors) if j != i and u is not None]
            if v is not None and others:
                centroid = np.mean(others, axis=0)
                cos = float(v @ centroid) / max(float(np.linalg.norm(centroid)), 1e-8)
                score *= 0.5 + 0.5 * max(0.0, cos)
            out.append(score)
        return out

    def _more_general(self, words: tuple[str, ...]) -> set[int]:
        """Equivalents that are distant WordNet ancestors of another's main sense: in "vehicle, car,
        motor car" (French "voiture") the car is meant, the vehicle is a paraphrase. A direct parent
        is a near-synonym and stays ("clothes, clothing"; "sweater, jersey")."""
        wn = self.concepts.wordnet
        senses = [{s.synset for s in wn.lookup(w)} for w in words]
        out = set()
        for j, w in enumerate(words):
            main = wn.lookup(w)[:1]
            if not main:
                continue
            near = {main[0].synset, *wn.hypernyms(main[0].synset)}
            far = wn.ancestors(main[0].synset) - near
            out.update(i for i, mine in enumerate(senses) if i != j and mine & far and not mine & near)
        return out

    def english_vector(self, english: str) -> np.ndarray | None:
        v = self.concepts.glove.phrase_vector([x for x in re.split(r"[\s\-]+", english.lower()) if x])
        return None if v is None else v / max(float(np.linalg.norm(v)), 1e-8)

    def _commonness(self, english: str) -> float:
        """0..1: GloVe frequency of the rarest word (half) and WordNet's tag count (half), for the
        best of the spellings ("hand-bag" is WordNet's "handbag")."""
        variants = dict.fromkeys([english, english.replace("-", ""), fold(english)])
        return max(self._commonness_of(v) for v in variants)

    def _commonness_of(self, english: str) -> float:
        glove, wn = self.concepts.glove, self.concepts.wordnet
        words = [w for w in re.split(r"[\s\-]+", english.lower()) if w]
        ranks = [glove.row(w) for w in words]
        freq = 0.0
        if words and all(r is not None for r in ranks):
            worst = max(r for r in ranks if r is not None)
            freq = max(0.0, 1.0 - math.log10(worst + 10) / math.log10(GLOVE_VOCAB))
        lemmas = wn.morphy(english)
        count = sum(s.count for s in wn.senses(lemmas[0])) if lemmas else 0
        return 0.5 * freq + 0.5 * min(1.0, math.log1p(count) / math.log1p(WN_COUNT_SATURATION))

    def _sense_vector(self, sense: Sense) -> np.ndarray | None:
        vecs, weights = [], []
        for i, w in enumerate(sense.words):
            v = self.english_vector(w)
            if v is not None:
                vecs.append(v)
                weights.append(ITEM_DECAY**i)
        if not vecs:
            return None
        m = np.average(vecs, axis=0, weights=weights)
        return m / max(float(np.linalg.norm(m)), 1e-8)

    def translate(self, lang: str, word: str, context: np.ndarray | None = None) -> list[Candidate]:
        """English words for a foreign word, best first, outlier senses dropped (see module doc)."""
        r = self.reading(lang, word)
        if r is None:
            return []
        scores = []
        for k, (prior, v) in enumerate(zip(r.priors, r.vectors, strict=True)):
            others = [(r.priors[j], u) for j, u in enumerate(r.vectors) if j != k and u is not None]
            agreement = 0.0
            if v is not None and others:
                total = sum(p for p, _ in others)
                if total > 0:
                    agreement = sum(p * max(0.0, float(v @ u)) for p, u in others) / total
            ctx = max(0.0, float(v @ context)) if v is not None and context is not None else 0.0
            scores.append(prior * (1.0 + AGREEMENT_GAIN * agreement + CONTEXT_GAIN * ctx))
        best = max(scores)
        if best <= 0:
            return []
        weights: dict[str, float] = {}
        for sense, score, items in zip(r.senses, scores, r.items, strict=True):
            if score < KEEP * best:
                continue
            for w, relative in zip(sense.words, items, strict=True):
                weight = score / best * relative
                if weight >= KEEP and weight > weights.get(w, 0.0):
                    weights[w] = weight
        ranked = sorted(weights.items(), key=lambda kv: -kv[1])[:MAX_ENGLISH]
        return [Candidate(w, round(x, 4)) for w, x in ranked]

    def translate_tags(self, tags: Iterable[Tag], lang: str) -> list[Tag]:
        """Tags named in `lang` where a trustworthy translation exists (see tag_names)."""
        return self.tag_names.translate_tags(tags, lang)

    def context_vector(self, lang: str, word: str) -> np.ndarray | None:
        """A foreign word's meaning as one GloVe vector: its senses' vectors weighted by prior."""
        r = self.reading(lang, word)
        if r is None:
            return None
        pairs = [(p, v) for p, v in zip(r.priors, r.vectors, strict=True) if v is not None and p > 0]
        if not pairs:
            return None
        m = np.average([v for _, v in pairs], axis=0, weights=[p for p, _ in pairs])
        return m / max(float(np.linalg.norm(m)), 1e-8)

class TranslatingVocabulary:
    """A Vocabulary over foreign words: translate, then encode through `base` (concepts + people)."""

    def __init__(self, ml: Multilingual, lang: str, base: Vocabulary, content: list[str]) -> None:
        self.ml = ml
        self.lang = lang
        self.base = base
        self._content = content

    def _context(self, words: list[str]) -> np.ndarray | None:
        vecs = [v for t in self._content if t not in words for v in [self.ml.context_vector(self.lang, t)] if v is not None]
        if not vecs:
            return None
        m = np.mean(vecs, axis=0)
        n = float(np.linalg.norm(m))
        return m / n if n > 0 else None

    def encode_term(self, term: str) -> TermVector | None:
        """The term's translations encoded and combined; failing that (the dictionary lacks the
        word) the word read as English ("pizza"), as a cognate ("astronomía" ~ astronomy), or
        through a related language's dictionary (Spanish "dalia" in the Portuguese one)."""
        term = " ".join(term.split())
        own = self.base.encode_term(term)
        if own is not None and (own.places or (own.faces is not None and own.faces.person_ids is not None)):
            return own  # a person's or a place's name is the user's own word, in any language
        candidates = self.ml.translate(self.lang, term, self._context(term.split()))
        characteristic = foreign_english(self.lang, term)  # "noir et blanc", "Bildschirmfoto"
        if characteristic is not None and all(c.english != characteristic for c in candidates):
            candidates = [Candidate(characteristic, 1.0), *candidates]
        found = self._encode(term, candidates, "→")
        if found is not None:
            return found
        if own is not None:
            own.why = [f"{term}: read as English"] + own.why
            return own
        cognate = self.ml.cognates.find(self.lang, term)
        if cognate is not None:
            found = self._encode(term, [Candidate(cognate, 1.0)], "≈")
            if found is not None:
                return found
        for sibling in SIBLINGS.get(self.lang, ()):
            found = self._encode(term, self.ml.translate(sibling, term), f"({SUPPORTED[sibling][0]}) →")
            if found is not None:
                return found
        return None

    def _encode(self, term: str, candidates: list[Candidate], how: str) -> TranslatedTerm | None:
        """English candidates encoded through the base vocabulary, combined by weighted per-class max."""
        weights: dict[int, float] = {}
        used: list[tuple[Candidate, TermVector]] = []
        for cand in candidates:
            tv = self._encode_english(cand.english)
            if tv is None:
                continue
            used.append((cand, tv))
            for c, w in tv.vector.to_dict().items():
                weights[c] = max(weights.get(c, 0.0), cand.weight * w)
        if not used:
            return None
        faces: FaceTerm | None = next((tv.faces for _, tv in used if tv.faces is not None), None)
        places = next((tv.places for _, tv in used if tv.places), None)  # "Allemagne" → Germany
        translation = ", ".join(c.english for c, _ in used)
        why = [f"{term} {how} {translation}"]
        for _, tv in used[:2]:
            why += [w for w in tv.why if w not in why]
        return TranslatedTerm(
            term=term,
            vector=SparseVector.from_dict(weights),
            why=why[:MAX_WHY],
            glove_only=all(tv.glove_only for _, tv in used),
            faces=faces,
            places=places,
            translation=translation,
            language=self.lang,
        )

    def _encode_english(self, english: str) -> TermVector | None:
        """Dictionaries write "coffee-house", "café": try the spellings WordNet has too."""
        variants = [english, fold(english), english.replace("-", " "), english.replace("-", "")]
        for v in dict.fromkeys(variants):
            tv = self.base.encode_term(v)
            if tv is not None:
                return tv
        return None

    def is_known_phrase(self, words: list[str]) -> bool:
        phrase = " ".join(words)
        if foreign_english(self.lang, phrase) is not None or self.ml.headword_forms(self.lang, phrase)[0]:
            return True
        return self.base.is_known_phrase(words)


def _words(text: str | QueryText) -> QueryText:
    return text if isinstance(text, QueryText) else read_query(text, quotes=False)


def _content_words(tokens: list[str], language: str) -> list[str]:
    """The words of a query that no concept explains, when nothing in it is a concept."""
    stopwords = STOPWORDS_BY_LANGUAGE[language]
    words = [t for t in tokens[:MAX_TOKENS] if t not in stopwords and (len(t) > 1 or t.isdigit())]
    return list(dict.fromkeys(words))


def shown_term(term: TermVector) -> str:
    """How a term is shown in a search's interpretation: "chien → dog" for a translated word."""
    if isinstance(term, TranslatedTerm) and term.translation:
        return f"{term.term} → {term.translation}"
    return term.term


_INSTANCES: weakref.WeakKeyDictionary[ConceptSpace, Multilingual] = weakref.WeakKeyDictionary()
_INSTANCES_LOCK = threading.Lock()


def multilingual(concepts: ConceptSpace) -> Multilingual:
    """The Multilingual of a concept space (one per space, so dictionaries load once per process)."""
    with _INSTANCES_LOCK:
        ml = _INSTANCES.get(concepts)
        if ml is None:
            ml = _INSTANCES[concepts] = Multilingual(concepts)
        return ml


__all__ = [
    "SUPPORTED",
    "STOPWORDS_BY_LANGUAGE",
    "Candidate",
    "Multilingual",
    "TranslatedTerm",
    "TranslatingVocabulary",
    "UnsupportedLanguageError",
    "check_language",
    "multilingual",
    "preferred_language",
    "shown_term",
]
