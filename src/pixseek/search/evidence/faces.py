"""Faces as evidence for query terms: a person's name means their faces, "people" any face.

A face term scores FACE_BASE_SCORE for a face at all, rising with the face's share of the
picture's height (a portrait before a crowd), up to 1. Which terms are face terms the language
layer decided (language/people.py: `TermVector.faces`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pixseek.ids import unique_ids
from pixseek.language.concepts import TermVector
from pixseek.language.query import QueryPlan
from pixseek.search.evidence.base import QueryEvidence, ScoredEvidence
from pixseek.store.base import Store

FACE_BASE_SCORE = 0.4
FACE_PROMINENCE_GAIN = 2.0


@dataclass
class FaceEvidence:
    """The kind, registered with the engine."""

    store: Store

    def for_query(self, owner: int, plan: QueryPlan) -> FacesForQuery:
        return FacesForQuery(self.store, owner)


@dataclass
class FacesForQuery(QueryEvidence):
    store: Store
    owner: int

    def candidates(self, term: TermVector, budget: int) -> NDArray[np.int64] | None:
        if term.faces is None:
            return None
        with_faces = self.store.faces.presence(self.owner, _people(term), limit=budget)
        return unique_ids(np.fromiter(with_faces, dtype=np.int64, count=len(with_faces)))

    def score(self, terms: list[TermVector], ids: NDArray[np.int64]) -> ScoredFaces:
        return ScoredFaces({id(t): self._scores(t, ids) for t in terms if t.faces is not None})

    def _scores(self, term: TermVector, ids: NDArray[np.int64]) -> NDArray[np.float32]:
        prominence = self.store.faces.presence(self.owner, _people(term), content_ids=ids.tolist())
        found = np.array([prominence.get(int(i), -1.0) for i in ids], dtype=np.float32)
        scores = np.minimum(1.0, FACE_BASE_SCORE + FACE_PROMINENCE_GAIN * found)
        return np.where(found >= 0, scores, 0.0).astype(np.float32)


@dataclass
class ScoredFaces(ScoredEvidence):
    scores: dict[int, NDArray[np.float32]]  # id(term) -> score per id, face terms only

    def of(self, term: TermVector) -> NDArray[np.float32] | None:
        return self.scores.get(id(term))

    def reason(self, term: TermVector, row: int, score: float, rivals: float) -> str | None:
        if score <= 0:
            return None
        assert term.faces is not None
        whose = "any person" if term.faces.person_ids is None else term.why[0].removeprefix("person: ")
        return f"{term.term}: face of {whose} {score:.2f}"


def _people(term: TermVector) -> list[int] | None:
    assert term.faces is not None
    return list(term.faces.person_ids) if term.faces.person_ids is not None else None
