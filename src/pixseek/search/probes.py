"""Concept probes: one linear classifier per concept over the classifier's 1280-d embedding, learnt
from labelled pictures and shipped with pixseek (the labelled dev set's tune half:
bench/probes.py writes search/data/concept-probes-*.npz and its provenance .json).

Why, beside the classes and the joint space: for drawings and clip art the ImageNet classifier's
1000 probabilities say little ("comic book, jigsaw puzzle" for a drawn horse), but its embedding
still separates the kinds of pictures: a ridge probe per concept on it finds the held-out half's
drawn mammals and clip-art buildings far better than the classes or the 50-d joint space
(bench/README.md, issue 15). Each probe's score is read as a probability by a logistic (Platt) fit
on out-of-fold scores of the training pictures, so it is on the engine's scale.

Inference is plain numpy: score = unit(embedding) . w + b, P = sigmoid(a * score + c). The probe is
linear in the unit embedding, so the images a concept ranks first are the k-NN of w in the store's
cosine index (`query`). A probe set is tied to the classifier whose embeddings it was trained on.

A linear probe has an opinion about every picture, also about kinds it never saw (on the small dev
set's Fashion-MNIST items and photos the raw probes added 1450 false hits over their 42 words). So
a probe speaks only near its own training pictures: P is multiplied by a gate rising from 0 at
cosine `gate[0]` to 1 at `gate[1]` to the nearest of the concept's training pictures (`exemplars`,
shipped with the weights; the setting and what it costs: bench/probes.py GATE).
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

PROBES_FORMAT = 1
SHIPPED_PROBES = Path(__file__).resolve().parent / "data" / "concept-probes-devset-1.npz"
SHIPPED_PROBES_ENV = "PIXSEEK_SHIPPED_PROBES"  # "off": the shipped probes are not used


@dataclass(frozen=True)
class ConceptProbes:
    trained_on: str  # the classifier version of the embeddings
    words: tuple[str, ...]  # concept lemmas ("body_part"), row i <-> weights[i]
    weights: NDArray[np.float32]  # (n, D) over unit embeddings
    bias: NDArray[np.float32]  # (n,)
    platt: NDArray[np.float32]  # (n, 2): P = sigmoid(platt[:, 0] * score + platt[:, 1])
    exemplars: NDArray[np.float32]  # (m, D) unit embeddings of the training pictures of some concept
    members: NDArray[np.bool_]  # (n, m): which exemplars are concept i's pictures
    gate: tuple[float, float]  # cosine to the nearest own exemplar: P x 0 below gate[0], x 1 from gate[1]

    @functools.cached_property
    def _row(self) -> dict[str, int]:
        return rows_of(self.words)

    def row(self, lemmas: list[str]) -> int | None:
        """The probe of the first of the lemma forms that has one ("trees" -> "tree")."""
        return first_row(self._row, lemmas)

    def query(self, row: int) -> NDArray[np.float32]:
        """The vector whose cosine nearest neighbours are the images this probe scores highest."""
        w = self.weights[row]
        return (w / max(float(np.linalg.norm(w)), 1e-12)).astype(np.float32)

    def scores(self, embeddings: NDArray[np.floating], row: int) -> NDArray[np.float32]:
        """Calibrated probabilities (the engine's scale) of the concept for the embeddings (n, D)."""
        if not len(embeddings):
            return np.zeros(0, np.float32)
        e = np.asarray(embeddings, dtype=np.float32)
        e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
        raw = e @ self.weights[row] + self.bias[row]
        a, c = self.platt[row]
        p = 1.0 / (1.0 + np.exp(-(a * raw + c)))
        nearest = (e @ self.exemplars[self.members[row]].T).max(axis=1)
        lo, hi = self.gate
        return (p * np.clip((nearest - lo) / (hi - lo), 0.0, 1.0)).astype(np.float32)

    def save(self, path: Path) -> None:
        # Not compressed: a search process loads it in ~1 ms instead of ~15 (zlib), for 0.4 MB more.
        np.savez(
            path, format=np.array(PROBES_FORMAT), trained_on=np.array(self.trained_on),
            words=np.array(self.words), weights=self.weights.astype(np.float16),
            bias=self.bias.astype(np.float32), platt=self.platt.astype(np.float32),
            exemplars=self.exemplars.astype(np.float16), members=self.members, gate=np.array(self.gate, np.float32),
        )

    @staticmethod
    def load(path: Path) -> ConceptProbes:
        with np.load(path, allow_pickle=False) as data:
            if int(data["format"]) != PROBES_FORMAT:
                raise ValueError(f"{path}: concept probes of format {int(data['format'])}, this pixseek reads {PROBES_FORMAT}")
            return ConceptProbes(
                str(data["trained_on"]), tuple(str(w) for w in data["words"]),
                data["weights"].astype(np.float32), data["bias"].astype(np.float32), data["platt"].astype(np.float32),
                data["exemplars"].astype(np.float32), data["members"].astype(bool),
                (float(data["gate"][0]), float(data["gate"][1])),
            )


def rows_of(words: tuple[str, ...]) -> dict[str, int]:
    return {w: i for i, w in enumerate(words)}


def first_row(rows: dict[str, int], lemmas: list[str]) -> int | None:
    """The probe of the first of the lemma forms that has one ("trees" -> "tree")."""
    return next((rows[lemma] for lemma in lemmas if lemma in rows), None)


@functools.cache
def shipped_probes(path: Path = SHIPPED_PROBES) -> ConceptProbes | None:
    """The probes shipped with pixseek (None when absent or switched off by $PIXSEEK_SHIPPED_PROBES=off)."""
    if os.environ.get(SHIPPED_PROBES_ENV, "").lower() in ("off", "0", "no") or not path.exists():
        return None
    return ConceptProbes.load(path)


@functools.cache
def shipped_concepts(path: Path = SHIPPED_PROBES) -> tuple[str, tuple[str, ...]] | None:
    """(trained_on, words) of the shipped probes, read without their weights (an npz member is read
    when asked for): a search that names none of their concepts loads nothing more."""
    if os.environ.get(SHIPPED_PROBES_ENV, "").lower() in ("off", "0", "no") or not path.exists():
        return None
    with np.load(path, allow_pickle=False) as data:
        return str(data["trained_on"]), tuple(str(w) for w in data["words"])


def provenance(path: Path = SHIPPED_PROBES) -> dict[str, object]:
    meta = path.with_suffix(".json")
    return json.loads(meta.read_text(encoding="utf-8")) if meta.exists() else {}
