"""Dates as evidence: a bare year ("beach 2019") or a month, season or Christmas alone ("snow
december", "juin", "été") matches the images taken then (EXIF date; a month of any year) as well
as what else the word means: text evidence answers the same word ("summer" on a timetable), and
so may a concept: the query language's rule (language/syntax.py). `year:2019` and dates with a
year ("june 2019") are strict filters, a quoted "2019" text only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from pixseek.language.concepts import TermVector
from pixseek.language.query import QueryPlan
from pixseek.language.syntax import recurring_span
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
        dates: dict[str, tuple[ImageFilter, str]] = {}
        for word in [*plan.unknown_words, *(t.term for t in plan.terms)]:
            if YEAR.match(word):
                dates[word] = (year_filter(word), word)
            elif (span := recurring_span(word)) is not None:  # "december", "juin", "été"
                dates[word] = (ImageFilter(month_days=span[0]), f"{span[1]} (any year)")
        own = [w for w in plan.unknown_words if w in dates]  # words only dates (and text) answer
        terms = [TermVector(term=w, vector=empty_vector(), why=[f"taken in {dates[w][1]}"]) for w in own]
        return DatesForQuery(self.store, owner, {w: f for w, (f, _) in dates.items()}, terms,
                             {w: label for w, (_, label) in dates.items()})


@dataclass
class DatesForQuery(QueryEvidence):
    store: Store
    owner: int
    years: dict[str, ImageFilter]  # by the word, so a kind that answers the same word shares the term
    year_terms: list[TermVector] = field(default_factory=list)
    shown: dict[str, str] = field(default_factory=dict)  # the word -> "2019", "December (any year)"

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
        }, self.shown)


@dataclass
class ScoredDates(ScoredEvidence):
    scores: dict[int, NDArray[np.float32]]
    shown: dict[str, str] = field(default_factory=dict)

    def of(self, term: TermVector) -> NDArray[np.float32] | None:
        return self.scores.get(id(term))

    def reason(self, term: TermVector, row: int, score: float, rivals: float) -> str | None:
        if score > 0 and score >= rivals:
            return f"taken in {self.shown.get(term.term, term.term)}"
        return None
