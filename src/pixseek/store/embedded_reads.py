"""The embedded store's reads of file and content records (pixseek.db's `files` and `contents`):
images by id and by page, liveness and filters, counts, the export of every content, and stats."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray

from pixseek.records import Analysis, ImageFilter, ImageMeta, SparseVector, StoredImage
from pixseek.store.base import StoreStats, filter_sql
from pixseek.store.embedded_indexes import EMBEDDING_DIM, EmbeddedIndexes
from pixseek.store.hashes import EmbeddedHashes
from pixseek.store.sparse import ROW_BYTES, decode_row
from pixseek.store.texts import TextStore

_SQL_CHUNK = 500  # ids per IN (...) list

_OTHER_OWNERS = (
    "SELECT EXISTS (SELECT 1 FROM contents WHERE owner < ?) OR EXISTS (SELECT 1 FROM contents WHERE owner > ?)"
)

# The library's list shows a video once (its poster), not each sampled frame ("<video>#t=<s>"
# rows, records.frame_path; every real file's name ends in its image or video extension).
_NOT_A_FRAME = "f.path NOT GLOB '*#t=[0-9]*.[0-9][0-9][0-9]'"

_META_COLUMNS = "width, height, format, taken_at, camera_make, camera_model, gps_lat, gps_lon"


def _meta_from_row(row: tuple) -> ImageMeta:
    return ImageMeta(*row)


def _filter_sql(owner: int, where: ImageFilter | None, by_ids: bool = False) -> tuple[str, list]:
    """SQL conditions over `files f JOIN contents c`: always the owner's files, plus the filter.

    With by_ids (the query also restricts f.content_id to a short list), `+f.owner` keeps SQLite
    from walking the owner's whole index instead of looking the ids up (measured: 130 ms vs 1 ms
    per query at 100k images)."""
    return filter_sql(owner, where, "?", "+f.owner" if by_ids else "f.owner")


class EmbeddedReads(EmbeddedIndexes):
    """The record reads of EmbeddedStore (a base class of it, over its connection and lock)."""

    texts: TextStore
    hashes: EmbeddedHashes

    def _chunks(self, ids: NDArray[np.int64] | list[int]) -> Iterator[list[int]]:
        ids = [int(i) for i in ids]
        for i in range(0, len(ids), _SQL_CHUNK):
            yield ids[i : i + _SQL_CHUNK]

    def get_images(self, owner: int, content_ids: list[int]) -> list[StoredImage]:
        found: dict[int, StoredImage] = {}
        with self._lock:
            for chunk in self._chunks(content_ids):
                marks = ",".join("?" * len(chunk))
                for row in self._db.execute(
                    f"SELECT id, sha256, {_META_COLUMNS} FROM contents "
                    f"WHERE +owner = ? AND id IN ({marks})",
                    [owner, *chunk],
                ):
                    found[row[0]] = StoredImage(
                        row[0], row[1], [], _meta_from_row(row[2:]), SparseVector.from_dict({})
                    )
                for cid, path in self._db.execute(
                    f"SELECT content_id, path FROM files WHERE +owner = ? AND content_id IN ({marks}) "
                    "ORDER BY path",
                    [owner, *chunk],
                ):
                    found[cid].paths.append(path)
        result = []
        for cid in content_ids:
            image = found.get(int(cid))
            if image is not None and image.paths:
                image.categories = decode_row(self._categories.read(np.array([cid]))[0].tobytes())
                result.append(image)
        return result

    def list_images(
        self, owner: int, where: ImageFilter | None = None, offset: int = 0, limit: int = 50
    ) -> tuple[int, list[StoredImage]]:
        """(total, one page) of the owner's images, newest first (by EXIF date, then indexing)."""
        condition, params = _filter_sql(owner, where, by_ids=True)
        # Walk the owner's contents in (owner, taken_at) index order and keep those a file of
        # theirs still holds: a page costs its offset + limit rows, not a sort of the library.
        live_and_matching = (
            "EXISTS (SELECT 1 FROM files f WHERE f.content_id = c.id AND " + _NOT_A_FRAME + " AND " + condition + ")"
        )
        with self._lock:
            if where is None or where.is_empty():
                (total,) = self._db.execute(
                    f"SELECT count(DISTINCT content_id) FROM files f WHERE owner = ? AND {_NOT_A_FRAME}", (owner,)
                ).fetchone()
            else:
                (total,) = self._db.execute(
                    f"SELECT count(*) FROM contents c WHERE c.owner = ? AND {live_and_matching}",
                    [owner, *params],
                ).fetchone()
            ids = [
                r[0]
                for r in self._db.execute(
                    f"SELECT c.id FROM contents c WHERE c.owner = ? AND {live_and_matching} "
                    "ORDER BY c.taken_at DESC, c.id DESC LIMIT ? OFFSET ?",
                    [owner, *params, limit, offset],
                )
            ]
        return int(total), self.get_images(owner, ids)

    def content_of_path(self, owner: int, path: str) -> int | None:
        with self._lock:
            row = self._db.execute(
                "SELECT content_id FROM files WHERE path = ? AND owner = ?", (path, owner)
            ).fetchone()
        return int(row[0]) if row else None

    def live(
        self, owner: int, content_ids: NDArray[np.int64], where: ImageFilter | None = None
    ) -> NDArray[np.bool_]:
        condition, params = _filter_sql(owner, where, by_ids=True)
        alive: set[int] = set()
        with self._lock:
            for chunk in self._chunks(content_ids):
                marks = ",".join("?" * len(chunk))
                alive.update(
                    r[0]
                    for r in self._db.execute(
                        "SELECT DISTINCT f.content_id FROM files f JOIN contents c ON c.id = f.content_id "
                        f"WHERE f.content_id IN ({marks}) AND {condition}",
                        chunk + params,
                    )
                )
        return np.array([int(i) in alive for i in content_ids], dtype=bool)

    def matching(
        self, owner: int, where: ImageFilter | None = None, limit: int | None = None
    ) -> NDArray[np.int64]:
        condition, params = _filter_sql(owner, where)
        with self._lock:
            rows = self._db.execute(
                "SELECT DISTINCT f.content_id FROM files f JOIN contents c ON c.id = f.content_id "
                f"WHERE {condition} ORDER BY f.content_id LIMIT ?",
                [*params, -1 if limit is None else limit],
            ).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def count_images(self, owner: int) -> int:
        """How many analysed contents the owner has (live or not): a cheap upper bound."""
        with self._lock:
            # A library of one user (most of them) has no other owner's rows: then SQLite's bare
            # count(*) reads the smallest index's pages without stepping through its entries
            # (0.7 ms against 17 ms for `WHERE owner = ?` at 100k images).
            if self.others_have_contents(owner):
                (n,) = self._db.execute("SELECT count(*) FROM contents WHERE owner = ?", (owner,)).fetchone()
            else:
                (n,) = self._db.execute("SELECT count(*) FROM contents").fetchone()
        return int(n)

    def export_contents(self, owner: int) -> Iterator[tuple[int, str, str, Analysis]]:
        """Every content of the owner, live or not, ascending: (id, sha256, analyzer, analysis as
        stored: quantised categories, float16-precision embedding, faces, text), in batches."""
        after = 0
        while True:
            with self._lock:
                rows = self._db.execute(
                    f"SELECT id, sha256, analyzer, {_META_COLUMNS}, face_count, text_lines FROM contents "
                    "WHERE owner = ? AND id > ? ORDER BY id LIMIT ?",
                    (owner, after, _SQL_CHUNK),
                ).fetchall()
            if not rows:
                return
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            classes, probs = self.categories(owner, ids)
            embeddings = self.embeddings(owner, ids)
            faces = self.faces.export(owner, ids.tolist())
            hashes = self.hashes.of(owner, ids.tolist())
            vectors = {space: self.spaces.get(owner, space, ids) for space in self.spaces.spaces()}
            for n, row in enumerate(rows):
                cid, face_count, text_count = row[0], row[11], row[12]
                keep = probs[n] > 0
                yield cid, row[1], row[2], Analysis(
                    meta=_meta_from_row(row[3:11]),
                    categories=SparseVector(classes[n][keep], probs[n][keep]),
                    embedding=embeddings[n],
                    faces=None if face_count is None else faces.get(cid, []),
                    texts=None if text_count is None else self.texts.lines(owner, cid),
                    phash=hashes.get(cid),
                    vectors={space: rows_[n] for space, (has, rows_) in vectors.items() if has[n]},
                )
            after = int(rows[-1][0])

    def content_count(self) -> int:
        with self._lock:
            return self._end() - 1

    def others_have_contents(self, owner: int) -> bool:
        with self._lock:  # two seeks of an index that starts with the owner
            (others,) = self._db.execute(_OTHER_OWNERS, (owner, owner)).fetchone()
        return bool(others)

    def stats(self, owner: int | None = None) -> StoreStats:
        """Counts for one owner (or everyone); bytes on disk are the whole library's."""
        mine, params = ("WHERE owner = ?", [owner]) if owner is not None else ("", [])
        with self._lock:
            files, file_bytes = self._db.execute(
                f"SELECT count(*), coalesce(sum(size), 0) FROM files {mine}", params
            ).fetchone()
            (live_count,) = self._db.execute(
                f"SELECT count(DISTINCT content_id) FROM files {mine}", params
            ).fetchone()
            (contents,) = self._db.execute(f"SELECT count(*) FROM contents {mine}", params).fetchone()
            analyzers = dict(
                self._db.execute(
                    f"SELECT analyzer, count(*) FROM contents {mine} GROUP BY analyzer", params
                ).fetchall()
            )
        db_bytes = sum(p.stat().st_size for p in self.home.glob("pixseek.db*") if p.is_file())
        with self._lock:
            (faces,) = self._db.execute(
                f"SELECT count(*) FROM faces fa WHERE {'fa.owner = ? AND ' if owner is not None else ''}"
                "EXISTS (SELECT 1 FROM files f WHERE f.content_id = fa.content_id AND f.owner = fa.owner)",
                params,
            ).fetchone()
        return StoreStats(
            images=live_count,
            faces=int(faces),
            with_text=self.texts.count(owner),
            people=len(self.faces.people(owner)) if owner is not None else 0,
            files=files,
            unreferenced=contents - live_count,
            file_bytes=int(file_bytes),
            bytes_by_part={
                "metadata (SQLite)": db_bytes,
                "categories: forward rows": self._categories.rows() * ROW_BYTES,
                "categories: posting lists": self._postings.bytes_on_disk(),
                "embeddings": self._embeddings.rows() * EMBEDDING_DIM * 2,
                "ANN graph": self._dense.bytes_on_disk(),
                **self.faces.bytes_on_disk(),
                **self.spaces.bytes_on_disk(),
            },
            analyzers=analyzers,
            spaces={space: self.spaces.count(space, owner) for space in self.spaces.spaces()},
        )
