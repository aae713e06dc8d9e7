"""Concepts a user teaches from a few examples ("rex", "my bike"): an L2-regularised logistic
regression, positives against negatives sampled from the rest of the user's library (plus the
pictures marked "not this", which search keeps out of the concept's results; the fit gives them
NOT_THIS_WEIGHT).

Features (trainer `TRAINER`): the classifier's stored embedding and the picture's class
probabilities summed under each WordNet ancestor of the classes (`ClassHierarchy`: "musical
instrument", "bird", "vehicle"), each L2-normalised, centred on the library's mean and normalised
again. Five pictures of different instruments share little in the embedding but a lot in the
ancestry, which is what a concept like "music" needs (bench/learned.py: 5-shot P@10 0.48 -> 0.60
on both halves of the dev set's labels).

Its threshold is calibrated by leave-one-out: each example is scored by the concept trained
without it, and the threshold sits between what those held-out examples score and what held-out
library pictures (never trained on) score. Scores are mapped into the engine's scale so that the
threshold lands on `CALIBRATED_AT` (the engine's default threshold): a picture the concept
accepts scores above it, one it rejects below.

With a vision-language model active (`pixseek models use`), the model's image embedding of each
picture is a third block (`model_space`): five pictures of one thing a CLIP-class model sees
alike even where the classifier does not. Such a concept is tied to that model's space too: with
another model active or none, it is stale and says so (`pixseek concepts retrain` trains it on
what is active then).

Inference is a dot product over the features, so nothing per image is stored; candidates are
the k-NN of the embedding part of the weights plus the posting lists of the classes the
ancestry part favours. A concept is tied to the classifier version of the embeddings it was
trained on (`trained_on`), to the trainer and to the class hierarchy's version: any of them
changed, it is stale and says so. Its examples are kept by content hash, so it can be trained
again.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from threadpoolctl import ThreadpoolController

CONCEPT_FORMAT = 2  # 1: weights over unit embeddings only (read, but stale)
TRAINER = "lr-centred-ancestry-1"  # bump when training changes: older concepts say they need a retrain
CALIBRATED_AT = 0.10  # = search.engine.DEFAULT_THRESHOLD (tests/test_learned.py checks it)
ACCEPTED_MEDIAN_SCORE = 0.8  # where the held-out examples' median lands
L2 = 1.0  # on the weights, against the summed example weight (each class weighs 1 in total)
# A picture marked "not this" weighs this many examples in the fit (a sampled negative: 1/1000 of
# them); what keeps it out of the concept's results is evidence/taught.py, which scores it 0. The
# marked pictures are near misses from the concept's own first page, and on the classifier's
# features fitting them pulls the concept off what its examples share: one round of "not this" on
# the wrong ones of the first 10 (bench.learned teach_p10_5shot_feedback, 5 shots) gave P@10 0.656
# at weight 0, 0.649 / 0.627 / 0.621 / 0.600 at 0.05 / 0.1 / 0.25 / 0.5, and 0.577 at 1 (no
# better than before the round, 0.580); the next page of unseen pictures likewise (0.231 at 0,
# 0.116 at 0.25). Chosen on the tune half of the labels (0.683 at 0 vs 0.651), the held-out half
# agrees (0.632 vs 0.606). Measured on category concepts only: with a vision-language model's
# features, or for one dog against others, near misses may carry what this cannot use. A concept
# fitted at an older weight stays valid (no TRAINER bump): its next teaching or retrain uses this.
NOT_THIS_WEIGHT = 0.0
ITERATIONS = 150  # the full fit; each leave-one-out fit starts from it and takes LOO_ITERATIONS
LOO_ITERATIONS = 40
LOO_MAX = 5  # examples held out one by one for the threshold (more examples: a random five)
ANCESTRY_WEIGHT = 1.0  # the ancestry block's norm against the embedding block's
# The model block's norm against the embedding block's: equal, so the fit puts the weight where
# the examples agree (not tuned: no trained vision-language model can be measured here).
MODEL_WEIGHT = 1.0
NEGATIVE_QUANTILE = 0.995  # the threshold keeps at least this share of held-out negatives out
POSITIVE_QUANTILE = 0.25  # ... and, when it can, lets this share of held-out examples fail
NAME_RE = re.compile(r"^[a-z0-9]+(?:['-][a-z0-9]+)*$")
NAME_MAX = 40


class ConceptError(ValueError):
    """A concept cannot be taught or used as asked (the message is for the user)."""


def check_name(name: str) -> str:
    """A concept name: one lower-case word (letters, digits, inner hyphens), as queries spell it."""
    cleaned = name.strip().lower()
    if not cleaned or len(cleaned) > NAME_MAX or not NAME_RE.match(cleaned):
        raise ConceptError(
            f"a concept name is one word of letters and digits (hyphens inside allowed), at most "
            f"{NAME_MAX} characters: {name!r}"
        )
    return cleaned


def unit(vectors: NDArray[np.floating]) -> NDArray[np.float32]:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


@dataclass(frozen=True)
class ClassHierarchy:
    """The classifier's classes under their WordNet ancestors (a 0/1 classes x synsets matrix,
    language.concepts.ConceptSpace.ancestor_matrix), kept row-sparse: a class has ~10 ancestors."""

    indptr: NDArray[np.int64]  # (classes + 1,) row starts into `columns`
    columns: NDArray[np.int64]  # the ancestor columns of each class
    width: int  # ancestor synsets
    version: str  # a hash of the matrix: concepts trained on another one are stale

    @classmethod
    def from_matrix(cls, matrix: NDArray[np.bool_]) -> "ClassHierarchy":
        m = np.asarray(matrix, dtype=bool)
        rows, cols = np.nonzero(m)
        indptr = np.zeros(m.shape[0] + 1, dtype=np.int64)
        np.add.at(indptr, rows + 1, 1)
        digest = hashlib.sha256(np.packbits(m).tobytes() + repr(m.shape).encode()).hexdigest()[:12]
        return cls(np.cumsum(indptr), cols.astype(np.int64), int(m.shape[1]), f"wordnet-{digest}")

    def features(self, class_ids: NDArray[np.integer], probs: NDArray[np.floating]) -> NDArray[np.float32]:
        """(n, width): the square root of each ancestor's summed probability (class ids from the
        hierarchy's size on, the image characteristics, have no ancestors)."""
        class_ids = np.asarray(class_ids, dtype=np.int64)
        probs = np.asarray(probs, dtype=np.float32)
        n = len(class_ids)
        rows = np.repeat(np.arange(n), class_ids.shape[1]) if n else np.zeros(0, np.int64)
        cls, p = class_ids.reshape(-1), probs.reshape(-1)
        keep = (cls >= 0) & (cls < len(self.indptr) - 1) & (p > 0)
        rows, cls, p = rows[keep], cls[keep], p[keep]
        starts, counts = self.indptr[cls], self.indptr[cls + 1] - self.indptr[cls]
        total = int(counts.sum())
        # Every (row, class) pair spread over its class's ancestor columns, summed by bincount.
        offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        cols = self.columns[np.repeat(starts, counts) + offsets]
        summed = np.bincount(np.repeat(rows, counts) * self.width + cols, weights=np.repeat(p, counts), minlength=n * self.width)
        return np.sqrt(summed.reshape(n, self.width)).astype(np.float32)

    def class_weights(self, ancestry_weights: NDArray[np.floating]) -> NDArray[np.float32]:
        """(classes,): each class's summed weight of its ancestors (which classes a concept's
        ancestry part favours, for candidates from the posting lists)."""
        w = np.asarray(ancestry_weights, dtype=np.float32)
        per = np.add.reduceat(np.append(w[self.columns], 0), self.indptr[:-1]) if len(self.columns) else np.zeros(0)
        counts = np.diff(self.indptr)
        return np.where(counts > 0, per[: len(counts)], 0).astype(np.float32)


