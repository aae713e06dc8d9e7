"""Everything a query reads from the language layer, built once before anyone searches.

The WordNet subset, the word vectors' index, the concept tables and the FreeDict dictionaries'
indexes are derived from system packages into the cache directory (~20 s of work when cold).
`pixseek prepare` (run by the project's setup) and the first `pixseek index` build them, so that
a user's first search only opens them (tens of ms); a marker names the versions it built.
"""

from __future__ import annotations

from pathlib import Path

from pixseek.fsutil import atomic_write
from pixseek.language.concepts import CACHE_VERSION as CONCEPTS_VERSION
from pixseek.language.concepts import ConceptSpace
from pixseek.language.freedict import CACHE_VERSION as FREEDICT_VERSION

PREPARED_KEY = f"{CONCEPTS_VERSION}+{FREEDICT_VERSION}"


def marker_path(cache_dir: Path) -> Path:
    return Path(cache_dir) / f"prepared-{PREPARED_KEY}"


def is_prepared(cache_dir: Path) -> bool:
    """Whether this version's tables were all built in `cache_dir` (each also checks its sources)."""
    return marker_path(cache_dir).is_file()


def prepare(cache_dir: Path) -> bool:
    """Build what is missing and load everything once; True if this call had to build anything."""
    from pixseek.language.multilingual import multilingual

    if is_prepared(cache_dir):
        return False
    concepts = ConceptSpace(cache_dir)
    concepts.warm()
    multilingual(concepts).warm()
    atomic_write(marker_path(cache_dir), lambda f: f.write(PREPARED_KEY.encode()))
    return True
