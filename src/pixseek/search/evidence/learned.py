"""The joint image-word space (search/joint.py, DeViSE) as evidence for query terms: a term's
GloVe vector finds images by their place in the space, for any word GloVe knows.

Every term of the plan gets joint-space scores beside its other evidence (a term scores the best
its evidence gives). A word the concept space does not know but GloVe does ("windmill", "coin")
becomes a term of this evidence's own; like any word-vector-only term it is weak (`glove_only`):
alone it is the query, beside other words it adds to them but cannot veto an image.

Candidates: the head is linear, so the images nearest a word in the joint space are the nearest
neighbours of one vector (head.query) among the stored embeddings: the store's k-NN finds them.
Scores are read from the candidates' embeddings (two matrix products) and are calibrated
probabilities (the engine's scale). The why reads `learned: ocean 0.42`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from pixseek.ids import unique_ids
from pixseek.language.concepts import Tag, TermVector
from pixseek.language.multilingual import TranslatedTerm
from pixseek.language.query import QueryPlan
from pixseek.records import SparseVector, Vector
from pixseek.search.evidence.base import PictureView, QueryEvidence, ScoredEvidence
from pixseek.search.joint import JointHead
from pixseek.store.base import Store

SIZE_TTL_S = 60.0  # how long an owner's image count decides "large"
JOINT_CANDIDATES = 300  # nearest neighbours read per term (each costs an embedding row read at scale)
EXACT_SCORING_MAX = 20_000  # an owner with more images than this: only the k-NN candidates are scored
LEARNED_TAGS = 5  # the nearest labels a picture's tags show at most
_EMPTY = SparseVector.from_dict({})

WordVector = Callable[[list[str]], "Vector | None"]


@dataclass
class LibrarySize:
    """Whether an owner has more than EXACT_SCORING_MAX images (counted at most once a minute: a
    count over a million rows costs more than the query)."""

    store: Store
    _seen: dict[int, tuple[float, int]] = field(default_factory=dict)  # owner -> (when, images)

    def large(self, owner: int) -> bool:
        now = time.monotonic()
        seen = self._seen.get(owner)
        if seen is None or now - seen[0] > SIZE_TTL_S:
            seen = self._seen[owner] = (now, self.store.count_images(owner))
        return seen[1] > EXACT_SCORING_MAX


def embedding_scores(
    store: Store,
    owner: int,
    ids: NDArray[np.int64],
    terms: list[TermVector],
    prepare: Callable[[NDArray[np.float32]], NDArray[np.float32]],
    score: Callable[[NDArray[np.float32], TermVector], NDArray[np.float32]],
    found: dict[str, NDArray[np.int64]] | None,
) -> dict[int, NDArray[np.float32]]:
    """Each term's scores of the ids, `score(prepare(embeddings), term)`: of every id (`found` None,
    a small library: the embeddings are prepared once for all terms), or of the term's own k-NN
    candidates only (a large one: an image outside them would not pass, so a query reads ~k
    embeddings per term, not one per candidate of every kind)."""
    if found is None:
        prepared = prepare(store.embeddings(owner, ids))
        return {id(t): score(prepared, t) for t in terms}
    scores: dict[int, NDArray[np.float32]] = {}
    for t in terms:
        rows = np.flatnonzero(np.isin(ids, found.get(t.term, np.zeros(0, np.int64))))
        out = np.zeros(len(ids), dtype=np.float32)
        if len(rows):
            out[rows] = score(prepare(store.embeddings(owner, ids[rows])), t)
        scores[id(t)] = out
    return scores


@dataclass
class ScoredByTerm(ScoredEvidence):
    """Scores per term of an evidence read from the images' embeddings (joint space, probes)."""

    label: str  # the why's prefix: "learned: ocean 0.42", "concept probe: mammal 0.62"
    scores: dict[int, NDArray[np.float32]]  # id(term) -> score per id

    def of(self, term: TermVector) -> NDArray[np.float32] | None:
        return self.scores.get(id(term))

    def reason(self, term: TermVector, row: int, score: float, rivals: float) -> str | None:
        if score > 0 and score >= rivals:  # this evidence did more for the image than what follows
            return f"{self.label}: {term.term} {score:.2f}"
        return None


def english_words(term: TermVector) -> list[str]:
    """The words a term's GloVe (English) vector is read from: a foreign term's translation
    ("chien" -> dog), so that the joint space answers a query as in English."""
    if isinstance(term, TranslatedTerm) and term.translation:
        return term.translation.split(",")[0].strip().split()
    return term.term.split()


