"""A joint image-word space (DeViSE, Frome et al. 2013): a linear map from the classifier's
1280-d embedding into the 50-d GloVe space, trained so that an image lands nearer the word
vectors of its labels than those of the other labels (a hinge ranking loss). A query word's GloVe
vector then finds images by their position in that space, for any word GloVe knows, not only
the labels it was trained on ("ocean" near the fish and the boats).

Inference is two matrix products (plain numpy): joint = (unit(embedding) - mean) @ W, and a
word's affinity to an image is joint . unit(word). Because the map is linear, ranking the
library by a word is a k-NN over the stored embeddings with the vector W @ unit(word) (plus a
constant), so the store's own ANN index finds the candidates and nothing per image needs storing.

The raw affinity means different things for different words (some words are near every image),
so a word's affinity is read as a z-score against the spread of the training images' joint
vectors (their mean and covariance, kept with the head), and the z-score is calibrated into the
engine's score scale by a logistic fit on held-out images (P(the word is a label of the image)).

A head is tied to the classifier it was trained on (`trained_on`, the classifier version): used
over embeddings of another version it gives wrong scores, so `check` refuses with a message.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

HEAD_FORMAT = 1  # bump when the file layout changes
CALIBRATED_AT = 0.10  # the engine's default threshold: nearest words shown from this score on
MARGIN = 0.1  # DeViSE's hinge margin (word vectors are unit length)
NEAR_SYNONYM = 0.8  # a label this close to one of the image's labels is not pushed away from it
L2 = 1e-4
# A word's support: the cosine of its vector to the nearest training label, from no trust at
# SUPPORT_MIN to full trust at SUPPORT_FULL ("rex" near no label of a clothes head: no scores).
SUPPORT_MIN = 0.55
SUPPORT_FULL = 0.8
PLATT_SLOPE = (0.05, 10.0)  # a calibrated z-score's slope stays in this range
RIDGE = 1.0  # the ridge start's regulariser
CHECKPOINTS = (0, 20, 50, 100)  # epochs of hinge training compared on held-out images
LEARNING_RATE = 0.001
_LABEL_WORD = re.compile(r"[a-z]+")
_LABEL_STOP = frozenset("a an and n of the or in on with".split())


class HeadMismatch(ValueError):
    """The head was trained on another classifier's embeddings (the message says which)."""


def label_words(label: str) -> list[str]:
    """The words of a label as GloVe spells them: "breads_and_carbs" -> ["breads", "carbs"]."""
    return [w for w in _LABEL_WORD.findall(label.lower()) if w not in _LABEL_STOP and len(w) > 1]


def unit(vectors: NDArray[np.floating]) -> NDArray[np.float32]:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


