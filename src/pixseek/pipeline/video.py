"""A video's analysis: its sampled frames (imageio/video.py), each analysed like a picture by the
same ImageAnalyzer (classifier, faces, text), in the same worker process and under the same limits.

Each frame becomes one content: the poster (0 s) under the video file's own SHA-256 (so a moved or
copied video is recognised like a moved picture), later frames under the SHA-256 of
"<video sha256>@<milliseconds>", so the same video holds the same frame contents wherever it is.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from pixseek.imageio.decode import ImageDecodeError
from pixseek.imageio.files import sha256_file
from pixseek.imageio.video import frame_at, sample_frames
from pixseek.records import VIDEO_FORMAT_PREFIX, ImageMeta, split_frame_path

if TYPE_CHECKING:
    from PIL import Image

    from pixseek.pipeline.analysis import AnalysisResult, ImageAnalyzer


def frame_sha256(video_sha256: str, seconds: float) -> str:
    if seconds <= 0:
        return video_sha256
    return hashlib.sha256(f"{video_sha256}@{round(seconds * 1000)}".encode()).hexdigest()


def read_stored_frame(path: str, digests: dict[tuple[str, int, int], str]) -> tuple[str, "Image.Image", dict[str, float]]:
    """A stored frame read back from its video (a frame has no file of its own): (the frame
    content's SHA-256, the picture, timings in ms). `digests` remembers each video's hash by path,
    size and modification time, so a pass over one video's frames hashes it once. Raises
    ImageDecodeError (an unreadable or corrupt video)."""
    video, seconds = split_frame_path(path)
    t0 = time.perf_counter()
    try:
        st = os.stat(video)
        key = (video, st.st_size, st.st_mtime_ns)
        if key not in digests:
            digests.clear()  # the frames of one video come together: one is enough to remember
            digests[key] = sha256_file(video)
    except PermissionError:
        raise ImageDecodeError("permission denied") from None
    except OSError as exc:
        raise ImageDecodeError(f"cannot read file: {exc.strerror or exc}") from None
    t1 = time.perf_counter()
    image = frame_at(video, seconds or 0.0)
    timings = {"hash": (t1 - t0) * 1e3, "video_decode": (time.perf_counter() - t1) * 1e3}
    return frame_sha256(digests[key], seconds or 0.0), image, timings


def analyze_video(analyzer: "ImageAnalyzer", path: str, skip_hashes: frozenset[str] = frozenset()) -> "AnalysisResult":
    from pixseek.pipeline.analysis import AnalysisResult, VideoFrame

    t0 = time.perf_counter()
    try:
        digest = sha256_file(path)
    except PermissionError:
        return AnalysisResult(path, error="permission denied")
    except OSError as exc:
        return AnalysisResult(path, error=f"cannot read file: {exc.strerror or exc}")
    if digest in skip_hashes:
        return AnalysisResult(path, sha256=digest)
    t1 = time.perf_counter()
    try:
        info, sampled = sample_frames(path)
    except ImageDecodeError as exc:
        return AnalysisResult(path, error=exc.reason)
    t2 = time.perf_counter()
    meta = ImageMeta(info.width, info.height, VIDEO_FORMAT_PREFIX + info.format, taken_at=info.created_at)
    analyses = analyzer.analyze_pictures(
        [(frame.image, replace(meta, width=frame.image.width, height=frame.image.height)) for frame in sampled]
    )
    frames = [
        VideoFrame(frame.seconds, frame_sha256(digest, frame.seconds), analysis)
        for frame, analysis in zip(sampled, analyses, strict=True)
    ]
    timings = {"hash": (t1 - t0) * 1e3, "video_decode": (t2 - t1) * 1e3, "video_analysis": (time.perf_counter() - t2) * 1e3}
    return AnalysisResult(path, sha256=digest, analysis=frames[0].analysis, timings_ms=timings, frames=frames)
