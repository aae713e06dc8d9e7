"""Image analysis on a Dask cluster: `pixseek index --scheduler tcp://host:8786 FOLDER`.

The indexing client plans as always (which files are new, which contents it knows) and writes
every result into its store as it arrives, committing in batches; the cluster's workers only
analyse. Each worker process builds its models once, in this importable module (never per task),
and reads the files by path: workers must see the folder at the same path (a shared file system).
A worker that dies has its tasks re-run elsewhere by Dask; a file whose task keeps killing workers
is skipped with a reason. An interrupted run resumes like any other: files already stored are
unchanged the next time, so no image is analysed twice into the store.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pixseek.pipeline.analysis import AnalysisOptions, AnalysisResult, ImageAnalyzer
from pixseek.pipeline.workers import CRASHED

WINDOW_PER_THREAD = 4  # tasks in flight per worker thread: enough to hide the round trips
RETRIES = 2  # a task whose worker died runs again this many times before the file is skipped

# ---- on a worker -------------------------------------------------------------------------------
_analyzers: dict[tuple[str, AnalysisOptions], ImageAnalyzer] = {}
_lock = threading.Lock()


def analyse_on_worker(
    path: str, model_dir: str, options: AnalysisOptions, skip_hashes: frozenset[str]
) -> AnalysisResult:
    """Read, hash and analyse one file with this worker process's models (built on first use)."""
    key = (model_dir, options)
    analyzer = _analyzers.get(key)
    if analyzer is None:
        with _lock:
            analyzer = _analyzers.get(key)
            if analyzer is None:
                from pixseek.analyzers.classifier import ensure_model

                os.environ.setdefault("OMP_NUM_THREADS", "1")
                ensure_model(Path(model_dir))
                analyzer = _analyzers[key] = ImageAnalyzer(Path(model_dir), threads=1, options=options)
    return analyzer.analyze_file(path, skip_hashes=skip_hashes)


# ---- in the indexing client ----------------------------------------------------------------------
class ClusterUnavailable(RuntimeError):
    """The scheduler cannot be reached (the message names it)."""


class DaskWorkers:
    """The AnalysisWorkers interface (results in completion order) over a Dask scheduler."""

    def __init__(
        self,
        scheduler: str,
        model_dir: Path,
        skip_hashes: frozenset[str] = frozenset(),
        options: AnalysisOptions = AnalysisOptions(),
        connect_timeout: float = 20.0,
    ) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise ClusterUnavailable("indexing on a cluster needs Dask: pip install 'pixseek[distributed]'") from None
        try:
            self._client = Client(scheduler, timeout=connect_timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ClusterUnavailable(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        self.model_dir = str(model_dir)
        self.options = options
        self.skip_hashes = skip_hashes

    def results(self, paths: list[str], stop: Callable[[], bool] = lambda: False) -> Iterator[AnalysisResult]:
        from distributed import as_completed

        client = self._client
        threads = max(1, sum(client.nthreads().values()))
        window = threads * WINDOW_PER_THREAD
        # One copy of the known hashes per worker, not one per task.
        [skip] = client.scatter([self.skip_hashes], broadcast=True, hash=False)
        queue = list(reversed(paths))

        def submit(path: str) -> Any:
            return client.submit(analyse_on_worker, path, self.model_dir, self.options, skip, retries=RETRIES, pure=False)

        pending: dict[Any, str] = {}
        while queue and len(pending) < window:
            path = queue.pop()
            pending[submit(path)] = path
        running = as_completed(list(pending), loop=client.loop)
        for future in running:
            path = pending.pop(future)
            try:
                yield future.result()
            except Exception as exc:  # KilledWorker: the file took its workers down RETRIES+1 times
                yield AnalysisResult(path, error=f"{CRASHED} ({type(exc).__name__})")
            finally:
                future.release()
            if queue and not stop():
                path = queue.pop()
                new = submit(path)
                pending[new] = path
                running.add(new)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "DaskWorkers":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