@dataclass
class JointHead:
    """A trained map into the word space, with what reading its scores needs."""

    weights: NDArray[np.float32]  # (embedding dim, word dim)
    mean: NDArray[np.float32]  # (embedding dim,): the training images' mean unit embedding
    joint_mean: NDArray[np.float32]  # (word dim,): mean joint vector of the training images
    joint_cov: NDArray[np.float32]  # (word dim, word dim): their covariance
    calibration: tuple[float, float]  # P(label) = sigmoid(a * z + b)
    trained_on: str  # the classifier version of the embeddings it was trained on
    labels: list[str] = field(default_factory=list)  # the label vocabulary it was trained with
    label_vectors: NDArray[np.float32] | None = None  # (labels, word dim): their unit word vectors
    info: dict = field(default_factory=dict)  # provenance: images, loss, split, held-out precision
    shipped: bool = field(default=False, compare=False)  # the one shipped with pixseek (not a user's own)
    _spreads: NDArray[np.float32] | None = field(default=None, repr=False, compare=False)

    # ---- inference ----------------------------------------------------------------------------
    def project(self, embeddings: NDArray[np.floating]) -> NDArray[np.float32]:
        """Joint vectors (n, word dim) of embeddings (n, embedding dim)."""
        return ((unit(embeddings) - self.mean) @ self.weights).astype(np.float32)

    def query(self, word_vector: NDArray[np.floating]) -> NDArray[np.float32]:
        """The embedding-space direction that ranks images by their affinity to the word."""
        return (self.weights @ unit(word_vector)).astype(np.float32)

    def zscores(self, joint: NDArray[np.float32], word_vector: NDArray[np.floating]) -> NDArray[np.float32]:
        """How far above the training images' usual affinity to the word each image is."""
        w = unit(word_vector)
        spread = float(np.sqrt(max(float(w @ self.joint_cov @ w), 1e-12)))
        return ((joint @ w - float(self.joint_mean @ w)) / spread).astype(np.float32)

    def calibrated(self, z: NDArray[np.float32]) -> NDArray[np.float32]:
        a, b = self.calibration
        return (1.0 / (1.0 + np.exp(-(a * z + b)))).astype(np.float32)

    def support(self, word_vector: NDArray[np.floating]) -> float:
        """How far the space can be trusted for a word: 0 for a word unlike every label it was
        trained on (its place in the space is then noise), rising to 1 for one as close to a
        label as SUPPORT_FULL (cosine of word vectors)."""
        if self.label_vectors is None or not len(self.label_vectors):
            return 1.0
        nearest = float((self.label_vectors @ unit(word_vector)).max())
        return float(np.clip((nearest - SUPPORT_MIN) / (SUPPORT_FULL - SUPPORT_MIN), 0.0, 1.0))

    def word_scores(self, joint: NDArray[np.float32], word_vector: NDArray[np.floating]) -> NDArray[np.float32]:
        """Scores (0..1, the engine's scale) of images (their joint vectors) for a word: the
        calibrated z-score, times the word's support."""
        trust = self.support(word_vector)
        if trust <= 0:
            return np.zeros(len(joint), dtype=np.float32)
        return (self.calibrated(self.zscores(joint, word_vector)) * trust).astype(np.float32)

    def scores(self, embeddings: NDArray[np.floating], word_vector: NDArray[np.floating]) -> NDArray[np.float32]:
        """word_scores of images given by their embeddings."""
        return self.word_scores(self.project(embeddings), word_vector)

    def nearest_labels(self, embedding: NDArray[np.floating], k: int) -> list[tuple[str, float]]:
        """The k labels it was trained with nearest an image in the joint space, with calibrated
        scores, best first; those above the engine's threshold only (its tags)."""
        if self.label_vectors is None or not len(self.labels):
            return []
        if self._spreads is None:
            quad = np.einsum("nd,de,ne->n", self.label_vectors, self.joint_cov, self.label_vectors)
            self._spreads = np.sqrt(np.maximum(quad, 1e-12)).astype(np.float32)
        joint = self.project(np.asarray(embedding, dtype=np.float32)[None, :])[0]
        z = (self.label_vectors @ joint - self.label_vectors @ self.joint_mean) / self._spreads
        top = np.argsort(-z, kind="stable")[:k]
        scores = self.calibrated(z[top])
        return [(self.labels[int(r)], float(p)) for r, p in zip(top, scores, strict=True) if p >= CALIBRATED_AT]

    def check(self, classifier_version: str) -> None:
        if classifier_version != self.trained_on:
            raise HeadMismatch(
                f"the joint image-word space was trained on embeddings of {self.trained_on}, but the "
                f"library's images are analysed by {classifier_version}: retrain it "
                "(`pixseek learn DIR`, or tools/build_devset_head.py for the shipped one)"
            )

    # ---- files --------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        meta = {
            "format": HEAD_FORMAT, "trained_on": self.trained_on, "labels": self.labels,
            "calibration": list(self.calibration), "info": self.info,
        }
        out = io.BytesIO()
        np.savez_compressed(
            out, weights=self.weights.astype(np.float16), mean=self.mean.astype(np.float32),
            joint_mean=self.joint_mean, joint_cov=self.joint_cov,
            label_vectors=(self.label_vectors if self.label_vectors is not None else np.zeros((0, self.weights.shape[1]))).astype(np.float16),
            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        )
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "JointHead":
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            if meta.get("format") != HEAD_FORMAT:
                raise ValueError(f"joint head format {meta.get('format')} is not {HEAD_FORMAT}")
            return cls(
                weights=z["weights"].astype(np.float32), mean=z["mean"].astype(np.float32),
                joint_mean=z["joint_mean"].astype(np.float32), joint_cov=z["joint_cov"].astype(np.float32),
                calibration=(float(meta["calibration"][0]), float(meta["calibration"][1])),
                trained_on=meta["trained_on"], labels=list(meta["labels"]), info=dict(meta["info"]),
                label_vectors=unit(z["label_vectors"].astype(np.float32)) if len(z["label_vectors"]) else None,
            )


