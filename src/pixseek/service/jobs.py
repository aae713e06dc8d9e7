"""Background analysis of uploads: a job runner thread feeding a pool of spawned worker processes.

The runner owns the service's *writer* store (its own SQLite connection); request handlers read
through another store instance, which follows what this one commits (new rows are scanned as a
tail until the derived indexes catch up, and the index generation tells it when they did).
An upload's job is `done` in the same transaction that makes its image visible, so an image is
searchable as soon as its job says done. Jobs left queued or running by a stopped (or crashed)
server are picked up again when the next one starts. After each batch, the new faces of the
owners concerned are grouped into people (incremental: existing people keep their faces).

Every write of the service goes through this store, under `write_lock` (see `write`).

A server may run several web processes (`pixseek serve --web-workers N`): each has its runner,
but exactly one of them runs jobs at a time, the one holding the library's runner lock (an
exclusive flock on <home>/jobs.lock). The kernel drops the lock when its holder dies, even by
kill -9; the others keep trying, and the one that takes it over first puts the jobs the dead one
left running back in the queue. Jobs are queued through any process's writer (the same tables).
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

from pixseek.imageio.files import VIDEO_EXTENSIONS, has_image_extension
from pixseek.pipeline.analysis import AnalysisOptions, AnalysisResult
from pixseek.pipeline.indexer import store_video_frames
from pixseek.pipeline.people import cluster_faces
from pixseek.pipeline.places import fill_places
from pixseek.records import FileState, Job
from pixseek.store import open_store
from pixseek.store.base import Store
from pixseek.pipeline.workers import AnalysisWorkers, WorkerLimits, WorkersUnavailable

log = logging.getLogger("pixseek.jobs")

BATCH = 32  # jobs taken from the queue at a time
POLL_S = 1.0  # also look for jobs that another process queued
REFRESH_EVERY_S = 30.0  # derived indexes catch up at least this often while jobs keep coming
POOL_IDLE_S = 300.0  # worker processes are stopped after this long without work (memory back)
# Analysis processes yield the CPU to the web processes (requests first, uploads in the time left):
# on 2 cores the analysis process otherwise takes one, and a second web process gains little.
ANALYSIS_NICE = 10
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
T = TypeVar("T")


class RunnerLock:
    """Which process of a server runs the jobs: whoever holds an exclusive flock on `path`. Its
    pid is written in the file, for people (and tests) looking; a stale pid means nothing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO | None = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def try_acquire(self) -> bool:
        if self._file is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+b")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.truncate(0)
        handle.write(str(os.getpid()).encode())
        handle.flush()
        self._file = handle
        return True

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the file drops the lock
            self._file = None


