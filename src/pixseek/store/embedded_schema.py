"""The embedded store's SQLite schema (pixseek.db) and its migrations, run when a library opens.

Schema 2 (owners, accounts, jobs) is written here; each later step belongs to the module of what
it adds (faces, texts, spaces, learned, places, hashes) and is applied in order, all in one
transaction, so an interrupted upgrade leaves the old schema intact.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from pixseek.store.base import newer_schema
from pixseek.store.faces import MIGRATE_V2_TO_V3
from pixseek.store.hashes import MIGRATE_V7_TO_V8
from pixseek.store.learned import MIGRATE_V5_TO_V6
from pixseek.store.places import MIGRATE_V6_TO_V7
from pixseek.store.spaces import MIGRATE_V4_TO_V5
from pixseek.store.texts import MIGRATE_V3_TO_V4

SCHEMA_VERSION = 8
DEFAULT_OWNER = 1  # the user that owns what the CLI indexes unless told otherwise

_SCHEMA_V2 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS contents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner INTEGER NOT NULL REFERENCES users (id),
    sha256 TEXT NOT NULL,
    analyzer TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    format TEXT NOT NULL,
    taken_at TEXT,
    camera_make TEXT,
    camera_model TEXT,
    gps_lat REAL,
    gps_lon REAL,
    analyzed_at REAL NOT NULL,
    UNIQUE (owner, sha256, analyzer)
);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    owner INTEGER NOT NULL REFERENCES users (id),
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    content_id INTEGER NOT NULL REFERENCES contents (id),
    indexed_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS files_by_content ON files (content_id);
CREATE INDEX IF NOT EXISTS files_by_owner ON files (owner, content_id, size);
CREATE INDEX IF NOT EXISTS contents_by_taken_at ON contents (owner, taken_at);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    label TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS folders (
    path TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner INTEGER NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    content_id INTEGER,
    created_at REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_by_owner ON jobs (owner, id);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, id);
"""

# v1 -> v2: every record gets an owner (the default user, id 1). SQLite cannot change a table's
# UNIQUE constraint in place, so contents and files are rebuilt inside one transaction.
_MIGRATE_V1_TO_V2 = """
CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, password_hash TEXT, created_at REAL NOT NULL);
INSERT INTO users (id, name, created_at) VALUES (1, 'default', strftime('%s', 'now'));
ALTER TABLE contents RENAME TO contents_v1;
ALTER TABLE files RENAME TO files_v1;
DROP INDEX IF EXISTS files_by_content;
DROP INDEX IF EXISTS contents_by_taken_at;
""" + _SCHEMA_V2 + """
INSERT INTO contents SELECT id, 1, sha256, analyzer, width, height, format, taken_at, camera_make,
    camera_model, gps_lat, gps_lon, analyzed_at FROM contents_v1;
INSERT INTO files SELECT path, 1, size, mtime_ns, content_id, indexed_at FROM files_v1;
DROP TABLE files_v1;
DROP TABLE contents_v1;
"""


def _execute_step(db: sqlite3.Connection, statement: str) -> None:
    """One statement of a schema step. SQLite has no ADD COLUMN IF NOT EXISTS: a column that is
    already there (a step half-applied by hand, a library restored over a newer one) is left be."""
    try:
        db.execute(statement)
    except sqlite3.OperationalError as exc:
        if not (statement.lstrip().upper().startswith("ALTER TABLE") and "duplicate column name" in str(exc)):
            raise


def _split_sql(script: str) -> list[str]:
    """Statements of a script, to run one by one inside our own transaction
    (sqlite3's executescript would commit first)."""
    return [statement.strip() for statement in script.split(";") if statement.strip()]


def migrate(db: sqlite3.Connection, home: Path, schema_version: int = SCHEMA_VERSION) -> None:
    """Bring the library's schema up to `schema_version`; refuse one written by a newer pixseek."""
    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    version = int(row[0]) if row else 0
    if version > schema_version:
        raise newer_schema(f"the library at {home}", version, schema_version)
    if version == schema_version:
        return
    # All steps run in one transaction: an interrupted upgrade leaves the old schema intact.
    with _one_transaction(db):
        if version == 0:
            for statement in _split_sql(_SCHEMA_V2):
                db.execute(statement)
            db.execute(
                "INSERT OR IGNORE INTO users (id, name, created_at) VALUES (?, 'default', ?)",
                (DEFAULT_OWNER, time.time()),
            )
        elif version == 1:
            for statement in _split_sql(_MIGRATE_V1_TO_V2):
                db.execute(statement)
        steps = [(3, MIGRATE_V2_TO_V3), (4, MIGRATE_V3_TO_V4), (5, MIGRATE_V4_TO_V5), (6, MIGRATE_V5_TO_V6), (7, MIGRATE_V6_TO_V7), (8, MIGRATE_V7_TO_V8)]  # faces and people; text; vector spaces; learned concepts; places; perceptual hashes
        for target, script in steps:
            if version < target:
                for statement in _split_sql(script):
                    _execute_step(db, statement)
        db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
            (str(schema_version),),
        )


def ensure_places_table(db: sqlite3.Connection, lock: threading.RLock) -> None:
    """Step 7 for a library a development build took past it without the table (schema 8
    existed before 7 was filled in); a no-op read everywhere else."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'places'").fetchone():
        return
    with lock, _one_transaction(db):
        for statement in _split_sql(MIGRATE_V6_TO_V7):
            db.execute(statement)


@contextlib.contextmanager
def _one_transaction(db: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception (a kill leaves nothing half done)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
