"""Wires one library: a store, the models and the language layer. The CLI and services use this."""

from __future__ import annotations

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
    from pixseek.language.concepts import ConceptSpace
    from pixseek.search.engine import SearchEngine
    from pixseek.search.duplicates import DuplicateGroup


class Library:
    def __init__(
        self,
        home: str | Path | None = None,
        user: str | None = None,
        options: "AnalysisOptions | None" = None,
        store: str | None = None,
    ) -> None:
        from pixseek.pipeline.analysis import AnalysisOptions

        self.options = options or AnalysisOptions()
        self.paths: Paths = resolve_paths(home, store)
        self.store = open_store(self.paths.store)
        # Whose images the CLI reads and writes: a named user, else the library's default user.
        self.owner = self.store.accounts.user(user).id if user else DEFAULT_OWNER

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

        if self.store.places.missing(1):  # a library indexed before places: catch up once
            fill_places(self.store)

        return SearchEngine(
            self.store,
            self.concepts,
            embed_image=self._embed_image,
            final_layer=lambda: load_final_layer(self.paths.models),
            evidence=self._extra_evidence(),
        )

    def _extra_evidence(self) -> list:
        """The kinds of search evidence beyond the store's own (text, faces, categories): each is
        made here, where the models and the store meet (search/ never loads a model itself)."""
        kinds: list = []
        return kinds

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
            owner=self.owner if owner is None else owner, options=self.options, scheduler=scheduler,
            limits=limits or WorkerLimits(),
        )

    def _embed_image(self, image: Path | bytes) -> tuple[Vector, NDArray[np.float32]]:
        analysis = self.analyzer.analyze(image if isinstance(image, bytes) else Path(image), faces=False, text=False)
        return analysis.embedding, dense_probabilities(analysis.categories)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
