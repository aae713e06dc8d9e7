"""A vision-language model's embeddings (CLIP, SigLIP, multilingual text towers) as evidence.

Every image of the library has an embedding in the active model's vector space (store.spaces);
a query term is embedded by the model's text tower and matches the images whose embeddings are
close: candidates from the space's ANN index, exact cosines of given ids from the stored
vectors. Cosines are calibrated per model into the engine's score scale (a match probability,
see `Calibration`), so one threshold judges this evidence and the classifier's alike.

What is embedded for a term (`term_texts`):
  * an English-only tower gets English: the term itself, or a foreign word's dictionary
    translations ("chien → dog": "a photo of dog"), each scored and the best kept;
  * a multilingual tower gets the words as typed ("chien", "Hund am Strand");
  * a person's name and a quoted phrase are not for the model (faces and text answer them).
Words no concept knows ("selfie") become terms only the model answers (`own_terms`), and a query
of several words is also read whole ("person on a bike") as an alternative of its own
(`readings`): the engine keeps the better of that and the AND of its terms.

The text tower is loaded by the wiring only when a query needs it (`TextTower.embed`).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from pixseek.ids import union_of_sorted
from pixseek.language.concepts import Tag, TermVector
from pixseek.language.multilingual import TranslatedTerm
from pixseek.language.query import STOPWORDS, QueryPlan
from pixseek.records import SparseVector
from pixseek.search.evidence.base import QueryEvidence, ScoredEvidence
from pixseek.search.results import model_vectors
from pixseek.store.base import Store, StoreError

PROMPT = "a photo of {}"  # CLIP's zero-shot prompt, for English-only towers (the bare word reads worse)
# Nearest images read per text: the page needs the head, not every match. The graph walk's beam is
# at least 1024 wide whatever k (store.spaces SPACE_EXPANSION_SEARCH, for recall), so a head of
# that size costs what a smaller one does (1M vectors: k = 400 4.3 ms CPU, 1000 4.1, 1600 8.8;
# bench/vlm_search.py); an exact scan (a small space) costs the same for any k.
MODEL_CANDIDATES = 1024
# A text whose head ends above the scoring floor has more strong matches than the head holds: the
# head grows by this factor up to the cap before the other candidates' vectors are read one by one
# (a k = 4096 graph search costs less than reading ~10k candidates' vectors: bench/vlm_search.py).
HEAD_GROWTH = 4
MODEL_CANDIDATES_MAX = 4096
# Candidates whose calibrated score is below this cannot count in an AND either (the engine's
# TERM_FLOOR), so they are not worth a scoring pass.
MIN_CANDIDATE_SCORE = 0.05
TEXT_CACHE_SIZE = 512  # text embeddings kept per process (instant search repeats words)
CALIBRATION_VERSION = "1"


@dataclass(frozen=True)
class Calibration:
    """Cosine -> match probability, per model version: sigmoid(scale × cosine − log_norm).

    * SigLIP is trained with exactly this sigmoid loss: its learnt logit scale and bias make the
      probability that the image and the text belong together; log_norm = −bias for every image
      (method "siglip-learnt").
    * CLIP is trained with a softmax over texts. Against a fixed vocabulary V of distractor
      prompts (WordNet nouns and the classifier's classes, search/zero_shot.py) an image i's
      zero-shot probability of a text t is exp(s·c_t) / (exp(s·c_t) + Z_i), Z_i = Σ_v exp(s·c_v):
      sigmoid(s·c_t − log Z_i). log Z_i is computed once per image and kept (zero_shot.py
      `LogNormalisers`), so no read of the vocabulary at query time (method "clip-softmax").
      `bias` is then −(the 1st percentile of log Z over a sample of the library): the most
      generous normaliser, which bounds which cosines can reach a score at all (`cosine_at`).
    """

    scale: float
    bias: float
    method: str
    version: str = CALIBRATION_VERSION
    fitted_on: int = 0  # images the bias was fitted on (0: learnt, nothing fitted)

    @property
    def per_image(self) -> bool:
        return self.method == "clip-softmax"

    def probability(self, cosines: NDArray[np.float32], log_norm: NDArray[np.float32] | None = None) -> NDArray[np.float32]:
        """Scores of cosines; `log_norm`: the images' log normalisers (clip-softmax), else −bias."""
        offset = -self.bias if log_norm is None else log_norm
        logits = np.clip(self.scale * cosines.astype(np.float32) - offset, -60.0, 60.0)
        return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)

    def cosine_at(self, probability: float) -> float:
        """The cosine under which no image's score reaches `probability`."""
        return (math.log(probability / (1.0 - probability)) - self.bias) / self.scale

    def to_dict(self) -> dict[str, float | str | int]:
        return {"scale": self.scale, "bias": self.bias, "method": self.method, "version": self.version, "fitted_on": self.fitted_on}

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        return cls(float(data["scale"]), float(data["bias"]), str(data["method"]), str(data["version"]), int(data.get("fitted_on", 0)))


