"""What a user taught the library, in the PostgreSQL store: the same records and behaviour as the
embedded store's LearnedStore (store/learned.py), in the owner-keyed tables `learned` and
`learned_examples` (schema.py). Writes join the store's transaction (durable at its commit)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from pixseek.store.base import LearnedModel
from pixseek.store.postgres.db import Database
from pixseek.store.postgres.schema import SCHEMA

_COLUMNS = "kind, name, trained_on, model, updated_at"
LEARNED_TABLES = [s[s.index("CREATE TABLE"):] for s in SCHEMA.split(";") if "CREATE TABLE IF NOT EXISTS learned" in s]


def _model(row: tuple) -> LearnedModel:
    return LearnedModel(row[0], row[1], row[2], bytes(row[3]), float(row[4]))


class PostgresLearned:
    def __init__(self, db: Database) -> None:
        self._db = db
        # A database made at schema 3 before these tables were added to it gets them here.
        with db.lock:
            found = db.execute("SELECT to_regclass('learned') IS NOT NULL AND to_regclass('learned_examples') IS NOT NULL").fetchone()[0]
            if not found:
                with db.transaction():
                    for statement in LEARNED_TABLES:
                        db.execute(statement)

    def put(self, owner: int, kind: str, name: str, trained_on: str, model: bytes, updated_at: float | None = None) -> None:
        with self._db.lock:
            self._db.begin()
            self._db.execute(
                "INSERT INTO learned (owner, kind, name, trained_on, model, updated_at) VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (owner, kind, name) DO UPDATE SET trained_on = EXCLUDED.trained_on, "
                "model = EXCLUDED.model, updated_at = EXCLUDED.updated_at",
                (owner, kind, name, trained_on, model, time.time() if updated_at is None else updated_at),
            )

    def get(self, owner: int, kind: str, name: str) -> LearnedModel | None:
        with self._db.lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM learned WHERE owner = %s AND kind = %s AND name = %s", (owner, kind, name)
            ).fetchone()
        return None if row is None else _model(row)

    def models(self, owner: int, kind: str) -> list[LearnedModel]:
        with self._db.lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM learned WHERE owner = %s AND kind = %s ORDER BY name", (owner, kind)
            ).fetchall()
        return [_model(r) for r in rows]

    def names(self, owner: int, kind: str) -> list[str]:
        with self._db.lock:
            rows = self._db.execute(
                "SELECT name FROM learned WHERE owner = %s AND kind = %s ORDER BY name", (owner, kind)
            ).fetchall()
        return [r[0] for r in rows]

    def set_examples(self, owner: int, kind: str, name: str, examples: Sequence[tuple[str, str]]) -> None:
        with self._db.lock:
            self._db.begin()
            self._db.execute(
                "DELETE FROM learned_examples WHERE owner = %s AND kind = %s AND name = %s", (owner, kind, name)
            )
            unique = sorted(set(examples))
            if unique:
                self._db.execute(
                    "INSERT INTO learned_examples (owner, kind, name, sha256, label) "
                    "SELECT %s, %s, %s, u.sha, u.label FROM unnest(%s::text[], %s::text[]) AS u(sha, label)",
                    (owner, kind, name, [s for s, _ in unique], [lbl for _, lbl in unique]),
                )

    def examples(self, owner: int, kind: str, name: str) -> list[tuple[str, str]]:
        with self._db.lock:
            rows = self._db.execute(
                "SELECT sha256, label FROM learned_examples WHERE owner = %s AND kind = %s AND name = %s "
                "ORDER BY sha256, label",
                (owner, kind, name),
            ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def forget(self, owner: int, kind: str, name: str) -> bool:
        with self._db.lock:
            self._db.begin()
            gone = self._db.execute(
                "DELETE FROM learned WHERE owner = %s AND kind = %s AND name = %s", (owner, kind, name)
            ).rowcount
            gone += self._db.execute(
                "DELETE FROM learned_examples WHERE owner = %s AND kind = %s AND name = %s", (owner, kind, name)
            ).rowcount
        return gone > 0

    def contents_of(self, owner: int, sha256s: Sequence[str]) -> dict[str, tuple[int, str]]:
        unique = sorted(set(sha256s))
        if not unique:
            return {}
        with self._db.lock:
            rows = self._db.execute(
                "SELECT c.sha256, c.id, c.analyzer FROM contents c WHERE c.owner = %s AND c.sha256 = ANY(%s::text[]) "
                "AND EXISTS (SELECT 1 FROM files f WHERE f.owner = c.owner AND f.content_id = c.id) ORDER BY c.id",
                (owner, unique),
            ).fetchall()
        return {sha: (int(cid), analyzer) for sha, cid, analyzer in rows}  # ascending ids: the newest wins

    def export(self, owner: int) -> list[tuple[LearnedModel, list[tuple[str, str]]]]:
        with self._db.lock:
            kinds = [r[0] for r in self._db.execute(
                "SELECT DISTINCT kind FROM learned WHERE owner = %s ORDER BY kind", (owner,)
            ).fetchall()]
        return [(m, self.examples(owner, m.kind, m.name)) for kind in kinds for m in self.models(owner, kind)]

    def count(self, owner: int | None = None) -> int:
        with self._db.lock:
            if owner is None:
                return int(self._db.execute("SELECT count(*) FROM learned").fetchone()[0])
            return int(self._db.execute("SELECT count(*) FROM learned WHERE owner = %s", (owner,)).fetchone()[0])
