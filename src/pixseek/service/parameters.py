"""Request parameters several routers share: limits, filters, the query language, and the
multipart bodies (a picture and its form fields) that the handlers read themselves."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import Query, Request
from pydantic import WithJsonSchema
from starlette.concurrency import run_in_threadpool

from pixseek.imageio.decode import ImageDecodeError
from pixseek.imageio.files import VIDEO_EXTENSIONS, has_image_extension
from pixseek.language.languages import UnsupportedLanguageError, check_language
from pixseek.service.dependencies import service_of
from pixseek.service.errors import decode_status, error
from pixseek.service.uploads import UploadRejected


Limit200 = Query(ge=1, le=200)
# Query parameters the handlers check themselves (with messages that say what to send): the
# schema states the same rules, so clients and generated API clients know them beforehand.
_IsoDate = Annotated[
    str, WithJsonSchema({"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "maxLength": 0}]})
]
FolderQ = Annotated[
    Annotated[str, WithJsonSchema({"type": "string", "maxLength": 1000, "pattern": r"^[^\x00-\x1f\x7f]*$"})] | None,
    Query(
        max_length=1000,
        description="only under this folder of your library, relative to it ('uploads', '2023/summer'): "
        "no leading '/', no '..' (400), no control characters",
    ),
]
DateFromQ = Annotated[_IsoDate | None, Query(description="taken on or after, YYYY-MM-DD")]
DateToQ = Annotated[_IsoDate | None, Query(description="taken on or before, YYYY-MM-DD")]
CameraQ = Annotated[str | None, Query(max_length=200, description="camera make/model contains this")]


_LANGUAGE_CODE = r"^$|^(en|fr|de|es|it|pt|nl|EN|FR|DE|ES|IT|PT|NL)([-_][A-Za-z0-9]+)*$"
LangQ = Annotated[
    Annotated[str, WithJsonSchema({"type": "string", "maxLength": 35, "pattern": _LANGUAGE_CODE})] | None,
    Query(max_length=35, description="en, fr, de, es, it, pt or nl (a region may follow: fr-CA, pt_BR)"),
]


def checked_language(lang: str | None) -> str | None:
    """The `lang` parameter checked: a language we cannot read is a 422, as any bad parameter."""
    if not lang:
        return None
    try:
        return check_language(lang)
    except UnsupportedLanguageError as exc:
        raise error(422, f"query parameter 'lang': {exc}") from None


def multipart(file_field: str, many: bool, fields: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """openapi_extra for a route that reads its multipart/form-data body itself (streamed to disk)."""
    picture = {"type": "string", "format": "binary", "description": "an image file (JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC)"}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": [file_field],
                        "properties": {
                            file_field: {"type": "array", "items": picture, "minItems": 1} if many else picture,
                            **(fields or {}),
                        },
                    }
                }
            },
        }
    }


async def query_picture(request: Request) -> tuple[bytes, dict[str, str]]:
    """The picture of a search-by-picture request (multipart field `file`, read, not stored) and
    the request's other form fields."""
    service = service_of(request)
    try:
        form = await service.uploads.receive(request, "file", service.settings.max_upload_bytes, 1)
    except UploadRejected as exc:
        raise error(exc.status, exc.message) from None
    try:
        if not form.files:
            raise error(422, "no image: send it as multipart/form-data in the field 'file'")
        upload = form.files[0]
        if has_image_extension(upload.name, VIDEO_EXTENSIONS):
            data = await run_in_threadpool(_first_frame, upload.temp_path)
        else:
            data = await run_in_threadpool(upload.temp_path.read_bytes)
    finally:
        form.discard()
    if not data:
        raise error(422, "empty file")
    return data, form.fields


def _first_frame(path: Path) -> bytes:
    """A video sent to search by: its first frame as a PNG (what the search then analyses)."""
    from pixseek.imageio.video import frame_png, video_info

    try:
        video_info(str(path))  # its picture size within the decompression-bomb limit
        return frame_png(str(path), 0.0)
    except ImageDecodeError as exc:
        raise error(decode_status(exc.reason), exc.reason) from None


def form_int(value: str | None, name: str, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise error(422, f"{name}: expected a whole number, got {value!r}") from None
    if not low <= number <= high:
        raise error(422, f"{name}: must be between {low} and {high}")
    return number
