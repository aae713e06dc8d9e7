"""The active vision-language model as one more analyser, and the model-only pass.

In a normal analysis (pipeline/analysis.py) the model embeds the same decoded picture the
classifier sees, and the vector goes into `Analysis.vectors[space]`. The analysis version does
not name the model: switching models must not re-run the classifier, faces and OCR on every
image. What a model has embedded is tracked by its vector space instead (store.spaces), and
images it lacks (indexed before the model was added, or under another model) get a model-only
pass: read, hash, decode, embed; nothing else runs. Its work list is `spaces.missing()`, its
results are committed in small batches, so a killed pass resumes where it stopped.
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from pixseek.imageio.decode import ImageDecodeError, load_image, reduce_to
from pixseek.records import Skipped, Vector, split_frame_path
from pixseek.store.base import ID_MAX, Store, StoreUnavailable

if TYPE_CHECKING:
    from pixseek.pipeline.analysis import AnalysisResult
    from pixseek.pipeline.indexer import Progress
    from pixseek.pipeline.limits import WorkerLimits

COMMIT_EVERY_S = 2.0
COMMIT_EVERY_N = 200
CHUNK = 256  # contents looked up (and handed to the workers) at a time
STORE_RECONNECTS = 3
CHANGED_SINCE = "changed since it was indexed (run pixseek index on its folder)"


@dataclass(frozen=True)
class VisionTarget:
    """The model a run embeds with (picklable: worker processes get a copy)."""

    folder: str  # the registered copy (ONNX layout)
    name: str
    space: str  # store.spaces name: "<name>@<version>"
    image_size: int


class VisionEmbedder:
    """The model in one process: built inside the process that uses it (ONNX Runtime)."""

    def __init__(self, target: VisionTarget, threads: int = 1) -> None:
        from pixseek.analyzers.vlm import ModelFolderError, load_model

        self.target = target
        self._video_digests: dict[tuple[str, int, int], str] = {}  # see pipeline/video.read_stored_frame
        self.model = load_model(Path(target.folder), threads=threads, name=target.name, towers="image")
        if self.model.info.space != target.space:
            raise ModelFolderError(
                f"{target.folder}: the model's files changed since it was registered "
                f"({self.model.info.space}, registered as {target.space}): remove it and add it again"
            )

    @property
    def decode_side(self) -> int:
        return self.target.image_size

    def embed(self, image: Image.Image, timings: dict[str, float]) -> dict[str, Vector]:
        """{space: vector} of a decoded picture (box-reduced first: the model resizes exactly)."""
        return self.embed_many([image], timings)[0]

    def embed_many(self, images: list[Image.Image], timings: dict[str, float]) -> list[dict[str, Vector]]:
        """embed() of several pictures, in one batch through the tower (timings["vlm"]: all of them)."""
        t0 = time.perf_counter()
        vectors = self.model.embed_images([reduce_to(image, self.decode_side) for image in images])
        timings["vlm"] = (time.perf_counter() - t0) * 1e3
        return [{self.target.space: vector} for vector in vectors]

    def analyze_file(self, path: str, skip_hashes: frozenset[str] = frozenset()) -> "AnalysisResult":
        """The model-only analysis of one file: its hash and its vector (no classifier, faces, OCR)."""
        from pixseek.pipeline.analysis import AnalysisResult, read_file, sha256_bytes
        from pixseek.imageio.files import is_video_path
        from pixseek.pipeline.video import read_stored_frame

        if is_video_path(path):  # a video's frame: decoded from the video at its time
            try:
                digest, frame, timings = read_stored_frame(path, self._video_digests)
            except ImageDecodeError as exc:
                return AnalysisResult(path, error=exc.reason)
            return AnalysisResult(path, sha256=digest, timings_ms=timings, vectors=self.embed(frame, timings))
        t0 = time.perf_counter()
        try:
            data = read_file(path)
            digest = sha256_bytes(data)
            t1 = time.perf_counter()
            decoded = load_image(io.BytesIO(data), min_side=self.decode_side)
        except ImageDecodeError as exc:
            return AnalysisResult(path, error=exc.reason)
        timings = {"read": (t1 - t0) * 1e3, "decode": (time.perf_counter() - t1) * 1e3}
        vectors = self.embed(decoded.image, timings)
        return AnalysisResult(path, sha256=digest, timings_ms=timings, vectors=vectors)


@dataclass
class EmbedReport:
    """What a model-only pass did."""

    model: str
    space: str
    embedded: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    outside: int = 0  # missing ones held only by files outside the folder of the run
    seconds: float = 0.0
    stage_ms: dict[str, float] = field(default_factory=dict)  # mean per embedded image
    interrupted: bool = False


def _chunks(ids: list[int], size: int):
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def embed_missing(
    store: Store,
    owner: int,
    target: VisionTarget,
    model_dir: Path,
    workers: int = 1,
    limits: "WorkerLimits | None" = None,
    progress: "Progress | None" = None,
    under: Path | None = None,
) -> EmbedReport:
    """Embed, with the target model only, the owner's live images that have no vector in its space
    (those held by files under `under`, if given). Resumable: what was committed stays embedded."""
    started = time.perf_counter()
    report = EmbedReport(target.name, target.space)
    store.spaces.ensure(target.space, _dim(store, target))
    store.commit()
    for attempt in range(STORE_RECONNECTS + 1):
        try:
            _embed(store, owner, target, model_dir, workers, limits, progress, under, report)
            break
        except StoreUnavailable:
            if attempt == STORE_RECONNECTS:
                raise
            if progress:
                progress.log("the store went away: reconnecting, then going on from the last commit")
            store.reconnect()
        except KeyboardInterrupt:
            report.interrupted = True
            break
        finally:
            try:
                store.commit()
            except StoreUnavailable:
                pass
    store.refresh_indexes()
    report.seconds = time.perf_counter() - started
    return report


def _dim(store: Store, target: VisionTarget) -> int:
    """The space's dimension: as stored, else the model's (read from its config without loading it)."""
    known = store.spaces.spaces().get(target.space)
    if known is not None:
        return known
    import json

    return int(json.loads((Path(target.folder) / "config.json").read_text(encoding="utf-8"))["embed_dim"])


def _embed(
    store: Store,
    owner: int,
    target: VisionTarget,
    model_dir: Path,
    workers: int,
    limits: "WorkerLimits | None",
    progress: "Progress | None",
    under: Path | None,
    report: EmbedReport,
) -> None:
    from pixseek.pipeline.analysis import AnalysisOptions
    from pixseek.pipeline.limits import WorkerLimits
    from pixseek.pipeline.workers import AnalysisWorkers

    missing = store.spaces.missing(owner, target.space, ID_MAX).tolist()
    if not missing:
        return
    prefix = None if under is None else os.path.abspath(under).rstrip("/") + "/"
    if progress:
        progress.start(len(missing), f"embedding with {target.name}")
    options = AnalysisOptions(faces=False, text=False, vision=target, vision_only=True)
    totals: dict[str, float] = {}
    last_commit, since_commit = time.monotonic(), 0
    processes = max(1, min(workers, len(missing)))
    with AnalysisWorkers(model_dir, processes, options=options, limits=limits or WorkerLimits()) as pool:
        for chunk in _chunks(missing, CHUNK):
            wanted: dict[str, tuple[int, str]] = {}  # path -> (content id, sha256)
            for image in store.get_images(owner, chunk):
                paths = [p for p in image.paths if prefix is None or p.startswith(prefix)]
                if not paths:
                    report.outside += 1
                    continue
                path = next((p for p in paths if os.path.isfile(split_frame_path(p)[0])), paths[0])
                wanted[path] = (image.content_id, image.sha256)
            if progress:
                progress.advance(len(chunk) - len(wanted))
            for result in pool.results(list(wanted)):
                content_id, sha256 = wanted[result.path]
                if result.error is not None or not result.vectors:
                    report.skipped.append(Skipped(result.path, result.error or "not embedded"))
                elif result.sha256 != sha256:
                    report.skipped.append(Skipped(result.path, CHANGED_SINCE))
                else:
                    vector = result.vectors[target.space]
                    store.spaces.put(owner, target.space, [content_id], vector.reshape(1, -1))
                    report.embedded += 1
                    for stage, ms in result.timings_ms.items():
                        totals[stage] = totals.get(stage, 0.0) + ms
                    since_commit += 1
                if progress:
                    progress.advance()
                if since_commit >= COMMIT_EVERY_N or time.monotonic() - last_commit >= COMMIT_EVERY_S:
                    store.commit()
                    last_commit, since_commit = time.monotonic(), 0
    if report.embedded:
        report.stage_ms = {k: v / report.embedded for k, v in totals.items()}


def describe_embedding(report: EmbedReport) -> list[str]:
    lines = [f"{report.embedded} embedded with {report.model} (model only) in {report.seconds:.1f} s"]
    if report.stage_ms:
        lines[0] += " (" + ", ".join(f"{k} {v:.1f} ms" for k, v in report.stage_ms.items()) + " per image)"
    if report.skipped:
        lines.append(f"  not embedded {len(report.skipped)}: " + "; ".join(
            sorted({s.reason.split(':')[0] for s in report.skipped})[:5]))
    if report.outside:
        lines.append(f"  {report.outside} more are held only by files outside this folder")
    if report.interrupted:
        lines.append("interrupted: what was embedded is saved; run the same command again to resume")
    return lines


