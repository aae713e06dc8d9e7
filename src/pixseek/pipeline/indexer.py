"""The indexing orchestrator: files -> analyzers (worker processes) -> store.

It receives the store and builds the analyzers in worker processes; models and storage never meet.
A run compares the folder with what the store remembers and does the least work that makes them
agree: unchanged files cost a stat, moved/renamed and duplicate files reuse their analysis (found by
content hash), new and modified files are analysed once. Results are committed in small batches,
so an interrupted run (Ctrl-C or kill -9) keeps what it committed and the next run resumes.
"""

from __future__ import annotations

import os
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Iterator, Protocol

from pixseek.pipeline.analysis import AnalysisOptions, AnalysisResult
from pixseek.pipeline.characteristics import catch_up, catches_up
from pixseek.pipeline.places import fill_places
from pixseek.imageio.files import scan
from pixseek.records import FileState, IndexedFile, Skipped, frame_path, split_frame_path, version_covers
from pixseek.store import DEFAULT_OWNER
from pixseek.store.base import Store, StoreError, StoreUnavailable
from pixseek.pipeline.workers import AnalysisWorkers, WorkerLimits, WorkersUnavailable
from pixseek.pipeline.vision import EmbedReport, describe_embedding, embed_missing

COMMIT_EVERY_S = 2.0
COMMIT_EVERY_N = 500
STORE_RECONNECTS = 3  # a store whose server goes away more often than this in one run is an error


class IndexingError(RuntimeError):
    pass


class Progress(Protocol):
    def start(self, total: int, description: str) -> None: ...
    def advance(self, n: int = 1) -> None: ...
    def log(self, message: str) -> None: ...


@dataclass
class IndexReport:
    root: str
    indexed: int = 0  # new files analysed
    updated: int = 0  # modified files re-analysed
    reused: int = 0  # new files whose bytes were already analysed (copies, restored files)
    moved: int = 0  # renamed/moved files: analysis kept
    unchanged: int = 0
    removed: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    analysed_per_s: float = 0.0
    stage_ms: dict[str, float] = field(default_factory=dict)  # mean per analysed image
    interrupted: bool = False
    completed: int = 0  # older analyses given the image characteristics without analysing again
    reconnects: int = 0  # times the store's server went away and the run went on from its last commit
    embedding: "EmbedReport | None" = None  # the active vision model's pass over images it lacked

    def skip_reasons(self) -> Counter[str]:
        return Counter(s.reason.split(":")[0] for s in self.skipped)


# ---- orchestrator -----------------------------------------------------------------------------
@dataclass
class _Plan:
    to_analyse: list[FileState] = field(default_factory=list)
    unchanged: int = 0
    changed: dict[str, IndexedFile] = field(default_factory=dict)  # path -> previous version
    gone: dict[str, IndexedFile] = field(default_factory=dict)  # path -> what the store had
    again: list[str] = field(default_factory=list)  # skipped as known, but that content has gone since
    to_complete: list[tuple[FileState, IndexedFile]] = field(default_factory=list)  # analysed before the characteristics
    frames: dict[str, list[str]] = field(default_factory=dict)  # video path -> its stored frames' paths


def store_video_frames(
    store: Store, owner: int, version: str, result: AnalysisResult, state: FileState
) -> tuple[dict[str, int], bool]:
    """Store an analysed video's frames: one content each (found again by hash when known), held
    by the video's path (the poster) and "<path>#t=<seconds>". Returns the paths written with
    their content ids and whether any frame was new. (The indexer and the service's upload jobs
    both store videos so.)"""
    written: dict[str, int] = {}
    new = False
    for frame in result.frames or []:
        content_id = store.find_content(owner, frame.sha256, version)
        if content_id is None:
            content_id = store.add_content(owner, frame.sha256, version, frame.analysis)
            new = True
        path = frame_path(state.path, frame.seconds)
        store.put_file(owner, FileState(path, state.size, state.mtime_ns), content_id)
        written[path] = content_id
    return written, new


