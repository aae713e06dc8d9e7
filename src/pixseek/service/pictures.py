"""Answers that are pictures: cached JPEG thumbnails (ETag, 304) and the original file on disk."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from fastapi import Request, Response

from pixseek.imageio.decode import ImageDecodeError
from pixseek.imageio.video import frame_jpeg
from pixseek.records import StoredImage, is_video_format, split_frame_path
from pixseek.service.dependencies import service_of
from pixseek.service.errors import decode_status, error


def existing_file(image: StoredImage) -> Path:
    """The image's file on disk (a video frame's: the video)."""
    for path in image.paths:
        path = split_frame_path(path)[0]
        if os.path.isfile(path):
            return Path(path)
    raise error(404, "the original file of this image is missing from disk")


def picture_source(image: StoredImage) -> Path | Callable[[], bytes]:
    """What a thumbnail is made from: the file, or for a video frame the frame (decoded only
    when the thumbnail is not cached yet)."""
    file = existing_file(image)
    if not is_video_format(image.meta.format):
        return file
    seconds = next((s for p in image.paths if (s := split_frame_path(p)[1]) is not None), 0.0)
    return lambda: frame_jpeg(str(file), seconds)


def check_size(size: int, sizes: tuple[int, ...]) -> None:
    if size not in sizes:
        raise error(422, f"query parameter 'size': must be one of {', '.join(map(str, sizes))}")


def jpeg(request: Request, etag: str, make: Callable[[], bytes]) -> Response:
    """A cached JPEG answer: 304 when the client holds this ETag, else the bytes `make` gives."""
    max_age = service_of(request).settings.thumbnail_max_age
    headers = {"ETag": etag, "Cache-Control": f"private, max-age={max_age}"}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    try:
        data = make()
    except ImageDecodeError as exc:
        raise error(decode_status(exc.reason), f"cannot make a thumbnail: {exc.reason}") from None
    return Response(content=data, media_type="image/jpeg", headers=headers)
