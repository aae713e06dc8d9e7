"""Text read in images as evidence for query terms (Dropbox ran a text index beside the concept
index and merged the two; here the text is one more kind of evidence per term).

A query term matches an image's text when its words occur there as a phrase (stemmed, accents
folded): "invoices" finds "INVOICE". Query words the concept space does not know ("2023",
"invoice", a brand name) become text-only terms when some image of the user has them in its
text, else they are reported as unknown. A quoted phrase ("\"total due\"") is literal: it is
matched in the text only, never read as concepts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pixseek.records import SparseVector
from pixseek.store.base import TextMatch, TextRecords

TEXT_EXACT_SCORE = 0.8  # the words are in the picture: as strong as a confident classifier hit
# The query's last word as a prefix of a word in the text ("invo" while typing "invoice"): weaker,
# and only from this length on, so "cat" does not find "catalogue".
TEXT_PREFIX_SCORE = 0.3
PREFIX_MIN_CHARS = 4
TEXT_CANDIDATES = 10_000  # images read per text term
_EMPTY = SparseVector.from_dict({})


@dataclass
class TextEvidence:
    """Which images hold a term's words in their text."""

    words: list[str]
    match: TextMatch

    def __bool__(self) -> bool:
        return bool(self.match.exact or self.match.prefix)

    def ids(self) -> NDArray[np.int64]:
        found = self.match.exact | self.match.prefix
        return np.fromiter(sorted(found), dtype=np.int64, count=len(found))

    def scores(self, ids: NDArray[np.int64]) -> NDArray[np.float32]:
        exact, prefix = self.match.exact, self.match.prefix
        return np.array(
            [TEXT_EXACT_SCORE if i in exact else TEXT_PREFIX_SCORE if i in prefix else 0.0 for i in ids.tolist()],
            dtype=np.float32,
        )


def find_text(texts: TextRecords, owner: int, words: list[str], prefix: bool = False) -> TextEvidence:
    """The owner's images whose text holds `words` as a phrase (or, with prefix, begins it)."""
    prefix = prefix and len(words[-1]) >= PREFIX_MIN_CHARS
    return TextEvidence(words, texts.match(owner, words, TEXT_CANDIDATES, prefix=prefix))


def empty_vector() -> SparseVector:
    """The concept vector of a text-only term: it reaches no class."""
    return _EMPTY
