"""Places as evidence: a query word naming one of the user's places ("lisbon", "portugal",
"Lissabon") matches the images taken there (their GPS position, named offline at index time:
store/places.py). The language layer marks such terms (language/places.py PlaceVocabulary);
a place is as strong as a confident classifier hit, and a place word is never weak evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pixseek.language.concepts import TermVector
from pixseek.language.query import QueryPlan
from pixseek.records import ImageFilter
from pixseek.search.evidence.base import QueryEvidence, ScoredEvidence
from pixseek.store.base import Store

PLACE_SCORE = 0.8  # taken there: as strong as a confident classifier hit (and as text in the picture)


@dataclass
class PlaceEvidence:
    """The kind, registered with the engine."""

    store: Store

    def for_query(self, owner: int, plan: QueryPlan) -> PlacesForQuery:
        return PlacesForQuery(self.store, owner)


@dataclass
class PlacesForQuery(QueryEvidence):
    store: Store
    owner: int

    def vouches_for(self, term: TermVector) -> bool:
        return bool(term.places)

    def candidates(self, term: TermVector, budget: int) -> NDArray[np.int64] | None:
        if not term.places:
            return None
        return self.store.matching(self.owner, ImageFilter(places=term.places), limit=budget)

    def score(self, terms: list[TermVector], ids: NDArray[np.int64]) -> ScoredPlaces:
        scores = {
            id(t): self.store.live(self.owner, ids, ImageFilter(places=t.places)).astype(np.float32) * PLACE_SCORE
            for t in terms
            if t.places
        }
        return ScoredPlaces(scores, {id(t): t.why[0] if t.why else t.term for t in terms if t.places})


@dataclass
class ScoredPlaces(ScoredEvidence):
    scores: dict[int, NDArray[np.float32]]
    shown: dict[int, str]

    def of(self, term: TermVector) -> NDArray[np.float32] | None:
        return self.scores.get(id(term))

    def reason(self, term: TermVector, row: int, score: float, rivals: float) -> str | None:
        if score > 0 and score >= rivals:
            return f"{term.term}: {self.shown[id(term)]}"
        return None
