"""Wires one library: a store, the models and the language layer. The CLI and services use this."""

from __future__ import annotations

import os
import threading
import time
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
from numpy.typing import NDArray

from pixseek.config import Paths, resolve_paths
from pixseek.records import Vector
from pixseek.store import DEFAULT_OWNER, open_store
from pixseek.store.sparse import dense_probabilities

# The layers are imported when first used: `pixseek index` never loads the language tables,
# and `pixseek search` never loads ONNX Runtime unless it has to analyse a new image.
if TYPE_CHECKING:
    from pixseek.pipeline.analysis import AnalysisOptions, ImageAnalyzer
    from pixseek.pipeline.people import ClusterReport
    from pixseek.pipeline.workers import WorkerLimits
    from pixseek.search.faces import FaceSearch
    from pixseek.pipeline.indexer import Indexer, Progress
    from pixseek.pipeline.registry import ModelRegistry
    from pixseek.pipeline.vision import VisionTarget
    from pixseek.language.concepts import ConceptSpace
    from pixseek.search.joint import JointHead
    from pixseek.search.taught import ClassHierarchy
    from pixseek.search.teaching import Teacher
    from pixseek.search.engine import SearchEngine
    from pixseek.search.duplicates import DuplicateGroup
    from pixseek.analyzers.vlm.base import ModelInfo, VisionLanguageModel
    from pixseek.language.concepts import Tag
    from pixseek.search.evidence.vlm import ActiveModel, Calibration, ModelEvidence
    from pixseek.search.zero_shot import LogNormalisers, VocabularyVectors

CALIBRATION_CHECK_S = 60.0  # how often a long-running service looks whether a CLIP fit is stale


