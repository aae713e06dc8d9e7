"""Concepts a user taught (search/taught.py) as evidence for query terms: a query word that names
one of the user's concepts ("rex") finds what the concept accepts, alone or with other words
("rex beach"). A name the language layer does not know becomes a term of this evidence's own; a
name that is also a word ("bike") adds the concept's scores to the word's other evidence. A picture
the user marked "not this" scores 0 for the concept, whatever the regression makes of it: the user
said so (the fit itself gives such near misses no weight: search/taught.py NOT_THIS_WEIGHT).
The concepts that accept a picture are its tags of kind "taught" (`image_tags`).

Candidates: the concept is linear over its features, so its best images are the k-NN of the
embedding part of its weights among the stored embeddings, plus the posting lists of the classes
the ancestry part favours (search/taught.py), plus, for a concept taught with a vision-language
model, the k-NN of its model part in that model's space; a picture the model has not embedded
scores 0 for such a concept. A query that names no concept costs one look-up of the owner's concept
names. A concept trained on another classifier's embeddings is refused with a message
(EvidenceError), never used with wrong scores; so is one of an older trainer, of another class
hierarchy, or taught with a model that is no longer the active one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from pixseek.ids import union_of_sorted, unique_ids
from pixseek.language.concepts import Tag, TermVector
from pixseek.language.query import QueryPlan
from pixseek.records import SparseVector
from pixseek.search.evidence.base import EvidenceError, PictureView, QueryEvidence, ScoredEvidence
from pixseek.search.results import model_vectors
from pixseek.search.taught import CALIBRATED_AT, ClassHierarchy, Pictures, TaughtConcept
from pixseek.store.base import Store, StoreError

CONCEPT_KIND = "concept"  # the store.learned kind of taught concepts
POSITIVE, NEGATIVE = "+", "-"  # the labels of a concept's examples: an example, a "not this" picture
CONCEPT_CANDIDATES = 500  # nearest neighbours of the concept vector read per term
ANCESTRY_CLASSES = 8  # the classes the ancestry part favours most, whose posting lists add candidates
ANCESTRY_MIN_IMPACT = 0.05
EXACT_SCORING_MAX = 20_000  # an owner with more images than this: only the k-NN candidates are scored
_EMPTY = SparseVector.from_dict({})


def concept_examples(store: Store, owner: int, name: str) -> tuple[list[int], list[int]]:
    """The live content ids of a concept's examples and of its "not this" pictures (kept by
    content hash: a picture re-indexed or moved is still found), each sorted."""
    examples = store.learned.examples(owner, CONCEPT_KIND, name)
    live = store.learned.contents_of(owner, [sha for sha, _ in examples])
    return tuple(  # type: ignore[return-value]
        sorted(live[sha][0] for sha, label in examples if label == wanted and sha in live) for wanted in (POSITIVE, NEGATIVE)
    )


@dataclass
class TaughtEvidence:
    """The kind, registered with the engine."""

    store: Store
    classifier_version: str
    hierarchy: ClassHierarchy | None = None  # the classes' WordNet ancestors (concepts' ancestry features)
    model_space: str | None = None  # the active vision-language model's space, if one is active
    _cache: dict[tuple[int, str], tuple[float, TaughtConcept]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    names_are_words = False  # its tags are concepts' names, the user's: not translated with the others

    def for_query(self, owner: int, plan: QueryPlan) -> TaughtForQuery:
        names = set(self.store.learned.names(owner, CONCEPT_KIND))
        concepts: dict[str, TaughtConcept] = {}
        own: list[TermVector] = []
        if names:
            for term in plan.terms:
                if term.term in names:
                    concepts[term.term] = self.concept(owner, term.term)
            for word in plan.unknown_words:
                if word in names:
                    concepts[word] = self.concept(owner, word)
                    own.append(TermVector(term=word, vector=_EMPTY, why=[f"concept: {word}"]))
        not_this = {name: np.array(concept_examples(self.store, owner, name)[1], dtype=np.int64) for name in concepts}
        return TaughtForQuery(self.store, owner, concepts, own, self.hierarchy, not_this)

    def concept(self, owner: int, name: str) -> TaughtConcept:
        """The owner's concept, checked against the classifier (cached while unchanged)."""
        record = self.store.learned.get(owner, CONCEPT_KIND, name)
        if record is None:
            raise EvidenceError(f"no concept named {name!r}")
        with self._lock:
            cached = self._cache.get((owner, name))
            if cached is None or cached[0] != record.updated_at:
                cached = (record.updated_at, TaughtConcept.from_bytes(record.model))
                self._cache[(owner, name)] = cached
        concept = cached[1]
        why = concept.stale(self.classifier_version, self.hierarchy, self.model_space)
        if why is not None:
            fix = "re-index the library, then " if concept.trained_on != self.classifier_version else ""
            raise EvidenceError(
                f"the concept {name!r} cannot be used: {why}: {fix}`pixseek concepts retrain {name}` (its examples are kept)"
            )
        return concept

    def image_tags(self, owner: int, picture: PictureView, k: int) -> list[Tag]:
        """The owner's concepts that accept the picture (score at least the concept's threshold,
        CALIBRATED_AT in the engine's scale), best first; not those it is marked "not this" for,
        nor stale ones (their message is for a search that names them)."""
        concepts = []
        for name in self.store.learned.names(owner, CONCEPT_KIND):
            try:
                concept = self.concept(owner, name)
            except EvidenceError:
                continue
            if picture.content_id is None or picture.content_id not in concept_examples(self.store, owner, name)[1]:
                concepts.append(concept)
        if not concepts:
            return []
        # The picture read once for all of them (a usable concept with a model block is in the
        # active model's space: concept() refuses the others).
        hierarchy = self.hierarchy if any(c.needs_ancestry() for c in concepts) else None
        space = self.model_space if any(c.model_space for c in concepts) else None
        seen = self._picture(owner, picture, hierarchy, space)
        tags = []
        for concept in concepts:
            if concept.model_space and seen.model is None:  # the model has not embedded the picture
                continue
            score = float(concept.scores(seen)[0])
            if score >= CALIBRATED_AT:
                tags.append(Tag(concept.name, score, "taught"))
        return sorted(tags, key=lambda tag: -tag.score)[:k]

    def _picture(self, owner: int, picture: PictureView, hierarchy: ClassHierarchy | None, space: str | None) -> Pictures:
        """The picture with ancestry features (given a hierarchy) and its vector in `space` (given
        one, if the model has embedded it: else no model block)."""
        if picture.content_id is not None:
            seen, embedded = read_pictures(self.store, owner, np.array([picture.content_id]), hierarchy, space)
            if not embedded[0]:
                seen.model = None
            return seen
        assert picture.embedding is not None and picture.class_ids is not None and picture.probabilities is not None
        seen = Pictures(np.asarray(picture.embedding, dtype=np.float32)[None])
        if hierarchy is not None:
            seen.ancestry = hierarchy.features(picture.class_ids[None], picture.probabilities[None])
        vector = picture.model_vector() if space and picture.model_vector is not None else None
        if vector is not None:
            seen.model = np.asarray(vector, dtype=np.float32)[None]
        return seen


