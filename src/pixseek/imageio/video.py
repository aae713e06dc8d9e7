"""Reading videos (MP4, MOV, MKV, WebM) with PyAV, which carries FFmpeg: what a video is, the
frames worth analysing, and one frame at a given time (for thumbnails).

Sampling: the key frames are decoded (the decoder skips every other frame, so an hour costs
what its key frames cost), and a key frame is kept when the picture changed since the last kept
one (a scene change: the mean difference of 16 x 16 grey copies above SCENE_CHANGE), at least
MIN_GAP_S after it, or when MAX_GAP_S passed without one; the first frame is always kept (the
poster). A video whose key frames are further apart than MAX_GAP_S (some encoders write one
per 10 s or fewer) is decoded frame by frame instead, with the same rule. At most MAX_FRAMES are
kept, spread evenly over the video when more qualify. Failures become ImageDecodeError reasons.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from pixseek.imageio.decode import ImageDecodeError

MIN_GAP_S = 2.0
MAX_GAP_S = 10.0
MAX_FRAMES = 30
SCENE_CHANGE = 12.0  # mean absolute difference of 16 x 16 grey copies (0-255)
MAX_PIXELS = 8192 * 4320  # beyond 8K a "video" is not one a camera made
_FORMATS = {".mp4": "MP4", ".m4v": "MP4", ".mov": "MOV", ".mkv": "MKV", ".webm": "WEBM"}


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    duration_s: float
    format: str  # MP4, MOV, MKV, WEBM (from the file name's extension)
    created_at: str | None  # ISO 8601, from the container's creation_time


@dataclass(frozen=True)
class SampledFrame:
    seconds: float
    image: Image.Image  # RGB, full size, upright


def container_format(path: str) -> str:
    return _FORMATS.get(os.path.splitext(path)[1].lower(), "VIDEO")


def _open(path: str):
    import av

    try:
        container = av.open(path, metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise ImageDecodeError(f"corrupt or unsupported video ({_ffmpeg_reason(exc)})") from None
    except OSError as exc:
        raise ImageDecodeError(f"cannot read file: {exc.strerror or exc}") from None
    if not container.streams.video:
        container.close()
        raise ImageDecodeError("no video stream in the file")
    return container


def _ffmpeg_reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(":")[0].strip() if text else type(exc).__name__


def video_info(path: str) -> VideoInfo:
    container = _open(path)
    try:
        return _info(path, container)
    finally:
        container.close()


def _info(path: str, container) -> VideoInfo:
    stream = container.streams.video[0]
    width, height = int(stream.codec_context.width or 0), int(stream.codec_context.height or 0)
    if width <= 0 or height <= 0:
        raise ImageDecodeError("corrupt or unsupported video (no picture size)")
    if width * height > MAX_PIXELS:
        raise ImageDecodeError(f"video frames too large ({width}x{height})")
    duration = 0.0
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / 1_000_000
    created = container.metadata.get("creation_time") or stream.metadata.get("creation_time")
    created_at = created[:19] if created and len(created) >= 19 and created[4] == "-" else None
    return VideoInfo(width, height, max(0.0, duration), container_format(path), created_at)


def _upright(frame) -> Image.Image:
    image = frame.to_image()
    rotation = int(getattr(frame, "rotation", 0) or 0) % 360  # counter-clockwise degrees to show it upright
    if rotation in (90, 180, 270):
        image = image.rotate(rotation, expand=True)
    return image.convert("RGB") if image.mode != "RGB" else image


def _signature(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L").resize((16, 16), Image.Resampling.BILINEAR), dtype=np.float32)


def _frames(path: str, key_frames_only: bool) -> Iterator[tuple[float, object]]:
    import av

    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "SLICE"
        if key_frames_only:
            stream.codec_context.skip_frame = "NONKEY"
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            yield float(frame.pts * stream.time_base) - float((stream.start_time or 0) * stream.time_base), frame
    except av.error.FFmpegError as exc:
        raise ImageDecodeError(f"corrupt or unsupported video ({_ffmpeg_reason(exc)})") from None
    finally:
        container.close()


def sample_frames(path: str) -> tuple[VideoInfo, list[SampledFrame]]:
    """The frames of a video worth analysing (see the module's doc), poster first."""
    info = video_info(path)
    chosen = _choose(path, info, key_frames_only=True)
    expected = max(1, int(info.duration_s // MAX_GAP_S))
    if len(chosen) < min(expected, MAX_FRAMES):  # sparse key frames: look at every frame
        chosen = _choose(path, info, key_frames_only=False)
    if not chosen:
        raise ImageDecodeError("corrupt or unsupported video (no frame could be decoded)")
    if len(chosen) > MAX_FRAMES:  # the poster, then evenly spread
        picks = np.unique(np.round(np.linspace(0, len(chosen) - 1, MAX_FRAMES)).astype(int))
        chosen = [chosen[i] for i in picks]
    return info, chosen


def _choose(path: str, info: VideoInfo, key_frames_only: bool) -> list[SampledFrame]:
    chosen: list[SampledFrame] = []
    last_time, last_signature = -1e9, None
    decoded_any = False
    try:
        for seconds, frame in _frames(path, key_frames_only):
            decoded_any = True
            gap = seconds - last_time
            if chosen and gap < MIN_GAP_S:
                continue
            image = None
            if chosen and gap < MAX_GAP_S:
                image = _upright(frame)
                if float(np.abs(_signature(image) - last_signature).mean()) < SCENE_CHANGE:
                    continue
            image = image or _upright(frame)
            chosen.append(SampledFrame(0.0 if not chosen else max(0.001, seconds), image))
            last_time, last_signature = seconds, _signature(image)
    except ImageDecodeError:
        if not decoded_any:
            raise
        # a video cut short or damaged near its end: what was decoded before stays
    return chosen


def frame_at(path: str, seconds: float) -> Image.Image:
    """The frame shown at `seconds` (the first at or after it; the last one if past the end)."""
    import av

    container = _open(path)
    try:
        stream = container.streams.video[0]
        start = float((stream.start_time or 0) * stream.time_base)
        if seconds > 0:
            container.seek(int((seconds + start) / stream.time_base), stream=stream, backward=True)
        last = None
        for frame in container.decode(stream):
            last = frame
            if frame.pts is not None and float(frame.pts * stream.time_base) - start >= seconds - 1e-3:
                return _upright(frame)
        if last is None:
            raise ImageDecodeError("corrupt or unsupported video (no frame could be decoded)")
        return _upright(last)
    except av.error.FFmpegError as exc:
        raise ImageDecodeError(f"corrupt or unsupported video ({_ffmpeg_reason(exc)})") from None
    finally:
        container.close()


def frame_jpeg(path: str, seconds: float, quality: int = 92) -> bytes:
    """The frame at `seconds` as JPEG bytes (what thumbnails are made from)."""
    return _encoded(frame_at(path, seconds), "JPEG", quality=quality)


def frame_png(path: str, seconds: float) -> bytes:
    """The frame at `seconds` as PNG bytes, losslessly (a frame searched by, analysed as a picture)."""
    return _encoded(frame_at(path, seconds), "PNG")


def _encoded(image: Image.Image, format: str, **options: int) -> bytes:
    import io

    buf = io.BytesIO()
    image.save(buf, format=format, **options)
    return buf.getvalue()
