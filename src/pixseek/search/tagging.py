"""An image's tags and a word's neighbours (SearchEngine.tags, SearchEngine.words).

Tags are the classifier's classes named by the concept space, the characteristics stored beside
them (colours, black-and-white, screenshot), with a vision-language model active its zero-shot
tags the classifier has not given already, and the tags of the kinds of evidence that describe
pictures too (evidence/base.py TagsPictures: the joint space's nearest words, the user's taught
concepts that accept the picture).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pixseek.language.characteristics import characteristic_tags
from pixseek.language.concepts import ConceptSpace, Tag
from pixseek.language.multilingual import UnsupportedLanguageError, check_language, multilingual
from pixseek.records import SparseVector, Vector
from pixseek.search.evidence.base import PictureView, TagsPictures
from pixseek.search.evidence.vlm import ActiveModel
from pixseek.search.results import EmbedImage, ImageRef, QueryError, analyse, indexed_content, model_vectors
from pixseek.store.base import Store
from pixseek.store.sparse import dense_probabilities


@dataclass
class Tagger:
    """tags() and words() for the engine: what they need handed in."""

    store: Store
    concepts: ConceptSpace
    model: ActiveModel | None = None  # the active vision-language model, if any
    embed_image: EmbedImage | None = None  # analyses pictures outside the library
    sources: list[TagsPictures] = field(default_factory=list)  # kinds of evidence with tags of their own

    def tags(self, owner: int, image: ImageRef, k: int = 10, lang: str | None = None) -> list[Tag]:
        """The image's tags, named in `lang` when given (English where no translation is known)."""
        try:
            language = check_language(lang) if lang is not None else None
        except UnsupportedLanguageError as exc:
            raise QueryError(str(exc)) from None
        own_id = indexed_content(self.store, owner, image)
        characteristics: list[Tag] = []
        if own_id is not None:
            ids, probs = self.store.categories(owner, np.array([own_id]))
            keep = probs[0] > 0
            probabilities = dense_probabilities(SparseVector(ids[0][keep], probs[0][keep]))
            # Colours, black-and-white, screenshot...: stored beside the classes (ids >= 1000).
            characteristics = [Tag(n, w, "characteristic") for n, w in characteristic_tags(ids[0][keep], probs[0][keep])]
            picture = PictureView(own_id)
        else:
            embedding, probabilities = analyse(self.embed_image, image)
            classes = np.flatnonzero(probabilities).astype(np.int32)
            picture = PictureView(None, embedding, classes, probabilities[classes], self._model_vector_of(image))
        tags = self.concepts.tags(probabilities, k=k) + characteristics
        if self.model is not None:  # zero-shot tags the classifier has not given already
            tags += _new(tags, self._model_tags(owner, picture, k))
        names: list[Tag] = []  # tags named by the user (taught concepts), never translated
        for source in self.sources:
            found = source.image_tags(owner, picture, k)
            if source.names_are_words:
                tags += _new(tags, found)
            else:
                names += found
        return (tags if language is None else multilingual(self.concepts).translate_tags(tags, language)) + names

    def _model_vector_of(self, image: ImageRef) -> Callable[[], Vector] | None:
        """The active model's embedding of a picture outside the library, made when first asked
        (once for its zero-shot tags and the concepts taught with the model)."""
        model = self.model
        if model is None:
            return None
        made: list[Vector] = []

        def vector() -> Vector:
            if not made:
                assert not isinstance(image, int)
                made.append(model.embed_image(image))
            return made[0]

        return vector

    def _model_tags(self, owner: int, picture: PictureView, k: int) -> list[Tag]:
        model = self.model
        assert model is not None
        if picture.content_id is not None:
            present, vectors = model_vectors(self.store, owner, model.space, np.array([picture.content_id], dtype=np.int64))
            if not present[0]:
                return []  # not embedded by the model yet
            return model.tags(vectors[0], k)
        assert picture.model_vector is not None
        return model.tags(picture.model_vector(), k)

    def words(self, word: str, k: int = 10) -> list[tuple[str, float]]:
        """The concept space's nearest words to `word`, with their similarity."""
        return self.concepts.nearest(word, k)


def _new(given: list[Tag], more: list[Tag]) -> list[Tag]:
    """The tags of `more` whose names `given` does not have already."""
    names = {t.name.lower() for t in given}
    return [t for t in more if t.name.lower() not in names]