@dataclass
class Pictures:
    """What a concept sees of some pictures: their embeddings, (with a hierarchy) ancestry
    features and (with a vision-language model) the model's image embeddings, row for row."""

    embeddings: NDArray[np.float32]  # (n, D)
    ancestry: NDArray[np.float32] | None = None  # (n, S)
    model: NDArray[np.float32] | None = None  # (n, M) in the concept's model space

    @classmethod
    def of(cls, value: "Pictures | NDArray[np.floating]") -> "Pictures":
        return value if isinstance(value, Pictures) else cls(np.asarray(value, dtype=np.float32))

    def __len__(self) -> int:
        return len(self.embeddings)

    @staticmethod
    def concat(parts: "list[Pictures]") -> "Pictures":
        with_ancestry = all(p.ancestry is not None for p in parts)
        with_model = all(p.model is not None for p in parts)
        return Pictures(
            np.concatenate([p.embeddings for p in parts]),
            np.concatenate([p.ancestry for p in parts]) if with_ancestry else None,  # type: ignore[misc]
            np.concatenate([p.model for p in parts]) if with_model else None,  # type: ignore[misc]
        )

    def rows(self, keep: NDArray[np.bool_]) -> "Pictures":
        return Pictures(
            self.embeddings[keep], None if self.ancestry is None else self.ancestry[keep],
            None if self.model is None else self.model[keep],
        )


