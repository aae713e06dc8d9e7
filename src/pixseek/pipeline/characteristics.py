"""Older libraries catch up on the image characteristics without being analysed again.

An analysis made before the characteristics existed (its version lacks the `chars-N` part and has
every other part a run wants) would be redone in full: classifier, faces and OCR, ~0.1-1 s an
image. The characteristics need none of the models: a small decode of the file, the faces and
text lines the store already holds, and the stored forward row, into which they are merged
(`Store.replace_categories`). So the indexer completes such analyses here, in its own process, at
the cost of a decode (~15-25 ms for a 12 MP JPEG, with PIL's draft mode) and ~1 ms of pixels.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from pixseek.analyzers.characteristics import CHARACTERISTICS_VERSION, describe
from pixseek.analyzers.classifier import RESIZE_SHORTER_TO
from pixseek.imageio.decode import ImageDecodeError, load_image, reduce_to
from pixseek.pipeline.analysis import AnalysisOptions, with_characteristics
from pixseek.records import CLASS_COUNT, Face, FileState, IndexedFile, SparseVector, version_covers
from pixseek.store.base import Store

COMMIT_EVERY = 200


class _Report(Protocol):
    completed: int


class _Progress(Protocol):
    def log(self, message: str) -> None: ...


def catches_up(analyzer: str, options: AnalysisOptions) -> bool:
    """Whether an analysis by version `analyzer` lacks only the characteristics `options` want."""
    if not options.characteristics or CHARACTERISTICS_VERSION in analyzer.split("+"):
        return False
    return version_covers(f"{analyzer}+{CHARACTERISTICS_VERSION}", options.version)


def catch_up(
    store: Store,
    owner: int,
    files: list[tuple[FileState, IndexedFile]],
    report: _Report,
    progress: _Progress | None = None,
) -> list[tuple[FileState, IndexedFile]]:
    """Add the characteristics to the stored analyses of these unchanged files (each content
    once); returns the files that could not be read this way (to analyse in full)."""
    redo: list[tuple[FileState, IndexedFile]] = []
    done: set[int] = set()
    for n, (state, old) in enumerate(files, 1):
        if old.content_id in done:
            report.completed += 1
            continue
        if not _complete(store, owner, state, old):
            redo.append((state, old))
            continue
        done.add(old.content_id)
        report.completed += 1
        if n % COMMIT_EVERY == 0:
            store.commit()
    if done:
        store.commit()
        if progress:
            progress.log(f"added image characteristics to {len(done)} earlier analyses")
    return redo


def _complete(store: Store, owner: int, state: FileState, old: IndexedFile) -> bool:
    images = store.get_images(owner, [old.content_id])
    if not images:
        return False
    try:
        decoded = load_image(state.path, min_side=RESIZE_SHORTER_TO)
    except ImageDecodeError:  # not a picture this way (a video's poster), or gone: analyse in full
        return False
    if (decoded.meta.width, decoded.meta.height) != (images[0].meta.width, images[0].meta.height):
        return False  # not the picture that was analysed
    parts = old.analyzer.split("+")
    faces = None
    if any(p.startswith("faces-") for p in parts):
        stored = store.faces.of_images(owner, [old.content_id]).get(old.content_id, [])
        faces = [Face(f.box, f.score, np.zeros(0, dtype=np.float32)) for f in stored]
    texts = store.texts.lines(owner, old.content_id) if any(p.startswith("ocr-") for p in parts) else None
    classes = images[0].categories
    keep = classes.ids < CLASS_COUNT
    found = describe(reduce_to(decoded.image, RESIZE_SHORTER_TO), decoded.meta, faces, texts)
    merged = with_characteristics(SparseVector(classes.ids[keep], classes.weights[keep]), found)
    return store.replace_categories(owner, old.content_id, merged, f"{old.analyzer}+{CHARACTERISTICS_VERSION}")
