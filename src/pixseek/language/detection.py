"""Which language a query is in: English or one of the FreeDict languages (languages.SUPPORTED).

Per language, the query words it knows are counted: a stopword of it, a headword of its
dictionary (a match only up to accents, or only a name, counts WEAK_EVIDENCE: see
Multilingual.headword_forms), or, for English, a common WordNet noun or a common word that is no
foreign headword. The best count wins; a tie goes to the preferred language, then English
("chat", "strand", "auto" are English words too), then TIE_ORDER. A capitalised German noun
("Mantel") counts a little extra, and a foreign phrase ("capture d'écran") counts for its language.

The detector reads the dictionaries through `Lexicon` (the Multilingual that owns it), and
English through the concept space's WordNet and GloVe ranks.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from pixseek.language.characteristics import foreign_phrases
from pixseek.language.concepts import ConceptSpace
from pixseek.language.freedict import Entry
from pixseek.language.languages import STOPWORDS_BY_LANGUAGE, SUPPORTED, preferred_language
from pixseek.language.query import looks_like_word

# English: a WordNet noun this common (GloVe row), or any word this common that is no foreign
# headword ("sunny", "beautiful" are no nouns).
ENGLISH_NOUN_MAX_RANK = 40_000
ENGLISH_WORD_MAX_RANK = 20_000
# Ties between languages: the preferred one, then this order. The big German dictionary lists
# many foreign words ("Flor", "Praia"), so it comes last.
TIE_ORDER = ("en", "fr", "es", "it", "pt", "nl", "de")
CAPITAL_EVIDENCE = 0.25  # per capitalised word that is a German noun: breaks ties towards German


class Lexicon(Protocol):
    """The foreign dictionaries, as detection reads them."""

    def headword_forms(self, lang: str, word: str) -> tuple[list[str], float]:
        """Headwords the word may be in `lang`, and how sure (0: none)."""
        ...

    def entries(self, lang: str, headword: str, bridge: bool = True) -> list[Entry]:
        """The headword's entries into English."""
        ...


class LanguageDetector:
    def __init__(self, concepts: ConceptSpace, lexicon: Lexicon) -> None:
        self.concepts = concepts
        self.lexicon = lexicon

    def detect(self, tokens: list[str], preferred: str | None = None, capitalized: Collection[str] = ()) -> str:
        """The query's language: most words known wins; ties go to `preferred`, then English.

        `preferred` is a language code or an Accept-Language header; unknown codes are ignored.
        `capitalized`: the tokens the user wrote with a capital ("Mantel"), a hint of German nouns.
        """
        return self.ranked(tokens, preferred, capitalized)[0]

    def ranked(self, tokens: list[str], preferred: str | None = None, capitalized: Collection[str] = ()) -> list[str]:
        """Every supported language, most likely first (see detect)."""
        pref = preferred_language(preferred)
        words = [t for t in tokens if looks_like_word(t)]
        scores = {lang: sum(self._evidence(lang, t) for t in words) for lang in SUPPORTED}
        for lang, count in foreign_phrases(tokens).items():  # "capture d'écran": a French phrase
            scores[lang] += count
        # German writes nouns with a capital: "Mantel" is the coat, "mantel" may be Spanish.
        scores["de"] += sum(CAPITAL_EVIDENCE for t in words if t in capitalized and self._german_noun(t))

        def key(lang: str) -> tuple[float, bool, int]:
            return (-round(scores[lang], 6), lang != pref, TIE_ORDER.index(lang))

        return sorted(SUPPORTED, key=key)

    def _german_noun(self, token: str) -> bool:
        forms, evidence = self.lexicon.headword_forms("de", token)
        return evidence > 0 and any(e.headword[:1].isupper() for f in forms for e in self.lexicon.entries("de", f))

    def _evidence(self, lang: str, token: str) -> float:
        if token in STOPWORDS_BY_LANGUAGE[lang]:
            return 1.0
        if lang == "en":
            return 1.0 if self.is_english(token) else 0.0
        return self.lexicon.headword_forms(lang, token)[1]

    def is_english(self, token: str) -> bool:
        """Whether the token reads as an English word (see the module's docstring)."""
        wn, glove = self.concepts.wordnet, self.concepts.glove
        rank = glove.row(token)
        for lemma in wn.morphy(token):
            lemma_rank = glove.row(lemma.split("_")[-1])
            if lemma_rank is None or lemma_rank >= ENGLISH_NOUN_MAX_RANK:
                continue
            senses = [s for s in wn.senses(lemma) if not s.proper]
            # A rare noun nobody tagged ("kat": khat) is no sign of English; "strand", "cane" are.
            if senses and (lemma_rank < ENGLISH_WORD_MAX_RANK or any(s.count > 0 for s in senses)):
                return True
        if rank is None or rank >= ENGLISH_WORD_MAX_RANK:
            return self._shared_with_english(token)
        foreign = (lang for lang in SUPPORTED if lang != "en")
        return not any(token in STOPWORDS_BY_LANGUAGE[lang] or self.lexicon.headword_forms(lang, token)[1] for lang in foreign)

    def _shared_with_english(self, token: str) -> bool:
        """A less common English noun that the other languages knowing it translate first as itself
        ("zebra", "espresso", "kimono", "karaoke"): read as English it means the same and no one
        is told it was read as Portuguese. Dutch "kat" (cat; in English a rare name of khat) and
        "kopje" (cup first, then the hill English borrowed) are not."""
        wn = self.concepts.wordnet
        if not any(s for lemma in wn.morphy(token) for s in wn.senses(lemma) if not s.proper):
            return False
        knowing = [lang for lang in SUPPORTED if lang != "en" and self.lexicon.headword_forms(lang, token)[1] >= 1.0]
        for lang in knowing:
            forms, _ = self.lexicon.headword_forms(lang, token)
            entries = [e for form in forms for e in self.lexicon.entries(lang, form, bridge=False) if e.senses]
            if not entries or token not in {w.lower() for e in entries for w in e.senses[0].words}:
                return False
        return bool(knowing)
