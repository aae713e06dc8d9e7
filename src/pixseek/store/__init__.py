"""Storage layer: the `Store` contract and its implementations."""

from __future__ import annotations

from pathlib import Path

from pixseek.store.base import Store, StoreError, StoreStats
from pixseek.store.embedded import DEFAULT_OWNER, EmbeddedStore

__all__ = ["DEFAULT_OWNER", "EmbeddedStore", "Store", "StoreError", "StoreStats", "open_store"]


def open_store(location: str | Path) -> EmbeddedStore:
    """Open the library at `location`: a directory (embedded store)."""
    text = str(location)
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise StoreError(f"unsupported store URL scheme {scheme!r}: give a library directory")
    return EmbeddedStore(Path(location).expanduser())
