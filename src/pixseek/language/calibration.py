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

The weights are the classifier's: they hold for the classifier version the file names
(`classifier`), and are re-learnt when it changes (tests/test_calibration.py checks the two agree).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

CALIBRATION_PATH = Path(__file__).resolve().parent / "data" / "concept_calibration.json"


@dataclass(frozen=True)
class Calibration:
    classifier: str  # the classifier version the weights were learnt for
    terms: dict[str, dict[int, float]]  # lemma ("evergreen_tree") -> class id -> weight in (0, 1]
    provenance: dict[str, object]

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
    return Calibration(data["classifier"], terms, data.get("provenance", {}))
