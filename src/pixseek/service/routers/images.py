"""The user's images: list, upload, detail, text, faces, delete, thumbnail, original."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from pixseek.search.engine import ImageNotFound
from pixseek.service import schemas
from pixseek.service.dependencies import CurrentUser, ImageId, service_of
from pixseek.service.errors import NOT_MODIFIED, answers, error
from pixseek.service.parameters import CameraQ, DateFromQ, DateToQ, FolderQ, LangQ, Limit200, checked_language, multipart
from pixseek.service.pictures import check_size, existing_file, jpeg, picture_source
from pixseek.service.thumbnails import SIZES
from pixseek.service.uploads import UploadRejected

_MIME = {
    "JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp",
    "GIF": "image/gif", "BMP": "image/bmp", "DIB": "image/bmp", "TIFF": "image/tiff",
    "HEIF": "image/heif", "HEIC": "image/heic",
    "VIDEO:MP4": "video/mp4", "VIDEO:MOV": "video/quicktime", "VIDEO:MKV": "video/x-matroska", "VIDEO:WEBM": "video/webm",
}

router = APIRouter(prefix="/api")


@router.get("/images", response_model=schemas.ImageList, responses=answers(400, 401, 422))
def list_images(
    user: CurrentUser,
    request: Request,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Limit200] = 50,
    folder: FolderQ = None,
    date_from: DateFromQ = None,
    date_to: DateToQ = None,
    camera: CameraQ = None,
) -> schemas.ImageList:
    service = service_of(request)
    where = service.filter(user.id, folder, date_from, date_to, camera)
    total, images = service.store.list_images(user.id, where, offset=offset, limit=limit)
    folders = service.folders(user.id)
    return schemas.ImageList(
        total=total,
        offset=offset,
        images=[service.image(user.id, i.content_id, i.paths, i.meta, folders) for i in images],
    )


@router.post(
    "/images", status_code=202, response_model=schemas.Jobs, responses=answers(400, 401, 403, 413, 415, 422),
    openapi_extra=multipart("files", True),
)
async def upload_images(user: CurrentUser, request: Request) -> JSONResponse:
    service = service_of(request)
    settings = service.settings
    try:
        form = await service.uploads.receive(request, "files", settings.max_upload_bytes, settings.max_files_per_request)
    except UploadRejected as exc:
        raise error(exc.status, exc.message) from None
    try:
        if not form.files:
            raise error(422, "no files: send them as multipart/form-data in the field 'files'")
        jobs = [await run_in_threadpool(service.accept, user.id, received) for received in form.files]
    finally:
        form.discard()  # temporary files that were not moved into the library
    service.runner.notify()
    return JSONResponse(status_code=202, content={"jobs": [j.model_dump() for j in jobs]})


@router.get("/images/{image_id}", response_model=schemas.ImageDetail, responses=answers(400, 401, 404, 422))
def image_detail(image_id: ImageId, user: CurrentUser, request: Request, lang: LangQ = None) -> schemas.ImageDetail:
    """An image with its tags (named in `lang` when given), faces and text."""
    service = service_of(request)
    found = service.own_image(user.id, image_id)
    try:
        tags = service.engine.tags(user.id, image_id, k=10, lang=checked_language(lang))
    except ImageNotFound:
        raise error(404, f"no image {service.ids.encode('image', image_id)}") from None
    base = service.image(user.id, found.content_id, found.paths, found.meta, service.folders(user.id))
    faces = service.store.faces.of_images(user.id, [image_id])[image_id]
    return schemas.ImageDetail(
        **base.model_dump(),
        tags=[schemas.Tag(name=t.name, score=round(t.score, 4), kind=t.kind) for t in tags],
        faces=service.faces(user.id, faces),
        text=schemas.text_lines(service.store.texts.lines(user.id, image_id)),
    )


@router.get("/images/{image_id}/text", response_model=schemas.ImageText, responses=answers(401, 404, 422))
def image_text(image_id: ImageId, user: CurrentUser, request: Request) -> schemas.ImageText:
    """The text read in an image, line by line in reading order (null: analysed without OCR)."""
    service = service_of(request)
    service.own_image(user.id, image_id)
    return schemas.ImageText(text=schemas.text_lines(service.store.texts.lines(user.id, image_id)))


@router.get("/images/{image_id}/faces", response_model=schemas.ImageFaces, responses=answers(401, 404, 422))
def image_faces(image_id: ImageId, user: CurrentUser, request: Request) -> schemas.ImageFaces:
    """The faces found in an image, left to right, with the person each belongs to."""
    service = service_of(request)
    service.own_image(user.id, image_id)
    return schemas.ImageFaces(faces=service.faces(user.id, service.store.faces.of_images(user.id, [image_id])[image_id]))


@router.delete("/images/{image_id}", status_code=204, responses=answers(401, 403, 404, 409, 422))
def delete_image(image_id: ImageId, user: CurrentUser, request: Request) -> Response:
    service = service_of(request)
    service.delete(user.id, service.own_image(user.id, image_id))
    return Response(status_code=204)


@router.get(
    "/images/{image_id}/thumbnail",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "JPEG thumbnail"},
        **NOT_MODIFIED, **answers(401, 404, 413, 415, 422),
    },
)
def thumbnail(
    image_id: ImageId,
    user: CurrentUser,
    request: Request,
    size: Annotated[int, Query(description="longer side in pixels", json_schema_extra={"enum": list(SIZES)})] = 256,
) -> Response:
    check_size(size, SIZES)
    service = service_of(request)
    found = service.own_image(user.id, image_id)
    return jpeg(
        request, f'"{found.sha256[:32]}-{size}"',
        lambda: service.thumbnails.get(found.sha256, picture_source(found), size),
    )


@router.get(
    "/images/{image_id}/original",
    response_class=FileResponse,
    responses={200: {"content": {"image/*": {}}, "description": "the original file"}, **answers(401, 404, 422)},
)
def original(image_id: ImageId, user: CurrentUser, request: Request) -> FileResponse:
    service = service_of(request)
    found = service.own_image(user.id, image_id)
    path = existing_file(found)  # from the store, never from the request
    name = service.shown_paths(user.id, [str(path)], [])[0].rsplit("/", 1)[-1]
    return FileResponse(
        path,
        media_type=_MIME.get(found.meta.format.upper(), "application/octet-stream"),
        filename=name,
        content_disposition_type="inline",
        headers={"Cache-Control": "private, max-age=3600"},
    )