@dataclass
class TaughtConcept:
    name: str
    weights: NDArray[np.float32]  # (D + S,) over the features (embedding block, ancestry block)
    bias: float
    threshold: float  # the logit that maps to CALIBRATED_AT
    scale: float  # logit units per unit of the score's log-odds
    trained_on: str  # classifier version of the embeddings
    info: dict = field(default_factory=dict)  # examples, negatives, held-out logits
    mean_embedding: NDArray[np.float32] | None = None  # the library's mean unit embedding (centring)
    mean_ancestry: NDArray[np.float32] | None = None  # ... and mean unit ancestry; None: no ancestry block
    hierarchy: str = ""  # ClassHierarchy.version of the ancestry block
    trainer: str = TRAINER
    format: int = CONCEPT_FORMAT
    model_space: str = ""  # the vision-language model space of the model block ("": none)
    mean_model: NDArray[np.float32] | None = None  # the library's mean unit model embedding

    @property
    def dim(self) -> int:
        blocks = (self.mean_ancestry, self.mean_model)
        return len(self.weights) - sum(len(m) for m in blocks if m is not None)

    def features(self, pictures: "Pictures | NDArray[np.floating]") -> NDArray[np.float32]:
        return _features(Pictures.of(pictures), self.mean_embedding, self.mean_ancestry, self.mean_model)

    def logits(self, pictures: "Pictures | NDArray[np.floating]") -> NDArray[np.float32]:
        return (self.features(pictures) @ self.weights + self.bias).astype(np.float32)

    def scores(self, pictures: "Pictures | NDArray[np.floating]") -> NDArray[np.float32]:
        """Scores in the engine's scale (CALIBRATED_AT at the threshold)."""
        odds = _logit(CALIBRATED_AT) + (self.logits(pictures) - self.threshold) / self.scale
        return (1.0 / (1.0 + np.exp(-odds))).astype(np.float32)

    @property
    def direction(self) -> NDArray[np.float32]:
        """The k-NN query vector over unit embeddings that ranks images as the embedding block does."""
        return self.weights[: self.dim]

    @property
    def ancestry_weights(self) -> NDArray[np.float32] | None:
        if self.mean_ancestry is None:
            return None
        return self.weights[self.dim : self.dim + len(self.mean_ancestry)]

    @property
    def model_direction(self) -> NDArray[np.float32] | None:
        """The k-NN query vector in the model space that ranks images as the model block does."""
        return None if self.mean_model is None else self.weights[len(self.weights) - len(self.mean_model) :]

    def needs_ancestry(self) -> bool:
        return self.mean_ancestry is not None

    def stale(
        self, classifier_version: str, hierarchy: "ClassHierarchy | None" = None, model_space: str | None = None,
    ) -> str | None:
        """Why this concept cannot be used as it is (None: it can); `model_space` is the active
        vision-language model's space, if one is active."""
        if self.trained_on != classifier_version:
            return f"it was taught on embeddings of {self.trained_on}, but this pixseek analyses images with {classifier_version}"
        if self.trainer != TRAINER or self.format != CONCEPT_FORMAT:
            return f"it was trained by an older pixseek (trainer {self.trainer or 'format ' + str(self.format)}, now {TRAINER})"
        if self.needs_ancestry() and (hierarchy is None or hierarchy.version != self.hierarchy):
            return f"it was trained on the class hierarchy {self.hierarchy}, not {hierarchy.version if hierarchy else 'none'}"
        if self.model_space and self.model_space != model_space:
            now = f"the active model's is {model_space}" if model_space else "no vision-language model is active"
            return f"it was taught with the vision-language model space {self.model_space}, but {now}"
        return None

    def to_bytes(self) -> bytes:
        meta = {
            "format": CONCEPT_FORMAT, "name": self.name, "bias": self.bias, "threshold": self.threshold,
            "scale": self.scale, "trained_on": self.trained_on, "info": self.info, "hierarchy": self.hierarchy,
            "trainer": self.trainer, "model_space": self.model_space,
        }
        arrays = {"weights": self.weights.astype(np.float32), "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)}
        if self.mean_embedding is not None:
            arrays["mean_embedding"] = self.mean_embedding.astype(np.float32)
        if self.mean_ancestry is not None:
            arrays["mean_ancestry"] = self.mean_ancestry.astype(np.float32)
        if self.mean_model is not None:
            arrays["mean_model"] = self.mean_model.astype(np.float32)
        out = io.BytesIO()
        np.savez(out, **arrays)
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "TaughtConcept":
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            fmt = meta.get("format")
            if fmt not in (1, CONCEPT_FORMAT):
                raise ValueError(f"concept format {fmt} is not {CONCEPT_FORMAT}")
            return cls(
                meta["name"], z["weights"].astype(np.float32), float(meta["bias"]), float(meta["threshold"]),
                float(meta["scale"]), meta["trained_on"], dict(meta["info"]),
                z["mean_embedding"].astype(np.float32) if "mean_embedding" in z.files else None,
                z["mean_ancestry"].astype(np.float32) if "mean_ancestry" in z.files else None,
                str(meta.get("hierarchy", "")), str(meta.get("trainer", "")), int(fmt),
                str(meta.get("model_space", "")), z["mean_model"].astype(np.float32) if "mean_model" in z.files else None,
            )


def _features(
    pictures: Pictures, mean_embedding: NDArray[np.float32] | None, mean_ancestry: NDArray[np.float32] | None,
    mean_model: NDArray[np.float32] | None = None,
) -> NDArray[np.float32]:
    """unit(unit(x) - mean) per block; the ancestry block weighted ANCESTRY_WEIGHT, the model block
    MODEL_WEIGHT, the whole of unit norm. Without means (format 1), the unit embedding alone."""
    e = unit(pictures.embeddings)
    if mean_embedding is not None:
        e = unit(e - mean_embedding)
    blocks, norm = [e], 1.0
    if mean_ancestry is not None:
        if pictures.ancestry is None:
            raise ValueError("this concept scores class ancestry too: pass the pictures' ancestry features")
        blocks.append(np.float32(ANCESTRY_WEIGHT) * unit(unit(pictures.ancestry) - mean_ancestry))
        norm += ANCESTRY_WEIGHT**2
    if mean_model is not None:
        if pictures.model is None:
            raise ValueError("this concept scores a vision-language model's embeddings too: pass the pictures' model vectors")
        blocks.append(np.float32(MODEL_WEIGHT) * unit(unit(pictures.model) - mean_model))
        norm += MODEL_WEIGHT**2
    if len(blocks) == 1:
        return e
    return (np.concatenate(blocks, axis=1) / np.float32(math.sqrt(norm))).astype(np.float32)


def train_concept(
    name: str,
    examples: "Pictures | NDArray[np.floating]",
    not_this: "Pictures | NDArray[np.floating]",
    background: "Pictures | NDArray[np.floating]",
    heldout: "Pictures | NDArray[np.floating]",
    trained_on: str,
    hierarchy: ClassHierarchy | None = None,
    model_space: str = "",
) -> TaughtConcept:
    """A concept from its examples (n, dim), the pictures marked "not this", negatives sampled
    from the rest of the library (`background`, whose mean also centres the features) and other
    library pictures kept out of training (`heldout`, for the threshold). With a hierarchy, every
    set carries ancestry features (Pictures.ancestry) and the concept uses them; with a
    `model_space`, every set carries that space's vectors (Pictures.model) and the concept too."""
    examples, not_this, background, heldout = (Pictures.of(v) for v in (examples, not_this, background, heldout))
    if len(examples) == 0:
        raise ConceptError(f"teaching {name!r} needs at least one example picture")
    if len(background) + len(not_this) == 0:
        raise ConceptError(f"teaching {name!r} needs other pictures in the library to tell it from")
    library = background if len(background) else not_this
    mean_embedding = unit(library.embeddings).mean(axis=0)
    mean_ancestry = None
    if hierarchy is not None:
        if any(p.ancestry is None for p in (examples, not_this, background, heldout)):
            raise ValueError("training with a class hierarchy needs every picture's ancestry features")
        mean_ancestry = unit(library.ancestry).mean(axis=0)  # type: ignore[arg-type]
    mean_model = None
    if model_space:
        if any(p.model is None for p in (examples, not_this, background, heldout)):
            raise ValueError("training with a model space needs every picture's model vector")
        mean_model = unit(library.model).mean(axis=0)  # type: ignore[arg-type]

    def features(p: Pictures) -> NDArray[np.float32]:
        return _features(p, mean_embedding, mean_ancestry, mean_model)

    pos = features(examples)
    neg = features(Pictures.concat([not_this, background])) if len(not_this) else features(background)
    x = np.concatenate([pos, neg])
    y = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))]).astype(np.float32)
    # The examples weigh 1 in total, so do the sampled negatives (5 examples count as much as 1000
    # library pictures); a picture the user marked "not this" weighs as much as an example.
    w = np.concatenate([
        np.full(len(pos), 1.0 / len(pos)), np.full(len(not_this), NOT_THIS_WEIGHT / len(pos)),
        np.full(len(background), 1.0 / max(len(background), 1)),
    ]).astype(np.float32)
    with _one_blas_thread():
        weights, bias, _, loo = _fit_with_loo(x, y, w, len(pos))
    # The bar is set by library pictures: held-out ones, else (a small library) the sampled
    # negatives. Not by the pictures marked "not this": search keeps those out of the results
    # itself, and a near-duplicate of an example marked so would lift the bar above the examples.
    if len(heldout):
        held = features(heldout) @ weights + bias
    else:
        held = (neg[len(not_this):] if len(background) else neg) @ weights + bias
    negative_bar = float(np.quantile(held, NEGATIVE_QUANTILE))
    if loo:
        positive_bar = float(np.quantile(loo, POSITIVE_QUANTILE))
        threshold = max(negative_bar, (negative_bar + positive_bar) / 2)
        median = float(np.median(loo))
    else:  # one example: nothing to hold out, only the negatives say where the bar is
        threshold = negative_bar
        median = float(pos[0] @ weights + bias)
    spread = max(float(np.std(held)), 1e-3)
    reach = median - threshold
    scale = reach / (_logit(ACCEPTED_MEDIAN_SCORE) - _logit(CALIBRATED_AT)) if reach > spread else spread
    info = {
        "examples": int(len(pos)), "not_this": int(len(not_this)), "background": int(len(background)),
        "heldout": int(len(heldout)), "loo_logits": [round(v, 3) for v in loo],
        "negative_bar": round(negative_bar, 3),
    }
    return TaughtConcept(
        name, weights.astype(np.float32), float(bias), float(threshold), float(scale), trained_on, info,
        mean_embedding.astype(np.float32), None if mean_ancestry is None else mean_ancestry.astype(np.float32),
        hierarchy.version if hierarchy is not None else "",
        model_space=model_space, mean_model=None if mean_model is None else mean_model.astype(np.float32),
    )
