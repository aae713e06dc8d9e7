"""A vision-language model against a fixed vocabulary: zero-shot tags and the calibration of its
cosines (search/evidence/vlm.py `Calibration`).

The vocabulary is WordNet's common concrete nouns (physical entities whose words are among the
most frequent GloVe words) and the library's own tag names (the classifier's ImageNet classes),
each read by the text tower as "a photo of {word}". Its text embeddings are computed once per
model version and vocabulary version and cached as an .npz in the library cache (a real
ViT-B/32 text tower reads the ~3-4k prompts in well under a minute on a CPU, once).

CLIP calibration (the zero-shot softmax): for an image i with cosines c_v to the vocabulary,
P(t | i) = exp(s c_t) / (exp(s c_t) + Z_i) with Z_i = Σ_v exp(s c_v), i.e. sigmoid(s c_t − log Z_i)
(the term itself may be in the vocabulary: a word can then reach 0.5 at most, and its synonyms
share the rest, as the classifier's classes share a concept). log Z_i depends on the image only:
it is computed once per image (a (vocabulary × dim) product) and kept by content id in a file of
the library (`LogNormalisers`), so a query reads one float per candidate. An image close to many
words ("hub" images: a blank wall is a bit of everything) gets a large Z and so no high score for
any word, which one normaliser for all images would not give. The calibration's own `bias` is
the 1st percentile of −log Z over a sample: the cosine under which no image can reach a score.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from pixseek.language.concepts import ABSTRACT, CACHE_VERSION as CONCEPTS_VERSION, ConceptSpace, Tag
from pixseek.language.query import STOPWORDS
from pixseek.search.evidence.vlm import CALIBRATION_VERSION, PROMPT, Calibration
from pixseek.store.base import Store, StoreError

VOCABULARY_VERSION = "1"
VOCABULARY_MAX_RANK = 20_000  # every word of a noun among this many most frequent GloVe words
VOCABULARY_MIN_COUNT = 2  # the noun's first sense tagged at least this often in SemCor (a common noun)
CALIBRATION_SAMPLE = 2_000  # images the CLIP bias is fitted on
REFIT_GROWTH = 4  # refit when the library has this many times the images the fit saw (and few were)
TAG_MIN = 0.05  # a zero-shot tag from this probability on
EMBED_BATCH = 256


def vocabulary(concepts: ConceptSpace) -> list[str]:
    """The words of the vocabulary, sorted (the order the cached embeddings follow); built once
    per language tables (a few seconds: every WordNet lemma is looked at) and kept in their cache."""
    path = concepts.cache_dir / f"vlm-vocabulary-{VOCABULARY_VERSION}-{CONCEPTS_VERSION}.json"
    try:
        words = json.loads(path.read_text())
        if isinstance(words, list) and words:
            return words
    except (OSError, ValueError):
        pass
    wn, glove = concepts.wordnet, concepts.glove
    physical = {s.synset for s in wn.senses("physical_entity")}
    found: set[str] = set()
    for lemma in wn.all_lemmas():
        parts = lemma.split("_")
        if len(parts) > 2 or lemma in ABSTRACT or any(p in STOPWORDS or not p.isalpha() for p in parts):
            continue
        senses = wn.senses(lemma)
        if not senses or senses[0].proper or senses[0].count < VOCABULARY_MIN_COUNT:
            continue
        if not physical & wn.ancestors(senses[0].synset):
            continue
        rows = [glove.row(p) for p in parts]
        if all(r is not None and r < VOCABULARY_MAX_RANK for r in rows):
            found.add(lemma.replace("_", " "))
    found.update(name.lower() for name in concepts.class_names)
    words = sorted(found)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(words))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache: built again next time
    return words


@dataclass(frozen=True)
class VocabularyVectors:
    words: list[str]
    vectors: NDArray[np.float32]  # (len(words), dim), L2-normalised
    digest: str  # of the words: what the normalisers computed with them are valid for


def vocabulary_vectors(
    cache_dir: Path, space: str, words: list[str], embed: Callable[[list[str]], NDArray[np.float32]]
) -> VocabularyVectors:
    """The vocabulary's prompts embedded by the model of `space`, from the cache when there."""
    digest = hashlib.sha256("\n".join([VOCABULARY_VERSION, PROMPT, *words]).encode()).hexdigest()[:16]
    path = Path(cache_dir) / "vlm" / f"{slug(space)}-vocabulary-{VOCABULARY_VERSION}-{digest}.npz"
    try:
        with np.load(path) as data:
            vectors = data["vectors"].astype(np.float32)
        if len(vectors) == len(words):
            return VocabularyVectors(words, vectors, digest)
    except (OSError, ValueError, KeyError):
        pass  # absent or unreadable: embed again
    prompts = [PROMPT.format(w) for w in words]
    vectors = np.concatenate([embed(prompts[i : i + EMBED_BATCH]) for i in range(0, len(prompts), EMBED_BATCH)]).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as tmp:
        np.savez(tmp, vectors=vectors.astype(np.float16))
    os.replace(tmp.name, path)
    return VocabularyVectors(words, vectors.astype(np.float16).astype(np.float32), digest)  # as read back later


