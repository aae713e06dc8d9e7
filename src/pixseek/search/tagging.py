"""An image's tags and a word's neighbours (SearchEngine.tags, SearchEngine.words).

Tags are the classifier's classes named by the concept space, the characteristics stored beside
them (colours, black-and-white, screenshot), and, with a vision-language model active, its
zero-shot tags the classifier has not given already.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pixseek.language.characteristics import characteristic_tags
from pixseek.language.concepts import ConceptSpace, Tag
from pixseek.language.multilingual import UnsupportedLanguageError, check_language, multilingual
from pixseek.records import SparseVector
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
        else:
            _, probabilities = analyse(self.embed_image, image)
        tags = self.concepts.tags(probabilities, k=k) + characteristics
        if self.model is not None:  # zero-shot tags the classifier has not given already
            given = {t.name.lower() for t in tags}
            tags += [t for t in self._model_tags(owner, image, own_id, k) if t.name.lower() not in given]
        return tags if language is None else multilingual(self.concepts).translate_tags(tags, language)

    def _model_tags(self, owner: int, image: ImageRef, own_id: int | None, k: int) -> list[Tag]:
        model = self.model
        assert model is not None
        if own_id is not None:
            present, vectors = model_vectors(self.store, owner, model.space, np.array([own_id], dtype=np.int64))
            if not present[0]:
                return []  # not embedded by the model yet
            return model.tags(vectors[0], k)
        assert not isinstance(image, int)
        return model.tags(model.embed_image(image), k)

    def words(self, word: str, k: int = 10) -> list[tuple[str, float]]:
        """The concept space's nearest words to `word`, with their similarity."""
        return self.concepts.nearest(word, k)
