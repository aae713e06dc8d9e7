"""The search engine: queries in, ranked images with reasons out. It reads the store, never writes.

Text search (the Dropbox design): the language layer reads a query once into a plan of
alternatives of AND-ed terms (language/query.py, multilingual.py). Each term is answered by
kinds of evidence (search/evidence/: the classifier's categories, faces, text in the picture),
each behind one contract: candidates for a term within a budget, exact scores for given ids, a
reason. The engine only combines and ranks: a term scores the best of its evidence, a
conjunction the geometric mean of its terms (each must reach a floor), a query its best
alternative. So "dog" AND "2023" can be met by a dog photo whose caption says 2023, and "alice
beach" by Alice's face on a beach. A new kind of evidence is a new module in search/evidence/,
registered in `SearchEngine.evidence`.

Search by example picture is search/similar.py, an image's tags search/tagging.py; SearchEngine
hands them to the callers. What every search shares (Hit, SearchResult, QueryError, ImageNotFound,
indexed_content, describe_image, hit_of, ...) is search/results.py, re-exported here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
from numpy.typing import NDArray

from pixseek.ids import union_of_sorted
from pixseek.language.concepts import ConceptSpace, Tag, TermVector
from pixseek.language.multilingual import UnsupportedLanguageError, multilingual, shown_term
from pixseek.language.people import PeopleVocabulary
from pixseek.language.places import PlaceVocabulary
from pixseek.language.query import Conjunction, QueryPlan, UnknownQueryError
from pixseek.language.syntax import QuerySyntaxError, describe, parse_syntax
from pixseek.records import ImageFilter, StoredImage
from pixseek.search.evidence.base import EvidenceError, EvidenceKind, MatchedHit, QueryEvidence, ScoredEvidence, TagsPictures
from pixseek.search.evidence.categories import CategoryEvidence
from pixseek.search.evidence.dates import DateEvidence
from pixseek.search.evidence.faces import FaceEvidence
from pixseek.search.evidence.places import PlaceEvidence
from pixseek.search.evidence.text import TextInImageEvidence
from pixseek.search.evidence.vlm import ActiveModel
from pixseek.search.filters import empty_filters, merged, resolve_filters
from pixseek.search.results import (  # noqa: F401 (ImageNotFound, describe_image, indexed_content re-exported)
    EXACT_RESCORE_MAX,
    EmbedImage,
    Hit,
    ImageNotFound,
    ImageRef,
    QueryError,
    SearchResult,
    describe_image,
    first_live,
    hit_of,
    images_of,
    indexed_content,
    restricted,
)
from pixseek.search.similar import SimilarImages
from pixseek.search.tagging import Tagger
from pixseek.store.base import Store

DEFAULT_THRESHOLD = 0.10  # below this an image is not a match: best F1 region on the dev set (bench/)
TERM_FLOOR = 0.05  # in an AND, every term must reach this on its own
CANDIDATE_BUDGET = 10_000  # candidates read per query term and kind of evidence (posting entries, faces)
SORT_BY_DATE_MAX = 2_000  # sorted by date: the best this many matches, newest first
BROWSE_PAGE = 200  # a query of filters only lists the images they admit, this many at a time ...
BROWSE_SCAN_MAX = 20_000  # ... looking at this many at most when excluded words drop some
SORTS = ("relevance", "date")


@dataclass
class _Scored:
    ids: NDArray[np.int64]  # sorted
    score: NDArray[np.float32]
    alternative: NDArray[np.int64]  # index of the best-scoring alternative, -1 if none
    evidence: list[ScoredEvidence]  # each kind's read of the ids, in the engine's order

    def ranked(self, threshold: float) -> NDArray[np.int64]:
        passing = np.flatnonzero(self.score >= threshold)
        return self.ids[passing[np.argsort(-self.score[passing], kind="stable")]]


@dataclass
class _Branch:
    """One OR reading of a query, read by the language layer and met by each kind of evidence."""

    plan: QueryPlan
    evidence: list[QueryEvidence]
    alternatives: list[Conjunction]
    terms: list[TermVector]
    unknown: list[str]

    @property
    def interpretation(self) -> list[str]:
        return [" AND ".join(shown_term(t) for t in alt.terms) for alt in self.alternatives]

    @property
    def shown(self) -> list[str]:
        """The reading in words for the description: its first alternative's terms."""
        return [shown_term(t) for t in self.alternatives[0].terms]


