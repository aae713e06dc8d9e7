"""The storage contract. The indexer writes through it, the search engine reads through it.

An implementation keeps, per image content (identified by its SHA-256): metadata, the sparse
category vector (forward row + posting lists), the dense embedding (k-NN), and the files that
hold that content. The embedded implementation is `EmbeddedStore`; a PostgreSQL + pgvector one
can implement the same methods without touching analyzers or search logic.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import NDArray

from pixseek.records import (
    Analysis,
    Face,
    FileState,
    ImageFilter,
    IndexedFile,
    Person,
    SparseVector,
    StoredFace,
    StoredImage,
    TextLine,
    VIDEO_FORMAT_PREFIX,
    Vector,
)

if TYPE_CHECKING:
    from pixseek.store.accounts import Accounts
    from pixseek.store.places import PlaceStore


ID_MAX = 2**62  # record ids beyond this cannot exist (and would overflow SQLite's integers)
KeptIds = tuple[int, list[int]]  # (content id, its face ids in the faces' order) that a migration keeps


def filter_sql(owner: int, where: ImageFilter | None, mark: str, owner_column: str = "f.owner") -> tuple[str, list]:
    """SQL conditions over `files f JOIN contents c` for both stores (`mark`: "?" for SQLite,
    "%s" for psycopg): always the owner's files, plus the filter."""
    clauses, params = [f"{owner_column} = {mark}"], [owner]
    if where is not None:
        if where.path_prefix:
            prefix = where.path_prefix.rstrip("/") + "/"
            clauses.append(f"substr(f.path, 1, {mark}) = {mark}")  # not LIKE: paths may contain % and _
            params += [len(prefix), prefix]
        if where.taken_from:
            clauses.append(f"c.taken_at >= {mark}")
            params.append(where.taken_from)
        if where.taken_to:
            clauses.append(f"c.taken_at <= {mark}")
            params.append(where.taken_to + ("" if "T" in where.taken_to else "T99"))
        if where.camera:
            clauses.append(f"lower(coalesce(c.camera_make, '') || ' ' || coalesce(c.camera_model, '')) LIKE {mark}")
            params.append(f"%{where.camera.lower()}%")
        _query_language_sql(where, mark, clauses, params)
    return " AND ".join(clauses), params


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _query_language_sql(where: ImageFilter, mark: str, clauses: list[str], params: list) -> None:
    """The filters of the query language (language/syntax.py): any-year spans, places, people,
    photos or videos, folder names. Same SQL on SQLite and PostgreSQL."""
    if where.month_days:
        spans = " OR ".join(f"substr(c.taken_at, 6, 5) BETWEEN {mark} AND {mark}" for _ in where.month_days)
        clauses.append(f"({spans})")
        params += [day for span in where.month_days for day in span]
    if where.places:
        options = []
        for country, region, city in where.places:
            parts = [f"pl.country_code = {mark}"]
            params.append(country)
            for column, value in (("region", region), ("city", city)):
                if value is not None:
                    parts.append(f"pl.{column} = {mark}")
                    params.append(value)
            options.append("(" + " AND ".join(parts) + ")")
        clauses.append(
            "EXISTS (SELECT 1 FROM places pl WHERE pl.owner = c.owner AND pl.content_id = c.id AND ("
            + " OR ".join(options) + "))"
        )
    if where.person_ids is not None:
        if not where.person_ids:
            clauses.append("1 = 0")
        else:
            marks = ", ".join(mark for _ in where.person_ids)
            clauses.append(
                "EXISTS (SELECT 1 FROM faces fa WHERE fa.owner = c.owner AND fa.content_id = c.id "
                f"AND fa.person_id IN ({marks}))"
            )
            params += list(where.person_ids)
    if where.media in ("photo", "video"):
        clauses.append(f"c.format {'NOT ' if where.media == 'photo' else ''}LIKE {mark}")
        params.append(VIDEO_FORMAT_PREFIX + "%")
    if where.folders:
        # A folder of the path (not the file name) whose name contains the word.
        clauses.append("(" + " OR ".join(f"lower(f.path) LIKE {mark} ESCAPE '\\'" for _ in where.folders) + ")")
        params += [f"%/%{_like_escaped(name.lower())}%/%" for name in where.folders]



class StoreError(RuntimeError):
    """The store cannot be opened or used (clear message for the user)."""


def newer_schema(store: str, found: int, known: int) -> StoreError:
    """The refusal of a store whose schema a newer pixseek wrote (`store`: "the library at ...")."""
    return StoreError(f"{store} was written by a newer pixseek (schema {found} > {known}); upgrade pixseek to use it")


class StoreUnavailable(StoreError):
    """The store's server went away mid-operation: what was not committed is lost; reconnect()
    and go on from the last commit."""


