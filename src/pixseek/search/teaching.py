"""Teaching a library: train a user's concepts (search/taught.py) and joint image-word head
(search/joint.py) from the embeddings already in the store, and keep them in store.learned with
their examples (by content hash). No picture is decoded again: training reads stored embeddings.

The wiring (library.py) calls this; it writes only what the user taught (store.learned), never an
image record.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from pixseek.search.evidence.taught import CONCEPT_KIND, NEGATIVE, POSITIVE, concept_examples
from pixseek.search.joint import JointHead, Training, train_head
from pixseek.search.results import model_vectors
from pixseek.search.taught import ClassHierarchy, ConceptError, Pictures, TaughtConcept, check_name, train_concept
from pixseek.store.base import LearnedModel, Store

HEAD_KIND = "head"
HEAD_NAME = "default"  # one joint head per user, trained on every folder they taught it
BACKGROUND = 1000  # library pictures sampled as negatives for a concept ...
HELDOUT = 1000  # ... and as held-out negatives for its threshold


@dataclass
class ConceptInfo:
    name: str
    examples: int
    not_this: int
    trained_on: str
    stale: bool
    updated_at: float
    threshold: float = 0.0
    example_ids: list[int] = field(default_factory=list)  # live content ids of the examples
    not_this_ids: list[int] = field(default_factory=list)
    model_space: str = ""  # the vision-language model space it was taught with ("": none)


@dataclass
class LearnReport:
    images: int
    labels: int
    training: Training
    head: JointHead


class Teacher:
    """One user's teaching: `classifier_version` is the version of the embeddings trained on;
    with a `hierarchy` (the classes' WordNet ancestors), concepts use the class ancestry too; with
    a `model_space` (the active vision-language model's), that model's image embeddings too,
    whenever every example has one."""

    def __init__(
        self, store: Store, owner: int, classifier_version: str,
        word_vector: Callable[[list[str]], NDArray[np.float32] | None] | None = None,
        seed: int | None = None, hierarchy: ClassHierarchy | None = None, model_space: str | None = None,
    ) -> None:
        self.store = store
        self.owner = owner
        self.classifier_version = classifier_version
        self.word_vector = word_vector
        self.hierarchy = hierarchy
        self.model_space = model_space
        self._rng = np.random.default_rng(seed)

    # ---- concepts ---------------------------------------------------------------------------
    def teach(self, name: str, examples: Sequence[int], not_this: Sequence[int] = ()) -> ConceptInfo:
        """Add examples (and "not this" pictures) to a concept, creating it, and train it again."""
        name = check_name(name)
        pairs = dict.fromkeys(self.store.learned.examples(self.owner, CONCEPT_KIND, name))
        for content_ids, label in ((examples, POSITIVE), (not_this, NEGATIVE)):
            for sha in self._hashes(content_ids):
                other = NEGATIVE if label == POSITIVE else POSITIVE
                pairs.pop((sha, other), None)  # a picture is an example or not, never both
                pairs[(sha, label)] = None
        if not any(label == POSITIVE for _, label in pairs):
            raise ConceptError(f"teaching {name!r} needs at least one example picture")
        self.store.learned.set_examples(self.owner, CONCEPT_KIND, name, list(pairs))
        concept = self._train(name, list(pairs))
        self.store.commit()
        return self.info(name, concept)

    def not_this(self, name: str, content_ids: Sequence[int]) -> ConceptInfo:
        """Relevance feedback: these pictures are not the concept; it is trained again at once."""
        name = check_name(name)
        if self.store.learned.get(self.owner, CONCEPT_KIND, name) is None:
            raise ConceptError(f"no concept named {name!r}")
        return self.teach(name, [], content_ids)

    def retrain(self, name: str) -> ConceptInfo:
        name = check_name(name)
        examples = self.store.learned.examples(self.owner, CONCEPT_KIND, name)
        if not examples:
            raise ConceptError(f"no concept named {name!r}")
        concept = self._train(name, examples)
        self.store.commit()
        return self.info(name, concept)

    def forget(self, name: str) -> bool:
        gone = self.store.learned.forget(self.owner, CONCEPT_KIND, check_name(name))
        self.store.commit()
        return gone

    def concepts(self) -> list[ConceptInfo]:
        return [self.info(m.name) for m in self.store.learned.models(self.owner, CONCEPT_KIND)]

    def info(self, name: str, concept: TaughtConcept | None = None) -> ConceptInfo:
        record = self.store.learned.get(self.owner, CONCEPT_KIND, name)
        if record is None:
            raise ConceptError(f"no concept named {name!r}")
        concept = concept or TaughtConcept.from_bytes(record.model)
        examples = self.store.learned.examples(self.owner, CONCEPT_KIND, name)
        example_ids, not_this_ids = concept_examples(self.store, self.owner, name)
        stale = (
            record.trained_on != self.classifier_version
            or concept.stale(self.classifier_version, self.hierarchy, self.model_space) is not None
        )
        return ConceptInfo(
            name, sum(1 for _, lbl in examples if lbl == POSITIVE), sum(1 for _, lbl in examples if lbl == NEGATIVE),
            record.trained_on, stale, record.updated_at, concept.threshold,
            example_ids, not_this_ids,
            concept.model_space,
        )

    def _train(self, name: str, pairs: Sequence[tuple[str, str]]) -> TaughtConcept:
        positive = self._current([sha for sha, lbl in pairs if lbl == POSITIVE], name)
        negative = self._current([sha for sha, lbl in pairs if lbl == NEGATIVE], name)
        if not positive:
            raise ConceptError(
                f"none of the examples of {name!r} is in the library any more (or analysed by "
                f"{self.classifier_version}): teach it with pictures of the library"
            )
        taken = np.array(sorted(set(positive) | set(negative)), dtype=np.int64)
        pool = self.store.matching(self.owner)
        pool = pool[~np.isin(pool, taken)]
        sample = self._rng.choice(pool, size=min(len(pool), BACKGROUND + HELDOUT), replace=False) if len(pool) else pool
        sample = np.sort(sample[: BACKGROUND + HELDOUT])
        order = self._rng.permutation(len(sample))
        background = np.sort(sample[order[:BACKGROUND]]) if len(sample) > 20 else sample
        heldout = np.sort(sample[order[BACKGROUND:]]) if len(sample) > 20 else sample[:0]
        # One sorted read of the column files for every picture the training sees.
        every = np.concatenate([positive, negative, background, heldout]).astype(np.int64)
        pictures, embedded = self._pictures(every)
        cuts = np.cumsum([len(positive), len(negative), len(background)])
        part_of = np.repeat(np.arange(4), np.diff(np.concatenate([[0], cuts, [len(every)]])))
        # The model's block only if it has seen every example; pictures it has not embedded yet
        # (a re-embed still running) then stay out of the negatives and the threshold's sample.
        unseen = int((~embedded[: len(positive)]).sum())
        space = self.model_space if pictures.model is not None and not unseen else ""
        if not space:
            pictures, embedded = Pictures(pictures.embeddings, pictures.ancestry), np.ones(len(every), dtype=bool)
        parts = [pictures.rows((part_of == k) & embedded) for k in range(4)]
        concept = train_concept(name, *parts, self.classifier_version, hierarchy=self.hierarchy, model_space=space)
        if self.model_space and not space:
            concept.info["model"] = f"not used: {unseen} of the examples have no {self.model_space} vector yet"
        self.store.learned.put(self.owner, CONCEPT_KIND, name, self.classifier_version, concept.to_bytes())
        return concept

    # ---- the joint head ---------------------------------------------------------------------
    def learn(
        self, labelled: Sequence[tuple[int, str]], holdout: float = 0.0,
        progress: Callable[[int, float], None] | None = None, replace: bool = False,
    ) -> LearnReport:
        """Train the user's joint head on (content id, label path) pairs, added to (or, with
        `replace`, instead of) the ones it was trained on before."""
        if self.word_vector is None:
            raise ValueError("learning a joint space needs word vectors")
        by_sha = dict(zip(self._hashes([cid for cid, _ in labelled]), (path for _, path in labelled), strict=True))
        pairs = {} if replace else dict.fromkeys(self.store.learned.examples(self.owner, HEAD_KIND, HEAD_NAME))
        pairs.update(dict.fromkeys(by_sha.items()))
        examples = [(sha, path) for sha, path in pairs if path.strip("/")]
        live = self.store.learned.contents_of(self.owner, [sha for sha, _ in examples])
        usable = [(live[sha][0], path) for sha, path in examples if sha in live and self._covers(live[sha][1])]
        if len(usable) < 2:
            raise ConceptError("learning needs labelled pictures in at least two folders")
        ids = np.array([cid for cid, _ in usable], dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        labels = [[part for part in usable[i][1].split("/") if part] for i in order]
        head, training = train_head(
            self._embeddings(ids[order]), labels, self.word_vector, self.classifier_version, holdout=holdout,
            progress=progress,
        )
        self.store.learned.set_examples(self.owner, HEAD_KIND, HEAD_NAME, examples)
        self.store.learned.put(self.owner, HEAD_KIND, HEAD_NAME, self.classifier_version, head.to_bytes())
        self.store.commit()
        return LearnReport(len(usable), len(head.labels), training, head)

    def head(self) -> LearnedModel | None:
        return self.store.learned.get(self.owner, HEAD_KIND, HEAD_NAME)

    # ---- helpers ----------------------------------------------------------------------------
    def _hashes(self, content_ids: Sequence[int]) -> list[str]:
        """The content hashes of the owner's images (KeyError-like ConceptError for others)."""
        wanted = [int(c) for c in content_ids]
        images = {im.content_id: im.sha256 for im in self.store.get_images(self.owner, sorted(set(wanted)))}
        missing = [c for c in wanted if c not in images]
        if missing:
            raise ConceptError(f"no image {missing[0]}")
        return [images[c] for c in wanted]

    def _current(self, hashes: Sequence[str], name: str) -> list[int]:
        """Live content ids of the hashes analysed by this classifier."""
        live = self.store.learned.contents_of(self.owner, hashes)
        return sorted(live[sha][0] for sha in hashes if sha in live and self._covers(live[sha][1]))

    def _covers(self, analyzer: str) -> bool:
        return analyzer.split("+")[0] == self.classifier_version

    def _pictures(self, ids: NDArray[np.int64]) -> tuple[Pictures, NDArray[np.bool_]]:
        """Embeddings (with a hierarchy, ancestry features; with a model space, its vectors) of
        the ids, in the given order, and which of them have a model vector: one sorted read of
        each column file for all of them."""
        order = np.argsort(ids, kind="stable")
        ordered = ids[order]
        embeddings = self.store.embeddings(self.owner, ordered).astype(np.float32) if len(ids) else np.zeros((0, 1280), np.float32)
        ancestry = None
        if self.hierarchy is not None:
            if len(ids):
                class_ids, probs = self.store.categories(self.owner, ordered)
                ancestry = self.hierarchy.features(class_ids, probs)
            else:
                ancestry = np.zeros((0, self.hierarchy.width), np.float32)
        model, embedded = None, np.zeros(len(ids), dtype=bool)
        if self.model_space:  # none present while the model has embedded nothing (no space)
            embedded, model = model_vectors(self.store, self.owner, self.model_space, ordered)
            model = model.astype(np.float32)
        back = np.empty_like(order)
        back[order] = np.arange(len(order))
        return (
            Pictures(embeddings[back], None if ancestry is None else ancestry[back], None if model is None else model[back]),
            embedded[back],
        )

    def _embeddings(self, ids: Sequence[int] | NDArray[np.int64]) -> NDArray[np.float32]:
        ids = np.asarray(ids, dtype=np.int64)
        if not len(ids):
            return np.zeros((0, 1280), dtype=np.float32)
        order = np.argsort(ids, kind="stable")
        rows = self.store.embeddings(self.owner, ids[order])
        out = np.empty_like(rows)
        out[order] = rows
        return out.astype(np.float32)


def labelled_files(root: Path) -> list[tuple[Path, str]]:
    """(file, label path) for every file under a folder of labelled sub-folders
    (root/animals/dog/x.jpg -> "animals/dog"); files directly in root have no label."""
    out = []
    for directory, _, files in os.walk(root):
        rel = Path(directory).relative_to(root)
        label = "/".join(rel.parts)
        for name in sorted(files):
            out.append((Path(directory) / name, label))
    return sorted(out)
