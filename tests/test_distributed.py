"""Indexing on a Dask cluster (a real scheduler and worker processes, on 127.0.0.1 only) into a
PostgreSQL store: the same library as a local run; a worker killed mid-run loses nothing."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from pixseek.pipeline.analysis import AnalysisOptions
from pixseek.pipeline.indexer import Indexer, IndexingError
from pixseek.store import DEFAULT_OWNER, EmbeddedStore, open_store

distributed = pytest.importorskip("distributed")
OPTIONS = AnalysisOptions(faces=False, text=False)


@pytest.fixture(scope="module")
def cluster(model_dir):
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
        worker_dashboard_address=None,
    ) as local:
        yield local


@pytest.fixture()
def database(new_database) -> str:
    return new_database("dask")


def _contents(store) -> dict[str, str]:
    return {path: f.sha256 for path, f in store.indexed_files(DEFAULT_OWNER).items()}


def test_cluster_stays_on_loopback(cluster):
    addresses = [cluster.scheduler_address, *(w.address for w in cluster.scheduler.workers.values())]
    assert all(a.startswith("tcp://127.0.0.1:") for a in addresses), addresses


def test_cluster_index_equals_local_index(cluster, database, gallery, model_dir, tmp_path):
    local = EmbeddedStore(tmp_path / "local")
    Indexer(local, model_dir, workers=1, options=OPTIONS).index(gallery)
    store = open_store(database)
    report = Indexer(store, model_dir, options=OPTIONS, scheduler=cluster.scheduler_address).index(gallery)
    assert report.indexed == len(_contents(local)) and not report.skipped
    assert _contents(store) == _contents(local)
    again = Indexer(store, model_dir, options=OPTIONS, scheduler=cluster.scheduler_address).index(gallery)
    assert again.indexed == 0 and again.unchanged == report.indexed  # resumable: nothing twice
    local.close()
    store.close()


def test_a_killed_worker_loses_nothing(cluster, database, gallery, model_dir):
    store = open_store(database)
    indexer = Indexer(store, model_dir, options=OPTIONS, scheduler=cluster.scheduler_address)
    killed = threading.Event()
    client = distributed.Client(cluster.scheduler_address, set_as_default=False)

    class KillOnce:  # progress hook: kill one worker process after a few results
        def start(self, total: int, description: str) -> None: ...

        def advance(self, n: int = 1) -> None:
            if not killed.is_set():
                pids = client.run(os.getpid)
                os.kill(next(iter(pids.values())), signal.SIGKILL)
                killed.set()

        def log(self, message: str) -> None: ...

    indexer.progress = KillOnce()
    report = indexer.index(gallery)
    client.close()
    files = sum(1 for p in Path(gallery).rglob("*") if p.is_file())
    assert killed.is_set() and report.indexed == files and not report.skipped
    assert len(_contents(store)) == files
    store.close()


def test_unreachable_scheduler_is_a_clear_error(tmp_path, gallery, model_dir):
    store = EmbeddedStore(tmp_path / "lib")
    with pytest.raises(IndexingError, match="127.0.0.1:1"):
        Indexer(store, model_dir, options=OPTIONS, scheduler="tcp://127.0.0.1:1").index(gallery)
    store.close()