LogNormaliser = Callable[[NDArray[np.int64], Callable[[NDArray[np.int64]], NDArray[np.float32]]], NDArray[np.float32]]
"""(content ids, a reader of their vectors) -> each image's log normaliser log Z_i (kept once
computed: the vectors are read only for images seen the first time)."""


class TextTower(Protocol):
    """The model as search sees it (the wiring loads the model behind `embed` on first use)."""

    name: str  # the user's name for the model, shown in the why ("clip-vit-b-32 0.31")
    space: str  # its image embeddings' vector space in the store
    multilingual: bool  # reads queries as typed in any language

    def embed(self, texts: list[str]) -> NDArray[np.float32]:
        """(n, dim) L2-normalised text embeddings."""
        ...


@dataclass
class ActiveModel:
    """The active model as `similar` and `tags` use it (the wiring loads each tower on first use)."""

    name: str
    space: str
    embed_image: Callable[[Path | bytes], NDArray[np.float32]]  # a picture outside the library -> (dim,)
    tags: Callable[[NDArray[np.float32], int], list[Tag]]  # an image embedding -> its k zero-shot tags


@dataclass
class ModelEvidence:
    """The kind, registered with the engine by the wiring when a model is active."""

    store: Store
    tower: TextTower
    calibration: Callable[[int], Calibration]  # for an owner; fitted lazily (CLIP needs the library's images)
    log_norm: LogNormaliser | None = None  # per-image normalisers, for a clip-softmax calibration
    _cache: OrderedDict[str, NDArray[np.float32]] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def for_query(self, owner: int, plan: QueryPlan) -> ModelForQuery:
        query = ModelForQuery(self, owner, plan, self.calibration(owner))
        # The query's texts through the tower in one batch (each term's, and the whole query's).
        terms = plan.terms + query.own_terms() + [t for reading in query.readings() for t in reading]
        texts = [text for term in terms for text in query.texts(term)]
        if texts:
            self.text_vectors(texts)
        return query

    def text_vectors(self, texts: list[str]) -> NDArray[np.float32]:
        """The texts' embeddings, from the process's cache where it has them."""
        with self._lock:
            known = {t: self._cache[t] for t in texts if t in self._cache}
        new = [t for t in dict.fromkeys(texts) if t not in known]
        if new:
            known.update(zip(new, np.asarray(self.tower.embed(new), dtype=np.float32), strict=True))
        with self._lock:
            for text in texts:
                self._cache[text] = known[text]
                self._cache.move_to_end(text)
            while len(self._cache) > TEXT_CACHE_SIZE:
                self._cache.popitem(last=False)
        return np.stack([known[t] for t in texts])


