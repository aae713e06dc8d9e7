"""The API's errors: one body (schemas.Error, `{detail}`) for every status other than success,
the `responses=` each route declares for the OpenAPI schema, and validation errors in words."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError

from pixseek.service import schemas


def error(status: int, message: str, headers: dict[str, str] | None = None) -> HTTPException:
    return HTTPException(status_code=status, detail=message, headers=headers)


def decode_status(reason: str) -> int:
    if reason.startswith("decompression bomb"):
        return 413
    if reason.startswith(("not an image", "unsupported")):
        return 415
    return 422


def describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors():
        loc = [str(x) for x in e.get("loc", ())]
        where, name = (loc[0] if loc else ""), ".".join(loc[1:])
        message = str(e.get("msg", "invalid"))
        if e.get("type") == "json_invalid":
            parts.append(f"malformed JSON body: {e.get('ctx', {}).get('error', message)}")
        elif where == "query":
            parts.append(f"query parameter {name!r}: {message}")
        elif where == "path":
            parts.append(f"{name} in the URL: {message}")
        elif where == "body":
            parts.append(f"body field {name!r}: {message}" if name else f"body: {message}")
        else:
            parts.append(f"{'.'.join(loc)}: {message}" if loc else message)
    return "; ".join(parts) or "invalid request"


# Every answer other than success has the body schemas.Error; each route lists the ones it gives.
ERRORS = {
    400: "a request that cannot be carried out as asked (e.g. a query with no searchable words, an unknown "
    "focus concept, a folder outside your library) or a body that cannot be parsed",
    401: "no valid credentials: sign in, or send 'Authorization: Bearer <token>'",
    403: "refused: a cross-origin request, or a change authenticated by cookie without X-Requested-With",
    404: "no such item, or it belongs to another user",
    409: "the photo lives in a folder on the server: delete or move it there",
    413: "too large: the request body, a file, a form field, too many files, or a decompression bomb",
    415: "not an image, or the body is not multipart/form-data",
    422: "invalid parameters or body (`detail` names them and says why), or a picture the request cannot use",
    429: "too many failed sign-ins: wait for Retry-After seconds",
}


def answers(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """FastAPI `responses=` for these error statuses (all with the one error body)."""
    return {status: {"model": schemas.Error, "description": ERRORS[status]} for status in statuses}


NOT_MODIFIED: dict[int | str, dict[str, Any]] = {304: {"description": "not modified: the If-None-Match ETag is current"}}