@dataclass
class JointSpaceEvidence:
    """The kind, registered with the engine: one head (the user's own or the shipped one)."""

    store: Store
    head: Callable[[int], JointHead | None]  # owner -> the head to use, None for none
    word_vector: WordVector  # a term's words -> its GloVe vector (None: unknown)
    # Terms the shipped head leaves to another kind trained on the same labelled pictures (the
    # shipped concept probes, which rank them better: bench/README.md, issue 15); a user's own head
    # answers every word it knows.
    left_by_shipped_head: Callable[[TermVector], bool] = lambda term: False
    _size: LibrarySize | None = None
    names_are_words = True  # its tags are the head's labels: words, translated with the others

    def _large(self, owner: int) -> bool:
        if self._size is None:
            self._size = LibrarySize(self.store)
        return self._size.large(owner)

    def image_tags(self, owner: int, picture: PictureView, k: int) -> list[Tag]:
        """The head's labels nearest the picture in the joint space (words beyond the classifier's
        classes: "tree", "windmill"), those above the engine's threshold, as tags of kind "learned"."""
        head = self.head(owner)
        if head is None:
            return []
        if picture.content_id is not None:
            embedding = self.store.embeddings(owner, np.array([picture.content_id], dtype=np.int64))[0]
        else:
            assert picture.embedding is not None
            embedding = picture.embedding
        return [Tag(label.replace("_", " "), score, "learned") for label, score in head.nearest_labels(embedding, min(k, LEARNED_TAGS))]

    def for_query(self, owner: int, plan: QueryPlan) -> JointForQuery:
        vectors: dict[str, Vector] = {}
        own: list[TermVector] = []
        # In a large library every joint-space term costs a k-NN search of the embedding graph
        # (~4x a text query at 1M): there it answers only words the classes do not (no WordNet path).
        large = self._large(owner)
        # "person", "people" (any face) are answered here too, beside the faces: a drawn or clip-art
        # person has no face the detector finds (the dev set's drawn people: 0 of them found by
        # "people" before, 2 shown and both right after; the small set's photos unchanged). A
        # person's name is faces only: its word vector says nothing of the person.
        terms = [t for t in plan.terms if (t.faces is None or t.faces.person_ids is None) and not (large and not t.glove_only and len(t.vector.ids))]
        # The head is read (the user's from the store, or the shipped one from its file) only for a
        # query it may answer: a class word in a large library needs none.
        head = self.head(owner) if terms or plan.unknown_words else None
        if head is not None:
            for term in terms:
                if head.shipped and self.left_by_shipped_head(term):
                    continue
                vector = self.word_vector(english_words(term))
                if vector is not None and head.support(vector) > 0:
                    vectors[term.term] = vector
            for word in plan.unknown_words:
                vector = self.word_vector([word]) if word.isalpha() else None
                if vector is not None and head.support(vector) > 0:
                    vectors[word] = vector
                    own.append(TermVector(term=word, vector=_EMPTY, why=["learned"], glove_only=True))
        return JointForQuery(self.store, owner, head, vectors, own, large=head is not None and large)


@dataclass
class JointForQuery(QueryEvidence):
    store: Store
    owner: int
    head: JointHead | None
    vectors: dict[str, Vector]  # a term's text -> its word vector (a term another kind made too)
    learned_terms: list[TermVector]
    large: bool = False  # more images than EXACT_SCORING_MAX: only k-NN candidates are scored
    _found: dict[str, NDArray[np.int64]] | None = None

    def own_terms(self) -> list[TermVector]:
        return self.learned_terms

    def candidates(self, term: TermVector, budget: int) -> NDArray[np.int64] | None:
        vector = self.vectors.get(term.term)
        if vector is None or self.head is None:
            return None
        ids, _ = self.store.knn(self.owner, self.head.query(vector), min(budget, JOINT_CANDIDATES))
        found = unique_ids(ids)
        if self._found is None:
            self._found = {}
        self._found[term.term] = found
        return found

    def score(self, terms: list[TermVector], ids: NDArray[np.int64]) -> ScoredByTerm:
        wanted = [t for t in terms if t.term in self.vectors]
        if not wanted or self.head is None or not len(ids):
            return ScoredByTerm("learned", {})
        head = self.head
        scores = embedding_scores(
            self.store, self.owner, ids, wanted, head.project,
            lambda joint, t: head.word_scores(joint, self.vectors[t.term]),
            (self._found or {}) if self.large else None,
        )
        return ScoredByTerm("learned", scores)