def log_normalisers(scale: float, vocabulary: NDArray[np.float32], images: NDArray[np.float32]) -> NDArray[np.float32]:
    """log Σ_v exp(scale × cos(image, v)) per image (a stable logsumexp), in chunks."""
    out = np.empty(len(images), dtype=np.float32)
    for start in range(0, len(images), 1024):
        logits = scale * (images[start : start + 1024].astype(np.float32) @ vocabulary.T)
        top = logits.max(axis=1, keepdims=True)
        out[start : start + 1024] = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    return out


def fit_clip_calibration(scale: float, vocabulary: NDArray[np.float32], images: NDArray[np.float32]) -> Calibration:
    """The zero-shot softmax calibration; `bias` from the sample's normalisers (module doc)."""
    if not len(images):
        # No image yet: the normaliser of an image unrelated to every word (all cosines 0).
        return Calibration(scale, -float(np.log(len(vocabulary))), "clip-softmax", CALIBRATION_VERSION, 0)
    log_z = log_normalisers(scale, vocabulary, images)
    return Calibration(scale, -float(np.percentile(log_z, 1)), "clip-softmax", CALIBRATION_VERSION, len(images))


class LogNormalisers:
    """Each image's log Z over the vocabulary (see the module doc), computed when first needed and
    kept in a file indexed by content id (NaN: not yet computed). A cache: any process may
    rebuild it, and every value is a function of the image's vector and the vocabulary only."""

    def __init__(self, path: Path, scale: float, vocabulary: Callable[[], VocabularyVectors]) -> None:
        self.path, self.scale, self._vocabulary = Path(path), scale, vocabulary
        self._values: NDArray[np.float32] | None = None
        self._lock = threading.Lock()

    def __call__(
        self, ids: NDArray[np.int64], vectors: NDArray[np.float32] | Callable[[NDArray[np.int64]], NDArray[np.float32]]
    ) -> NDArray[np.float32]:
        """The images' log normalisers; `vectors`: theirs, or a reader of given ids' vectors."""
        with self._lock:
            values = self._load()
            if len(ids) and int(ids.max()) >= len(values):
                grown = np.full(max(int(ids.max()) + 1, 2 * len(values)), np.nan, dtype=np.float32)
                grown[: len(values)] = values
                values = self._values = grown
            found = values[ids]
            todo = np.isnan(found)
            if todo.any():
                todo_vectors = vectors(ids[todo]) if callable(vectors) else vectors[todo]
                found[todo] = log_normalisers(self.scale, self._vocabulary().vectors, todo_vectors)
                values[ids[todo]] = found[todo]
                self._save(values)
            return found

    def _load(self) -> NDArray[np.float32]:
        if self._values is None:
            try:
                self._values = np.load(self.path).astype(np.float32)
            except (OSError, ValueError):
                self._values = np.zeros(0, dtype=np.float32)
        return self._values

    def _save(self, values: NDArray[np.float32]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.path.parent, suffix=".npy", delete=False) as tmp:
            np.save(tmp, values)
        os.replace(tmp.name, self.path)


def siglip_calibration(scale: float, bias: float) -> Calibration:
    """SigLIP's own: it was trained to make sigmoid(scale × cos + bias) the match probability."""
    return Calibration(scale, bias, "siglip-learnt", CALIBRATION_VERSION, 0)


def sample_vectors(store: Store, owner: int, space: str, n: int = CALIBRATION_SAMPLE, seed: int = 0) -> NDArray[np.float32]:
    """Up to n of the owner's image embeddings in the space, drawn evenly over their images."""
    ids = store.matching(owner, None)
    if len(ids) > 4 * n:
        ids = np.sort(np.random.default_rng(seed).choice(ids, 4 * n, replace=False))
    try:
        present, vectors = store.spaces.get(owner, space, ids.astype(np.int64))
    except StoreError:  # nothing embedded yet
        return np.zeros((0, 1), dtype=np.float32)
    vectors = vectors[present]
    if len(vectors) > n:
        vectors = vectors[np.sort(np.random.default_rng(seed).choice(len(vectors), n, replace=False))]
    return vectors.astype(np.float32)


def needs_refit(calibration: Calibration, images_now: int) -> bool:
    """A calibration of an older version, or a CLIP fit on a small sample of a library that has
    grown well beyond it, is fitted again."""
    if calibration.version != CALIBRATION_VERSION:
        return True
    if calibration.method != "clip-softmax" or calibration.fitted_on >= CALIBRATION_SAMPLE:
        return False
    return images_now >= REFIT_GROWTH * max(calibration.fitted_on, 1)


def read_calibration(path: Path) -> Calibration | None:
    try:
        return Calibration.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_calibration(path: Path, calibration: Calibration) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(calibration.to_dict(), indent=1))
    os.replace(tmp, path)


def zero_shot_tags(
    image: NDArray[np.float32], vocab: VocabularyVectors, calibration: Calibration, k: int = 10
) -> list[Tag]:
    """The vocabulary words the image is most likely of: CLIP's softmax over the vocabulary, or
    SigLIP's per-word sigmoid; those from TAG_MIN on, best first."""
    cosines = vocab.vectors @ image.astype(np.float32)
    if calibration.method == "clip-softmax":
        logits = calibration.scale * cosines
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
    else:
        probs = calibration.probability(cosines)
    best = np.argsort(-probs, kind="stable")[:k]
    return [Tag(vocab.words[i], float(probs[i]), "model") for i in best if probs[i] >= TAG_MIN]


def slug(space: str) -> str:
    """A space name as a file name ("clip-b32@3f2a" -> "clip-b32_3f2a")."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", space)[:120]