class Library:
    def __init__(
        self,
        home: str | Path | None = None,
        user: str | None = None,
        options: "AnalysisOptions | None" = None,
        store: str | None = None,
    ) -> None:
        self._options = options  # the defaults are made on first use (see `options`)
        self.embed_with_model = True  # index runs embed with the active vision-language model
        # The joint image-word space shipped with pixseek (trained on the dev set) for users who
        # trained none: on unless switched off (PIXSEEK_SHIPPED_HEAD=off).
        self.shipped_head = os.environ.get("PIXSEEK_SHIPPED_HEAD", "on").lower() not in ("0", "off", "no", "false")
        self._heads: dict = {}
        self._heads_lock = threading.Lock()
        self.paths: Paths = resolve_paths(home, store)
        self.store = open_store(self.paths.store)
        # Whose images the CLI reads and writes: a named user, else the library's default user.
        self.owner = self.store.accounts.user(user).id if user else DEFAULT_OWNER

    @property
    def options(self) -> "AnalysisOptions":
        """How this library analyses images (the defaults unless set). Made when first asked for:
        importing the analysis pass (PIL, the analysers) is no cost a text search should pay."""
        if self._options is None:
            from pixseek.pipeline.analysis import AnalysisOptions

            self._options = AnalysisOptions()
        return self._options

    @options.setter
    def options(self, value: "AnalysisOptions") -> None:
        self._options = value

    @cached_property
    def concepts(self) -> "ConceptSpace":
        from pixseek.language.concepts import ConceptSpace

        return ConceptSpace(self.paths.cache)

    @cached_property
    def analyzer(self) -> "ImageAnalyzer":
        from pixseek.pipeline.analysis import ImageAnalyzer

        return ImageAnalyzer(self.paths.models, threads=2, options=self.options)

    @cached_property
    def engine(self) -> "SearchEngine":
        from pixseek.analyzers.classifier import load_final_layer
        from pixseek.pipeline.places import fill_places
        from pixseek.search.engine import SearchEngine

        fill_places(self.store)  # a library indexed before places catches up once (a cheap check after)

        return SearchEngine(
            self.store,
            self.concepts,
            embed_image=self._embed_image,
            final_layer=lambda: load_final_layer(self.paths.models),
            evidence=self._extra_evidence(),
            model=self.vision.active() if self.vision else None,
        )

    def _extra_evidence(self) -> list:
        """The kinds of search evidence beyond the store's own (text, faces, categories): each is
        made here, where the models and the store meet (search/ never loads a model itself)."""
        from pixseek.analyzers.classifier import CLASSIFIER_VERSION
        from pixseek.search.evidence.learned import JointSpaceEvidence
        from pixseek.search.evidence.probes import ConceptProbeEvidence
        from pixseek.search.probes import shipped_probes
        from pixseek.search.evidence.taught import TaughtEvidence

        # Taught concepts first: a word naming one is the user's concept before anything else.
        kinds: list = [TaughtEvidence(self.store, CLASSIFIER_VERSION, self.class_hierarchy, self._model_space)]
        if self.vision is not None:  # the active vision-language model's embeddings
            kinds.append(self.vision.evidence())
        probes = ConceptProbeEvidence(self.store, self._probe_concepts(CLASSIFIER_VERSION), shipped_probes, self._lemma_forms)
        kinds.append(JointSpaceEvidence(self.store, self.joint_head, self.concepts.glove.phrase_vector, probes.answers))
        kinds.append(probes)
        return kinds

    @staticmethod
    def _probe_concepts(classifier_version: str) -> tuple[str, ...]:
        """The shipped concept probes' words (search/probes.py), if trained on this classifier's embeddings."""
        from pixseek.search.probes import shipped_concepts

        shipped = shipped_concepts()
        if shipped is not None and shipped[0] != classifier_version:
            import sys

            print(f"pixseek: concept probes not used: trained on {shipped[0]}, not {classifier_version}", file=sys.stderr)
            return ()
        return shipped[1] if shipped else ()

    def _lemma_forms(self, text: str) -> list[str]:
        """A term's lemma and its WordNet base forms ("body parts" -> body_part)."""
        from pixseek.language.wordnet import normalize_lemma

        lemma = normalize_lemma(text)
        return [lemma, *self.concepts.wordnet.morphy(lemma)] if lemma else []

    def teacher(self, owner: int | None = None) -> "Teacher":
        """Teach this user's concepts and joint space from the stored embeddings (search/teaching.py)."""
        from pixseek.analyzers.classifier import CLASSIFIER_VERSION
        from pixseek.search.teaching import Teacher

        return Teacher(
            self.store, self.owner if owner is None else owner, CLASSIFIER_VERSION,
            word_vector=lambda words: self.concepts.glove.phrase_vector(words), hierarchy=self.class_hierarchy,
            model_space=self._model_space,
        )

    @property
    def _model_space(self) -> str | None:
        """The active vision-language model's space (concepts are taught with it too), if one is active."""
        return self.vision.space if self.vision is not None else None

    @cached_property
    def class_hierarchy(self) -> "ClassHierarchy":
        """The classifier's classes under their WordNet ancestors: taught concepts' ancestry features."""
        from pixseek.search.taught import ClassHierarchy

        return ClassHierarchy.from_matrix(self.concepts.ancestor_matrix())

    def joint_head(self, owner: int | None = None) -> "JointHead | None":
        """The joint image-word space for a user: their own (`pixseek learn`), else the one shipped
        with pixseek (unless `shipped_head` is off). None, with a warning once, when it was trained
        on another classifier's embeddings than this pixseek's."""
        from pixseek.analyzers.classifier import CLASSIFIER_VERSION
        from pixseek.search.joint import HeadMismatch, JointHead, shipped_head
        from pixseek.search.teaching import HEAD_KIND, HEAD_NAME

        record = self.store.learned.get(self.owner if owner is None else owner, HEAD_KIND, HEAD_NAME)
        key = (record.updated_at, record.trained_on) if record else None
        with self._heads_lock:
            if key not in self._heads:
                head = JointHead.from_bytes(record.model) if record else (shipped_head() if self.shipped_head else None)
                try:
                    if head is not None:
                        head.check(CLASSIFIER_VERSION)
                except HeadMismatch as exc:
                    import sys

                    print(f"pixseek: joint space not used: {exc}", file=sys.stderr)
                    head = None
                self._heads[key] = head
            return self._heads[key]

    @cached_property
    def vision(self) -> "VisionModel | None":
        """The active vision-language model, described but not loaded (its towers load on first
        use: a query without a model active loads nothing new)."""
        active = self._active_vision_model()
        return None if active is None else VisionModel(self, *active)

    def _active_vision_model(self) -> "tuple[ModelInfo, Path] | None":
        active = self.models.active()
        return None if active is None else (active.info, Path(active.folder))

    @cached_property
    def face_search(self) -> "FaceSearch":
        from pixseek.search.faces import FaceSearch

        return FaceSearch(
            self.store, detect_faces=lambda image: self.analyzer.find_faces(image), analyzer_version=self.options.version
        )

    def duplicates(
        self, owner: int | None = None, on_progress: "Callable[[int, int], None] | None" = None
    ) -> "list[DuplicateGroup]":
        """Groups of exact copies and near-duplicates; hashes older images lack are made first (once)."""
        from pixseek.pipeline.duplicates import catch_up_hashes
        from pixseek.search.duplicates import find_duplicates

        owner = self.owner if owner is None else owner
        catch_up_hashes(self.store, owner, on_progress)
        return find_duplicates(self.store, owner)

    def cluster_faces(self, owner: int | None = None) -> "ClusterReport":
        """Group new faces into people (incremental: existing people keep their faces)."""
        from pixseek.pipeline.people import cluster_faces

        return cluster_faces(self.store, self.owner if owner is None else owner)

    def indexer(
        self,
        workers: int | None = None,
        progress: "Progress | None" = None,
        owner: int | None = None,
        scheduler: str | None = None,
        limits: "WorkerLimits | None" = None,
    ) -> "Indexer":
        from pixseek.pipeline.indexer import Indexer
        from pixseek.pipeline.workers import WorkerLimits

        return Indexer(
            self.store, self.paths.models, workers=workers, progress=progress,
            owner=self.owner if owner is None else owner, options=self.index_options(), scheduler=scheduler,
            limits=limits or WorkerLimits(),
        )

    @cached_property
    def models(self) -> "ModelRegistry":
        """The library's vision-language models (pixseek models add/list/use/remove)."""
        from pixseek.pipeline.registry import ModelRegistry

        return ModelRegistry(self.paths.home / "models" / "vlm")

    def vision_target(self) -> "VisionTarget | None":
        """What the active model embeds with, if a model is active (described, not loaded)."""
        from pixseek.pipeline.vision import VisionTarget

        active = self.models.active()
        if active is None:
            return None
        info = active.info
        return VisionTarget(str(active.folder), info.name, info.space, info.image_size)

    def index_options(self, options: "AnalysisOptions | None" = None) -> "AnalysisOptions":
        """The analysis options of an index run or an upload: `options` (else the library's), with
        the active vision-language model as one more analyser unless embed_with_model is off."""
        from dataclasses import replace

        target = self.vision_target() if self.embed_with_model else None
        return replace(options or self.options, vision=target, vision_only=False)

    def _embed_image(self, image: Path | bytes) -> tuple[Vector, NDArray[np.float32]]:
        analysis = self.analyzer.analyze(image if isinstance(image, bytes) else Path(image), faces=False, text=False)
        return analysis.embedding, dense_probabilities(analysis.categories)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class VisionModel:
    """The active vision-language model as search uses it: the text tower for queries, the image
    tower for pictures sent, the calibration of its cosines and its zero-shot vocabulary, each
    made on first use (under a lock: the service's threads share one)."""

    def __init__(self, library: Library, info: "ModelInfo", folder: Path) -> None:
        self.library, self.info, self.folder = library, info, Path(folder)
        self._lock = threading.RLock()
        self._towers: "dict[str, VisionLanguageModel]" = {}
        self._calibration: "Calibration | None" = None
        self._checked_at = 0.0
        self._vocabulary: "VocabularyVectors | None" = None
        self._log_norms: "LogNormalisers | None" = None
        self.name, self.space, self.multilingual = info.name, info.space, info.multilingual

    def tower(self, which: str) -> "VisionLanguageModel":
        """The model with only its "text" or "image" tower open (a search needs the text one)."""
        with self._lock:
            if which not in self._towers:
                from pixseek.analyzers.vlm.base import load_model

                self._towers[which] = load_model(self.folder, threads=2, name=self.info.name, towers=which)  # type: ignore[arg-type]
            return self._towers[which]

    def embed(self, texts: list[str]) -> NDArray[np.float32]:
        return self.tower("text").embed_texts(texts)

    def embed_image(self, image: Path | bytes) -> NDArray[np.float32]:
        from pixseek.imageio.decode import load_image

        return self.tower("image").embed_images([load_image(image, min_side=self.info.image_size).image])[0]

    def evidence(self) -> "ModelEvidence":
        from pixseek.search.evidence.vlm import ModelEvidence

        per_image = self.info.family != "siglip"
        return ModelEvidence(self.library.store, self, self.calibration, self.log_norm if per_image else None)

    def log_norm(self, ids: NDArray[np.int64], vectors: "NDArray[np.float32] | Callable[[NDArray[np.int64]], NDArray[np.float32]]") -> NDArray[np.float32]:
        """The images' zero-shot log normalisers (CLIP), kept in the library once computed."""
        from pixseek.search import zero_shot

        with self._lock:
            if self._log_norms is None:
                vocabulary = self.vocabulary()
                name = f"{zero_shot.slug(self.space)}-lognorm-{vocabulary.digest}.npy"
                self._log_norms = zero_shot.LogNormalisers(self.library.paths.home / "vlm" / name, self.info.logit_scale, self.vocabulary)
        return self._log_norms(ids, vectors)

    def active(self) -> "ActiveModel":
        from pixseek.search.evidence.vlm import ActiveModel

        return ActiveModel(self.name, self.space, self.embed_image, self.tags)

    def calibration_path(self) -> Path:
        from pixseek.search.zero_shot import slug

        return self.library.paths.home / "vlm" / f"{slug(self.space)}-calibration.json"

    def calibration(self, owner: int) -> "Calibration":
        """The model's cosine calibration: SigLIP's learnt one, or CLIP's fitted on the library's
        images (search/zero_shot.py), kept in the library beside the model's records."""
        from pixseek.search import zero_shot

        with self._lock:
            now = time.monotonic()
            if self._calibration is None:
                self._calibration = zero_shot.read_calibration(self.calibration_path())
            stale = self._calibration is None or (
                now - self._checked_at > CALIBRATION_CHECK_S
                and zero_shot.needs_refit(self._calibration, self.library.store.spaces.count(self.space, owner))
            )
            if stale:
                self._checked_at = now
                if self.info.family == "siglip":
                    fitted = zero_shot.siglip_calibration(self.info.logit_scale, self.info.logit_bias)
                else:  # CLIP and M-CLIP are trained with a softmax over texts
                    images = zero_shot.sample_vectors(self.library.store, owner, self.space)
                    fitted = zero_shot.fit_clip_calibration(self.info.logit_scale, self.vocabulary().vectors, images)
                zero_shot.write_calibration(self.calibration_path(), fitted)
                self._calibration = fitted
            return self._calibration

    def vocabulary(self) -> "VocabularyVectors":
        from pixseek.search import zero_shot

        with self._lock:
            if self._vocabulary is None:
                words = zero_shot.vocabulary(self.library.concepts)
                self._vocabulary = zero_shot.vocabulary_vectors(self.library.paths.cache, self.space, words, self.embed)
            return self._vocabulary

    def tags(self, vector: NDArray[np.float32], k: int) -> "list[Tag]":
        from pixseek.search.zero_shot import zero_shot_tags

        return zero_shot_tags(vector, self.vocabulary(), self.calibration(self.library.owner), k)
