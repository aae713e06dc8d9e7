"""Image analysis in spawned worker processes, for the indexer and the service's job runner.

Spawn, never fork: ONNX Runtime (and a server's threads) do not survive a fork. Each worker
builds its models once, then analyses one file at a time, with at most one more waiting in its
pipe, so the parent always knows which file a worker is on. That makes containment exact:

- memory: each worker runs under a ceiling on its data segment (RLIMIT_DATA: heap and private
  mappings, what image buffers and ONNX Runtime's arena take; not the virtual reservations of
  libraries, which RLIMIT_AS would count). An allocation past it fails inside the worker, which
  reports "needed more than N MB" for that file and exits; a fresh worker replaces it.
- time: a file that takes longer than the per-image limit gets its worker killed by the parent
  (a running analysis cannot be interrupted otherwise) and "took longer than N s". A queued file's
  clock starts when the parent sees the result before it (late only by what the caller does).
- crashes: a worker that dies has its current file retried once in a fresh worker, so only a file
  that kills a worker twice fails; the file waiting behind it is simply sent again.
- a parent that dies (even by kill -9) takes its workers with it (PR_SET_PDEATHSIG, plus a check
  of the parent's pid), and with them multiprocessing's resource tracker, whose pipe they hold.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import pickle
import resource
import signal
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING

from pixseek.pipeline.limits import DEFAULT_IMAGE_SECONDS, DEFAULT_MEMORY_MB, WorkerLimits  # noqa: F401 (re-exported)

# The analysis pass (numpy, PIL, ONNX Runtime) is imported inside functions: a worker imports this
# module to find its target before _worker_main can set the process up (see there).
# So are concurrent.futures and queue (~10 ms of a worker's start-up): only the parent uses them.
if TYPE_CHECKING:
    import queue
    from concurrent.futures import Future

    from pixseek.pipeline.analysis import AnalysisOptions, AnalysisResult

CRASHED = "the image crashed the decoder"
MiB = 1024 * 1024
_QUEUED_PER_WORKER = 2  # the file being analysed and the next one, so a worker never waits for us
_STOP_GRACE_S = 10.0
_START_DEATHS = 3  # workers in a row that die before they are ready: the setup is broken
_OUT_OF_MEMORY = (
    "failed to allocate", "bad_alloc", "insufficient memory", "cannot allocate memory", "out of memory",
    "failed to map segment",  # a shared library that cannot be loaded under the ceiling
)


class WorkersUnavailable(RuntimeError):
    """The worker processes die before analysing anything: not a bad file, a broken setup."""


def _start_death(exitcode: int | None, memory_mb: int | None) -> str:
    """Why the workers cannot start, when they die before saying so themselves. Native code (ONNX
    Runtime, numpy) that meets a failed allocation under the memory ceiling may crash (SIGSEGV,
    SIGABRT) instead of raising MemoryError, so a signal under a ceiling names the ceiling too."""
    died = f"analysis worker processes die while starting (exit code {exitcode})"
    if memory_mb and exitcode is not None and exitcode < 0:
        return f"{died}, likely because {models_need_more(memory_mb)}"
    return f"{died}; see the messages above"


def models_need_more(memory_mb: int | None) -> str:
    return f"loading the models needs more than {memory_mb} MB (raise the worker memory limit)"


def too_much_memory(memory_mb: int | None) -> str:
    return f"needed more than {memory_mb} MB to analyse" if memory_mb else "ran out of memory while analysing"


def too_slow(seconds: float) -> str:
    return f"took longer than {seconds:g} s to analyse"


# ---- inside a worker process --------------------------------------------------------------------
@dataclass(frozen=True)
class _Ready:
    pass


@dataclass(frozen=True)
class _StartFailed:
    reason: str


@dataclass(frozen=True)
class _SkipHashes:
    """From the parent: the contents to hash only, from now on (a pool may start before they are known)."""

    hashes: frozenset[str]


def _is_out_of_memory(exc: BaseException) -> bool:
    """MemoryError (numpy, PIL, Python), or how ONNX Runtime, OpenCV and dlib report a failed
    allocation (as their own exception types, with these words)."""
    return isinstance(exc, MemoryError) or any(words in str(exc).lower() for words in _OUT_OF_MEMORY)


def _exit_with_parent(parent_pid: int) -> None:
    """Die when the parent process dies, whatever kills it. PR_SET_PDEATHSIG fires when the parent
    *thread* that forked us ends: workers are therefore started from one thread that lives as long
    as the parent (see _start_process). The pid check covers a parent that died before this ran,
    and the watcher thread systems without prctl."""
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="pixseek-parent-watch", daemon=True).start()


def _worker_main(
    conn: Connection,
    parent_pid: int,
    model_dir: str,
    skip_hashes: frozenset[str],
    pickled_options: bytes,
    memory_mb: int | None,
) -> None:
    """A worker's life: models once, then one path in, one AnalysisResult out, until None or EOF
    (a _SkipHashes message in between replaces `skip_hashes`).

    The options come pickled, so that nothing of the analysis pass is imported before this runs:
    one thread each (the pool is the parallelism) must be set before numpy loads, whose OpenBLAS
    otherwise starts a thread per core (~20 ms of CPU, and buffers that the memory ceiling counts)."""
    _exit_with_parent(parent_pid)
    for threads in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(threads, "1")
    from pixseek.pipeline.analysis import AnalysisResult, ImageAnalyzer

    options: AnalysisOptions = pickle.loads(pickled_options)
    if memory_mb:
        _, hard = resource.getrlimit(resource.RLIMIT_DATA)
        ceiling = memory_mb * MiB if hard == resource.RLIM_INFINITY else min(hard, memory_mb * MiB)
        resource.setrlimit(resource.RLIMIT_DATA, (ceiling, hard))
    try:
        if options.vision is not None and options.vision_only:  # the model-only pass: nothing else loads
            from pixseek.pipeline.vision import VisionEmbedder

            analyzer: ImageAnalyzer | VisionEmbedder = VisionEmbedder(options.vision, threads=1)
        else:
            analyzer = ImageAnalyzer(Path(model_dir), threads=1, options=options)
    except Exception as exc:
        if _is_out_of_memory(exc):
            reason = models_need_more(memory_mb)
            _lift_ceiling()  # the report must get out (its pickling needs memory too); the worker ends here
        else:
            reason = f"{type(exc).__name__}: {exc}"
        conn.send(_StartFailed(reason))
        return
    conn.send(_Ready())
    while True:
        try:
            path = conn.recv()
        except EOFError:  # the parent closed our pipe
            return
        if isinstance(path, _SkipHashes):
            skip_hashes = path.hashes
            continue
        if path is None:
            # Done: exit now rather than through the interpreter's shutdown, which tears the models
            # down piece by piece (~0.1-1 s the parent's close() would wait for; the OS frees it all).
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        try:
            result = analyzer.analyze_file(path, skip_hashes=skip_hashes)
        except Exception as exc:
            if _is_out_of_memory(exc):
                _lift_ceiling()  # as at start-up: the worker ends after this one report
                conn.send(AnalysisResult(path, error=too_much_memory(memory_mb)))
                return  # libraries may keep what they grabbed: a fresh worker takes over
            result = AnalysisResult(path, error=f"analysis failed: {type(exc).__name__}: {exc}")
        conn.send(result)


def _lift_ceiling() -> None:
    """Back to the hard data limit, for a worker that ran out under its ceiling and only reports it
    before it ends (a MemoryError while pickling the report left the parent a bare exit code)."""
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    resource.setrlimit(resource.RLIMIT_DATA, (hard, hard))


# ---- in the parent --------------------------------------------------------------------------------
_spawn_requests: "queue.SimpleQueue[tuple[BaseProcess, Future[None]]] | None" = None
_spawner: threading.Thread | None = None
_spawner_lock = threading.Lock()


def _start_process(process: BaseProcess) -> None:
    """process.start(), from a thread that lives as long as this process (PR_SET_PDEATHSIG would
    kill a worker when the thread that started it ended, e.g. the service's job-runner thread)."""
    global _spawner, _spawn_requests
    import queue
    from concurrent.futures import Future

    def serve(requests: "queue.SimpleQueue[tuple[BaseProcess, Future[None]]]") -> None:
        while True:
            child, done = requests.get()
            try:
                child.start()
                done.set_result(None)
            except BaseException as exc:
                done.set_exception(exc)

    with _spawner_lock:
        if _spawn_requests is None:
            _spawn_requests = queue.SimpleQueue()
        if _spawner is None or not _spawner.is_alive():
            _spawner = threading.Thread(target=serve, args=(_spawn_requests,), name="pixseek-spawner", daemon=True)
            _spawner.start()
        requests = _spawn_requests
    started: Future[None] = Future()
    requests.put((process, started))
    started.result()


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    ready: bool = False
    sent: deque[str] = field(default_factory=deque)  # in order; the first is being analysed
    skip_hashes: frozenset[str] = frozenset()  # those the worker was last given
    deadline: float | None = None  # when the first of `sent` must be done

    @property
    def pid(self) -> int | None:
        return self.process.pid


class AnalysisWorkers:
    """Analysis worker processes, started on first use and kept until close()."""

    def __init__(
        self,
        model_dir: Path,
        workers: int,
        skip_hashes: frozenset[str] = frozenset(),
        options: AnalysisOptions | None = None,  # None: the defaults
        limits: WorkerLimits = WorkerLimits(),
    ) -> None:
        from pixseek.pipeline.analysis import AnalysisOptions

        self.model_dir = model_dir
        self.options = options if options is not None else AnalysisOptions()
        self.limits = limits
        self.workers = max(1, workers)
        self.skip_hashes = skip_hashes
        self.last_used = time.monotonic()
        self.replaced = 0  # workers that died or were killed while in use (a fresh one takes over)
        self._live: list[_Worker] = []
        self._worked = False  # some worker has analysed a file: the setup is sound
        self._start_deaths = 0  # workers in a row that died before they were ready
        self._model_checked = False

    @property
    def running(self) -> bool:
        return bool(self._live)

    def start(self, workers: int | None = None) -> None:
        """Start workers now (up to `workers`, at most the pool's size) rather than on the first file:
        they load their models while the caller does something else (the indexer: its scan). Their
        `skip_hashes` may still change: set the attribute before results()."""
        while len(self._live) < min(self.workers, workers or self.workers):
            self._spawn()

    @property
    def pids(self) -> list[int]:
        return [w.pid for w in self._live if w.pid is not None]

    def results(self, paths: list[str], stop: Callable[[], bool] = lambda: False) -> Iterator[AnalysisResult]:
        """Results in completion order, one per path. Once stop() is true, files not yet handed to
        a worker are left out (the caller still has them); those in flight are finished."""
        waiting = deque(paths)
        deaths: Counter[str] = Counter()  # workers that died while analysing this file
        try:
            while True:
                self._fill(waiting, stop)
                busy = [w for w in self._live if w.sent]
                wanted = len(busy) if stop() else len(waiting) + len(busy)
                if not wanted:
                    return
                if len(self._live) < min(self.workers, wanted):
                    self._spawn()
                    continue
                done: list[AnalysisResult] = []
                self._wait(done, waiting, deaths)
                self._fill(waiting, stop)  # a worker that just answered gets its next file before we store this one
                for result in done:
                    self._worked = True
                    self.last_used = time.monotonic()
                    yield result
        except BaseException:  # interrupted (Ctrl-C, or the consumer stopped early)
            self._discard()
            raise

    def _fill(self, waiting: deque[str], stop: Callable[[], bool]) -> None:
        """Hand waiting files to ready workers, the least loaded first. A file is queued behind a
        worker's current one only while at least as many files wait as there are workers: the last
        ones go to whichever worker is free first, rather than wait behind another's file while a
        worker has nothing to do (up to a whole file's time at the end of a run)."""
        for worker in sorted((w for w in self._live if w.ready), key=lambda w: len(w.sent)):
            while waiting and len(worker.sent) < _QUEUED_PER_WORKER and not stop():
                if worker.sent and len(waiting) < len(self._live):
                    break
                try:
                    if worker.skip_hashes is not self.skip_hashes:  # changed since it started
                        worker.conn.send(_SkipHashes(self.skip_hashes))
                        worker.skip_hashes = self.skip_hashes
                    worker.conn.send(waiting[0])
                except OSError:  # it just died: _wait sees its sentinel
                    break
                if not worker.sent:
                    worker.deadline = self._deadline()
                worker.sent.append(waiting.popleft())

    def _deadline(self) -> float | None:
        return time.monotonic() + self.limits.seconds if self.limits.seconds else None

    def _wait(self, done: list[AnalysisResult], waiting: deque[str], deaths: Counter[str]) -> None:
        """Wait for a message, a worker's death or the nearest deadline, and deal with it."""
        from pixseek.pipeline.analysis import AnalysisResult

        deadlines = [w.deadline for w in self._live if w.sent and w.deadline is not None]
        timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
        handles = [w.conn for w in self._live] + [w.process.sentinel for w in self._live]
        wait(handles, timeout)
        for worker in list(self._live):
            self._read(worker, done)
            if not worker.process.is_alive():
                self._read(worker, done)  # whatever it sent before it went
                self._forget(worker, replaced=True)
                if not worker.ready:
                    self._start_deaths += 1
                    if not self._worked or self._start_deaths >= _START_DEATHS:
                        raise WorkersUnavailable(_start_death(worker.process.exitcode, self.limits.memory_mb))
                if worker.sent and worker.process.exitcode != 0:  # died on its current file
                    culprit = worker.sent.popleft()
                    deaths[culprit] += 1
                    if deaths[culprit] >= 2:
                        done.append(AnalysisResult(culprit, error=CRASHED))
                    else:
                        waiting.appendleft(culprit)
                waiting.extendleft(reversed(worker.sent))
            elif worker.sent and worker.deadline is not None and time.monotonic() >= worker.deadline:
                self._kill(worker, replaced=True)
                done.append(AnalysisResult(worker.sent.popleft(), error=too_slow(self.limits.seconds or 0)))
                waiting.extendleft(reversed(worker.sent))

    def _read(self, worker: _Worker, done: list[AnalysisResult]) -> None:
        from pixseek.pipeline.analysis import AnalysisResult

        try:
            while worker.conn.poll():
                message = worker.conn.recv()
                if isinstance(message, _Ready):
                    worker.ready = True
                    self._start_deaths = 0
                elif isinstance(message, _StartFailed):
                    raise WorkersUnavailable(f"analysis worker processes failed to start: {message.reason}")
                else:
                    assert isinstance(message, AnalysisResult) and message.path == worker.sent[0]
                    worker.sent.popleft()
                    worker.deadline = self._deadline() if worker.sent else None
                    done.append(message)
        except (EOFError, OSError):  # the worker is gone; its sentinel says so
            pass

    def _spawn(self) -> None:
        if not self._model_checked and not self.options.vision_only:
            # Export the model here once if needed, rather than in several workers at once.
            from pixseek.analyzers.classifier import ensure_model

            ensure_model(self.model_dir)
            self._model_checked = True
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_worker_main,
            args=(
                theirs, os.getpid(), str(self.model_dir), self.skip_hashes, pickle.dumps(self.options),
                self.limits.memory_mb,
            ),
            name="pixseek-analysis",
            daemon=True,
        )
        _start_process(process)
        theirs.close()
        self._live.append(_Worker(process, ours, skip_hashes=self.skip_hashes))
        self.last_used = time.monotonic()

    def _forget(self, worker: _Worker, replaced: bool = False) -> None:
        if worker in self._live:
            self._live.remove(worker)
            self.replaced += replaced
        worker.process.join(1.0)
        worker.conn.close()

    def _kill(self, worker: _Worker, replaced: bool = False) -> None:
        if worker.process.is_alive():
            worker.process.kill()
        self._forget(worker, replaced)

    def _discard(self) -> None:
        for worker in list(self._live):
            self._kill(worker)

    def close(self) -> None:
        """Stop the workers (between files: results() has returned)."""
        for worker in self._live:
            try:
                worker.conn.send(None)
            except OSError:
                pass
        until = time.monotonic() + _STOP_GRACE_S
        for worker in list(self._live):
            worker.process.join(max(0.0, until - time.monotonic()))
            self._kill(worker)

    def __enter__(self) -> "AnalysisWorkers":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
