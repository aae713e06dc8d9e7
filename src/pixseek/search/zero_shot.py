"""A vision-language model against a fixed vocabulary: zero-shot tags and the calibration of its
cosines (search/evidence/vlm.py `Calibration`).

The vocabulary is WordNet's common concrete nouns (physical entities whose words are among the
most frequent GloVe words) and the library's own tag names (the classifier's ImageNet classes),
each read by the text tower as "a photo of {word}". Its text embeddings are computed once per
model version and vocabulary version and cached as an .npz in the library cache (a real
ViT-B/32 text tower reads the ~3-4k prompts in well under a minute on a CPU, once).

CLIP calibration (the zero-shot softmax): for an image i with cosines c_v to the vocabulary,
P(t | i) = exp(s c_t) / (exp(s c_t) + Z_i) with Z_i = Σ_v exp(s c_v), i.e. sigmoid(s c_t − log Z_i).
log Z_i varies little between a library's images next to s c_t, so one bias, −median_i log Z_i over
a sample of the library's images, makes every cosine a probability without a per-image read at
query time. It is refitted when the library has grown well beyond the sample it was fitted on.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from pixseek.language.concepts import ABSTRACT, ConceptSpace, Tag
from pixseek.language.query import STOPWORDS
from pixseek.search.evidence.vlm import CALIBRATION_VERSION, PROMPT, Calibration
from pixseek.store.base import Store

VOCABULARY_VERSION = "1"
VOCABULARY_MAX_RANK = 20_000  # every word of a noun among this many most frequent GloVe words
VOCABULARY_MIN_COUNT = 2  # the noun's first sense tagged at least this often in SemCor (a common noun)
CALIBRATION_SAMPLE = 2_000  # images the CLIP bias is fitted on
REFIT_GROWTH = 4  # refit when the library has this many times the images the fit saw (and few were)
TAG_MIN = 0.05  # a zero-shot tag from this probability on
EMBED_BATCH = 256


def vocabulary(concepts: ConceptSpace) -> list[str]:
    """The words of the vocabulary, sorted (the order the cached embeddings follow)."""
    wn, glove = concepts.wordnet, concepts.glove
    physical = {s.synset for s in wn.senses("physical_entity")}
    words: set[str] = set()
    for lemma in wn.all_lemmas():
        parts = lemma.split("_")
        if len(parts) > 2 or lemma in ABSTRACT or any(p in STOPWORDS or not p.isalpha() for p in parts):
            continue
        senses = wn.senses(lemma)
        if not senses or senses[0].proper or senses[0].count < VOCABULARY_MIN_COUNT:
            continue
        rows = [glove.row(p) for p in parts]
        if any(r is None or r >= VOCABULARY_MAX_RANK for r in rows):
            continue
        if physical & wn.ancestors(senses[0].synset):
            words.add(lemma.replace("_", " "))
    words.update(name.lower() for name in concepts.class_names())
    return sorted(words)


@dataclass(frozen=True)
class VocabularyVectors:
    words: list[str]
    vectors: NDArray[np.float32]  # (len(words), dim), L2-normalised


def vocabulary_vectors(
    cache_dir: Path, space: str, words: list[str], embed: Callable[[list[str]], NDArray[np.float32]]
) -> VocabularyVectors:
    """The vocabulary's prompts embedded by the model of `space`, from the cache when there."""
    digest = hashlib.sha256("\n".join(words).encode()).hexdigest()[:16]
    path = Path(cache_dir) / "vlm" / f"{slug(space)}-vocabulary-{VOCABULARY_VERSION}-{digest}.npz"
    try:
        with np.load(path) as data:
            vectors = data["vectors"].astype(np.float32)
        if len(vectors) == len(words):
            return VocabularyVectors(words, vectors)
    except (OSError, ValueError, KeyError):
        pass  # absent or unreadable: embed again
    prompts = [PROMPT.format(w) for w in words]
    vectors = np.concatenate([embed(prompts[i : i + EMBED_BATCH]) for i in range(0, len(prompts), EMBED_BATCH)]).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as tmp:
        np.savez(tmp, vectors=vectors.astype(np.float16))
    os.replace(tmp.name, path)
    return VocabularyVectors(words, vectors.astype(np.float16).astype(np.float32))  # as read back later


def fit_clip_calibration(scale: float, vocabulary: NDArray[np.float32], images: NDArray[np.float32]) -> Calibration:
    """bias = −median over the images of log Σ_v exp(scale × cos(image, v)) (see the module doc)."""
    if not len(images):
        # No image yet: the normaliser of an image unrelated to every word (all cosines 0).
        return Calibration(scale, -float(np.log(len(vocabulary))), "clip-softmax", CALIBRATION_VERSION, 0)
    logits = scale * (images @ vocabulary.T)
    top = logits.max(axis=1, keepdims=True)
    log_z = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    return Calibration(scale, -float(np.median(log_z)), "clip-softmax", CALIBRATION_VERSION, len(images))


def siglip_calibration(scale: float, bias: float) -> Calibration:
    """SigLIP's own: it was trained to make sigmoid(scale × cos + bias) the match probability."""
    return Calibration(scale, bias, "siglip-learnt", CALIBRATION_VERSION, 0)


def sample_vectors(store: Store, owner: int, space: str, n: int = CALIBRATION_SAMPLE, seed: int = 0) -> NDArray[np.float32]:
    """Up to n of the owner's image embeddings in the space, drawn evenly over their images."""
    ids = store.matching(owner, None)
    if len(ids) > 4 * n:
        ids = np.sort(np.random.default_rng(seed).choice(ids, 4 * n, replace=False))
    present, vectors = store.spaces.get(owner, space, ids.astype(np.int64))
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