@dataclass
class _BranchScores:
    ids: NDArray[np.int64]  # sorted
    score: NDArray[np.float32]  # the best reading's
    branch: NDArray[np.int64]  # which reading
    per_branch: list[_Scored]
    excluded: NDArray[np.bool_]  # matched an excluded word

    def ranked(self, threshold: float) -> NDArray[np.int64]:
        passing = np.flatnonzero(self.score >= threshold)
        return self.ids[passing[np.argsort(-self.score[passing], kind="stable")]]


class SearchEngine:
    def __init__(
        self,
        store: Store,
        concepts: ConceptSpace,
        embed_image: EmbedImage | None = None,
        final_layer: Callable[[], NDArray[np.float32]] | None = None,
        evidence: list[EvidenceKind] | None = None,
        model: ActiveModel | None = None,
    ) -> None:
        self.store = store
        self.model = model  # the active vision-language model, for similar and tags (its evidence is in `evidence`)
        self.concepts = concepts
        # The kinds of evidence for query terms (search/evidence/), asked for a term's reason in
        # this order: the most specific first. Kinds that need more than the store and the
        # concepts (a vision-language model, a learned head) are made by the wiring (library.py)
        # and passed in `evidence`; they go before the categories, the broadest, which give a
        # reason whenever some class contributed.
        self.evidence: list[EvidenceKind] = [
            TextInImageEvidence(store),
            FaceEvidence(store),
            PlaceEvidence(store),
            DateEvidence(store),
            *(evidence or []),
            CategoryEvidence(store, concepts),
        ]
        # Similar images and tags are rooms of their own, handed what they need.
        self._similar = SimilarImages(store, concepts, model=model, embed_image=embed_image, final_layer=final_layer)
        tag_sources = [kind for kind in self.evidence if isinstance(kind, TagsPictures)]
        self._tagger = Tagger(store, concepts, model=model, embed_image=embed_image, sources=tag_sources)

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
        sort: str = "relevance",
    ) -> SearchResult:
        """The owner's images matching `query`, best first (`sort` "date": newest first, among
        the SORT_BY_DATE_MAX best matches): results offset..offset+limit.

        The query is written in the query language (language/syntax.py: -word, OR, "phrase",
        key:value filters, date words); its filters narrow `where`.

        The query is read in `lang` ("fr", "de", ...; see multilingual.SUPPORTED), or in the
        language detected from its words, ties going to `preferred_lang` (a code or an
        Accept-Language header), then English.
        """
        started = time.perf_counter()
        if sort not in SORTS:
            raise QueryError(f"sort: expected one of {', '.join(SORTS)}")
        try:
            syntax = parse_syntax(query)
        except QuerySyntaxError as exc:
            raise QueryError(str(exc)) from None
        places = self.store.places.counts(owner)
        names = self.store.faces.names(owner)
        vocabulary = PlaceVocabulary(self.concepts, [p for p, _ in places]) if places else self.concepts
        people = PeopleVocabulary(vocabulary, names)
        resolved = resolve_filters(syntax.filters, vocabulary if places else None, names)
        where = merged(where, resolved.where)
        notes = list(syntax.notes) + resolved.nothing
        branches: list[_Branch] = []
        errors: list[str] = []
        if not (syntax.branches or syntax.excluded or syntax.filters.is_empty() is False):
            syntax.branches = [query]  # nothing at all to look for: the language layer says why
        for text in syntax.branches:
            try:
                branches.append(self._branch(owner, text, people, lang, preferred_lang))
            except (UnsupportedLanguageError, UnknownQueryError, QueryError) as exc:
                if isinstance(exc, UnsupportedLanguageError):
                    raise QueryError(str(exc)) from None
                errors.append(str(exc))
        if syntax.branches and not branches:
            raise QueryError(errors[0])
        excluded: list[_Branch] = []
        for text in syntax.excluded:
            try:
                excluded.append(self._branch(owner, text + " ", people, lang, preferred_lang))
            except (UnknownQueryError, QueryError):
                notes.append(f"not excluded (nothing known about it): {text}")
        base = SearchResult(
            query=query, hits=[], language=branches[0].plan.language if branches else "en",
            interpretation=[i for b in branches for i in b.interpretation],
            unknown_words=list(dict.fromkeys(w for b in branches for w in b.unknown)),
            description=describe(syntax, [" ".join(b.shown) for b in branches]),
            notes=notes, model=self.model.name if self.model else None,
        )
        if resolved.nothing:
            return self._finish(base, started)
        if not branches:
            return self._browse(base, owner, where, excluded, limit, offset, threshold, started)
        per_term = [self._term_candidates(t, b.evidence) for b in branches for t in b.terms]  # sorted, unique
        candidates = union_of_sorted(per_term)
        scored = self._score_branches(branches, candidates, excluded, threshold)
        wanted = offset + limit
        pool = max(wanted, SORT_BY_DATE_MAX) if sort == "date" else wanted
        read: dict[int, StoredImage] = {}  # the records first_live reads, for the hits and the date sort
        chosen = first_live(self.store, scored.ranked(threshold), pool, owner, where, one_per_video=True, read=read)
        if len(chosen) < pool and restricted(self.store, owner, where):
            # The posting-list heads are shared by all users and the filter may be selective:
            # when the page is short, score every image the owner's filter admits, if few enough.
            admitted = self.store.matching(owner, where, limit=EXACT_RESCORE_MAX + 1)
            if 0 < len(admitted) <= EXACT_RESCORE_MAX:
                scored = self._score_branches(branches, admitted, excluded, threshold)
                chosen = first_live(self.store, scored.ranked(threshold), pool, owner, None, one_per_video=True, read=read)
        if sort == "date":
            chosen = self._newest_first(owner, chosen, read)
        chosen = chosen[offset : offset + limit]
        images = images_of(self.store, owner, chosen, read)
        rows = [int(np.searchsorted(scored.ids, image.content_id)) for image in images]  # ids are sorted
        hits: list[Hit | None] = [None] * len(images)
        for b, branch in enumerate(branches):
            read = scored.per_branch[b]
            mine = [n for n, row in enumerate(rows) if scored.branch[row] == b]
            matched = [
                MatchedHit(images[n].content_id, rows[n], branch.alternatives[int(read.alternative[rows[n]])].terms)
                for n in mine
            ]
            kind_notes = [e.notes(r, matched) for e, r in zip(branch.evidence, read.evidence, strict=True)]
            for n, match in zip(mine, matched, strict=True):
                why = [self._reason(term, match.row, read.evidence) for term in match.terms]
                why += [by_kind[match.content_id] for by_kind in kind_notes if match.content_id in by_kind]
                hits[n] = hit_of(images[n], float(scored.score[match.row]), why)
        base.hits = self._placed(owner, [h for h in hits if h is not None])
        base.candidates = len(scored.ids)
        if not base.hits and not where.is_empty():
            base.notes += empty_filters(self.store, owner, where)
        return self._finish(base, started)

    def _branch(
        self, owner: int, text: str, people: PeopleVocabulary, lang: str | None, preferred_lang: str | None
    ) -> _Branch:
        """One OR reading of a query (or an excluded word), read and met by every kind of evidence."""
        languages = multilingual(self.concepts)
        plan = languages.read(text, people, lang=lang, preferred=preferred_lang)
        try:
            evidence = [kind.for_query(owner, plan) for kind in self.evidence]
        except EvidenceError as exc:
            raise QueryError(str(exc)) from None
        # A word two kinds answer on their own ("selfie": in a text and seen by a model) is one
        # term: the first kind's, which every kind scores.
        own_terms = list({t.term: t for e in reversed(evidence) for t in reversed(e.own_terms())}.values())[::-1]
        alternatives = [Conjunction(a.terms + own_terms) for a in plan.alternatives] if own_terms else plan.alternatives
        if own_terms and not alternatives:
            alternatives = [Conjunction(own_terms)]
        readings = [Conjunction(r + [t for t in own_terms if all(t is not x for x in r)]) for e in evidence for r in e.readings()]
        alternatives = alternatives + readings if readings else alternatives
        if not alternatives:
            raise QueryError(plan.error)
        answered = {t.term for t in own_terms}
        unknown = [w for w in plan.unknown_words if w not in answered]
        terms = list({id(t): t for alt in alternatives for t in alt.terms}.values())
        return _Branch(plan, evidence, alternatives, terms, unknown)

    def _score_branches(
        self, branches: list[_Branch], ids: NDArray[np.int64], excluded: list[_Branch], threshold: float
    ) -> _BranchScores:
        """Each OR reading scored on the ids (an image scores its best reading); images that
        match an excluded word as well as a threshold's worth score 0."""
        per_branch = [self._score(b.alternatives, b.terms, ids, b.evidence) for b in branches]
        score = np.zeros(len(ids), dtype=np.float32)
        branch = np.zeros(len(ids), dtype=np.int64)
        for b, read in enumerate(per_branch):
            better = read.score > score
            score[better], branch[better] = read.score[better], b
        dropped = np.zeros(len(ids), dtype=bool)
        bar = min(threshold, DEFAULT_THRESHOLD)
        # Only what could be shown is checked against the excluded words (all of it when browsing).
        judged = np.flatnonzero(score >= threshold) if branches else np.arange(len(ids))
        for exclusion in excluded:
            if not len(judged):
                break
            against = self._score(exclusion.alternatives, exclusion.terms, ids[judged], exclusion.evidence)
            dropped[judged[against.score >= bar]] = True
        score[dropped] = 0.0
        return _BranchScores(ids, score, branch, per_branch, dropped)

    def _browse(
        self, result: SearchResult, owner: int, where: ImageFilter, excluded: list[_Branch],
        limit: int, offset: int, threshold: float, started: float,
    ) -> SearchResult:
        """A query of filters only ("june", "in:lisbon -beach"): the images they admit, newest first."""
        kept: list[StoredImage] = []
        skip = offset
        page_start = 0
        while len(kept) < limit and page_start < BROWSE_SCAN_MAX:
            _, page = self.store.list_images(owner, where, offset=page_start, limit=BROWSE_PAGE)
            if not page:
                break
            page_start += len(page)
            if excluded:
                ids = np.array(sorted(i.content_id for i in page), dtype=np.int64)
                gone = set(ids[self._score_branches([], ids, excluded, threshold).excluded].tolist())
                page = [i for i in page if i.content_id not in gone]
            take = page[skip:]
            skip = max(0, skip - len(page))
            kept += take[: limit - len(kept)]
        why = [result.description] if result.description else []
        result.hits = self._placed(owner, [hit_of(image, 1.0, why) for image in kept])
        if not result.hits and not where.is_empty():
            result.notes += empty_filters(self.store, owner, where)
        return self._finish(result, started)

    def _newest_first(self, owner: int, ids: list[int], read: dict[int, StoredImage]) -> list[int]:
        """Ids by EXIF date, newest first (undated last, then by relevance as given)."""
        taken = {image.content_id: image.meta.taken_at or "" for image in images_of(self.store, owner, ids, read)}
        dated = sorted((i for i in ids if taken.get(i)), key=lambda i: taken[i], reverse=True)  # stable
        return dated + [i for i in ids if not taken.get(i)]

    def _placed(self, owner: int, hits: list[Hit]) -> list[Hit]:
        places = self.store.places.of_images(owner, [h.content_id for h in hits])
        for hit in hits:
            place = places.get(hit.content_id)
            hit.place = str(place) if place is not None else None
        return hits

    @staticmethod
    def _finish(result: SearchResult, started: float) -> SearchResult:
        result.took_ms = (time.perf_counter() - started) * 1e3
        return result

    def _term_candidates(self, term: TermVector, evidence: list[QueryEvidence]) -> NDArray[np.int64]:
        found = [ids for e in evidence for ids in [e.candidates(term, CANDIDATE_BUDGET)] if ids is not None]
        return union_of_sorted(found)

    def _score(
        self,
        alternatives: list[Conjunction],
        terms: list[TermVector],
        ids: NDArray[np.int64],
        evidence: list[QueryEvidence],
    ) -> _Scored:
        """Exact scores of sorted content ids from every kind of evidence: a term's score is the
        best its evidence gives, an image's the best alternative's."""
        read = [e.score(terms, ids) for e in evidence]
        term_scores = {}
        for term in terms:
            best = np.zeros(len(ids), dtype=np.float32)
            found = [scores for r in read for scores in [r.of(term)] if scores is not None]
            if found:
                best = found[0]
                for scores in found[1:]:
                    best = np.maximum(best, scores)
            term_scores[id(term)] = best
        vouched = frozenset(id(t) for t in terms if any(e.vouches_for(t) for e in evidence))
        best_score = np.zeros(len(ids), dtype=np.float32)
        best_alt = np.full(len(ids), -1)
        for a, alternative in enumerate(alternatives):
            combined = _conjunction_scores(alternative.terms, term_scores, vouched)
            better = combined > best_score
            best_score[better], best_alt[better] = combined[better], a
        return _Scored(ids, best_score, best_alt, read)

    @staticmethod
    def _reason(term: TermVector, row: int, read: list[ScoredEvidence]) -> str:
        """The term's part of the why: from the first kind of evidence that claims it."""
        scores = [float(s[row]) if s is not None else 0.0 for s in (r.of(term) for r in read)]
        for k, evidence in enumerate(read):
            reason = evidence.reason(term, row, scores[k], max(scores[k + 1 :], default=0.0))
            if reason is not None:
                return reason
        return term.term

    # ---- similar images, tags, words: search/similar.py, search/tagging.py ------------------
    def similar(
        self,
        owner: int,
        image: ImageRef,
        limit: int = 20,
        focus: str | None = None,
        where: ImageFilter | None = None,
        by: str | None = None,
    ) -> SearchResult:
        """The owner's images most like `image` (search/similar.py SimilarImages.similar)."""
        return self._similar.similar(owner, image, limit=limit, focus=focus, where=where, by=by)

    def tags(self, owner: int, image: ImageRef, k: int = 10, lang: str | None = None) -> list[Tag]:
        """The image's tags, named in `lang` when given (English where no translation is known)."""
        return self._tagger.tags(owner, image, k=k, lang=lang)

    def words(self, word: str, k: int = 10) -> list[tuple[str, float]]:
        """The concept space's nearest words to `word`, with their similarity."""
        return self._tagger.words(word, k)


def _conjunction_scores(
    terms: list[TermVector], term_scores: dict[int, NDArray[np.float32]], vouched: frozenset[int] = frozenset()
) -> NDArray[np.float32]:
    """Geometric mean of the terms that must match, each at least TERM_FLOOR.

    Terms known only through word vectors (no WordNet path to any class: "sky", "snow") are weak
    evidence, so they cannot veto an image; they add their score as a bonus instead, unless other
    evidence vouches for them (`vouched`: ids of such terms; some image has the word in its text).
    """
    weak = {id(t) for t in terms if t.glove_only and id(t) not in vouched}
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