_blas: "ThreadpoolController | None" = None


def _one_blas_thread() -> AbstractContextManager[object]:
    """The fit is a few hundred small matrix-vector products: OpenBLAS's threads only spin on
    them, and on a busy machine (load 14 on 2 cores) they made a concept cost 2.5 s CPU and 13-19 s
    wall instead of 0.1 s and ~1 s. (The controller is made once, on first use: finding the BLAS
    libraries costs a few ms that an import should not.)"""
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController

        _blas = ThreadpoolController()
    return _blas.limit(limits=1, user_api="blas")


def _fit_with_loo(
    x: NDArray[np.float32], y: NDArray[np.float32], w: NDArray[np.float32], positives: int,
) -> tuple[NDArray[np.float32], float, float, list[float]]:
    """The full fit on rows (positives first), and each held-out example's logit under the
    concept trained without it (warm-started from the full fit)."""
    weights, bias, step = _fit(x, y, w, None)
    pos = x[:positives]
    # Leave-one-out: each example scored by the concept trained without it (warm start).
    loo: list[float] = []
    if positives >= 2:
        held_out = range(positives) if positives <= LOO_MAX else np.random.default_rng(positives).choice(positives, LOO_MAX, replace=False)
        for i in held_out:
            keep = np.ones(len(x), dtype=bool)
            keep[i] = False
            w_i = w[keep].copy()
            w_i[: positives - 1] = 1.0 / (positives - 1)
            # The full fit's step (a little shorter: one example fewer moves the curvature bound
            # little) saves each leave-one-out fit its power iteration.
            wi, bi, _ = _fit(x[keep], y[keep], w_i, (weights, bias), iterations=LOO_ITERATIONS, step=0.8 * step)
            loo.append(float(pos[i] @ wi + bi))
    return weights, bias, step, loo