class Indexer:
    def __init__(
        self,
        store: Store,
        model_dir: Path,
        workers: int | None = None,
        progress: Progress | None = None,
        owner: int = DEFAULT_OWNER,
        options: AnalysisOptions = AnalysisOptions(),
        scheduler: str | None = None,
        limits: WorkerLimits = WorkerLimits(),
    ) -> None:
        self.store = store
        self.limits = limits  # memory and time each worker process may spend on one image
        self.scheduler = scheduler  # a Dask scheduler's address: analyse on that cluster
        self.owner = owner
        self.options = options
        self.version = options.version
        self.model_dir = model_dir
        self.workers = workers or max(1, min(2, os.cpu_count() or 1))
        self.progress = progress
        self._pool: AnalysisWorkers | None = None  # this run's local workers, started during the scan

    def index(self, root: Path) -> IndexReport:
        """Bring the store up to date with the files under `root`. If the store's server goes away
        (StoreUnavailable), reconnect and plan again: what was committed is kept, so the run goes on
        from there and nothing is stored twice."""
        started = time.perf_counter()
        root = Path(os.path.abspath(root))
        for attempt in range(STORE_RECONNECTS + 1):
            report = IndexReport(root=str(root), reconnects=attempt)
            try:
                return self._index(root, report, started)
            except StoreUnavailable as exc:
                if attempt == STORE_RECONNECTS:
                    raise IndexingError(f"{exc} (gave up after {attempt} reconnections)") from None
                if self.progress:
                    self.progress.log(f"{exc}: reconnecting, then going on from the last commit")
                try:
                    self.store.reconnect()
                except StoreError as again:
                    raise IndexingError(str(again)) from None
        raise AssertionError("unreachable")

    def _index(self, root: Path, report: IndexReport, started: float) -> IndexReport:
        try:
            return self._index_and_store(root, report, started)
        finally:
            self._close_pool()

    def _index_and_store(self, root: Path, report: IndexReport, started: float) -> IndexReport:
        plan = self._plan(root, report)
        try:
            # Cheap, in this process (no model): what fails to decode here is analysed in full instead.
            redo = catch_up(self.store, self.owner, plan.to_complete, report, self.progress)
            for state, old in redo:
                plan.to_analyse.append(state)
                plan.changed[state.path] = old
            self._analyse(plan, report)
        except KeyboardInterrupt:
            report.interrupted = True
        finally:
            self.store.commit()
        if not report.interrupted:
            # Whatever is still unaccounted for is gone from disk.
            self.store.remove_files(self.owner, list(plan.gone))
            report.removed = len(plan.gone)
            self.store.commit()
        fill_places(self.store)  # GPS positions -> places (also those of libraries indexed before)
        if self.options.vision is not None and not report.interrupted:
            # Images indexed before this model was active (or under another): embedded by it alone.
            report.embedding = embed_missing(
                self.store, self.owner, self.options.vision, self.model_dir, self.workers, self.limits,
                self.progress, under=root,
            )
            report.interrupted = report.embedding.interrupted
        self.store.refresh_indexes()
        report.seconds = time.perf_counter() - started
        return report

    def _plan(self, root: Path, report: IndexReport) -> _Plan:
        unreadable_dirs: list[str] = []

        def on_skip(skipped: Skipped) -> None:
            report.skipped.append(skipped)
            if os.path.isdir(skipped.path) and not os.path.islink(skipped.path):
                unreadable_dirs.append(skipped.path.rstrip("/") + "/")
            if self.progress:
                self.progress.log(f"skipped {skipped.path}: {skipped.reason}")

        known = self.store.indexed_files(self.owner, under=str(root))
        plan = _Plan()
        for path in known:
            video, seconds = split_frame_path(path)
            if seconds is not None:  # a video's frame: it stays, moves or goes with its video
                plan.frames.setdefault(video, []).append(path)
        seen: set[str] = set()
        for state in scan(root, on_skip):
            seen.add(state.path)
            old = known.get(state.path)
            if (
                old is not None
                and old.size == state.size
                and old.mtime_ns == state.mtime_ns
                and version_covers(old.analyzer, self.version)
            ):
                plan.unchanged += 1
            elif (
                old is not None
                and old.size == state.size
                and old.mtime_ns == state.mtime_ns
                and catches_up(old.analyzer, self.options)
            ):
                plan.to_complete.append((state, old))
            else:
                plan.to_analyse.append(state)
                if old is not None:
                    plan.changed[state.path] = old
                self._start_workers(len(plan.to_analyse))
        # A directory we could not read has unknown contents, not none: keep what it held.
        plan.gone = {
            p: f
            for p, f in known.items()
            if split_frame_path(p)[0] not in seen and not any(p.startswith(d) for d in unreadable_dirs)
        }
        report.unchanged = plan.unchanged
        return plan

    def _analyse(self, plan: _Plan, report: IndexReport) -> None:
        if not plan.to_analyse:
            return
        states = {s.path: s for s in plan.to_analyse}
        # Contents the workers need not analyse: those of vanished files (likely moves) and the
        # changed files' previous versions (touched but identical).
        gone_by_hash: dict[str, list[str]] = defaultdict(list)
        for path, old in plan.gone.items():
            if version_covers(old.analyzer, self.version):
                gone_by_hash[old.sha256].append(path)
        skip_hashes = frozenset(gone_by_hash) | frozenset(
            f.sha256 for f in plan.changed.values() if version_covers(f.analyzer, self.version)
        )

        if self.progress:
            self.progress.start(len(states), "analysing")
        last_commit, since_commit = time.monotonic(), 0
        totals: Counter[str] = Counter()
        analysed = 0
        t0 = time.perf_counter()
        passes = [(list(states), skip_hashes)]
        for paths, skipping in passes:
            for result in self._results(paths, skipping):
                state = states[result.path]
                self._apply(result, state, plan, gone_by_hash, report)
                if result.analysis is not None:
                    analysed += 1
                    totals.update(result.timings_ms)
                since_commit += 1
                if self.progress and len(passes) == 1:  # the second pass's files were counted once
                    self.progress.advance()
                if since_commit >= COMMIT_EVERY_N or time.monotonic() - last_commit >= COMMIT_EVERY_S:
                    self.store.commit()
                    last_commit, since_commit = time.monotonic(), 0
            if plan.again:  # analysed after all, in a second pass that skips nothing
                passes.append((plan.again, frozenset()))
                plan.again = []
        self._close_pool()  # before the vision pass starts its own
        elapsed = time.perf_counter() - t0
        if analysed:
            report.stage_ms = {k: v / analysed for k, v in totals.items()}
            report.analysed_per_s = analysed / elapsed

    def _apply(
        self,
        result: AnalysisResult,
        state: FileState,
        plan: _Plan,
        gone_by_hash: dict[str, list[str]],
        report: IndexReport,
    ) -> None:
        store = self.store
        if result.error is not None or result.sha256 is None:
            report.skipped.append(Skipped(result.path, result.error or "unknown error"))
            if self.progress:
                self.progress.log(f"skipped {result.path}: {result.error}")
            return
        sha = result.sha256
        old = plan.changed.get(state.path)
        previous = old.content_id if old is not None else None
        content_id = store.find_content(self.owner, sha, self.version)
        if content_id is not None and gone_by_hash.get(sha):
            old_path = gone_by_hash[sha].pop()
            del plan.gone[old_path]
            if previous is None:
                store.move_file(self.owner, old_path, state)
            else:  # moved over an existing file
                store.remove_files(self.owner, [old_path])
                store.put_file(self.owner, state, content_id)
            self._move_frames(old_path, state, plan)
            report.moved += 1
            return
        if result.frames is not None:
            self._apply_video(result, state, plan, previous, report)
            return
        if content_id is None:
            if result.analysis is None:  # skipped as known, but its content has since gone
                plan.again.append(state.path)
                return
            content_id = store.add_content(self.owner, sha, self.version, result.analysis)
            if previous is None:
                report.indexed += 1
            else:
                report.updated += 1
        elif previous is None:
            report.reused += 1
        elif previous == content_id:
            report.unchanged += 1  # touched, same bytes
        else:
            report.updated += 1
        store.put_file(self.owner, state, content_id)

    def _move_frames(self, old_path: str, state: FileState, plan: _Plan) -> None:
        """A moved video's frames follow it (those it had at its new path are replaced)."""
        stale = plan.frames.pop(state.path, [])
        if stale:
            self.store.remove_files(self.owner, stale)
        for path in plan.frames.pop(old_path, []):
            seconds = split_frame_path(path)[1] or 0.0
            plan.gone.pop(path, None)
            self.store.move_file(self.owner, path, FileState(frame_path(state.path, seconds), state.size, state.mtime_ns))

    def _apply_video(
        self, result: AnalysisResult, state: FileState, plan: _Plan, previous: int | None, report: IndexReport
    ) -> None:
        """Store a video's frames (store_video_frames); frames it no longer has go."""
        written, new = store_video_frames(self.store, self.owner, self.version, result, state)
        stale = [p for p in plan.frames.pop(state.path, []) if p not in written]
        if stale:
            self.store.remove_files(self.owner, stale)
        if previous is None:
            report.indexed += new
            report.reused += not new
        else:
            report.updated += 1

    def _results(self, paths: list[str], skip_hashes: frozenset[str]) -> Iterator[AnalysisResult]:
        if self.scheduler is not None:
            from pixseek.pipeline.distributed import ClusterUnavailable, DaskWorkers

            try:
                # The cluster may not see the vision model's folder: the model-only pass that
                # follows (local workers) embeds what the cluster analysed.
                options = replace(self.options, vision=None)
                with DaskWorkers(self.scheduler, self.model_dir, skip_hashes, options) as cluster:
                    yield from cluster.results(paths)
            except ClusterUnavailable as exc:
                raise IndexingError(str(exc)) from None
            return
        # Always in worker processes, even for one file: a hostile picture must not take this
        # process's memory or time, only a worker's (see pixseek.pipeline.workers).
        if self._pool is None:
            self._pool = AnalysisWorkers(self.model_dir, self.workers, options=self.options, limits=self.limits)
        self._pool.skip_hashes = skip_hashes  # the workers started during the scan get them with their first file
        try:
            yield from self._pool.results(paths)
        except WorkersUnavailable as exc:
            raise IndexingError(str(exc)) from None

    def _start_workers(self, files: int) -> None:
        """During the scan, once it has found `files` to analyse: have that many workers (at most the
        pool's size) start loading their models, so that their start-up (~0.3 s of CPU each) overlaps
        the rest of the scan and the plan rather than following them. A run with nothing to analyse
        starts none."""
        if self.scheduler is not None or files > self.workers:
            return
        if self._pool is None:
            self._pool = AnalysisWorkers(self.model_dir, self.workers, options=self.options, limits=self.limits)
        try:
            self._pool.start(files)
        except WorkersUnavailable as exc:
            raise IndexingError(str(exc)) from None

    def _close_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()


def describe(report: IndexReport) -> Iterable[str]:
    """Human summary lines of a run."""
    yield (
        f"{report.indexed} indexed, {report.updated} updated, {report.moved} moved, "
        f"{report.reused} duplicates reused, {report.unchanged} unchanged, {report.removed} removed, "
        f"{len(report.skipped)} skipped in {report.seconds:.1f} s"
    )
    if report.analysed_per_s:
        stages = ", ".join(f"{k} {v:.1f} ms" for k, v in report.stage_ms.items())
        yield f"analysis: {report.analysed_per_s:.1f} images/s ({stages} per image)"
    for reason, count in report.skip_reasons().most_common():
        yield f"  skipped {count}: {reason}"
    if report.completed:
        yield f"{report.completed} earlier analyses given the image characteristics (not analysed again)"
    if report.embedding is not None and (report.embedding.embedded or report.embedding.skipped):
        yield from describe_embedding(report.embedding)
    if report.interrupted:
        yield "interrupted: what was analysed is saved; run the same command again to resume"
    if report.reconnects:
        yield (
            f"the store's connection was lost {report.reconnects} time(s); the run went on from the last "
            "commit (files stored before that count as unchanged)"
        )
