"""Search: by words, by an image of the library or a picture sent, and the nearest words."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from pixseek.imageio.decode import ImageDecodeError
from pixseek.search.engine import DEFAULT_THRESHOLD, ImageNotFound, QueryError
from pixseek.service import schemas
from pixseek.service.dependencies import CurrentUser, ImageId, service_of
from pixseek.service.errors import answers, decode_status, error
from pixseek.service.parameters import (
    CameraQ,
    DateFromQ,
    DateToQ,
    FolderQ,
    LangQ,
    Limit200,
    checked_language,
    form_int,
    multipart,
    query_picture,
)

router = APIRouter(prefix="/api")
SimilarByQ = Annotated[
    Literal["model", "classifier"] | None,
    Query(description="compare the active vision-language model's embeddings or the classifier's (default: the model's when one is active)"),
]


@router.get("/images/{image_id}/similar", response_model=schemas.SearchResult, responses=answers(400, 401, 404, 422))
def similar(
    image_id: ImageId,
    user: CurrentUser,
    request: Request,
    limit: Annotated[int, Limit200] = 20,
    focus: Annotated[str | None, Query(max_length=100, description='compare only on this concept, e.g. "cat"')] = None,
    by: SimilarByQ = None,
) -> schemas.SearchResult:
    service = service_of(request)
    service.own_image(user.id, image_id)
    try:
        result = service.engine.similar(user.id, image_id, limit=limit, focus=focus or None, by=by)
    except ImageNotFound:
        raise error(404, f"no image {service.ids.encode('image', image_id)}") from None
    except QueryError as exc:
        raise error(400, str(exc)) from None
    return service.search_result(user.id, result)


@router.get("/search", response_model=schemas.SearchResult, responses=answers(400, 401, 422))
def search(
    user: CurrentUser,
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=500, description='words, e.g. "beach ball"')],
    limit: Annotated[int, Limit200] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
    threshold: Annotated[float | None, Query(ge=0.0, le=10.0, description="minimum score")] = None,
    folder: FolderQ = None,
    date_from: DateFromQ = None,
    date_to: DateToQ = None,
    camera: CameraQ = None,
    lang: LangQ = None,
    sort: Annotated[Literal["relevance", "date"], Query(description="relevance, or date (newest first)")] = "relevance",
) -> schemas.SearchResult:
    """Images matching `q`, written in the query language (docs/query-language.md: -word, OR,
    "phrase", after: before: year: in: place: camera: person: type: folder:, date words): read in
    `lang`, else in the language its words are in (ties go to the browser's Accept-Language,
    then English). `description` says how the query was read; `notes` name filters that match
    nothing."""
    service = service_of(request)
    where = service.filter(user.id, folder, date_from, date_to, camera)
    language = checked_language(lang)
    try:
        result = service.engine.search(
            user.id, q, limit=limit, offset=offset,
            threshold=DEFAULT_THRESHOLD if threshold is None else threshold, where=where,
            lang=language, preferred_lang=request.headers.get("accept-language", "")[:200] or None,
            sort=sort,
        )
    except QueryError as exc:
        raise error(400, str(exc)) from None
    return service.search_result(user.id, result)


@router.post(
    "/search/by-image", response_model=schemas.SearchResult, responses=answers(400, 401, 403, 413, 415, 422),
    openapi_extra=multipart("file", False, {
        "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 20},
        "focus": {"type": "string", "maxLength": 100, "description": 'compare only on this concept, e.g. "cat"'},
    }),
)
async def search_by_image(
    user: CurrentUser,
    request: Request,
    limit: Annotated[int | None, Query(ge=1, le=200)] = None,
    focus: Annotated[str | None, Query(max_length=100)] = None,
    by: SimilarByQ = None,
) -> schemas.SearchResult:
    """Images like the one sent (which is analysed, not stored). `limit` and `focus` may also
    come as form fields."""
    service = service_of(request)
    data, fields = await query_picture(request)
    if limit is None:
        limit = form_int(fields.get("limit"), "limit", 20, 1, 200)
    focus = focus or fields.get("focus") or None
    if focus is not None and len(focus) > 100:
        raise error(422, "focus: at most 100 characters")

    def run():
        try:
            with service.analysis_lock:
                return service.engine.similar(user.id, data, limit=limit, focus=focus, by=by)
        except ImageDecodeError as exc:
            raise error(decode_status(exc.reason), exc.reason) from None
        except QueryError as exc:
            raise error(400, str(exc)) from None

    result = await run_in_threadpool(run)
    return service.search_result(user.id, result)


@router.get("/words", response_model=schemas.Words, responses=answers(401, 422))
def words(
    user: CurrentUser,
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=100)],
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> schemas.Words:
    found = service_of(request).engine.words(q, k=limit)
    return schemas.Words(words=[schemas.Word(word=w, similarity=round(s, 4)) for w, s in found])
