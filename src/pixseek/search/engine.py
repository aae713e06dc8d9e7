"""The search engine: queries in, ranked images with reasons out. It reads the store, never writes.

Text search (the Dropbox design): a query becomes alternatives of AND-ed terms; each term is a
sparse vector over ImageNet classes. Candidates come from the heads of the terms' posting lists,
and are rescored exactly from the forward rows: score(term) = Σ_c weight_c × p_c. A conjunction
scores the geometric mean of its terms (each must reach a floor), a query the best alternative.

People: a term may also be answered by faces (a person's name: their faces; "people": any
face); its score is then the better of the class score and the face's prominence.

Text in images (OCR): a term is also answered by the image's text holding its words, and words
the concept space does not know become text-only terms when some image has them in its text
(search/text.py); a term's score is the best of its evidence, so "dog" AND "2023" can be met by
a dog photo whose caption says 2023.

Similar images: k-NN over the 1280-d embeddings; with a focus concept, candidates are reranked by
cosine similarity of embeddings re-weighted by that concept's classifier weights (Insight's
"weighted features"), so "similar, but the cat" ignores the bottle beside it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from numpy.typing import NDArray

from pixseek.language.concepts import ConceptSpace, Tag, TermVector
from pixseek.language.multilingual import UnsupportedLanguageError, check_language, multilingual, shown_term
from pixseek.language.people import PeopleVocabulary
from pixseek.language.query import Conjunction, QueryPlan, UnknownQueryError
from pixseek.records import ImageFilter, ImageMeta, SparseVector, StoredFace, StoredImage, Vector
from pixseek.search.evidence.text import TextEvidence, empty_vector, find_text
from pixseek.store.base import Store
from pixseek.store.dense import normalise
from pixseek.store.sparse import dense_probabilities

DEFAULT_THRESHOLD = 0.10  # below this an image is not a match: best F1 region on the dev set (bench/)
CLASS_NOISE_FLOOR = 0.02  # class probabilities below this are an image's noise (4x fewer false hits, bench/)
TERM_FLOOR = 0.05  # in an AND, every term must reach this on its own
MIN_IMPACT = 0.01  # posting-list head: weight × probability at least this
EXACT_RESCORE_MAX = 200_000  # a short page is completed by scoring all admitted images up to this
CANDIDATE_BUDGET = 10_000  # posting entries read per query term, shared among its classes
# A face term scores FACE_BASE_SCORE for a face at all, rising with the face's share of the
# picture's height (a portrait before a crowd), up to 1.
FACE_BASE_SCORE = 0.4
FACE_PROMINENCE_GAIN = 2.0


class QueryError(ValueError):
    """A query that cannot be answered; the message is for the user."""


class ImageNotFound(QueryError):
    """The image id is unknown to this user (whether or not another user has it)."""


@dataclass
class _Scored:
    ids: NDArray[np.int64]  # sorted
    score: NDArray[np.float32]
    alternative: NDArray[np.int64]  # index of the best-scoring alternative, -1 if none
    class_ids: NDArray[np.int32]
    probs: NDArray[np.float32]
    face_scores: dict[int, NDArray[np.float32]] = field(default_factory=dict)  # id(term) -> scores
    text_scores: dict[int, NDArray[np.float32]] = field(default_factory=dict)  # id(term) -> scores

    def ranked(self, threshold: float) -> NDArray[np.int64]:
        passing = np.flatnonzero(self.score >= threshold)
        return self.ids[passing[np.argsort(-self.score[passing], kind="stable")]]


@dataclass
class Hit:
    content_id: int
    path: str
    score: float
    why: list[str]
    paths: list[str] = field(default_factory=list)
    meta: ImageMeta | None = None
    faces: list[StoredFace] = field(default_factory=list)  # the faces that made it a match


@dataclass
class SearchResult:
    query: str
    hits: list[Hit]
    unknown_words: list[str] = field(default_factory=list)
    interpretation: list[str] = field(default_factory=list)  # how the query was understood
    candidates: int = 0
    took_ms: float = 0.0
    language: str = "en"  # the language the query was read in (detected or given)


ImageRef = Path | bytes | int
"""An image to start from: a file (inside the library or not), its bytes, or one of the user's ids."""

EmbedImage = Callable[[Path | bytes], tuple[Vector, NDArray[np.float32]]]
"""Analyse an image outside the library: (embedding, class probabilities (1000,))."""