@dataclass
class ModelForQuery(QueryEvidence):
    kind: ModelEvidence
    owner: int
    plan: QueryPlan
    calibration: Calibration
    _texts: dict[int, list[str]] = field(default_factory=dict)  # id(term) -> prompts
    _own: list[TermVector] | None = None
    _whole: list[list[TermVector]] | None = None
    _near: dict[str, Neighbours] = field(default_factory=dict)  # text -> its nearest images

    # ---- terms -------------------------------------------------------------------------------
    def own_terms(self) -> list[TermVector]:
        """The query's words no concept knows, which the model may still see ("selfie")."""
        if self._own is None:
            readable = self.plan.language == "en" or self.kind.tower.multilingual
            self._own = [model_term(w) for w in self.plan.unknown_words if readable and _is_word(w)]
        return self._own

    def readings(self) -> list[list[TermVector]]:
        """The query of several words read whole ("person on a bike"): one term, one reading."""
        if self._whole is None:
            text = whole_query(self.plan, self.kind.tower.multilingual)
            self._whole = [[model_term(text)]] if text else []
        return self._whole

    def vouches_for(self, term: TermVector) -> bool:
        """A term known to the concepts only by word vectors ("sunset", "snow") cannot veto an
        image on that weak reading; the model reads it well, so in an AND it is required."""
        return bool(self.texts(term))

    def texts(self, term: TermVector) -> list[str]:
        found = self._texts.get(id(term))
        if found is None:
            found = self._texts[id(term)] = term_texts(term, self.kind.tower.multilingual, self.plan.language)
        return found

    # ---- contract ----------------------------------------------------------------------------
    def neighbours(self, text: str, vector: NDArray[np.float32]) -> Neighbours:
        """The text's nearest images (read once per query): a head of MODEL_CANDIDATES, grown while
        its last cosine could still score (up to MODEL_CANDIDATES_MAX)."""
        found = self._near.get(text)
        if found is None:
            floor = self.calibration.cosine_at(MIN_CANDIDATE_SCORE)
            k = MODEL_CANDIDATES
            while True:
                try:
                    ids, cosines = self.kind.store.spaces.nearest(self.owner, self.kind.tower.space, vector, k)
                except StoreError:  # nothing embedded by the model yet: no space
                    ids, cosines = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
                bound = float(cosines.min()) if len(ids) >= k else -1.0  # fewer: the space was exhausted
                if bound < floor or k >= MODEL_CANDIDATES_MAX:
                    break
                k = min(k * HEAD_GROWTH, MODEL_CANDIDATES_MAX)
            order = np.argsort(ids, kind="stable")
            found = self._near[text] = Neighbours(ids[order].astype(np.int64), cosines[order].astype(np.float32), bound)
        return found

    def candidates(self, term: TermVector, budget: int) -> NDArray[np.int64] | None:
        texts = self.texts(term)
        if not texts:
            return None
        floor = self.calibration.cosine_at(MIN_CANDIDATE_SCORE)
        found = [nb.ids[nb.cosines >= floor][:budget] for nb in self._term_neighbours(texts)]
        return union_of_sorted(found)

    def _term_neighbours(self, texts: list[str]) -> list[Neighbours]:
        return [self.neighbours(t, v) for t, v in zip(texts, self.kind.text_vectors(texts), strict=True)]

    def score(self, terms: list[TermVector], ids: NDArray[np.int64]) -> ScoredModel:
        """Cosines from the texts' nearest images where they are among them; an image beyond every
        text's head has a cosine under the head's last, and is read from the store only when that
        bound could still score (a query with more strong matches than the head holds)."""
        answered = [t for t in terms if self.texts(t)]
        floor = self.calibration.cosine_at(MIN_CANDIDATE_SCORE)
        cosines: dict[int, NDArray[np.float32]] = {}
        unread = np.zeros(len(ids), dtype=bool)
        for term in answered:
            best = np.full(len(ids), -1.0, dtype=np.float32)
            for nb in self._term_neighbours(self.texts(term)):
                pos = np.minimum(np.searchsorted(nb.ids, ids), max(len(nb.ids) - 1, 0))
                hit = nb.ids[pos] == ids if len(nb.ids) else np.zeros(len(ids), dtype=bool)
                best[hit] = np.maximum(best[hit], nb.cosines[pos[hit]])
                if nb.bound >= floor:
                    unread |= ~hit
            cosines[id(term)] = best
        store, space = self.kind.store, self.kind.tower.space
        if unread.any():
            present, vectors = model_vectors(store, self.owner, space, ids[unread])
            for term in answered:
                exact = (vectors @ self.kind.text_vectors(self.texts(term)).T).max(axis=1) if present.any() else 0.0
                cosines[id(term)][unread] = np.where(present, exact, -1.0)
        log_norm = None
        if answered and self.calibration.per_image and self.kind.log_norm is not None:
            log_norm = np.full(len(ids), -self.calibration.bias, dtype=np.float32)
            relevant = np.zeros(len(ids), dtype=bool)
            for c in cosines.values():
                relevant |= c >= floor
            if relevant.any():
                log_norm[relevant] = self.kind.log_norm(ids[relevant], lambda some: model_vectors(store, self.owner, space, some)[1])
        scores = {k: self.calibration.probability(c, log_norm) for k, c in cosines.items()}
        return ScoredModel(self.kind.tower.name, cosines, scores)


