"""The classifier's categories (the 1000 ImageNet classes) as evidence for query terms, and the
image characteristics stored beside them in the same rows (colours, black-and-white, screenshot...:
concept ids from records.CLASS_COUNT on), which the same terms reach ("red" -> the red characteristic).

Each term is a sparse vector over the classes. Candidates come from the heads of the terms'
posting lists, and are rescored exactly from the forward rows: score(term) = Σ_c weight_c × p_c
(the Dropbox design).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from pixseek.ids import first_of_each
from pixseek.language.calibration import calibration
from pixseek.language.concepts import ConceptSpace, TermVector
from pixseek.language.query import QueryPlan
from pixseek.records import CONCEPT_SPACE, SparseVector
from pixseek.search.evidence.base import QueryEvidence, ScoredEvidence
from pixseek.store.base import Store

CLASS_NOISE_FLOOR = 0.02  # class probabilities below this are an image's noise (4x fewer false hits, bench/)
MIN_IMPACT = 0.01  # posting-list head: weight × probability at least this


@dataclass
class CategoryEvidence:
    """The kind, registered with the engine."""

    store: Store
    concepts: ConceptSpace

    def for_query(self, owner: int, plan: QueryPlan) -> CategoriesForQuery:
        return CategoriesForQuery(self.store, self.concepts, owner)


@dataclass
class CategoriesForQuery(QueryEvidence):
    store: Store
    concepts: ConceptSpace
    owner: int
    # forward rows that came with the candidates (store.sparse_heads), kept for this query's scoring
    _read: list[tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float32]]] = field(
        default_factory=list, init=False, repr=False
    )

    def candidates(self, term: TermVector, budget: int) -> NDArray[np.int64]:
        ids, class_ids, probs = self.store.sparse_heads(self.owner, term.vector, MIN_IMPACT, budget)
        self._read.append((ids, class_ids, probs))
        return ids

    def score(self, terms: list[TermVector], ids: NDArray[np.int64]) -> ScoredCategories:
        class_ids, probs = self._rows(ids)
        class_ids = class_ids.astype(np.intp, copy=False)  # np.take converts int32 indices on every call: once here
        # Hub classes' shares shrink, the picture's own classes grow (language/calibration.py);
        # the reasons keep saying what the classifier said.
        scored = calibration().adjusted(class_ids, probs)
        return ScoredCategories(self.concepts, class_ids, probs, {id(t): term_scores(t.vector, class_ids, scored) for t in terms})

    def _rows(self, ids: NDArray[np.int64]) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
        """The forward rows of sorted ids: those read with the candidates, the rest from the store."""
        if len(self._read) > 1:  # several terms: one table of what was read
            known = np.concatenate([r[0] for r in self._read])
            first = first_of_each(known)
            self._read = [(known[first], *(np.concatenate([r[k] for r in self._read])[first] for k in (1, 2)))]
        if not self._read:
            return self.store.categories(self.owner, ids)
        known_ids, known_classes, known_probs = self._read[0]
        if not len(known_ids):
            return self.store.categories(self.owner, ids)
        at = np.minimum(np.searchsorted(known_ids, ids), len(known_ids) - 1)
        have = known_ids[at] == ids
        if have.all():
            return known_classes[at], known_probs[at]
        class_ids = np.zeros((len(ids), known_classes.shape[1]), dtype=known_classes.dtype)
        probs = np.zeros((len(ids), known_probs.shape[1]), dtype=known_probs.dtype)
        class_ids[have], probs[have] = known_classes[at[have]], known_probs[at[have]]
        class_ids[~have], probs[~have] = self.store.categories(self.owner, ids[~have])
        return class_ids, probs


@dataclass
class ScoredCategories(ScoredEvidence):
    concepts: ConceptSpace
    class_ids: NDArray[np.intp]
    probs: NDArray[np.float32]
    scores: dict[int, NDArray[np.float32]]  # id(term) -> score per id

    def of(self, term: TermVector) -> NDArray[np.float32]:
        return self.scores[id(term)]

    def reason(self, term: TermVector, row: int, score: float, rivals: float) -> str | None:
        """The (at most two) classes that contributed most, whatever the kinds after say."""
        dense = _dense_weights(term.vector)
        classes = self.class_ids[row]
        contributions = dense[np.minimum(classes, CONCEPT_SPACE - 1)] * self.probs[row] * (classes < CONCEPT_SPACE)
        best = np.argsort(-contributions, kind="stable")[:2]
        shown = [
            f"{self.concepts.label(int(classes[i]))} {float(contributions[i]):.2f}" for i in best if contributions[i] >= 0.01
        ]
        return f"{term.term}: " + ", ".join(shown) if shown else None


def term_scores(vector: SparseVector, class_ids: NDArray[np.integer], probs: NDArray[np.float32]) -> NDArray[np.float32]:
    """Σ weight × probability over the image's classes that stand out of its noise floor.

    A broad concept ("animal": ~400 classes) would otherwise collect the flat tail of an
    uncertain image (a texture, a drawing) into a sizeable score."""
    if not len(class_ids):
        return np.zeros(0, np.float32)
    # In place, one pass each: a search scores ~10k rows per term, and np.where / fancy indexing
    # took 2.5x as long for the same (bit-identical) sums.
    contributions = np.take(_dense_weights(vector), class_ids, mode="clip")  # a row never holds more; clip keeps indexing safe
    contributions *= probs
    contributions *= probs >= CLASS_NOISE_FLOOR
    return contributions.sum(axis=1)


def _dense_weights(vector: SparseVector) -> NDArray[np.float32]:
    """The term's weight per concept id (CONCEPT_SPACE,); ids past the space are left out."""
    dense = np.zeros(CONCEPT_SPACE, dtype=np.float32)
    inside = vector.ids < CONCEPT_SPACE
    dense[vector.ids[inside]] = vector.weights[inside]
    return dense
