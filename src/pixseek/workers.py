"""Image analysis in spawned worker processes, for the indexer and the service's job runner.

Spawn, never fork: ONNX Runtime (and a server's threads) do not survive a fork. Each worker
builds its models once. A bounded window of files is in flight; if a worker dies (a decoder
crash on a hostile file), the files that were in flight are retried one at a time in a fresh
process, so only the culprit fails and nothing else is lost.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from pixseek.analysis import AnalysisOptions, AnalysisResult, ImageAnalyzer

CRASHED = "the image crashed the decoder"


class WorkersUnavailable(RuntimeError):
    """The worker processes die before analysing anything: not a bad file, a broken setup."""


# ---- inside a worker process --------------------------------------------------------------------
_analyzer: ImageAnalyzer | None = None
_skip_hashes: frozenset[str] = frozenset()


def init_worker(
    model_dir: str, skip_hashes: frozenset[str] = frozenset(), options: AnalysisOptions = AnalysisOptions()
) -> None:
    """Process-pool initializer: build this worker process's models once."""
    global _analyzer, _skip_hashes
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _analyzer = ImageAnalyzer(Path(model_dir), threads=1, options=options)
    _skip_hashes = skip_hashes


def analyse_in_worker(path: str) -> AnalysisResult:
    """Read + hash; analyse only if the bytes are not a content the caller already knows."""
    assert _analyzer is not None
    return _analyzer.analyze_file(path, skip_hashes=_skip_hashes)


# ---- in the parent --------------------------------------------------------------------------------
class AnalysisWorkers:
    """A pool of analysis processes, started on first use and kept until close()."""

    def __init__(
        self,
        model_dir: Path,
        workers: int,
        skip_hashes: frozenset[str] = frozenset(),
        window: int = 4,
        options: AnalysisOptions = AnalysisOptions(),
    ) -> None:
        self.model_dir = model_dir
        self.options = options
        self.workers = max(1, workers)
        self.skip_hashes = skip_hashes
        self.window = self.workers * window
        self.last_used = time.monotonic()
        self._pool: ProcessPoolExecutor | None = None
        self._worked = False  # some worker has answered once: the setup is sound

    @property
    def running(self) -> bool:
        return self._pool is not None

    def results(self, paths: list[str], stop: Callable[[], bool] = lambda: False) -> Iterator[AnalysisResult]:
        """Results in completion order. Once stop() is true, files not yet handed to a worker are
        left out (the caller still has them); those in flight are finished."""
        queue = list(reversed(paths))
        while queue:
            pool = self._started()
            in_flight: dict[Future[AnalysisResult], str] = {}
            try:
                while queue or in_flight:
                    while queue and len(in_flight) < self.window and not stop():
                        path = queue.pop()
                        in_flight[pool.submit(analyse_in_worker, path)] = path
                    if not in_flight:
                        return
                    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in done:
                        result = future.result()  # before forgetting it: a broken pool raises here
                        del in_flight[future]
                        self._worked = True
                        self.last_used = time.monotonic()
                        yield result
            except BrokenProcessPool:
                self._discard()
                if not self._worked:
                    raise WorkersUnavailable(
                        "analysis worker processes failed to start; try --workers 1 to see why"
                    ) from None
                for path in in_flight.values():
                    yield self._alone(path)
            except BaseException:  # interrupted (Ctrl-C, or the consumer stopped early)
                self._discard()
                raise

    def _alone(self, path: str) -> AnalysisResult:
        pool = self._new_pool(1)
        try:
            return pool.submit(analyse_in_worker, path).result()
        except BrokenProcessPool:
            return AnalysisResult(path, error=CRASHED)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # Export the model here once if needed, rather than in several workers at once.
            from pixseek.analyzers.classifier import ensure_model

            ensure_model(self.model_dir)
            self._pool = self._new_pool(self.workers)
        self.last_used = time.monotonic()
        return self._pool

    def _new_pool(self, workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=init_worker,
            initargs=(str(self.model_dir), self.skip_hashes, self.options),
        )

    def _discard(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        """Stop the workers, letting them finish what they hold."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "AnalysisWorkers":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
