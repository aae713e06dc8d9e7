"""The shared analysis worker pool: a worker that dies loses nothing."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from pixseek.pipeline.workers import AnalysisWorkers


def test_a_killed_worker_loses_no_file(gallery_master, model_dir: Path):
    gallery, _ = gallery_master
    paths = sorted(str(p) for p in (gallery / "fashion").iterdir())[:16]
    with AnalysisWorkers(model_dir, workers=2) as workers:
        results = []
        for result in workers.results(paths):
            if not results:  # the pool is up and has answered: kill one of its processes
                os.kill(workers.pids[0], signal.SIGKILL)
            results.append(result)
    assert sorted(r.path for r in results) == paths  # each file answered exactly once
    assert all(r.error is None and r.analysis is not None for r in results)


def test_workers_started_from_a_thread_outlive_it(gallery_master, model_dir: Path):
    # The service starts workers from its job-runner thread; PR_SET_PDEATHSIG follows the thread
    # that forked a child, so they must not die with the thread that asked for them.
    gallery, _ = gallery_master
    first, second = sorted(str(p) for p in (gallery / "fashion").iterdir())[:2]
    with AnalysisWorkers(model_dir, workers=1) as workers:
        asker = threading.Thread(target=lambda: list(workers.results([first])))
        asker.start()
        asker.join()
        (pid,) = workers.pids
        time.sleep(0.5)  # a signal sent when the thread ended has arrived by now
        (result,) = workers.results([second])
        assert result.error is None and result.analysis is not None
        assert workers.pids == [pid] and workers.replaced == 0


def test_skip_hashes_set_after_the_workers_started_reach_them(gallery_master, model_dir: Path):
    # The indexer starts its workers during the scan, before it knows which contents to skip.
    import hashlib

    gallery, _ = gallery_master
    known, new = sorted(str(p) for p in (gallery / "fashion").iterdir())[:2]
    digest = hashlib.sha256(Path(known).read_bytes()).hexdigest()
    with AnalysisWorkers(model_dir, workers=1) as workers:
        workers.start()
        assert len(workers.pids) == 1
        workers.skip_hashes = frozenset({digest})
        results = {r.path: r for r in workers.results([known, new])}
        assert results[known].sha256 == digest and results[known].analysis is None  # hashed only
        assert results[new].analysis is not None
        workers.skip_hashes = frozenset()
        (again,) = workers.results([known])
        assert again.analysis is not None
        assert workers.replaced == 0