def read_pictures(
    store: Store, owner: int, ids: NDArray[np.int64], hierarchy: ClassHierarchy | None, model_space: str | None,
) -> tuple[Pictures, NDArray[np.bool_]]:
    """The owner's pictures `ids` as taught concepts see them: embeddings, ancestry features (given
    a hierarchy) and vectors in `model_space` (given one), and which of them that space has (all
    without a space; none if the space is gone, its model removed)."""
    pictures = Pictures(store.embeddings(owner, ids))
    if hierarchy is not None:
        pictures.ancestry = hierarchy.features(*store.categories(owner, ids))
    embedded = np.ones(len(ids), dtype=bool)
    if model_space:
        embedded, pictures.model = model_vectors(store, owner, model_space, ids)
    return pictures, embedded


def concept_pictures(
    store: Store, owner: int, hierarchy: ClassHierarchy | None, ids: NDArray[np.int64], concept: TaughtConcept
) -> tuple[Pictures, NDArray[np.bool_]]:
    """What the concept sees of the owner's pictures `ids`, and which of them it can score (all,
    unless it needs model vectors some of them lack)."""
    return read_pictures(store, owner, ids, hierarchy if concept.needs_ancestry() else None, concept.model_space)


@dataclass
class TaughtForQuery(QueryEvidence):
    store: Store
    owner: int
    concepts: dict[str, TaughtConcept]  # a term's text -> the concept it names (terms other kinds made too)
    taught_terms: list[TermVector]
    hierarchy: ClassHierarchy | None = None
    not_this: dict[str, NDArray[np.int64]] = field(default_factory=dict)  # as `concepts`: its "not this" ids
    _found: dict[str, NDArray[np.int64]] = field(default_factory=dict)

    def own_terms(self) -> list[TermVector]:
        return self.taught_terms

    def vouches_for(self, term: TermVector) -> bool:
        return term.term in self.concepts  # a taught name is as strong as a word with a class

    def candidates(self, term: TermVector, budget: int) -> NDArray[np.int64] | None:
        concept = self.concepts.get(term.term)
        if concept is None:
            return None
        ids, _ = self.store.knn(self.owner, concept.direction, min(budget, CONCEPT_CANDIDATES))
        found = unique_ids(ids)
        ancestry = concept.ancestry_weights
        if ancestry is not None and self.hierarchy is not None:
            classes = self.hierarchy.class_weights(ancestry)
            top = np.argsort(-classes)[:ANCESTRY_CLASSES]
            top = top[classes[top] > 0]
            if len(top):
                favoured = SparseVector(top.astype(np.int32), (classes[top] / classes[top[0]]).astype(np.float32))
                more = self.store.sparse_candidates(self.owner, favoured, ANCESTRY_MIN_IMPACT, min(budget, CONCEPT_CANDIDATES))
                found = union_of_sorted([found, more[self.store.live(self.owner, more)] if len(more) else more])
        direction = concept.model_direction
        if direction is not None:
            try:
                near, _ = self.store.spaces.nearest(self.owner, concept.model_space, direction, min(budget, CONCEPT_CANDIDATES))
            except StoreError:  # the space is gone (its model removed): nothing near in it
                near = np.zeros(0, np.int64)
            near = unique_ids(near)
            found = union_of_sorted([found, near[self.store.live(self.owner, near)] if len(near) else near])
        self._found[term.term] = found
        return found

    def score(self, terms: list[TermVector], ids: NDArray[np.int64]) -> ScoredTaught:
        wanted = [t for t in terms if t.term in self.concepts]
        if not wanted or not len(ids):
            return ScoredTaught({}, {})
        scores: dict[int, NDArray[np.float32]] = {}
        exact = self.store.count_images(self.owner) <= EXACT_SCORING_MAX  # a small library: every id, exactly
        for t in wanted:
            concept = self.concepts[t.term]
            rows = np.arange(len(ids)) if exact else np.flatnonzero(np.isin(ids, self._found.get(t.term, np.zeros(0, np.int64))))
            out = np.zeros(len(ids), dtype=np.float32)
            if len(rows):
                pictures, embedded = concept_pictures(self.store, self.owner, self.hierarchy, ids[rows], concept)
                if embedded.any():
                    out[rows[embedded]] = concept.scores(pictures.rows(embedded))
            marked = self.not_this.get(t.term)
            if marked is not None and len(marked):
                out[np.isin(ids, marked)] = 0.0
            scores[id(t)] = out
        return ScoredTaught(scores, {id(t): self.concepts[t.term].name for t in wanted})


@dataclass
class ScoredTaught(ScoredEvidence):
    scores: dict[int, NDArray[np.float32]]  # id(term) -> score per id
    names: dict[int, str]

    def of(self, term: TermVector) -> NDArray[np.float32] | None:
        return self.scores.get(id(term))

    def reason(self, term: TermVector, row: int, score: float, rivals: float) -> str | None:
        if score > 0 and score >= rivals:
            return f"concept: {self.names[id(term)]} {score:.2f}"
        return None