@dataclass(frozen=True)
class Neighbours:
    """A text's nearest images in the model's space."""

    ids: NDArray[np.int64]  # sorted
    cosines: NDArray[np.float32]  # in the ids' order
    bound: float  # no other image is closer than this (-1: there are no others)


@dataclass
class ScoredModel(ScoredEvidence):
    model: str
    cosines: dict[int, NDArray[np.float32]]  # id(term) -> cosine per id (-1: no embedding yet)
    scores: dict[int, NDArray[np.float32]]  # id(term) -> calibrated score per id

    def of(self, term: TermVector) -> NDArray[np.float32] | None:
        return self.scores.get(id(term))

    def reason(self, term: TermVector, row: int, score: float, rivals: float) -> str | None:
        if score > 0 and score >= rivals:  # the model saw it better than the classifier did
            return f"{term.term}: {self.model} {float(self.cosines[id(term)][row]):.2f}"
        return None


def model_term(text: str) -> TermVector:
    """A term only the model answers: it reaches no class."""
    return TermVector(term=text, vector=SparseVector.from_dict({}), why=["vision-language model"])


def term_texts(term: TermVector, multilingual: bool, language: str) -> list[str]:
    """What the text tower reads for a term (see the module doc); [] when it is not for the model."""
    if term.term.startswith('"'):
        return []  # a quoted phrase is literal text in the picture
    if term.faces is not None and term.faces.person_ids is not None:
        return []  # a person's name: faces know them, the model does not
    if multilingual:
        return [term.term]
    if isinstance(term, TranslatedTerm) and term.translation:
        english = [w.strip() for w in term.translation.split(",") if w.strip()]
        return [PROMPT.format(w) for w in english]
    if language != "en" and not term.why[:1] == ["vision-language model"]:
        read_as_english = any("read as English" in w for w in term.why)
        return [PROMPT.format(term.term)] if read_as_english else []
    return [PROMPT.format(term.term)]


def whole_query(plan: QueryPlan, multilingual: bool) -> str:
    """The query as typed when it has several content words, for the model to read whole; for an
    English-only tower and a foreign query, its first reading's English words."""
    content = [t for t in plan.tokens if t not in STOPWORDS and _is_word(t)]
    if len(content) < 2:
        return ""
    if multilingual or plan.language == "en":
        return " ".join(plan.text.split())
    if not plan.alternatives:
        return ""
    english = []
    for term in plan.alternatives[0].terms:
        if isinstance(term, TranslatedTerm) and term.translation:
            english.append(term.translation.split(",")[0].strip())
        elif term.faces is None or term.faces.person_ids is None:
            english.append(term.term)
    return " ".join(english) if len(english) >= 2 else ""


def _is_word(token: str) -> bool:
    return any(ch.isalpha() for ch in token)
