"""Per-concept class weights learnt from labelled pictures (the PhotoPrism / Nextcloud Recognize way).

WordNet says which ImageNet classes a word covers; it cannot say what the classifier answers for
the kinds of pictures that are not photos. A clip-art tree comes out "pinwheel, table lamp,
lampshade", a drawn horse "comic book, jigsaw puzzle", a cartoon fish "goldfish, tench": classes
no lexical path leads to. `bench/calibrate.py` learns, per concept, the classes that stand out in
its labelled pictures (several times likelier there than in all pictures, on at least two of
them), weighted by how much of the class's probability mass falls on the concept's pictures (a
class that fires on everything gets nothing), and writes them with their data's provenance to
data/concept_calibration.json. `ConceptSpace.encode_term`
adds them to a term's WordNet classes (the larger weight of a class wins).

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


@dataclass(frozen=True)
class Calibration:
    classifier: str  # the classifier version the weights were learnt for
    terms: dict[str, dict[int, float]]  # lemma ("evergreen_tree") -> class id -> weight in (0, 1]
    provenance: dict[str, object]
    prior: NDArray[np.float32] | None = None  # (N_CLASSES,) mean probability per class (+ a floor)
    prior_power: float = 0.0
    _divisor: NDArray[np.float32] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.prior is not None and self.prior_power > 0:
            object.__setattr__(self, "_divisor", (self.prior.astype(np.float64) ** self.prior_power).astype(np.float32))

    def adjusted(self, class_ids: NDArray[np.integer], probs: NDArray[np.float32]) -> NDArray[np.float32]:
        """Rows of (class ids, probabilities) with each class divided by its prior ** power, each row
        rescaled to its former sum over those classes. Ids beyond the prior (image characteristics,
        already calibrated scores) and padding (probability 0) are left as they are."""
        if self._divisor is None or not probs.size:
            return probs
        n = len(self._divisor)
        known = (class_ids >= 0) & (class_ids < n) & (probs > 0)
        divided = np.where(known, probs / self._divisor[np.where(known, class_ids, 0)], 0.0)
        before = np.where(known, probs, 0.0).sum(axis=-1, keepdims=True)
        after = divided.sum(axis=-1, keepdims=True)
        scale = np.divide(before, after, out=np.zeros_like(after), where=after > 0)
        return np.where(known, divided * scale, probs).astype(np.float32)

    def classes(self, lemma: str, base_forms: list[str] | None = None) -> dict[int, float]:
        """The learnt classes of a lemma, or of its first base form that has some ("trees" -> "tree")."""
        for form in [lemma, *(base_forms or [])]:
            found = self.terms.get(form)
            if found:
                return found
        return {}


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
