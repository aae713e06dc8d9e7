"""The shared analysis worker pool: a worker that dies loses nothing."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from pixseek.workers import AnalysisWorkers


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
