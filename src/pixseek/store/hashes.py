"""Perceptual hashes of image contents (analyzers/phash.py) in the embedded store: one signed
64-bit integer per content, in `contents.phash` (NULL: the content was analysed before hashes
existed; `pipeline/duplicates.py` computes those once, on the first `pixseek duplicates`)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping
from typing import Callable

# Schema step 8 (issue 17). Video frames need no table of their own: each is a content held by a
# file row at "<video>#t=<seconds>" (records.frame_path).
MIGRATE_V7_TO_V8 = "ALTER TABLE contents ADD COLUMN phash INTEGER;"

_SQL_CHUNK = 500


class EmbeddedHashes:
    """The perceptual-hash part of EmbeddedStore; shares its connection, lock and transaction."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock, begin: Callable[[], None]) -> None:
        self._db = db
        self._lock = lock
        self._begin = begin

    def live(self, owner: int) -> dict[int, int | None]:
        """Every live content of the owner -> its hash (None: not computed yet)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT c.id, c.phash FROM contents c WHERE c.owner = ? AND EXISTS "
                "(SELECT 1 FROM files f WHERE f.content_id = c.id AND f.owner = c.owner)",
                (owner,),
            ).fetchall()
        return {int(cid): (None if h is None else int(h)) for cid, h in rows}

    def of(self, owner: int, content_ids: list[int]) -> dict[int, int]:
        """The hashes of these contents of the owner that have one (live or not)."""
        found: dict[int, int] = {}
        with self._lock:
            for i in range(0, len(content_ids), _SQL_CHUNK):
                chunk = [int(c) for c in content_ids[i : i + _SQL_CHUNK]]
                found.update(
                    self._db.execute(
                        f"SELECT id, phash FROM contents WHERE owner = ? AND phash IS NOT NULL "
                        f"AND id IN ({','.join('?' * len(chunk))})",
                        [owner, *chunk],
                    ).fetchall()
                )
        return found

    def put(self, owner: int, hashes: Mapping[int, int]) -> None:
        """Set contents' hashes (only the owner's); durable at the store's commit()."""
        if not hashes:
            return
        with self._lock:
            self._begin()
            self._db.executemany(
                "UPDATE contents SET phash = ? WHERE id = ? AND owner = ?",
                [(int(h), int(cid), owner) for cid, h in hashes.items()],
            )
