"""What a user taught the library, in the embedded store (store.base.LearnedRecords): trained
models (a personal concept, a joint image-word head) and the examples they were trained from.

    learned (owner, kind, name, trained_on, model, updated_at)    one row per model (schema step 6)
    learned_examples (owner, kind, name, sha256, label)           its examples, by content hash

Examples are kept by content hash, not content id, so they outlive a re-index with another
analyser (new content ids) and a migration; `trained_on` names the classifier version of the
embeddings a model was trained on, so a model made stale by a new classifier is recognised.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from typing import Callable

from pixseek.store.base import LearnedModel

SCHEMA_V6 = """
CREATE TABLE IF NOT EXISTS learned (
    owner INTEGER NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    trained_on TEXT NOT NULL,
    model BLOB NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (owner, kind, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS learned_examples (
    owner INTEGER NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    label TEXT NOT NULL,
    PRIMARY KEY (owner, kind, name, sha256, label)
) WITHOUT ROWID;
"""
MIGRATE_V5_TO_V6 = SCHEMA_V6
_SQL_CHUNK = 500


class LearnedStore:
    """The learned part of EmbeddedStore; shares its connection, lock and write transaction."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock, begin: Callable[[], None]) -> None:
        self._db = db
        self._lock = lock
        self._begin = begin
        # A library another pixseek build migrated past step 6 without these tables (the steps of
        # issues 14-17 landed in a different order) gets them here: idempotent, no write if present.
        with lock:
            if db.execute("SELECT count(*) FROM sqlite_master WHERE name IN ('learned', 'learned_examples')").fetchone()[0] < 2:
                for statement in (s.strip() for s in SCHEMA_V6.split(";")):
                    if statement:
                        db.execute(statement)

    def put(self, owner: int, kind: str, name: str, trained_on: str, model: bytes, updated_at: float | None = None) -> None:
        with self._lock:
            self._begin()
            self._db.execute(
                "INSERT OR REPLACE INTO learned (owner, kind, name, trained_on, model, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (owner, kind, name, trained_on, model, time.time() if updated_at is None else updated_at),
            )

    def get(self, owner: int, kind: str, name: str) -> LearnedModel | None:
        with self._lock:
            row = self._db.execute(
                "SELECT kind, name, trained_on, model, updated_at FROM learned WHERE owner = ? AND kind = ? AND name = ?",
                (owner, kind, name),
            ).fetchone()
        return None if row is None else LearnedModel(row[0], row[1], row[2], bytes(row[3]), row[4])

    def models(self, owner: int, kind: str) -> list[LearnedModel]:
        with self._lock:
            rows = self._db.execute(
                "SELECT kind, name, trained_on, model, updated_at FROM learned WHERE owner = ? AND kind = ? ORDER BY name",
                (owner, kind),
            ).fetchall()
        return [LearnedModel(r[0], r[1], r[2], bytes(r[3]), r[4]) for r in rows]

    def names(self, owner: int, kind: str) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT name FROM learned WHERE owner = ? AND kind = ? ORDER BY name", (owner, kind)
            ).fetchall()
        return [r[0] for r in rows]

    def set_examples(self, owner: int, kind: str, name: str, examples: Sequence[tuple[str, str]]) -> None:
        with self._lock:
            self._begin()
            self._db.execute("DELETE FROM learned_examples WHERE owner = ? AND kind = ? AND name = ?", (owner, kind, name))
            self._db.executemany(
                "INSERT OR IGNORE INTO learned_examples (owner, kind, name, sha256, label) VALUES (?, ?, ?, ?, ?)",
                [(owner, kind, name, sha, label) for sha, label in examples],
            )

    def examples(self, owner: int, kind: str, name: str) -> list[tuple[str, str]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT sha256, label FROM learned_examples WHERE owner = ? AND kind = ? AND name = ? ORDER BY sha256, label",
                (owner, kind, name),
            ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def forget(self, owner: int, kind: str, name: str) -> bool:
        with self._lock:
            self._begin()
            gone = self._db.execute(
                "DELETE FROM learned WHERE owner = ? AND kind = ? AND name = ?", (owner, kind, name)
            ).rowcount
            gone += self._db.execute(
                "DELETE FROM learned_examples WHERE owner = ? AND kind = ? AND name = ?", (owner, kind, name)
            ).rowcount
        return gone > 0

    def contents_of(self, owner: int, sha256s: Sequence[str]) -> dict[str, tuple[int, str]]:
        """sha256 -> (content id, analyzer) of the owner's live content with those bytes (the
        newest analysis where there are several)."""
        out: dict[str, tuple[int, str]] = {}
        unique = sorted(set(sha256s))
        with self._lock:
            for start in range(0, len(unique), _SQL_CHUNK):
                chunk = unique[start : start + _SQL_CHUNK]
                rows = self._db.execute(
                    "SELECT c.sha256, c.id, c.analyzer FROM contents c WHERE c.owner = ? AND c.sha256 IN "
                    f"({','.join('?' * len(chunk))}) AND EXISTS (SELECT 1 FROM files f WHERE f.content_id = c.id "
                    "AND f.owner = c.owner) ORDER BY c.id",
                    [owner, *chunk],
                ).fetchall()
                for sha, cid, analyzer in rows:
                    out[sha] = (int(cid), analyzer)  # ascending ids: the newest wins
        return out

    def export(self, owner: int) -> list[tuple[LearnedModel, list[tuple[str, str]]]]:
        """Every model of the owner with its examples (a migration copies them)."""
        with self._lock:
            kinds = [r[0] for r in self._db.execute("SELECT DISTINCT kind FROM learned WHERE owner = ?", (owner,))]
        return [(m, self.examples(owner, m.kind, m.name)) for kind in sorted(kinds) for m in self.models(owner, kind)]

    def count(self, owner: int | None = None) -> int:
        with self._lock:
            if owner is None:
                return int(self._db.execute("SELECT count(*) FROM learned").fetchone()[0])
            return int(self._db.execute("SELECT count(*) FROM learned WHERE owner = ?", (owner,)).fetchone()[0])
