"""Where photos were taken: one row per content with a GPS position, the place its coordinates
fall in (city, region, country; language/places.py names it from GeoNames data, offline).

The rows are derived from contents.gps_lat/gps_lon: `missing()` lists the contents with a
position and no row yet, the wiring geocodes them (pipeline/places.py) and `put()`s the places,
so a library indexed before places existed catches up the next time it is indexed or searched.
A position that is no place (the open sea) gets a row with an empty country code, so it is not
looked at again. The same SQL runs on SQLite and PostgreSQL (`mark` is the parameter style).

In the embedded store the catch-up keeps a high-water mark (meta `places_checked_through`): the
contents up to it have all been looked at, so the check a search makes first reads only newer
contents (a whole scan of `contents` was 40 ms per CLI search at 100k images). SQLite has one
writer at a time, so every id below a committed one is committed; PostgreSQL's sequence gives
ids to concurrent transactions that may commit later, so there every check scans, as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from pixseek.records import Place

# Embedded schema step 7 (issue 17); PostgreSQL: the same table in store/postgres/schema.py.
MIGRATE_V6_TO_V7 = """
CREATE TABLE IF NOT EXISTS places (
    content_id INTEGER PRIMARY KEY REFERENCES contents (id),
    owner INTEGER NOT NULL,
    city TEXT,
    region TEXT,
    country TEXT NOT NULL,
    country_code TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS places_by_owner ON places (owner, country_code, region, city)
"""

NO_PLACE = Place(None, None, "", "")  # a position GeoNames names no place for
_LIVE = "EXISTS (SELECT 1 FROM files f WHERE f.owner = {o} AND f.content_id = {c})"
_CHUNK = 500
_CHECKED_KEY = "places_checked_through"  # meta: the high-water mark of the catch-up (module doc)


class PlaceStore:
    """The places of one store's contents (see module doc). `db` has execute/executemany (a
    sqlite3 connection or store.postgres.db.Database); writes join the store's transaction."""

    def __init__(
        self,
        db: Any,
        lock: threading.RLock | AbstractContextManager,
        begin: Callable[[], None],
        mark: str,
        ids_in_commit_order: bool = False,
    ) -> None:
        self._db = db
        self._lock = lock
        self._begin = begin
        self._mark = mark
        self._checkpoints = ids_in_commit_order  # see the module doc: the embedded store only

    def missing(self, limit: int) -> list[tuple[int, int, float, float]]:
        """(owner, content id, lat, lon) of contents with a position and no place row, any owner
        (above the checked mark, where there is one)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT c.owner, c.id, c.gps_lat, c.gps_lon FROM contents c "
                f"WHERE c.id > {self._mark} AND c.gps_lat IS NOT NULL AND c.gps_lon IS NOT NULL AND NOT EXISTS "
                "(SELECT 1 FROM places pl WHERE pl.owner = c.owner AND pl.content_id = c.id) "
                f"ORDER BY c.id LIMIT {self._mark}",
                (self.checked_through(), limit),
            ).fetchall()
        return [(int(o), int(c), float(lat), float(lon)) for o, c, lat, lon in rows]

    def checked_through(self) -> int:
        """The content id up to which no content lacks its place row (0: unknown, check all)."""
        if not self._checkpoints:
            return 0
        with self._lock:
            row = self._db.execute(f"SELECT value FROM meta WHERE key = {self._mark}", (_CHECKED_KEY,)).fetchone()
        return int(row[0]) if row else 0

    def newest_content(self) -> int:
        """The highest content id now (0: none, or no marks kept): read before a pass, the mark
        it may set."""
        if not self._checkpoints:
            return 0
        with self._lock:
            (newest,) = self._db.execute("SELECT max(id) FROM contents").fetchone()
        return int(newest or 0)

    def mark_checked(self, through: int) -> bool:
        """Record that no content up to `through` lacks its place row: after a pass that found
        none missing, with `through` read before the pass began. Joins the store's transaction
        (durable at commit()); False when there was nothing new to record."""
        if not self._checkpoints or through <= self.checked_through():
            return False
        m = self._mark
        with self._lock:
            self._begin()
            self._db.execute(
                f"INSERT INTO meta (key, value) VALUES ({m}, {m}) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (_CHECKED_KEY, str(through)),
            )
        return True

    def put(self, rows: Sequence[tuple[int, int, Place | None]]) -> None:
        """Record (owner, content id, place or None for no place); durable at the store's commit()."""
        if not rows:
            return
        m = self._mark
        with self._lock:
            self._begin()
            self._db.executemany(
                "INSERT INTO places (owner, content_id, city, region, country, country_code) "
                f"VALUES ({m}, {m}, {m}, {m}, {m}, {m}) ON CONFLICT (content_id{', owner' if m != '?' else ''}) "
                "DO UPDATE SET city = excluded.city, region = excluded.region, country = excluded.country, "
                "country_code = excluded.country_code",
                [
                    (owner, cid, p.city, p.region, p.country, p.country_code)
                    for owner, cid, place in rows
                    for p in [place or NO_PLACE]
                ],
            )

    def counts(self, owner: int) -> list[tuple[Place, int]]:
        """The owner's places with how many live images were taken there, most first."""
        m = self._mark
        with self._lock:
            rows = self._db.execute(
                "SELECT pl.city, pl.region, pl.country, pl.country_code, count(*) FROM places pl "
                f"WHERE pl.owner = {m} AND pl.country_code <> '' AND "
                + _LIVE.format(o="pl.owner", c="pl.content_id")
                + " GROUP BY pl.city, pl.region, pl.country, pl.country_code "
                "ORDER BY count(*) DESC, pl.country, pl.city",
                (owner,),
            ).fetchall()
        return [(Place(city, region, country, code), int(n)) for city, region, country, code, n in rows]

    def of_images(self, owner: int, content_ids: Sequence[int]) -> dict[int, Place]:
        """The places of the owner's contents among `content_ids` (those that have one)."""
        found: dict[int, Place] = {}
        ids = [int(i) for i in content_ids]
        m = self._mark
        with self._lock:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                marks = ", ".join(m for _ in chunk)
                for cid, city, region, country, code in self._db.execute(
                    "SELECT content_id, city, region, country, country_code FROM places "
                    f"WHERE owner = {m} AND content_id IN ({marks}) AND country_code <> ''",
                    (owner, *chunk),
                ).fetchall():
                    found[int(cid)] = Place(city, region, country, code)
        return found

    def points(self, owner: int, limit: int) -> list[tuple[int, float, float]]:
        """(content id, lat, lon) of the owner's live geotagged images, at most `limit`."""
        m = self._mark
        with self._lock:
            rows = self._db.execute(
                "SELECT c.id, c.gps_lat, c.gps_lon FROM contents c WHERE c.owner = "
                f"{m} AND c.gps_lat IS NOT NULL AND c.gps_lon IS NOT NULL AND "
                + _LIVE.format(o="c.owner", c="c.id")
                + f" ORDER BY c.id LIMIT {m}",
                (owner, limit),
            ).fetchall()
        return [(int(c), float(lat), float(lon)) for c, lat, lon in rows]

    def export(self, owner: int) -> list[tuple[int, Place | None]]:
        """Every place row of the owner (None: looked up, no place), for a migration."""
        with self._lock:
            rows = self._db.execute(
                "SELECT content_id, city, region, country, country_code FROM places "
                f"WHERE owner = {self._mark} ORDER BY content_id",
                (owner,),
            ).fetchall()
        return [(int(cid), Place(city, region, country, code) if code else None) for cid, city, region, country, code in rows]

    def count(self, owner: int | None = None) -> int:
        mine = f"AND owner = {self._mark}" if owner is not None else ""
        with self._lock:
            (n,) = self._db.execute(
                f"SELECT count(*) FROM places WHERE country_code <> '' {mine}", (owner,) if owner is not None else ()
            ).fetchone()
        return int(n)
