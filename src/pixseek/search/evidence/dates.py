"""Years as evidence: a bare year in a query ("beach 2019") matches the images taken that year
(EXIF date) as well as those with the year written in them (text evidence answers the same
word): the query language's rule (language/syntax.py). `year:2019` is the strict date filter,
a quoted "2019" text only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from pixseek.language.concepts import TermVector
from pixseek.language.query import QueryPlan
from pixseek.records import ImageFilter
from pixseek.search.evidence.base import QueryEvidence, ScoredEvidence
from pixseek.search.evidence.text import empty_vector
from pixseek.store.base import Store

DATE_SCORE = 0.8  # taken that year: as strong as the year written in the picture
YEAR = re.compile(r"^(18|19|20|21)\d\d$")


def year_filter(year: str) -> ImageFilter:
    return ImageFilter(taken_from=f"{year}-01-01", taken_to=f"{year}-12-31")


@dataclass
class DateEvidence:
    """The kind, registered with the engine."""

    store: Store

    def for_query(self, owner: int, plan: QueryPlan) -> DatesForQuery:
        years = [w for w in plan.unknown_words if YEAR.match(w)]
        terms = [TermVector(term=y, vector=empty_vector(), why=[f"taken in {y}"]) for y in years]
        return DatesForQuery(self.store, owner, {y: year_filter(y) for y in years}, terms)


@dataclass
class DatesForQuery(QueryEvidence):
    store: Store
    owner: int
    years: dict[str, ImageFilter]  # by the word, so a kind that answers the same word shares the term
    year_terms: list[TermVector] = field(default_factory=list)

    def own_terms(self) -> list[TermVector]:
        return self.year_terms

    def vouches_for(self, term: TermVector) -> bool:
        return term.term in self.years

    def candidates(self, term: TermVector, budget: int) -> NDArray[np.int64] | None:
        where = self.years.get(term.term)
        return None if where is None else self.store.matching(self.owner, where, limit=budget)

    def score(self, terms: list[TermVector], ids: NDArray[np.int64]) -> ScoredDates:
        return ScoredDates({
            id(t): self.store.live(self.owner, ids, self.years[t.term]).astype(np.float32) * DATE_SCORE
            for t in terms
            if t.term in self.years
        })


@dataclass
class ScoredDates(ScoredEvidence):
    scores: dict[int, NDArray[np.float32]]

    def of(self, term: TermVector) -> NDArray[np.float32] | None:
        return self.scores.get(id(term))

    def reason(self, term: TermVector, row: int, score: float, rivals: float) -> str | None:
        if score > 0 and score >= rivals:
            return f"taken in {term.term}"
        return None
