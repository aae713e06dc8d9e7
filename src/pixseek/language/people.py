"""People in queries: the user's names for people, and the words that mean "a person is in it".

ImageNet-1k has no person class, so "person", "people", "face" are answered by the face
detector. A person's name (full, or any one of its words: "alice" finds "Alice Martin") means
that person's faces. Names are the user's own words, so they are looked up before the
dictionary; a name that is also a word ("Rose") keeps the word's meaning as well.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict

from pixseek.language.concepts import ConceptSpace, FaceTerm, TermVector
from pixseek.records import SparseVector

# Gender- and age-neutral on purpose: the detector finds faces, it does not tell who is a "woman".
# "portrait", "selfie", "crowd" are image characteristics made from the faces (language/characteristics.py).
FACE_WORDS = frozenset("""person persons people human humans face faces someone somebody""".split())
_EMPTY = SparseVector.from_dict({})


def name_key(text: str) -> str:
    """How names are compared: case-, accent- and spacing-insensitive."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in folded if not unicodedata.combining(c)).split())


class PeopleVocabulary:
    """The concept space plus one user's people: what `parse_query` reads a query with."""

    def __init__(self, concepts: ConceptSpace, names: dict[int, str]) -> None:
        self.concepts = concepts
        self._names = names
        self._people: dict[str, set[int]] = defaultdict(set)  # name or name word -> person ids
        for person_id, name in names.items():
            key = name_key(name)
            if not key:
                continue
            self._people[key].add(person_id)
            for word in key.split():
                self._people[word].add(person_id)

    def encode_term(self, term: str) -> TermVector | None:
        key = name_key(term)
        people = self._people.get(key)
        meaning = self.concepts.encode_term(term)
        if people:
            shown = ", ".join(sorted(self._names[p] for p in people))
            faces, why = FaceTerm(tuple(sorted(people))), [f"person: {shown}"]
        elif key in FACE_WORDS:
            faces, why = FaceTerm(None), ["any face (faces stand in for people)"]
        else:
            return meaning
        return TermVector(
            term=" ".join(term.split()),
            vector=meaning.vector if meaning is not None else _EMPTY,
            why=why + (meaning.why if meaning is not None else []),
            faces=faces,
        )

    def is_known_phrase(self, words: list[str]) -> bool:
        return name_key(" ".join(words)) in self._people or self.concepts.is_known_phrase(words)
