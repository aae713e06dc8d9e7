"""Storage layer: the `Store` contract and its implementations."""

from __future__ import annotations

import re
from pathlib import Path

from pixseek.store.base import Store, StoreError, StoreStats
from pixseek.store.embedded import DEFAULT_OWNER, EmbeddedStore

_LIBPQ_KEYWORDS = re.compile(r"^\s*(host|hostaddr|port|dbname|user|password|service|sslmode)\s*=")

__all__ = ["DEFAULT_OWNER", "EmbeddedStore", "Store", "StoreError", "StoreStats", "open_store"]


def open_store(location: str | Path) -> Store:
    """Open the library at `location`: a directory (the embedded store), or a PostgreSQL URL
    (postgresql://user@host/db) or libpq connection string ("host=db dbname=photos"), which need
    the `postgres` extra."""
    text = str(location)
    if _LIBPQ_KEYWORDS.match(text):  # "host=db dbname=photos": a libpq connection string
        from pixseek.store.postgres.store import PostgresStore

        return PostgresStore(text)
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        if scheme in ("postgresql", "postgres"):
            from pixseek.store.postgres.store import PostgresStore

            return PostgresStore(text)
        raise StoreError(f"unsupported store URL scheme {scheme!r}: give a library directory or a postgresql:// URL")
    return EmbeddedStore(Path(location).expanduser())
