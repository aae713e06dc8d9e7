"""Text read in images as evidence for query terms (Dropbox ran a text index beside the concept
index and merged the two; here the text is one more kind of evidence per term).

A query term matches an image's text when its words occur there as a phrase (stemmed, accents
folded): "invoices" finds "INVOICE". Query words the concept space does not know ("2023",
"invoice", a brand name) become text-only terms when some image of the user has them in its
text, else they are reported as unknown. A quoted phrase ("\"total due\"") is literal: it is
matched in the text only, never read as concepts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pixseek.language.concepts import TermVector
from pixseek.language.query import QueryPlan
from pixseek.records import SparseVector
from pixseek.search.evidence.base import MatchedHit, QueryEvidence, ScoredEvidence
from pixseek.store.base import Store, TextMatch, TextRecords

TEXT_EXACT_SCORE = 0.8  # the words are in the picture: as strong as a confident classifier hit
# The query's last word as a prefix of a word in the text ("invo" while typing "invoice"): weaker,
# and only from this length on, so "cat" does not find "catalogue".
TEXT_PREFIX_SCORE = 0.3
PREFIX_MIN_CHARS = 4
TEXT_CANDIDATES = 10_000  # images read per text term
_EMPTY = SparseVector.from_dict({})


@dataclass
class TextEvidence:
    """Which images hold a term's words in their text."""

    words: list[str]
    match: TextMatch

    def __bool__(self) -> bool:
        return bool(self.match.exact or self.match.prefix)

    def ids(self) -> NDArray[np.int64]:
        found = self.match.exact | self.match.prefix
        return np.fromiter(sorted(found), dtype=np.int64, count=len(found))

    def scores(self, ids: NDArray[np.int64]) -> NDArray[np.float32]:
        exact, prefix = self.match.exact, self.match.prefix
        return np.array(
            [TEXT_EXACT_SCORE if i in exact else TEXT_PREFIX_SCORE if i in prefix else 0.0 for i in ids.tolist()],
            dtype=np.float32,
        )


def find_text(texts: TextRecords, owner: int, words: list[str], prefix: bool = False) -> TextEvidence:
    """The owner's images whose text holds `words` as a phrase (or, with prefix, begins it)."""
    prefix = prefix and len(words[-1]) >= PREFIX_MIN_CHARS
    return TextEvidence(words, texts.match(owner, words, TEXT_CANDIDATES, prefix=prefix))


def empty_vector() -> SparseVector:
    """The concept vector of a text-only term: it reaches no class."""
    return _EMPTY


@dataclass
class TextInImageEvidence:
    """The kind, registered with the engine."""

    store: Store

    def for_query(self, owner: int, plan: QueryPlan) -> TextForQuery:
        """The query read with the text in the owner's images: text evidence for its terms, and
        terms only text answers (unknown words found in text, quoted phrases)."""
        texts, last_word = self.store.texts, plan.last_word
        found_for: dict[int, TextEvidence] = {}  # id(term) ->
        for term in plan.terms:
            words = term.term.split()
            found = find_text(texts, owner, words, prefix=words[-1] == last_word)
            if found:
                found_for[id(term)] = found
        own: list[TermVector] = []
        for word in plan.unknown_words:
            found = find_text(texts, owner, [word], prefix=word == last_word)
            if found:
                own.append(_text_term(word, found, found_for))
        for words in plan.phrases:  # literal: required even where no image has it
            own.append(_text_term(f'"{" ".join(words)}"', find_text(texts, owner, words), found_for))
        return TextForQuery(self.store, owner, found_for, own)


@dataclass
class TextForQuery(QueryEvidence):
    store: Store
    owner: int
    found: dict[int, TextEvidence]  # id(term) -> the images holding its words
    text_terms: list[TermVector]

    def own_terms(self) -> list[TermVector]:
        return self.text_terms

    def vouches_for(self, term: TermVector) -> bool:
        return id(term) in self.found  # some image has the word in its text: no weak evidence

    def candidates(self, term: TermVector, budget: int) -> NDArray[np.int64] | None:
        found = self.found.get(id(term))
        return None if found is None else found.ids()  # at most TEXT_CANDIDATES, read with the query

    def score(self, terms: list[TermVector], ids: NDArray[np.int64]) -> ScoredText:
        return ScoredText({id(t): self.found[id(t)].scores(ids) for t in terms if id(t) in self.found})

    def notes(self, scored: ScoredEvidence, hits: list[MatchedHit]) -> dict[int, str]:
        """Excerpts of the text of the hits that text evidence helped, around the words it matched."""
        assert isinstance(scored, ScoredText)
        wanted: list[int] = []
        phrases: dict[str, list[str]] = {}
        for hit in hits:
            for term in hit.terms:
                if id(term) in scored.scores and scored.scores[id(term)][hit.row] > 0:
                    wanted.append(hit.content_id)
                    phrases[" ".join(self.found[id(term)].words)] = self.found[id(term)].words
        snippets = self.store.texts.snippets(self.owner, sorted(set(wanted)), list(phrases.values()))
        return {content_id: f"text: {snippet}" for content_id, snippet in snippets.items()}


@dataclass
class ScoredText(ScoredEvidence):
    scores: dict[int, NDArray[np.float32]]  # id(term) -> score per id

    def of(self, term: TermVector) -> NDArray[np.float32] | None:
        return self.scores.get(id(term))

    def reason(self, term: TermVector, row: int, score: float, rivals: float) -> str | None:
        if score > 0 and score >= rivals:  # as good as faces and categories: the text says why
            return f"{term.term}: in its text {score:.2f}"
        return None


def _text_term(words: str, found: TextEvidence, found_for: dict[int, TextEvidence]) -> TermVector:
    """A term only text can answer (a word no concept knows, a quoted phrase)."""
    term = TermVector(term=words, vector=empty_vector(), why=["text in the image"])
    found_for[id(term)] = found
    return term
