"""The one contract every kind of search evidence meets.

A kind of evidence (the categories the classifier saw, faces, the text in the picture; later
vision-language models, learned concepts, image characteristics, places) answers query terms.
It is registered with the engine as an `EvidenceKind`; for one query of one owner it makes a
`QueryEvidence`, which the engine asks for

* terms only it can answer (words nothing else knows, quoted phrases), added to every alternative,
  and whole readings of the query of its own (OR-ed with the plan's alternatives);
* candidates for a term, within a budget;
* scores of given images for the query's terms (one read per scoring pass: `ScoredEvidence`);
* a reason for a term's part of the why, and lines of its own for a hit (text excerpts).

A kind that can also describe a picture (`TagsPictures`: a user's taught concepts that accept it,
the joint space's nearest words) gives tags of its own for `pixseek tags` and the API's image view.

The engine parses, combines (a term's score is the best its evidence gives; an AND the geometric
mean with floors) and ranks; it knows no kind of evidence by name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from pixseek.language.concepts import Tag, TermVector
from pixseek.language.query import QueryPlan
from pixseek.records import Vector


@dataclass(frozen=True)
class MatchedHit:
    """A hit as its evidence sees it: its row in the scoring pass and its best alternative's terms."""

    content_id: int
    row: int
    terms: list[TermVector]


class EvidenceError(ValueError):
    """A kind of evidence cannot answer the query as asked (a taught concept made stale by a new
    classifier); the message is for the user, and the engine turns it into a QueryError."""


class ScoredEvidence(ABC):
    """One kind of evidence read for one pass's sorted content ids."""

    @abstractmethod
    def of(self, term: TermVector) -> NDArray[np.float32] | None:
        """The term's score per id (0..1), or None when this evidence has nothing for the term."""

    @abstractmethod
    def reason(self, term: TermVector, row: int, score: float, rivals: float) -> str | None:
        """Why the image at `row` matches `term` by this evidence (`score` is its score there), or
        None to leave the reason to the kinds after this one; `rivals` is the best score those give."""


class QueryEvidence(ABC):
    """One kind of evidence for the terms of one query of one owner."""

    def own_terms(self) -> list[TermVector]:
        """Terms only this evidence answers, to add to every alternative."""
        return []

    def readings(self) -> list[list[TermVector]]:
        """Whole readings of the query only this evidence answers (a vision-language model reads
        "person on a bike" as one text), OR-ed with the plan's alternatives; the other kinds' own
        terms are added to each."""
        return []

    def vouches_for(self, term: TermVector) -> bool:
        """Whether this evidence makes `term` required in an AND although its concept reading is
        weak (word vectors only: `glove_only`), which alone could not veto an image."""
        return False

    @abstractmethod
    def candidates(self, term: TermVector, budget: int) -> NDArray[np.int64] | None:
        """Sorted, unique ids of the owner's images that may hold the term, about `budget` at most;
        None when this evidence has nothing for the term."""

    @abstractmethod
    def score(self, terms: list[TermVector], ids: NDArray[np.int64]) -> ScoredEvidence:
        """This evidence for the terms, read for sorted content ids."""

    def notes(self, scored: ScoredEvidence, hits: list[MatchedHit]) -> dict[int, str]:
        """Lines of this evidence's own for the why of hits (content id -> line)."""
        return {}


class EvidenceKind(Protocol):
    """A kind of evidence, as registered with the engine."""

    def for_query(self, owner: int, plan: QueryPlan) -> QueryEvidence: ...


@dataclass(frozen=True)
class PictureView:
    """One picture as a kind of evidence may read it to tag it. A picture in the library has its
    `content_id` (the kind reads what it needs from the store); one outside it has what the
    analyzer saw instead: its embedding, its classes and their probabilities, and (with a
    vision-language model active) a way to get the model's embedding of it."""

    content_id: int | None
    embedding: Vector | None = None
    class_ids: NDArray[np.int32] | None = None
    probabilities: NDArray[np.float32] | None = None
    model_vector: Callable[[], Vector | None] | None = None  # the active model's embedding, made on demand


@runtime_checkable
class TagsPictures(Protocol):
    """A kind of evidence that also gives tags of a picture (kinds of its own, e.g. "taught")."""

    names_are_words: bool  # its tags are words (translated with the others), not names a user gave

    def image_tags(self, owner: int, picture: PictureView, k: int) -> list[Tag]: ...
