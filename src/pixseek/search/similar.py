"""Search by example picture: the owner's images most like a given one (SearchEngine.similar).

Similar images: k-NN over the 1280-d embeddings; with a focus concept, candidates are reranked by
cosine similarity of embeddings re-weighted by that concept's classifier weights (Insight's
"weighted features"), so "similar, but the cat" ignores the bottle beside it. With a
vision-language model active, its image embeddings are compared instead, by default.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from numpy.typing import NDArray

from pixseek.ids import unique_ids
from pixseek.language.concepts import ConceptSpace, TermVector
from pixseek.records import ImageFilter, StoredImage, Vector
from pixseek.search.evidence.categories import MIN_IMPACT
from pixseek.search.evidence.vlm import ActiveModel
from pixseek.search.results import (
    EXACT_RESCORE_MAX,
    EmbedImage,
    ImageRef,
    QueryError,
    SearchResult,
    analyse,
    describe_image,
    first_live,
    images_of,
    hit_of,
    indexed_content,
    model_vectors,
    restricted,
)
from pixseek.store.base import Store, StoreError
from pixseek.store.dense import normalise


@dataclass
class SimilarImages:
    """similar() for the engine: what it needs handed in (the wiring's analyzer and classifier
    weights are callables, so search/ loads no model itself)."""

    store: Store
    concepts: ConceptSpace
    model: ActiveModel | None = None  # the active vision-language model, if any
    embed_image: EmbedImage | None = None  # analyses pictures outside the library
    final_layer: Callable[[], NDArray[np.float32]] | None = None  # the classifier's weights, for a focus
    _fc: NDArray[np.float32] | None = field(default=None, init=False, repr=False)  # final_layer(), read on first focus

    def similar(
        self,
        owner: int,
        image: ImageRef,
        limit: int = 20,
        focus: str | None = None,
        where: ImageFilter | None = None,
        by: str | None = None,
    ) -> SearchResult:
        """The owner's images most like `image`: one of theirs (content id or path), or any file/bytes.

        `by` "model" compares the active vision-language model's image embeddings, "classifier"
        the classifier's; by default the model's when one is active (and no focus is asked)."""
        started = time.perf_counter()
        own_id = indexed_content(self.store, owner, image)
        if self._similar_by_model(by, focus):
            return self._model_similar(owner, image, own_id, limit, where, started, explicit=by == "model")
        if own_id is not None:
            embedding = self.store.embeddings(owner, np.array([own_id]))[0]
        else:
            embedding, _ = analyse(self.embed_image, image)
        term = None
        if focus:
            term = self.concepts.encode_term(focus)
            if term is None:
                raise QueryError(f"unknown focus concept: {focus!r}")
            ids, sims = self._focused(owner, embedding, term, limit)
        else:
            ids, sims = self._nearest(owner, embedding, limit + 1)
        read: dict[int, StoredImage] = {}  # the records first_live reads, for the hits
        chosen = first_live(self.store, ids[ids != own_id], limit, owner, where, one_per_video=True, read=read)
        if len(chosen) < limit and restricted(self.store, owner, where):
            # Neighbours are drawn from every user's images, and a filter may be selective (the
            # pgvector "filtered HNSW" problem): search exactly inside what the owner may see.
            admitted = self.store.matching(owner, where, limit=EXACT_RESCORE_MAX + 1)
            if len(admitted) <= EXACT_RESCORE_MAX:
                ids, sims = self._exact_within(owner, embedding, admitted, term)
                chosen = first_live(self.store, ids[ids != own_id], limit, owner, None, one_per_video=True, read=read)
        score = dict(zip(ids.tolist(), sims.tolist()))
        hits = [
            hit_of(img, float(score[img.content_id]), [f"focus: {term.term}"] if term else ["visual similarity"])
            for img in images_of(self.store, owner, chosen, read)
        ]
        return SearchResult(
            query=describe_image(image),
            hits=hits,
            candidates=len(ids),
            took_ms=(time.perf_counter() - started) * 1e3,
        )

    def _similar_by_model(self, by: str | None, focus: str | None) -> bool:
        if by not in (None, "model", "classifier"):
            raise QueryError(f"similar by {by!r}: choose model or classifier")
        if by == "model":
            if self.model is None:
                raise QueryError("similar by model: no vision-language model is active (pixseek models use NAME)")
            if focus:
                raise QueryError("focus compares the classifier's features: use it with by=classifier")
            return True
        return by is None and self.model is not None and not focus

    def _model_similar(
        self, owner: int, image: ImageRef, own_id: int | None, limit: int, where: ImageFilter | None,
        started: float, explicit: bool,
    ) -> SearchResult:
        """similar() in the model's space: the image's stored embedding, or the image tower's."""
        model = self.model
        assert model is not None
        space = self.store.spaces
        if own_id is not None:
            present, vectors = model_vectors(self.store, owner, model.space, np.array([own_id], dtype=np.int64))
            if not present[0]:
                if explicit:
                    raise QueryError(f"image {own_id} has no {model.name} embedding yet (run pixseek index)")
                return self.similar(owner, own_id, limit=limit, where=where, by="classifier")
            query = vectors[0]
        else:
            assert not isinstance(image, int)
            query = model.embed_image(image)
        try:
            ids, sims = space.nearest(owner, model.space, query, max(4 * (limit + 1), 64))
        except StoreError:  # nothing embedded by the model yet
            ids, sims = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        read: dict[int, StoredImage] = {}  # the records first_live reads, for the hits
        chosen = first_live(self.store, ids[ids != own_id], limit, owner, where, one_per_video=True, read=read)
        if len(chosen) < limit and restricted(self.store, owner, where):
            admitted = self.store.matching(owner, where, limit=EXACT_RESCORE_MAX + 1)
            if len(admitted) <= EXACT_RESCORE_MAX:
                present, vectors = model_vectors(self.store, owner, model.space, admitted)
                ids, sims = admitted[present], vectors[present] @ query
                order = np.argsort(-sims, kind="stable")
                ids, sims = ids[order], sims[order]
                chosen = first_live(self.store, ids[ids != own_id], limit, owner, None, one_per_video=True, read=read)
        score = dict(zip(ids.tolist(), sims.tolist()))
        hits = [
            hit_of(img, float(score[img.content_id]), [f"{model.name} similarity {score[img.content_id]:.2f}"])
            for img in images_of(self.store, owner, chosen, read)
        ]
        return SearchResult(
            query=describe_image(image), hits=hits, candidates=len(ids),
            took_ms=(time.perf_counter() - started) * 1e3, model=model.name,
        )

    def _exact_within(
        self, owner: int, embedding: Vector, ids: NDArray[np.int64], term: TermVector | None
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        weights = self._focus_weights(term) if term else np.ones_like(embedding)
        sims = normalise(self.store.embeddings(owner, ids) * weights) @ normalise(embedding * weights)
        order = np.argsort(-sims, kind="stable")
        return ids[order], sims[order]

    def _focus_weights(self, term: TermVector) -> NDArray[np.float32]:
        # Features that are evidence for the concept, weighted by how much they count for it.
        fc = self._fc_weights()
        classes = term.vector.ids < len(fc)  # characteristics (red, screenshot) have no classifier weights
        if not classes.any():
            raise QueryError(f"focus needs something the classifier sees; {term.term!r} is only a characteristic")
        return np.maximum(term.vector.weights[classes] @ fc[term.vector.ids[classes]], 0.0)

    def _nearest(self, owner: int, embedding: Vector, k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        # Over-fetch so that dead or filtered-out ids do not leave the page short.
        return self.store.knn(owner, embedding, max(4 * k, 64))

    def _focused(
        self, owner: int, embedding: Vector, term: TermVector, limit: int
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        weights = self._focus_weights(term)
        ann_ids, _ = self.store.knn(owner, embedding, max(20 * limit, 400))
        concept_ids = self.store.sparse_candidates(owner, term.vector, MIN_IMPACT, 2000)
        candidates = unique_ids(np.concatenate([ann_ids, concept_ids]))
        vectors = normalise(self.store.embeddings(owner, candidates) * weights)
        query = normalise(embedding * weights)
        sims = vectors @ query
        order = np.argsort(-sims, kind="stable")
        return candidates[order], sims[order]

    def _fc_weights(self) -> NDArray[np.float32]:
        if self._fc is None:
            if self.final_layer is None:
                raise QueryError("focus needs the classifier's weights, which this engine was not given")
            self._fc = self.final_layer()
        return self._fc
