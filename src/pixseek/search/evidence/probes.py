"""The shipped concept probes (search/probes.py) as evidence for query terms: a term naming one of
their concepts ("mammal", "building", "body part") scores each image by that concept's linear probe
over its embedding, a calibrated probability. A term scores the best its evidence gives, so the
probe adds the drawings and clip art the classes miss and takes nothing from what they find.

Candidates: the probe is linear in the unit embedding, so the images it ranks first are the store's
k-NN of its weight vector. In a library of more than EXACT_SCORING_MAX images a probe answers only
terms the classes do not (each probe term costs a k-NN search, several text queries at 1M), as the
joint space does. The why reads `concept probe: mammal 0.62`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from pixseek.ids import unique_ids
from pixseek.language.concepts import TermVector
from pixseek.language.query import QueryPlan
from pixseek.search.evidence.base import QueryEvidence
from pixseek.search.evidence.learned import LibrarySize, ScoredByTerm, embedding_scores, english_words
from pixseek.search.probes import ConceptProbes, first_row, rows_of
from pixseek.store.base import Store

PROBE_CANDIDATES = 300  # nearest neighbours of a probe's vector read per term

LemmaForms = Callable[[str], list[str]]  # a term's words -> its lemma and base forms ("trees" -> tree)


@dataclass
class ConceptProbeEvidence:
    """The kind, registered with the engine."""

    store: Store
    words: tuple[str, ...]  # the probes' concepts, in their rows' order (none: no probes)
    load_probes: Callable[[], ConceptProbes | None]  # their weights, read when a query names one
    lemma_forms: LemmaForms
    _size: LibrarySize | None = None

    @functools.cached_property
    def _rows(self) -> dict[str, int]:
        return rows_of(self.words)

    def _large(self, owner: int) -> bool:
        if self._size is None:
            self._size = LibrarySize(self.store)
        return self._size.large(owner)

    def _probe_of(self, term: TermVector) -> int | None:
        if not self.words or term.faces is not None:
            return None
        return first_row(self._rows, self.lemma_forms(" ".join(english_words(term))))

    def answers(self, term: TermVector) -> bool:
        """Whether a probe names the term's concept."""
        return self._probe_of(term) is not None

    def for_query(self, owner: int, plan: QueryPlan) -> ProbesForQuery:
        named = {}
        for term in plan.terms:
            row = self._probe_of(term)
            if row is not None:
                named[term.term] = (row, not term.glove_only and len(term.vector.ids) > 0)
        large = bool(named) and self._large(owner)
        rows = {t: row for t, (row, has_classes) in named.items() if not (large and has_classes)}
        return ProbesForQuery(self.store, owner, self.load_probes() if rows else None, rows, large=large)


@dataclass
class ProbesForQuery(QueryEvidence):
    store: Store
    owner: int
    probes: ConceptProbes | None
    rows: dict[str, int]  # a term's text -> its probe
    large: bool = False  # more images than EXACT_SCORING_MAX: only a term's k-NN candidates are scored
    _found: dict[str, NDArray[np.int64]] = field(default_factory=dict)

    def candidates(self, term: TermVector, budget: int) -> NDArray[np.int64] | None:
        row = self.rows.get(term.term)
        if row is None or self.probes is None:
            return None
        ids, _ = self.store.knn(self.owner, self.probes.query(row), min(budget, PROBE_CANDIDATES))
        self._found[term.term] = found = unique_ids(ids)
        return found

    def score(self, terms: list[TermVector], ids: NDArray[np.int64]) -> ScoredByTerm:
        wanted = [t for t in terms if t.term in self.rows]
        probes = self.probes
        if not wanted or probes is None or not len(ids):
            return ScoredByTerm("concept probe", {})
        scores = embedding_scores(
            self.store, self.owner, ids, wanted, lambda embeddings: embeddings,
            lambda embeddings, t: probes.scores(embeddings, self.rows[t.term]),
            self._found if self.large else None,
        )
        return ScoredByTerm("concept probe", scores)