class SearchEngine:
    def __init__(
        self,
        store: Store,
        concepts: ConceptSpace,
        embed_image: EmbedImage | None = None,
        final_layer: Callable[[], NDArray[np.float32]] | None = None,
    ) -> None:
        self.store = store
        self.concepts = concepts
        self._embed_image = embed_image
        self._final_layer = final_layer
        self._fc: NDArray[np.float32] | None = None

    # ---- text ---------------------------------------------------------------------------------
    def search(
        self,
        owner: int,
        query: str,
        limit: int = 20,
        offset: int = 0,
        threshold: float = DEFAULT_THRESHOLD,
        where: ImageFilter | None = None,
        lang: str | None = None,
        preferred_lang: str | None = None,
    ) -> SearchResult:
        """The owner's images matching `query`, best first: results offset..offset+limit.

        The query is read in `lang` ("fr", "de", ...; see multilingual.SUPPORTED), or in the
        language detected from its words, ties going to `preferred_lang` (a code or an
        Accept-Language header), then English.
        """
        started = time.perf_counter()
        languages = multilingual(self.concepts)
        try:
            people = PeopleVocabulary(self.concepts, self.store.faces.names(owner))
            plan = languages.read(query, people, lang=lang, preferred=preferred_lang)
        except (UnsupportedLanguageError, UnknownQueryError) as exc:
            raise QueryError(str(exc)) from None
        alternatives, unknown, text = self._with_text(owner, plan)
        if not alternatives:
            raise QueryError(plan.error)
        terms = list({id(t): t for alt in alternatives for t in alt.terms}.values())
        per_term = [self._term_candidates(owner, t, text.get(id(t))) for t in terms]  # each sorted and unique
        candidates = per_term[0] if len(per_term) == 1 else np.unique(np.concatenate(per_term))
        scored = self._score(owner, alternatives, terms, candidates, text)
        wanted = offset + limit
        chosen = self._first_live(scored.ranked(threshold), wanted, owner, where)
        if len(chosen) < wanted and self._restricted(owner, where):
            # The posting-list heads are shared by all users and the filter may be selective:
            # when the page is short, score every image the owner's filter admits, if few enough.
            admitted = self.store.matching(owner, where, limit=EXACT_RESCORE_MAX + 1)
            if 0 < len(admitted) <= EXACT_RESCORE_MAX:
                scored = self._score(owner, alternatives, terms, admitted, text)
                chosen = [int(c) for c in scored.ranked(threshold)[:wanted]]
        chosen = chosen[offset:]
        hits = []
        images = self.store.get_images(owner, chosen)
        snippets = self._snippets(owner, images, scored, alternatives, text)
        for image in images:
            i = int(np.searchsorted(scored.ids, image.content_id))  # ids are sorted
            alternative = alternatives[int(scored.alternative[i])]
            by_face = {t: float(f[i]) for t, f in scored.face_scores.items()}
            by_text = {t: float(f[i]) for t, f in scored.text_scores.items()}
            why = self._why(alternative.terms, scored.class_ids[i], scored.probs[i], by_face, by_text)
            if image.content_id in snippets:
                why.append(f"text: {snippets[image.content_id]}")
            hits.append(hit_of(image, float(scored.score[i]), why))
        return SearchResult(
            query=query,
            hits=hits,
            unknown_words=list(unknown),
            interpretation=[" AND ".join(shown_term(t) for t in alt.terms) for alt in alternatives],
            candidates=len(scored.ids),
            took_ms=(time.perf_counter() - started) * 1e3,
            language=plan.language,
        )

    def _with_text(self, owner: int, plan: QueryPlan) -> tuple[list[Conjunction], list[str], dict[int, TextEvidence]]:
        """The query read with the text in the owner's images (search/text.py): text evidence for
        its terms, and terms only text answers (unknown words found in text, quoted phrases) added
        to every alternative. Returns the alternatives, the words still unknown, and the evidence
        by id(term)."""
        alternatives, unknown, last_word = plan.alternatives, plan.unknown_words, plan.last_word
        text: dict[int, TextEvidence] = {}
        for term in {id(t): t for alt in alternatives for t in alt.terms}.values():
            words = term.term.split()
            found = find_text(self.store.texts, owner, words, prefix=words[-1] == last_word)
            if found:
                text[id(term)] = found
        text_terms: list[TermVector] = []
        for word in unknown:
            found = find_text(self.store.texts, owner, [word], prefix=word == last_word)
            if found:
                text_terms.append(_text_term(word, found, text))
        for words in plan.phrases:  # literal: required even where no image has it
            text_terms.append(_text_term(f'"{" ".join(words)}"', find_text(self.store.texts, owner, words), text))
        if text_terms:
            alternatives = [Conjunction(a.terms + text_terms) for a in alternatives] or [Conjunction(text_terms)]
        found_words = {t.term for t in text_terms}
        return alternatives, [w for w in unknown if w not in found_words], text

    def _score(
        self,
        owner: int,
        alternatives: list[Conjunction],
        terms: list[TermVector],
        ids: NDArray[np.int64],
        text: dict[int, TextEvidence],
    ) -> _Scored:
        """Exact scores of sorted content ids from their forward rows, faces and text: best
        alternative each."""
        class_ids, probs = self.store.categories(owner, ids)
        term_scores = {id(t): _term_scores(t.vector, class_ids, probs) for t in terms}
        face_scores = {id(t): self._face_scores(owner, t, ids) for t in terms if t.faces is not None}
        text_scores = {id(t): text[id(t)].scores(ids) for t in terms if id(t) in text}
        for evidence in (face_scores, text_scores):
            for term_id, scores in evidence.items():
                term_scores[term_id] = np.maximum(term_scores[term_id], scores)
        best = np.zeros(len(ids), dtype=np.float32)
        best_alt = np.full(len(ids), -1)
        for a, alternative in enumerate(alternatives):
            combined = _conjunction_scores(alternative.terms, term_scores, frozenset(text_scores))
            better = combined > best
            best[better], best_alt[better] = combined[better], a
        return _Scored(ids, best, best_alt, class_ids, probs, face_scores, text_scores)

    def _term_candidates(self, owner: int, term: TermVector, text: TextEvidence | None) -> NDArray[np.int64]:
        ids = self.store.sparse_candidates(owner, term.vector, MIN_IMPACT, CANDIDATE_BUDGET)
        if term.faces is not None:
            people = list(term.faces.person_ids) if term.faces.person_ids is not None else None
            with_faces = self.store.faces.presence(owner, people, limit=CANDIDATE_BUDGET)
            ids = np.union1d(ids, np.fromiter(with_faces, dtype=np.int64, count=len(with_faces)))
        if text is not None:
            ids = np.union1d(ids, text.ids())
        return ids

    def _snippets(
        self,
        owner: int,
        images: list[StoredImage],
        scored: _Scored,
        alternatives: list[Conjunction],
        text: dict[int, TextEvidence],
    ) -> dict[int, str]:
        """Excerpts of the text of the hits that text evidence helped, around the words it matched."""
        wanted: list[int] = []
        phrases: dict[str, list[str]] = {}
        for image in images:
            i = int(np.searchsorted(scored.ids, image.content_id))
            for term in alternatives[int(scored.alternative[i])].terms:
                if id(term) in scored.text_scores and scored.text_scores[id(term)][i] > 0:
                    wanted.append(image.content_id)
                    phrases[" ".join(text[id(term)].words)] = text[id(term)].words
        return self.store.texts.snippets(owner, sorted(set(wanted)), list(phrases.values()))

    def _face_scores(self, owner: int, term: TermVector, ids: NDArray[np.int64]) -> NDArray[np.float32]:
        assert term.faces is not None
        people = list(term.faces.person_ids) if term.faces.person_ids is not None else None
        prominence = self.store.faces.presence(owner, people, content_ids=ids.tolist())
        found = np.array([prominence.get(int(i), -1.0) for i in ids], dtype=np.float32)
        scores = np.minimum(1.0, FACE_BASE_SCORE + FACE_PROMINENCE_GAIN * found)
        return np.where(found >= 0, scores, 0.0).astype(np.float32)

    def _why(
        self,
        terms: list[TermVector],
        class_ids: NDArray[np.int32],
        probs: NDArray[np.float32],
        by_face: dict[int, float],
        by_text: dict[int, float],
    ) -> list[str]:
        reasons = []
        for term in terms:
            if by_text.get(id(term), 0.0) > 0 and by_text[id(term)] >= by_face.get(id(term), 0.0):
                concept = float(_term_scores(term.vector, class_ids[None], probs[None])[0]) if len(term.vector) else 0.0
                if by_text[id(term)] >= concept:
                    reasons.append(f"{term.term}: in its text {by_text[id(term)]:.2f}")
                    continue
            if by_face.get(id(term), 0.0) > 0:
                assert term.faces is not None
                whose = "any person" if term.faces.person_ids is None else term.why[0].removeprefix("person: ")
                reasons.append(f"{term.term}: face of {whose} {by_face[id(term)]:.2f}")
                continue
            weights = dict(zip(term.vector.ids.tolist(), term.vector.weights.tolist()))
            contributions = sorted(
                ((weights.get(int(c), 0.0) * float(p), int(c)) for c, p in zip(class_ids, probs)),
                reverse=True,
            )
            shown = [f"{self.concepts.label(c)} {p:.2f}" for p, c in contributions[:2] if p >= 0.01]
            reasons.append(f"{term.term}: " + ", ".join(shown) if shown else term.term)
        return reasons

    def _restricted(self, owner: int, where: ImageFilter | None) -> bool:
        """Whether the owner sees less than the whole library (so a short page may be incomplete)."""
        filtered = where is not None and not where.is_empty()
        return filtered or self.store.count_images(owner) < self.store.content_count()

    def _first_live(
        self, ranked: NDArray[np.int64], limit: int, owner: int, where: ImageFilter | None
    ) -> list[int]:
        """The first `limit` ids that are the owner's, live and pass the filter, read in chunks."""
        chosen: list[int] = []
        step = max(4 * limit, 64)
        for start in range(0, len(ranked), step):
            chunk = ranked[start : start + step]
            chosen.extend(int(c) for c in chunk[self.store.live(owner, chunk, where)])
            if len(chosen) >= limit:
                break
        return chosen[:limit]

    # ---- similar images ---------------------------------------------------------------------
    def similar(
        self,
        owner: int,
        image: ImageRef,
        limit: int = 20,
        focus: str | None = None,
        where: ImageFilter | None = None,
    ) -> SearchResult:
        """The owner's images most like `image`: one of theirs (content id or path), or any file/bytes."""
        started = time.perf_counter()
        own_id = self._indexed_content(owner, image)
        if own_id is not None:
            embedding = self.store.embeddings(owner, np.array([own_id]))[0]
        else:
            embedding, _ = self._analyse(image)
        term = None
        if focus:
            term = self.concepts.encode_term(focus)
            if term is None:
                raise QueryError(f"unknown focus concept: {focus!r}")
            ids, sims = self._focused(owner, embedding, term, limit)
        else:
            ids, sims = self._nearest(owner, embedding, limit + 1)
        chosen = self._first_live(ids[ids != own_id], limit, owner, where)
        if len(chosen) < limit and self._restricted(owner, where):
            # Neighbours are drawn from every user's images, and a filter may be selective (the
            # pgvector "filtered HNSW" problem): search exactly inside what the owner may see.
            admitted = self.store.matching(owner, where, limit=EXACT_RESCORE_MAX + 1)
            if len(admitted) <= EXACT_RESCORE_MAX:
                ids, sims = self._exact_within(owner, embedding, admitted, term)
                chosen = [int(c) for c in ids[ids != own_id][:limit]]
        score = dict(zip(ids.tolist(), sims.tolist()))
        hits = [
            hit_of(img, float(score[img.content_id]), [f"focus: {term.term}"] if term else ["visual similarity"])
            for img in self.store.get_images(owner, chosen)
        ]
        return SearchResult(
            query=describe_image(image),
            hits=hits,
            candidates=len(ids),
            took_ms=(time.perf_counter() - started) * 1e3,
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
        return np.maximum(term.vector.weights @ fc[term.vector.ids], 0.0)

    def _nearest(self, owner: int, embedding: Vector, k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        # Over-fetch so that dead or filtered-out ids do not leave the page short.
        return self.store.knn(owner, embedding, max(4 * k, 64))

    def _focused(
        self, owner: int, embedding: Vector, term: TermVector, limit: int
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        weights = self._focus_weights(term)
        ann_ids, _ = self.store.knn(owner, embedding, max(20 * limit, 400))
        concept_ids = self.store.sparse_candidates(owner, term.vector, MIN_IMPACT, 2000)
        candidates = np.union1d(ann_ids, concept_ids).astype(np.int64)
        vectors = normalise(self.store.embeddings(owner, candidates) * weights)
        query = normalise(embedding * weights)
        sims = vectors @ query
        order = np.argsort(-sims, kind="stable")
        return candidates[order], sims[order]

    def _fc_weights(self) -> NDArray[np.float32]:
        if self._fc is None:
            if self._final_layer is None:
                raise QueryError("focus needs the classifier's weights, which this engine was not given")
            self._fc = self._final_layer()
        return self._fc

    # ---- tags, words, helpers ----------------------------------------------------------------
    def tags(self, owner: int, image: ImageRef, k: int = 10, lang: str | None = None) -> list[Tag]:
        """The image's tags, named in `lang` when given (English where no translation is known)."""
        try:
            language = check_language(lang) if lang is not None else None
        except UnsupportedLanguageError as exc:
            raise QueryError(str(exc)) from None
        own_id = self._indexed_content(owner, image)
        if own_id is not None:
            ids, probs = self.store.categories(owner, np.array([own_id]))
            keep = probs[0] > 0
            probabilities = dense_probabilities(SparseVector(ids[0][keep], probs[0][keep]))
        else:
            _, probabilities = self._analyse(image)
        tags = self.concepts.tags(probabilities, k=k)
        return tags if language is None else multilingual(self.concepts).translate_tags(tags, language)

    def words(self, word: str, k: int = 10) -> list[tuple[str, float]]:
        return self.concepts.nearest(word, k)

    def _indexed_content(self, owner: int, image: ImageRef) -> int | None:
        return indexed_content(self.store, owner, image)

    def _analyse(self, image: Path | bytes | int) -> tuple[Vector, NDArray[np.float32]]:
        assert not isinstance(image, int)  # ids are resolved by _indexed_content
        if self._embed_image is None:
            raise QueryError("this engine cannot analyse new images (no classifier given)")
        return self._embed_image(image)


def _text_term(words: str, found: TextEvidence, text: dict[int, TextEvidence]) -> TermVector:
    """A term only text can answer (a word no concept knows, a quoted phrase)."""
    term = TermVector(term=words, vector=empty_vector(), why=["text in the image"])
    text[id(term)] = found
    return term


def _conjunction_scores(
    terms: list[TermVector], term_scores: dict[int, NDArray[np.float32]], in_text: frozenset[int] = frozenset()
) -> NDArray[np.float32]:
    """Geometric mean of the terms that must match, each at least TERM_FLOOR.

    Terms known only through word vectors (no WordNet path to any class: "sky", "snow") are weak
    evidence, so they cannot veto an image; they add their score as a bonus instead, unless some
    image has the word in its text (`in_text`: ids of such terms), which is no weak evidence.
    """
    weak = {id(t) for t in terms if t.glove_only and id(t) not in in_text}
    required = [t for t in terms if id(t) not in weak] or terms
    optional = [t for t in terms if id(t) in weak and required is not terms]
    if len(required) == 1:  # one term: its score is the answer (the threshold judges it)
        combined = term_scores[id(required[0])].copy()
    else:
        scores = np.stack([term_scores[id(t)] for t in required])
        combined = np.exp(np.log(np.maximum(scores, 1e-9)).mean(axis=0))
        combined[(scores < TERM_FLOOR).any(axis=0)] = 0.0
    for term in optional:
        combined += np.where(combined > 0, term_scores[id(term)], 0.0)
    return combined.astype(np.float32)


def _term_scores(vector: SparseVector, class_ids: NDArray[np.int32], probs: NDArray[np.float32]) -> NDArray[np.float32]:
    """Σ weight × probability over the image's classes that stand out of its noise floor.

    A broad concept ("animal": ~400 classes) would otherwise collect the flat tail of an
    uncertain image (a texture, a drawing) into a sizeable score."""
    if not len(class_ids):
        return np.zeros(0, np.float32)
    dense = np.zeros(1000, dtype=np.float32)
    dense[vector.ids] = vector.weights
    return (dense[class_ids] * np.where(probs >= CLASS_NOISE_FLOOR, probs, 0.0)).sum(axis=1)


def indexed_content(store: Store, owner: int, image: ImageRef) -> int | None:
    """The owner's content id for `image`: None for bytes or files outside their library."""
    if isinstance(image, bytes):
        return None
    if isinstance(image, int):
        if not store.live(owner, np.array([image], dtype=np.int64))[0]:
            raise ImageNotFound(f"no image {image}")
        return image
    return store.content_of_path(owner, os.path.abspath(image))


def describe_image(image: ImageRef) -> str:
    if isinstance(image, bytes):
        return "<image>"
    return f"image {image}" if isinstance(image, int) else str(image)


def hit_of(image: StoredImage, score: float, why: list[str], faces: list[StoredFace] | None = None) -> Hit:
    return Hit(image.content_id, image.paths[0], round(score, 4), why, image.paths, image.meta, faces or [])
