"""Perceptual hashes of image contents in the PostgreSQL store: `contents.phash` (bigint), as the
embedded store keeps them (store/hashes.py)."""

from __future__ import annotations

from collections.abc import Mapping

from pixseek.store.postgres.db import Database

# The column: schema.SCHEMA's `ALTER TABLE contents ADD COLUMN IF NOT EXISTS phash bigint`.


class PostgresHashes:
    def __init__(self, db: Database) -> None:
        self._db = db

    def live(self, owner: int) -> dict[int, int | None]:
        with self._db.lock:
            rows = self._db.execute(
                "SELECT c.id, c.phash FROM contents c WHERE c.owner = %s AND EXISTS "
                "(SELECT 1 FROM files f WHERE f.owner = c.owner AND f.content_id = c.id)",
                (owner,),
            ).fetchall()
        return {int(cid): (None if h is None else int(h)) for cid, h in rows}

    def of(self, owner: int, content_ids: list[int]) -> dict[int, int]:
        with self._db.lock:
            rows = self._db.execute(
                "SELECT id, phash FROM contents WHERE owner = %s AND id = ANY(%s::bigint[]) AND phash IS NOT NULL",
                (owner, [int(c) for c in content_ids]),
            ).fetchall()
        return {int(cid): int(h) for cid, h in rows}

    def put(self, owner: int, hashes: Mapping[int, int]) -> None:
        if not hashes:
            return
        with self._db.lock:
            self._db.begin()
            self._db.execute(
                "UPDATE contents c SET phash = u.phash FROM unnest(%s::bigint[], %s::bigint[]) AS u(id, phash) "
                "WHERE c.owner = %s AND c.id = u.id",
                ([int(c) for c in hashes], [int(h) for h in hashes.values()], owner),
            )
