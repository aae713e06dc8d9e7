"""An owner-filtered walk of a pgvector HNSW graph (faces, vector spaces): iterative scans so that
k rows pass the owner's filter, in relaxed order (the caller sorts exactly)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pixseek.store.postgres.db import Database

EF_SEARCH_MIN = 100  # HNSW candidate list: pgvector's default 40 is too few once rows are filtered
EF_SEARCH_MAX = 1000  # pgvector's upper bound for hnsw.ef_search


@contextmanager
def iterative_scan(db: Database, k: int, savepoint: str) -> Iterator[None]:
    """Run the block's graph query with the scan settings, local to a transaction of its own or to
    a savepoint rolled back inside the store's open batch (read only: nothing to keep)."""
    outer = db.in_transaction
    db.execute(f"SAVEPOINT {savepoint}" if outer else "BEGIN")
    try:
        db.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)")
        db.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(min(EF_SEARCH_MAX, max(EF_SEARCH_MIN, k))),))
        # The owner is large (the caller counted): the graph is the plan, not a btree scan + sort
        # that the planner may think cheaper for a selective owner.
        db.execute("SELECT set_config('enable_sort', 'off', true)")
        yield
    finally:
        if outer:
            db.execute(f"ROLLBACK TO SAVEPOINT {savepoint}")
            db.execute(f"RELEASE SAVEPOINT {savepoint}")
        else:
            db.execute("ROLLBACK")