@dataclass
class Training:
    """What training reports: the loss by epoch (every 50) and the held-out precision."""

    losses: list[float] = field(default_factory=list)
    heldout_p10: float | None = None
    heldout_queries: int = 0
    epochs: int = 0  # the early-stopping choice


LabelSets = Sequence[Sequence[str]]  # per image, its labels (a label path's levels)


def train_head(
    embeddings: NDArray[np.floating],
    labels: LabelSets,
    word_vector: Callable[[list[str]], NDArray[np.float32] | None],
    trained_on: str,
    holdout: float = 0.0,
    seed: int = 0,
    progress: Callable[[int, float], None] | None = None,
    checkpoints: Sequence[int] = CHECKPOINTS,
) -> tuple[JointHead, Training]:
    """Train a head on images (their embeddings) and their labels (`word_vector`: a label's words
    -> its GloVe vector, None when unknown).

    The images are split (stratified by label path): `holdout` of them (20 % when 0) are kept
    out of a first training, which picks how long to train (early stopping on their
    precision@10, among CHECKPOINTS epochs; 0 is the ridge start) and fits the calibration; the
    head kept is then trained on every image for that long. With `holdout`, the split's
    precision@10 is reported (a head that never saw those images)."""
    vocabulary, targets = _vocabulary(labels, word_vector)
    if len(vocabulary) < 2:
        raise ValueError("training needs at least two labels that GloVe knows")
    positives = _positives(labels, vocabulary)
    usable = positives.any(axis=1)
    x = unit(np.asarray(embeddings, dtype=np.float32))[usable]
    positives = positives[usable]
    keys = ["/".join(ls) for ls, ok in zip(labels, usable, strict=True) if ok]
    rng = np.random.default_rng(seed)
    report = Training()
    train_rows, test_rows = _stratified_split(keys, holdout if holdout > 0 else 0.2, rng)
    # 1. On the training part: which checkpoint ranks the other part best, and its calibration.
    best: tuple[float, int, JointHead] | None = None
    for epochs, head in _fit(x[train_rows], positives[train_rows], targets, checkpoints, None):
        z = _pair_scores(head, x[test_rows], targets)
        p10, queries = _precision_at_10(z, positives[test_rows])
        if best is None or (p10 or 0.0) > best[0]:
            best = ((p10 or 0.0), epochs, head)
            report.heldout_p10, report.heldout_queries = p10, queries
            calibration = _platt(z.ravel(), positives[test_rows].ravel())
    assert best is not None
    report.epochs = best[1]
    # 2. The head kept: every image, trained as long as the best checkpoint.
    ((_, final),) = _fit(x, positives, targets, (best[1],), progress)
    final.calibration = calibration
    final.trained_on = trained_on
    final.labels = vocabulary
    final.label_vectors = targets
    final.info = {
        "images": int(len(x)), "labels": len(vocabulary), "epochs": best[1], "seed": seed,
        "heldout_share": holdout, "heldout_p10": report.heldout_p10 if holdout > 0 else None,
        "heldout_queries": report.heldout_queries if holdout > 0 else 0,
    }
    if holdout <= 0:
        report.heldout_p10, report.heldout_queries = None, 0
    return final, report