@dataclass
class StoreStats:
    images: int  # distinct live contents
    files: int
    unreferenced: int  # analysed contents no file points to any more (kept for moves/restores)
    faces: int = 0  # faces in live images
    with_text: int = 0  # live images in which text was read
    people: int = 0  # groups of faces (for one owner)
    file_bytes: int = 0  # size of the original files
    bytes_by_part: dict[str, int] = field(default_factory=dict)
    analyzers: dict[str, int] = field(default_factory=dict)
    spaces: dict[str, int] = field(default_factory=dict)  # vector space -> live images with a vector in it


class FaceRecords(Protocol):
    """Faces (written with their image's analysis) and the people they are grouped into.
    Automatic grouping only ever assigns ungrouped faces; user corrections are marked "user"."""

    def add(
        self, owner: int, content_id: int, sha256: str, faces: list[Face], face_ids: list[int] | None = None
    ) -> list[int]:
        """The new faces' ids, in the faces' order (`face_ids`: these, kept by a migration)."""

    def create_person(self, owner: int, name: str | None = None, person_id: int | None = None) -> int:
        """A new person's id (`person_id`: this one, kept by a migration)."""

    def assign(self, owner: int, face_ids: list[int], person_id: int | None, by: str) -> int:
        """Put the owner's faces into a person (None: no person); by "auto" or "user"."""

    def rename(self, owner: int, person_id: int, name: str | None) -> bool: ...

    def merge(self, owner: int, into: int, others: list[int]) -> None: ...

    def get(self, owner: int, face_ids: list[int], live_only: bool = True) -> list[StoredFace]: ...

    def of_images(self, owner: int, content_ids: list[int]) -> dict[int, list[StoredFace]]: ...

    def embeddings(self, owner: int, face_ids: NDArray[np.int64] | list[int]) -> NDArray[np.float32]:
        """(n, 128) rows of the owner's faces, in the order of face_ids (vetted ids; KeyError for others)."""

    def owner_face_ids(self, owner: int, ungrouped_only: bool = False) -> NDArray[np.int64]: ...

    def assignments(self, owner: int) -> list[tuple[int, int, int | None, str | None]]:
        """(face id, content id, person id, assigned by) of all the owner's faces, ascending."""

    def count(self, owner: int | None = None) -> int: ...

    def nearest(self, owner: int, vector: Vector, k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """The owner's k live faces nearest to `vector` (ids, Euclidean distances), nearest first."""

    def person(self, owner: int, person_id: int) -> Person | None: ...

    def people(self, owner: int, person_id: int | None = None, include_empty: bool = False) -> list[Person]: ...

    def names(self, owner: int) -> dict[int, str]: ...

    def presence(
        self, owner: int, person_ids: list[int] | None = None, content_ids: list[int] | None = None,
        limit: int | None = None,
    ) -> dict[int, float]:
        """content id -> height fraction of its largest face (of `person_ids`), largest first."""


@dataclass(frozen=True)
class TextMatch:
    """Contents whose text matched a phrase: exactly (stemmed words) or only as a prefix."""

    exact: frozenset[int]
    prefix: frozenset[int]


class TextRecords(Protocol):
    """Text read in images (written with their analysis) and full-text search over it."""

    def add(self, content_id: int, lines: list[TextLine]) -> None: ...

    def lines(self, owner: int, content_id: int) -> list[TextLine] | None:
        """The lines in reading order; None if text was not looked for (or not the owner's)."""

    def match(self, owner: int, words: list[str], limit: int, prefix: bool = False) -> TextMatch:
        """The owner's contents whose text holds the words as a phrase (stemmed, accents folded);
        with prefix, also where the last word only begins a word. Not live-filtered."""

    def snippets(self, owner: int, content_ids: list[int], phrases: list[list[str]]) -> dict[int, str]:
        """An excerpt of each image's text around the phrases, matches in [brackets]."""

    def count(self, owner: int | None = None) -> int: ...


class VectorSpaces(Protocol):
    """Dense vectors per image content beyond the classifier's embedding, in named spaces: a
    vision-language model's image embeddings ("clip-vit-b-32@<version>"), a learned joint
    image-word space. Each space has its own dimension and its own ANN index; several coexist.
    Vectors are stored L2-normalised (similarity = cosine), at half precision. Reads are
    owner-filtered like every read. Names: printable, 1-200 characters; dimensions 1-4000.
    A space that does not exist: put/get/missing/nearest raise StoreError, count is 0, drop
    does nothing. Analysis.vectors (space -> vector) written through add_content(s) lands here
    too (the space is created with the vector's dimension)."""

    def ensure(self, space: str, dim: int) -> None:
        """Create the space if it is new (a space's dimension never changes: StoreError)."""

    def spaces(self) -> dict[str, int]:
        """Every space: name -> dimension."""

    def put(self, owner: int, space: str, content_ids: Sequence[int], vectors: NDArray[np.float32]) -> None:
        """Set the vectors (n, dim) of the owner's contents (replacing any; StoreError for a
        content that is not the owner's, a wrong shape or a non-finite value); durable at the
        store's commit()."""

    def get(self, owner: int, space: str, content_ids: NDArray[np.int64]) -> tuple[NDArray[np.bool_], NDArray[np.float32]]:
        """(which ids are the owner's and have a vector in the space, their vectors (n, dim);
        zeros where absent)."""

    def missing(self, owner: int, space: str, limit: int, after: int = 0) -> NDArray[np.int64]:
        """The owner's live contents with id > after that have no vector in the space yet,
        ascending, at most `limit` (a re-embed's work list: pass the last id seen as `after` to
        walk past contents that could not be embedded)."""

    def nearest(self, owner: int, space: str, vector: Vector, k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """The k contents most similar to `vector` in the space (ids, cosines), best first; like
        Store.knn they may be another owner's (embedded) or dead: filter with live()."""

    def count(self, space: str, owner: int | None = None) -> int:
        """Live contents (the owner's, or everyone's) with a vector in the space."""

    def drop(self, space: str) -> None:
        """Forget a space and its vectors (at the store's commit())."""


class PerceptualHashes(Protocol):
    """A 64-bit perceptual hash per image content (analyzers/phash.py, signed), written with its
    analysis (Analysis.phash) or later, for contents analysed before hashes existed."""

    def live(self, owner: int) -> dict[int, int | None]:
        """Every live content of the owner -> its hash (None: not computed yet)."""

    def of(self, owner: int, content_ids: list[int]) -> dict[int, int]:
        """The hashes of these contents of the owner that have one (live or not)."""

    def put(self, owner: int, hashes: Mapping[int, int]) -> None:
        """Set contents' hashes (only the owner's); durable at the store's commit()."""

@dataclass(frozen=True)
class LearnedModel:
    """A model trained for one user: a taught concept ("concept") or a joint image-word head
    ("head"); `model` is its file (search/taught.py, search/joint.py), `trained_on` the classifier
    version of the embeddings it was trained on."""

    kind: str
    name: str
    trained_on: str
    model: bytes
    updated_at: float


class LearnedRecords(Protocol):
    """Models a user trained and their examples (by content hash: they outlive a re-index and a
    migration). Labels: "+" an example, "-" a picture marked "not this" (concepts); a label path
    (heads). Writes are durable at the store's commit()."""

    def put(self, owner: int, kind: str, name: str, trained_on: str, model: bytes, updated_at: float | None = None) -> None: ...

    def get(self, owner: int, kind: str, name: str) -> LearnedModel | None: ...

    def models(self, owner: int, kind: str) -> list[LearnedModel]: ...

    def names(self, owner: int, kind: str) -> list[str]: ...

    def set_examples(self, owner: int, kind: str, name: str, examples: Sequence[tuple[str, str]]) -> None:
        """Replace the model's examples: (sha256, label) pairs."""

    def examples(self, owner: int, kind: str, name: str) -> list[tuple[str, str]]: ...

    def forget(self, owner: int, kind: str, name: str) -> bool:
        """Drop the model and its examples; whether there was one."""

    def contents_of(self, owner: int, sha256s: Sequence[str]) -> dict[str, tuple[int, str]]:
        """sha256 -> (content id, analyzer) of the owner's live content with those bytes."""

    def export(self, owner: int) -> list[tuple[LearnedModel, list[tuple[str, str]]]]:
        """Every model of the owner with its examples (a migration copies them)."""

    def count(self, owner: int | None = None) -> int: ...



class Store(Protocol):
    """Every image record has an owner (a user id); every read is filtered by owner here, in the
    storage layer, so no caller can see another user's images by mistake or by guessing ids."""

    accounts: "Accounts"  # users, tokens, attached folders, upload jobs
    faces: FaceRecords  # faces and people
    texts: TextRecords  # text read in images
    hashes: PerceptualHashes  # perceptual hashes, for near-duplicates
    learned: LearnedRecords  # concepts and joint-space heads a user trained (store/learned.py)
    spaces: VectorSpaces  # vision-language and learned embeddings, one space per model
    places: "PlaceStore"  # where geotagged images were taken (store/places.py, both stores)

    # ---- writes (the indexer) -------------------------------------------------------------
    def indexed_files(self, owner: int, under: str | None = None) -> dict[str, IndexedFile]: ...

    def find_content(self, owner: int, sha256: str, analyzer: str) -> int | None:
        """Id of the owner's analysis of these bytes by this analyzer version, live or not."""

    def add_content(self, owner: int, sha256: str, analyzer: str, analysis: Analysis) -> int: ...

    def add_contents(
        self, owner: int, items: Sequence[tuple[str, str, Analysis]], kept_ids: Sequence[KeptIds] | None = None
    ) -> list[int]:
        """add_content for each (sha256, analyzer, analysis), as fast as the engine allows; the
        new ids, in the items' order. `kept_ids`: per item, the content and face ids to use (a
        migration keeps them, so that the ids the HTTP API derives from them stay the same)."""

    def bulk_load(self) -> AbstractContextManager[None]:
        """Around a large import (a migration): the store may defer index maintenance to its end."""

    def put_file(self, owner: int, state: FileState, content_id: int) -> None:
        """Insert or replace the file at state.path, pointing at content_id."""

    def move_file(self, owner: int, old_path: str, new: FileState) -> None: ...

    def remove_files(self, owner: int, paths: list[str]) -> None: ...

    def remove_image(self, owner: int, content_id: int) -> list[str]:
        """Forget every file of the owner holding this content; returns their paths."""

    def commit(self) -> None:
        """Durability point: everything written so far survives a crash."""

    def refresh_indexes(self) -> None:
        """Bring derived indexes (posting lists, ANN graph) up to date with the contents."""

    def replace_categories(self, owner: int, content_id: int, categories: SparseVector, analyzer: str) -> bool:
        """Rewrite one of the owner's contents' forward row and analyzer version in place: an older
        analysis given what a newer version adds without analysing again (the image
        characteristics). Its posting lists follow at once (PostgreSQL) or at the next
        refresh_indexes (embedded). False if the owner has no such content."""

    # ---- reads (the search engine) --------------------------------------------------------
    def get_images(self, owner: int, content_ids: list[int]) -> list[StoredImage]:
        """The owner's live images among content_ids, in the given order (others are dropped)."""

    def list_images(
        self, owner: int, where: ImageFilter | None = None, offset: int = 0, limit: int = 50
    ) -> tuple[int, list[StoredImage]]:
        """(total, one page) of the owner's images, newest first."""

    def content_of_path(self, owner: int, path: str) -> int | None:
        """Content id of the owner's indexed file at `path` (absolute), if any."""

    def live(
        self, owner: int, content_ids: NDArray[np.int64], where: ImageFilter | None = None
    ) -> NDArray[np.bool_]:
        """Mask of ids held by at least one of the owner's files (and matching `where`)."""

    def matching(
        self, owner: int, where: ImageFilter | None = None, limit: int | None = None
    ) -> NDArray[np.int64]:
        """The owner's live content ids matching `where`, ascending, at most `limit` of them."""

    def count_images(self, owner: int) -> int:
        """How many analysed contents the owner has (live or not): a cheap upper bound."""

    def categories(self, owner: int, content_ids: NDArray[np.int64]) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
        """Forward rows: class ids (n, K) and probabilities (n, K). Callers pass ids vetted for the
        owner; the owner lets a sharded store read from that owner's shard only."""

    def embeddings(self, owner: int, content_ids: NDArray[np.int64]) -> NDArray[np.float32]:
        """The embeddings (n, D) of ids vetted for the owner, as categories()."""

    def sparse_candidates(
        self, owner: int, query: SparseVector, min_impact: float, budget: int
    ) -> NDArray[np.int64]:
        """Ids where some query class has weight × probability >= min_impact (posting-list heads),
        reading about `budget` entries at most, shared among the classes by weight. A store may
        read only the owner's lists (PostgreSQL) or lists shared by all owners (embedded): either
        way candidates must go through live() before anything is shown."""

    def sparse_heads(
        self, owner: int, query: SparseVector, min_impact: float, budget: int
    ) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float32]]:
        """sparse_candidates' ids with their forward rows, as categories() gives them: (ids, class
        ids (n, K), probabilities (n, K)). A store may read both at once (PostgreSQL's heads carry
        the rows)."""

    def knn(self, owner: int, vector: Vector, k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """k nearest contents by cosine similarity: the owner's (PostgreSQL) or any owner's
        (embedded), maybe dead either way: filter with live()."""

    def content_count(self) -> int: ...

    def others_have_contents(self, owner: int) -> bool:
        """Whether any other owner has contents here (a few index seeks, whatever the size)."""

    def export_contents(self, owner: int) -> Iterator[tuple[int, str, str, Analysis]]:
        """Every content of the owner, live or not, ascending id: (id, sha256, analyzer, the
        analysis as stored, faces and text included). Streams: a migration reads it."""

    def stats(self, owner: int | None = None) -> StoreStats: ...

    def reconnect(self) -> None:
        """After StoreUnavailable: connect again (the embedded store never loses its connection)."""

    def close(self) -> None: ...
