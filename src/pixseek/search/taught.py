"""Concepts a user teaches from a few examples ("rex", "my bike"): an L2-regularised logistic
regression on the classifier's stored embeddings, positives against negatives sampled from the
rest of the user's library (plus the pictures marked "not this", which weigh more).

Its threshold is calibrated by leave-one-out: each example is scored by the concept trained
without it, and the threshold sits between what those held-out examples score and what held-out
library pictures (never trained on) score. Scores are mapped into the engine's scale so that the
threshold lands on `CALIBRATED_AT` (the engine's default threshold): a picture the concept
accepts scores above it, one it rejects below.

Inference is a dot product: logit = unit(embedding) . w + b, so ranking the library by a concept
is a k-NN over the stored embeddings with the vector w; nothing per image is stored. A concept is
tied to the classifier version of the embeddings it was trained on (`trained_on`); its examples
are kept by content hash, so it can be trained again on a new classifier's embeddings.
"""

from __future__ import annotations

import io
import json
import math
import re
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

CONCEPT_FORMAT = 1
CALIBRATED_AT = 0.10  # = search.engine.DEFAULT_THRESHOLD (tests/test_learned.py checks it)
ACCEPTED_MEDIAN_SCORE = 0.8  # where the held-out examples' median lands
L2 = 1.0  # on the weights, against the summed example weight (each class weighs 1 in total)
NOT_THIS_WEIGHT = 3.0  # a picture marked "not this" weighs as much as this many sampled ones
ITERATIONS = 300
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


@dataclass
class TaughtConcept:
    name: str
    weights: NDArray[np.float32]  # (embedding dim,) over unit embeddings
    bias: float
    threshold: float  # the logit that maps to CALIBRATED_AT
    scale: float  # logit units per unit of the score's log-odds
    trained_on: str  # classifier version of the embeddings
    info: dict = field(default_factory=dict)  # examples, negatives, held-out logits

    def logits(self, embeddings: NDArray[np.floating]) -> NDArray[np.float32]:
        return (unit(embeddings) @ self.weights + self.bias).astype(np.float32)

    def scores(self, embeddings: NDArray[np.floating]) -> NDArray[np.float32]:
        """Scores in the engine's scale (CALIBRATED_AT at the threshold)."""
        odds = _logit(CALIBRATED_AT) + (self.logits(embeddings) - self.threshold) / self.scale
        return (1.0 / (1.0 + np.exp(-odds))).astype(np.float32)

    @property
    def direction(self) -> NDArray[np.float32]:
        """The k-NN query vector that ranks images as the concept does."""
        return self.weights

    def stale(self, classifier_version: str) -> bool:
        return self.trained_on != classifier_version

    def to_bytes(self) -> bytes:
        meta = {
            "format": CONCEPT_FORMAT, "name": self.name, "bias": self.bias, "threshold": self.threshold,
            "scale": self.scale, "trained_on": self.trained_on, "info": self.info,
        }
        out = io.BytesIO()
        np.savez(out, weights=self.weights.astype(np.float32), meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "TaughtConcept":
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            if meta.get("format") != CONCEPT_FORMAT:
                raise ValueError(f"concept format {meta.get('format')} is not {CONCEPT_FORMAT}")
            return cls(
                meta["name"], z["weights"].astype(np.float32), float(meta["bias"]), float(meta["threshold"]),
                float(meta["scale"]), meta["trained_on"], dict(meta["info"]),
            )


def train_concept(
    name: str,
    examples: NDArray[np.floating],
    not_this: NDArray[np.floating],
    background: NDArray[np.floating],
    heldout: NDArray[np.floating],
    trained_on: str,
) -> TaughtConcept:
    """A concept from its examples (n, dim), the pictures marked "not this", negatives sampled
    from the rest of the library (`background`) and other library pictures kept out of training
    (`heldout`, for the threshold)."""
    if len(examples) == 0:
        raise ConceptError(f"teaching {name!r} needs at least one example picture")
    if len(background) + len(not_this) == 0:
        raise ConceptError(f"teaching {name!r} needs other pictures in the library to tell it from")
    pos = unit(examples)
    neg = unit(np.concatenate([not_this, background])) if len(not_this) else unit(background)
    neg_weight = np.concatenate([np.full(len(not_this), NOT_THIS_WEIGHT), np.ones(len(background))]).astype(np.float32)
    x = np.concatenate([pos, neg])
    y = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))]).astype(np.float32)
    # Each class weighs 1 in total, so 5 examples count as much as 1000 negatives.
    w = np.concatenate([np.full(len(pos), 1.0 / len(pos)), neg_weight / neg_weight.sum()]).astype(np.float32)
    weights, bias = _fit(x, y, w, None)
    # Leave-one-out: each example scored by the concept trained without it (warm start).
    loo: list[float] = []
    if len(pos) >= 2:
        for i in range(len(pos)):
            keep = np.ones(len(x), dtype=bool)
            keep[i] = False
            w_i = w[keep].copy()
            w_i[: len(pos) - 1] = 1.0 / (len(pos) - 1)
            wi, bi = _fit(x[keep], y[keep], w_i, (weights, bias), iterations=ITERATIONS // 3)
            loo.append(float(pos[i] @ wi + bi))
    held = (unit(heldout) @ weights + bias) if len(heldout) else (neg @ weights + bias)
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
    return TaughtConcept(name, weights.astype(np.float32), float(bias), float(threshold), float(scale), trained_on, info)


def _fit(
    x: NDArray[np.float32], y: NDArray[np.float32], w: NDArray[np.float32],
    start: tuple[NDArray[np.float32], float] | None, iterations: int = ITERATIONS,
) -> tuple[NDArray[np.float32], float]:
    """Weighted L2-regularised logistic regression by Nesterov's accelerated gradient (a few
    hundred matrix-vector products; the step from the loss's curvature bound)."""
    w = w.astype(np.float32)
    y = y.astype(np.float32)
    centre = (w @ x) / w.sum()  # centring the features conditions the problem
    xc = (x - centre).astype(np.float32)
    total = float(w.sum())
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
    return theta.astype(np.float32), float(b - theta @ centre)
