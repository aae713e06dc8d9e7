"""Per-concept class weights learnt from labelled pictures (the PhotoPrism / Nextcloud Recognize way).

WordNet says which ImageNet classes a word covers; it cannot say what the classifier answers for
the kinds of pictures that are not photos. A clip-art tree comes out "pinwheel, table lamp,
lampshade", a drawn horse "comic book, jigsaw puzzle", a cartoon fish "goldfish, tench": classes
no lexical path leads to. `bench/calibrate.py` learns, per concept, the classes that stand out in
its labelled pictures (several times likelier there than in all pictures, on at least two of
them), weighted by how much of the class's probability mass falls on the concept's pictures (a
class that fires on everything gets nothing), and writes them with their data's provenance to
data/concept_calibration.json. `ConceptSpace.encode_term`
adds them to a term's WordNet classes at half weight (`concepts.LEARNT_WEIGHT`: what one corpus
taught must not outrank the word's own classes on other kinds of picture; the larger weight of a
class wins).

Class priors (hubness correction): classes that fire on every picture of a kind ("comic book",
"jigsaw puzzle", "envelope" on drawings) carry little about any one picture. The same script
records each class's mean probability over the pictures (`prior`); before an image's
probabilities are scored they are divided by prior ** `prior_power` and rescaled to their former
sum (`Calibration.adjusted`), so a hub's share shrinks and the picture's own classes grow. The
concept weights are learnt on probabilities adjusted the same way.

The weights are the classifier's: they hold for the classifier version the file names
(`classifier`), and are re-learnt when it changes (tests/test_calibration.py checks the two agree).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

CALIBRATION_PATH = Path(__file__).resolve().parent / "data" / "concept_calibration.json"
# A class whose prior is this high fires on everything of a kind ("comic book": 0.14 mean
# probability on the labelled set, 5x the next class): a style, not a thing in the picture. It is
# never learnt for a concept (bench/calibrate.py), and a word reaches it only by its own senses or
# as a kind of picture (ConceptSpace: "book" backs off to "publication", which holds comic book).
HUB_PRIOR = 0.05


@dataclass(frozen=True)
class Calibration:
    classifier: str  # the classifier version the weights were learnt for
    terms: dict[str, dict[int, float]]  # lemma ("evergreen_tree") -> class id -> weight in (0, 1]
    provenance: dict[str, object]
    prior: NDArray[np.float32] | None = None  # (N_CLASSES,) mean probability per class (+ a floor)
    prior_power: float = 0.0
    _divisor: NDArray[np.float32] | None = field(default=None, repr=False, compare=False)  # see __post_init__

    def __post_init__(self) -> None:
        if self.prior is not None and self.prior_power > 0:
            # A lookup table over every id a row may hold: 1 / prior ** power for the ImageNet
            # classes, 0 for the ids after them (characteristics and the like), which are left alone.
            n = len(self.prior)
            inverse = np.zeros(_ID_TABLE, np.float32)
            inverse[:n] = (1.0 / self.prior.astype(np.float64) ** self.prior_power).astype(np.float32)
            object.__setattr__(self, "_divisor", inverse)

    def adjusted(self, class_ids: NDArray[np.integer], probs: NDArray[np.float32]) -> NDArray[np.float32]:
        """Rows of (class ids, probabilities) with each class divided by its prior ** power, each row
        rescaled to its former sum over those classes. Ids beyond the prior (image characteristics,
        already calibrated scores) are left as they are; padding (probability 0) stays 0.

        A search rescores thousands of rows with this (a quarter of its CPU before it was written
        with as few passes over the rows as it takes): rows without such ids skip the masking."""
        if self._divisor is None or not probs.size:
            return probs
        assert self.prior is not None
        others = class_ids >= len(self.prior)  # ids beyond the prior; an id past the table is one
        divided = probs * np.take(self._divisor, class_ids, mode="clip")  # 0 where `others`
        any_others = bool(others.any())
        own = probs
        if any_others:
            own = probs.copy()
            np.copyto(own, np.float32(0.0), where=others)
        divided *= own.sum(axis=-1, keepdims=True) / np.maximum(divided.sum(axis=-1, keepdims=True), np.float32(1e-30))
        if any_others:
            np.copyto(divided, probs, where=others)
        return divided.astype(np.float32, copy=False)

    @functools.cached_property
    def hubs(self) -> frozenset[int]:
        """The classes whose prior is at least HUB_PRIOR (none without priors)."""
        if self.prior is None:
            return frozenset()
        return frozenset(int(c) for c in np.flatnonzero(self.prior >= HUB_PRIOR))

    def classes(self, lemma: str, base_forms: list[str] | None = None) -> dict[int, float]:
        """The learnt classes of a lemma, or of its first base form that has some ("trees" -> "tree")."""
        for form in [lemma, *(base_forms or [])]:
            found = self.terms.get(form)
            if found:
                return found
        return {}


_ID_TABLE = 4096  # ids of a stored row are below this (ImageNet 0..999, characteristics 1000..1099)


@functools.cache
def calibration(path: Path = CALIBRATION_PATH) -> Calibration:
    """The committed calibration (empty when the file is absent)."""
    if not path.exists():
        return Calibration("", {}, {})
    data = json.loads(path.read_text(encoding="utf-8"))
    terms = {
        lemma: {int(c): float(w) for c, w in entry["classes"].items()} for lemma, entry in data["terms"].items()
    }
    prior = data.get("prior")
    return Calibration(
        data["classifier"], terms, data.get("provenance", {}),
        prior=np.asarray(prior, dtype=np.float32) if prior else None,
        prior_power=float(data.get("prior_power", 0.0)),
    )
