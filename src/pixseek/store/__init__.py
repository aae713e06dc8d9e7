"""Storage layer: the `Store` contract and its implementations."""

from __future__ import annotations

from pathlib import Path

from pixseek.store.base import Store, StoreError, StoreStats
from pixseek.store.embedded import DEFAULT_OWNER, EmbeddedStore

__all__ = ["DEFAULT_OWNER", "EmbeddedStore", "Store", "StoreError", "StoreStats", "open_store"]


def open_store(location: str | Path) -> Store:
    """Open the library at `location`: a directory (the embedded store) or a PostgreSQL URL
    (postgresql://user@host/db, the `postgres` extra)."""
    text = str(location)
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        if scheme in ("postgresql", "postgres"):
            from pixseek.store.postgres.store import PostgresStore

            return PostgresStore(text)
        raise StoreError(f"unsupported store URL scheme {scheme!r}: give a library directory or a postgresql:// URL")
    return EmbeddedStore(Path(location).expanduser())