def _vocabulary(labels: LabelSets, word_vector) -> tuple[list[str], NDArray[np.float32]]:
    names: dict[str, NDArray[np.float32]] = {}
    for image_labels in labels:
        for label in image_labels:
            key = label.strip().lower()
            if key and key not in names:
                vector = word_vector(label_words(key))
                if vector is not None:
                    names[key] = unit(vector)
    vocabulary = sorted(names)
    return vocabulary, np.stack([names[k] for k in vocabulary]) if vocabulary else np.zeros((0, 50), np.float32)


def _positives(labels: LabelSets, vocabulary: list[str]) -> NDArray[np.bool_]:
    index = {name: i for i, name in enumerate(vocabulary)}
    out = np.zeros((len(labels), len(vocabulary)), dtype=bool)
    for row, image_labels in enumerate(labels):
        for label in image_labels:
            i = index.get(label.strip().lower())
            if i is not None:
                out[row, i] = True
    return out


def _stratified_split(keys: list[str], share: float, rng: np.random.Generator) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Rows for training and for the held-out part: per label path, `share` of its images held
    out (at least one where the path has 2+ images; singletons stay in training)."""
    groups: dict[str, list[int]] = {}
    for row, key in enumerate(keys):
        groups.setdefault(key, []).append(row)
    train: list[int] = []
    test: list[int] = []
    for key in sorted(groups):
        rows = rng.permutation(groups[key]).tolist()
        n_test = int(round(share * len(rows))) if len(rows) >= 2 else 0
        n_test = max(n_test, 1) if len(rows) >= 2 else 0
        test += rows[:n_test]
        train += rows[n_test:]
    return np.array(sorted(train), dtype=np.int64), np.array(sorted(test), dtype=np.int64)


def _fit(
    x: NDArray[np.float32], positives: NDArray[np.bool_], targets: NDArray[np.float32],
    checkpoints: Sequence[int], progress: Callable[[int, float], None] | None,
) -> Iterator[tuple[int, JointHead]]:
    """Full-batch Adam on the hinge ranking loss, from the ridge solution; the head at each
    checkpoint (epochs)."""
    mean = x.mean(axis=0)
    z = x - mean
    n, d = z.shape
    # Labels too near one of an image's own (plural/singular, synonyms) are no negatives for it.
    near = (targets @ targets.T) >= NEAR_SYNONYM
    negatives = (positives.astype(np.float32) @ near.astype(np.float32)) == 0
    # Start: ridge regression onto the mean of each image's label vectors.
    goal = unit(positives.astype(np.float32) @ targets)
    weights = np.linalg.solve(z.T @ z + RIDGE * np.eye(d, dtype=np.float32), z.T @ goal).astype(np.float32)
    m = np.zeros_like(weights)
    v = np.zeros_like(weights)
    pos_rows, pos_labels = np.nonzero(positives)
    incidence = np.zeros((n, len(pos_rows)), dtype=np.float32)  # image <- its (image, label) pairs
    incidence[pos_rows, np.arange(len(pos_rows))] = 1.0
    pair_negatives = negatives[pos_rows]
    pair_weight = (1.0 / np.maximum(negatives.sum(axis=1), 1)).astype(np.float32)[pos_rows][:, None]
    for epoch in range(0, max(checkpoints) + 1):
        if epoch > 0:
            sims = (z @ weights) @ targets.T  # (n, labels)
            # Each (image, label of it) against every negative label of the image.
            hinge = MARGIN - sims[pos_rows, pos_labels][:, None] + sims[pos_rows]
            per_pair = (((hinge > 0) & pair_negatives) * pair_weight).astype(np.float32)
            grad_joint = incidence @ (per_pair @ targets - per_pair.sum(axis=1)[:, None] * targets[pos_labels])
            grad = z.T @ grad_joint / n + L2 * weights
            m = 0.9 * m + 0.1 * grad
            v = 0.999 * v + 0.001 * grad * grad
            weights -= LEARNING_RATE * (m / (1 - 0.9**epoch)) / (np.sqrt(v / (1 - 0.999**epoch)) + 1e-8)
            if progress is not None and epoch % 25 == 0 and epoch not in checkpoints:
                progress(epoch, float((np.maximum(hinge, 0) * pair_negatives * pair_weight).sum() / n))
        if epoch in checkpoints:
            joint = z @ weights
            if progress is not None:  # the ranking loss of the head kept
                sims = joint @ targets.T
                hinge = MARGIN - sims[pos_rows, pos_labels][:, None] + sims[pos_rows]
                progress(epoch, float((np.maximum(hinge, 0) * pair_negatives * pair_weight).sum() / n))
            yield epoch, JointHead(
                weights=weights.copy(), mean=mean.astype(np.float32),
                joint_mean=joint.mean(axis=0).astype(np.float32),
                joint_cov=(np.cov(joint, rowvar=False) + 1e-6 * np.eye(joint.shape[1])).astype(np.float32),
                calibration=(1.0, 0.0), trained_on="", labels=[],
            )


def _pair_scores(head: JointHead, x: NDArray[np.float32], targets: NDArray[np.float32]) -> NDArray[np.float32]:
    """z-scores (images, labels) of images for every label."""
    joint = head.project(x)
    spread = np.sqrt(np.maximum(np.einsum("ld,de,le->l", targets, head.joint_cov, targets), 1e-12))
    return ((joint @ targets.T - targets @ head.joint_mean) / spread).astype(np.float32)


def _platt(z: NDArray[np.float32], relevant: NDArray[np.bool_]) -> tuple[float, float]:
    """Logistic fit of P(relevant | z), Platt's way: smoothed targets ((n+ + 1) / (n+ + 2) and
    1 / (n- + 2), so that separable data still gives a finite slope), damped Newton steps, the
    slope kept within PLATT_SLOPE."""
    if not relevant.any() or relevant.all():
        return 1.0, -4.0
    n_pos, n_neg = int(relevant.sum()), int((~relevant).sum())
    y = np.where(relevant, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    zz = z.astype(np.float64)
    a, b = 1.0, float(np.log((n_pos + 1) / (n_neg + 1)))
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(a * zz + b, -50, 50)))
        g = np.array([((p - y) * zz).sum(), (p - y).sum()]) + np.array([1e-3 * a, 0.0])
        w = p * (1 - p) + 1e-9
        h = np.array([[(w * zz * zz).sum() + 1e-3, (w * zz).sum()], [(w * zz).sum(), w.sum()]])
        step = np.linalg.solve(h, g)
        step *= min(1.0, 2.0 / max(float(np.abs(step).max()), 1e-12))  # damped: at most 2 per step
        a, b = float(np.clip(a - step[0], *PLATT_SLOPE)), b - float(step[1])
        if np.abs(step).max() < 1e-7:
            break
    return float(a), float(b)


def _precision_at_10(z: NDArray[np.float32], relevant: NDArray[np.bool_], k: int = 10) -> tuple[float | None, int]:
    """Mean over labels with a held-out image of relevant among the first k / min(k, relevant)."""
    values = []
    for label in range(z.shape[1]):
        wanted = relevant[:, label]
        if not wanted.any():
            continue
        order = np.argsort(-z[:, label], kind="stable")[:k]
        values.append(float(wanted[order].sum()) / min(k, int(wanted.sum())))
    return (round(float(np.mean(values)), 4) if values else None), len(values)


SHIPPED_HEAD = "joint-devset-1.npz"  # search/data/: trained on the dev set (tools/build_devset_head.py)


def shipped_head() -> JointHead | None:
    """The joint head shipped with pixseek (None if the data file is missing from the install)."""
    from importlib.resources import files

    try:
        data = files("pixseek.search").joinpath("data", SHIPPED_HEAD).read_bytes()
    except (FileNotFoundError, OSError):
        return None
    return replace(JointHead.from_bytes(data), shipped=True)