def _fit(
    x: NDArray[np.float32], y: NDArray[np.float32], w: NDArray[np.float32],
    start: tuple[NDArray[np.float32], float] | None, iterations: int = ITERATIONS, step: float | None = None,
) -> tuple[NDArray[np.float32], float, float]:
    """Weighted L2-regularised logistic regression by Nesterov's accelerated gradient (a few
    hundred matrix-vector products; the step from the loss's curvature bound unless given):
    (weights, bias, the step used)."""
    w = w.astype(np.float32)
    y = y.astype(np.float32)
    centre = (w @ x) / w.sum()  # centring the features conditions the problem
    xc = (x - centre).astype(np.float32)
    total = float(w.sum())
    if step is None:
        # Curvature bound: 0.25 * largest eigenvalue of X^T diag(w) X / total, by power iteration.
        v = np.full(x.shape[1], 1.0 / math.sqrt(x.shape[1]), dtype=np.float32)
        for _ in range(20):
            v = xc.T @ (w * (xc @ v))
            v /= max(np.linalg.norm(v), 1e-12)
        curvature = 0.25 * float(v @ (xc.T @ (w * (xc @ v)))) / total + L2 * 1e-3
        step = 1.0 / max(curvature, 1e-9)
    reg = L2 * 1e-3
    if start is None:
        theta = np.zeros(x.shape[1], dtype=np.float32)
        b = 0.0
    else:
        theta = start[0].astype(np.float32).copy()
        b = float(start[1] + start[0] @ centre)
    prev_theta, prev_b = theta.copy(), b
    for k in range(1, iterations + 1):
        mom = np.float32((k - 1) / (k + 2))
        t_look = theta + mom * (theta - prev_theta)
        b_look = b + mom * (b - prev_b)
        p = 1.0 / (1.0 + np.exp(-(xc @ t_look + np.float32(b_look))))
        r = (w * (p - y) / total).astype(np.float32)
        grad = r @ xc + np.float32(reg) * t_look
        prev_theta, prev_b = theta, b
        theta = t_look - np.float32(step) * grad
        b = b_look - 2.0 * float(r.sum())  # the bias: no regulariser, curvature at most 0.25
    return theta.astype(np.float32), float(b - theta @ centre), step
