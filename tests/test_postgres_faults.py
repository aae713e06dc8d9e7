"""Faults on a PostgreSQL store: the server drops the indexer's connection mid-run; the run
reconnects, goes on from its last commit, and stores every file once."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from pixseek.pipeline import indexer as indexer_module
from pixseek.pipeline.analysis import AnalysisOptions
from pixseek.pipeline.indexer import Indexer, describe
from pixseek.store import DEFAULT_OWNER, open_store
from pixseek.store.base import StoreUnavailable


@pytest.fixture()
def database(new_database) -> str:
    return new_database("faults")


def test_connection_lost_mid_index_resumes_without_duplicates(database, gallery, model_dir, monkeypatch):
    monkeypatch.setattr(indexer_module, "COMMIT_EVERY_N", 5)  # several commits before the loss
    store = open_store(database)
    results = 0

    class DropConnection:  # after 12 results, the server terminates the indexer's connection
        def start(self, total: int, description: str) -> None: ...

        def advance(self, n: int = 1) -> None:
            nonlocal results
            results += 1
            if results == 12:
                pid = store._db.conn.info.backend_pid
                with psycopg.connect(database, autocommit=True) as admin:
                    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

        def log(self, message: str) -> None: ...

    report = Indexer(store, model_dir, workers=1, progress=DropConnection(),
                     options=AnalysisOptions(faces=False, text=False)).index(gallery)
    files = sum(1 for p in Path(gallery).rglob("*") if p.is_file())
    assert report.reconnects == 1 and results > files  # the lost batch was analysed again
    assert any("connection was lost" in line for line in describe(report))
    with psycopg.connect(database, autocommit=True) as db:
        (stored,) = db.execute("SELECT count(*) FROM files").fetchone()
        (duplicates,) = db.execute(
            "SELECT count(*) FROM (SELECT sha256 FROM contents GROUP BY owner, sha256, analyzer HAVING count(*) > 1) d"
        ).fetchone()
    assert stored == files and duplicates == 0
    assert len(store.indexed_files(DEFAULT_OWNER)) == files
    store.close()


def test_a_dropped_connection_is_store_unavailable_and_reconnect_recovers(database):
    store = open_store(database)
    with psycopg.connect(database, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (store._db.conn.info.backend_pid,))
    with pytest.raises(StoreUnavailable, match="lost the connection"):
        store.count_images(DEFAULT_OWNER)
    store.reconnect()
    assert store.count_images(DEFAULT_OWNER) == 0
    store.close()