class JobRunner:
    def __init__(
        self,
        store: str | Path,
        model_dir: Path,
        workers: int = 1,
        on_failed: Callable[[Job], None] | None = None,
        options: AnalysisOptions | None = None,
        limits: WorkerLimits = WorkerLimits(),
        lock: RunnerLock | None = None,
    ) -> None:
        self.model_dir = model_dir
        self.lock = lock  # None: this runner is the only one (a test's, or one process's)
        options = options or AnalysisOptions()
        self.options = options  # which analyzers run; options.version marks what they stored
        self.on_failed = on_failed  # e.g. delete the stored upload that nothing uses
        self.workers = max(1, workers)
        self.store = open_store(store)  # the writer
        self.accounts = self.store.accounts
        # Serialises this store's write transactions: job results, new jobs, deletions.
        self.write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # A picture past the memory or time limit fails its job; its worker is replaced.
        self._workers = AnalysisWorkers(model_dir, self.workers, options=options, limits=limits)
        self._needs_refresh = False
        self._new_faces: set[int] = set()  # owners with images stored since their faces were grouped
        self._refreshed_at = time.monotonic()
        self._niced: set[int] = set()  # analysis processes already at ANALYSIS_NICE

    # ---- control ------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._lead_then_run, name="pixseek-jobs", daemon=True)
        self._thread.start()

    @property
    def leading(self) -> bool:
        """Whether this process runs the jobs now."""
        return self.lock is None or self.lock.held

    def _lead_then_run(self) -> None:
        """Wait to be the one runner (at once, without a lock), then take up what was left running."""
        while self.lock is not None and not self.lock.try_acquire():
            if self._stop.wait(POLL_S):
                return
        if self.lock is not None:
            log.info("process %d runs the analysis jobs", os.getpid())
        with self.write_lock:
            # Only the holder of the lock runs jobs: any still marked running were the last holder's.
            resumed = self.accounts.requeue_running()
        if resumed:
            log.info("resuming %d interrupted analysis job(s)", resumed)
        self._run()

    def notify(self) -> None:
        """New jobs were queued: look now rather than at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the job in hand, put the rest back in the queue, stop the workers."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._workers.close()
        with self.write_lock:
            self.store.close()
        if self.lock is not None:
            self.lock.release()

    # ---- what request handlers ask of the writer ------------------------------------------------
    def add_job(self, owner: int, name: str, path: str, status: str = "queued", error: str | None = None) -> Job:
        with self.write_lock:
            return self.accounts.add_job(owner, name, path, status=status, error=error)

    def write(self, change: Callable[[Store], T]) -> T:
        """Run `change` on the writer store as one transaction: committed, or rolled back if it raises."""
        with self.write_lock:
            try:
                result = change(self.store)
                self.store.commit()
            except BaseException:
                self.store.rollback()
                raise
        return result

    def remove_image(self, owner: int, content_id: int) -> list[str]:
        return self.write(lambda store: store.remove_image(owner, content_id))

    # ---- the runner thread ---------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                jobs = self.accounts.queued_jobs(BATCH)
                if jobs:
                    self._process(jobs)
                    continue
                if self._new_faces:
                    self._group_faces()
                if self._needs_refresh:
                    self._refresh()
                if self._workers.running and time.monotonic() - self._workers.last_used > POOL_IDLE_S:
                    self._workers.close()
            except Exception:  # never let one bad moment stop the runner
                log.exception("analysis job runner error")
                self._stop.wait(POLL_S)
            self._wake.wait(POLL_S)
            self._wake.clear()
        if self._needs_refresh:
            try:
                self._refresh()
            except Exception:
                log.exception("refreshing indexes at shutdown failed")

    def _process(self, jobs: list[Job]) -> None:
        to_analyse: list[Job] = []
        for job in jobs:
            with self.write_lock:
                self.accounts.update_job(job.owner, job.id, "running")
            if not os.path.isfile(job.path):
                self._fail(job, "the uploaded file is gone")
                continue
            # The folder name is the content hash: bytes this user has analysed already need no work
            # (a video only where its frames are stored at this very path: elsewhere they are not).
            sha = Path(job.path).parent.name
            known = self.store.find_content(job.owner, sha, self.options.version) if _SHA256.match(sha) else None
            if known is not None and has_image_extension(job.path, VIDEO_EXTENSIONS):
                known = known if self.store.content_of_path(job.owner, job.path) == known else None
            if known is not None:
                self._finish(job, known, None, sha)
            else:
                to_analyse.append(job)
        pending: dict[str, list[Job]] = {}  # the same stored file may have several jobs
        for job in to_analyse:
            pending.setdefault(job.path, []).append(job)
        try:
            # The pool asks stop() at every turn, right after starting a process too: the moment to
            # lower a new process's priority, before it loads its models.
            for result in self._workers.results(list(pending), stop=self._lowered_then_stopping):
                for job in pending.pop(result.path):
                    self._apply(job, result)
        except WorkersUnavailable:
            log.exception("analysis workers cannot start")
            for waiting in list(pending.values()):
                for job in waiting:
                    self._fail(job, "the analysis worker process failed to start (see the server log)")
            pending.clear()
        finally:
            if pending:  # stopping: these go back to the queue for the next start
                with self.write_lock:
                    for waiting in pending.values():
                        for job in waiting:
                            self.accounts.update_job(job.owner, job.id, "queued")
        self._group_faces()
        # New rows are searchable at once (readers scan rows past the derived indexes); the indexes
        # catch up when the queue is empty, or every REFRESH_EVERY_S during a long run of uploads.
        if self._needs_refresh and time.monotonic() - self._refreshed_at > REFRESH_EVERY_S:
            self._refresh()

    def _lowered_then_stopping(self) -> bool:
        live = set(self._workers.pids)
        for pid in live - self._niced:
            try:
                os.setpriority(os.PRIO_PROCESS, pid, ANALYSIS_NICE)
            except (OSError, AttributeError):  # gone already, or no setpriority (Windows)
                pass
        self._niced = live
        return self._stop.is_set()

    def _apply(self, job: Job, result: AnalysisResult) -> None:
        if result.error is not None or result.analysis is None or result.sha256 is None:
            self._fail(job, result.error or "the image could not be analysed")
            return
        self._finish(job, None, result, result.sha256)

    def _finish(self, job: Job, content_id: int | None, result: AnalysisResult | None, sha: str) -> None:
        store = self.store
        try:
            stat = os.stat(job.path)
        except OSError:
            self._fail(job, "the uploaded file is gone")
            return
        with self.write_lock:
            try:
                state = FileState(job.path, stat.st_size, stat.st_mtime_ns)
                if result is not None and result.frames is not None:  # a video: its poster and frames
                    written, new = store_video_frames(store, job.owner, self.options.version, result, state)
                    self._needs_refresh |= new
                    content_id = written[job.path]  # the poster's
                else:
                    if content_id is None:
                        content_id = store.find_content(job.owner, sha, self.options.version)
                    if content_id is None:
                        assert result is not None and result.analysis is not None
                        content_id = store.add_content(job.owner, sha, self.options.version, result.analysis)
                        self._needs_refresh = True
                    store.put_file(job.owner, state, content_id)
                # Same transaction: the job is done exactly when its image is visible.
                self.accounts.update_job(job.owner, job.id, "done", content_id=content_id)
                store.commit()
            except Exception as exc:
                store.rollback()
                log.exception("storing the analysis of job %d failed", job.id)
                self.accounts.update_job(
                    job.owner, job.id, "failed", error=f"could not store the analysis: {exc}"
                )
                return
            self._new_faces.add(job.owner)

    def _group_faces(self) -> None:
        """Group the new faces of the owners whose images were just stored (each run only looks
        at faces never grouped, so this is cheap); their people are then listed and searchable."""
        while self._new_faces:
            owner = self._new_faces.pop()
            with self.write_lock:
                try:
                    report = cluster_faces(self.store, owner)
                except Exception:
                    self.store.rollback()
                    log.exception("grouping the faces of user %d failed", owner)
                    continue
            if report.joined or report.new_people:
                log.info(
                    "faces of user %d: %d joined people, %d new people, %d not grouped yet",
                    owner, report.joined, report.new_people, report.waiting,
                )

    def _fail(self, job: Job, reason: str) -> None:
        with self.write_lock:
            self.accounts.update_job(job.owner, job.id, "failed", error=reason)
        if self.on_failed is not None:
            try:
                self.on_failed(job)
            except Exception:
                log.exception("cleaning up after failed job %d", job.id)

    def _refresh(self) -> None:
        with self.write_lock:
            fill_places(self.store)  # the uploads' GPS positions -> places
            self.store.refresh_indexes()
        self._needs_refresh = False
        self._refreshed_at = time.monotonic()
