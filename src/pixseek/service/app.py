"""The HTTP service (FastAPI): a thin JSON layer over the search engine, uploads and the job runner.

Contract: docs/http-api.md. No search logic lives here: handlers check who is asking, validate
parameters, call the engine or the store with the caller's user id (the storage layer filters
every read by owner), and shape the answer.

Threads and processes: sync handlers run in the server's thread pool and share one *reader*
store (internally locked) and one engine; the job runner thread owns a separate *writer* store
and a pool of spawned analysis processes. Every write (deletions, naming and correcting people)
goes through the writer, under its lock (`JobRunner.write`). Uploads are streamed to disk in the
event loop.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import APIKeyCookie, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import WithJsonSchema
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount
from starlette.types import Scope

import pixseek
from pixseek import people
from pixseek.imageio.decode import ImageDecodeError
from pixseek.language.languages import UnsupportedLanguageError, check_language
from pixseek.library import Library
from pixseek.people import SAME_PERSON_DISTANCE, Correction, CorrectionError, NotFound, NotTheirFaces
from pixseek.records import ImageFilter, StoredFace, StoredImage, User
from pixseek.search.engine import (
    DEFAULT_THRESHOLD,
    Hit,
    ImageNotFound,
    QueryError,
    describe_image,
)
from pixseek.search.faces import NoFaceError
from pixseek.service import schemas
from pixseek.service.auth import (
    CSRF_HEADER,
    SESSION_COOKIE,
    LoginThrottle,
    hash_token,
    host_name,
    is_loopback_host,
    new_session,
    same_origin,
    verify_password,
)
from pixseek.service.jobs import JobRunner
from pixseek.service.middleware import BodyLimit, SecurityHeaders
from pixseek.service.public_ids import Kind, PublicIds
from pixseek.service.settings import ServiceSettings
from pixseek.service.thumbnails import FACE_SIZES, SIZES, Thumbnails
from pixseek.service.uploads import ReceivedFile, UploadArea, UploadRejected
from pixseek.store import DEFAULT_OWNER
from pixseek.store.base import ID_MAX
from pixseek.store.embedded import EMBEDDING_DIM
from pixseek.store.faces import FACE_DIM
from pixseek.store.sparse import ROW_BYTES

log = logging.getLogger("pixseek.service")

STATIC_DIR = Path(__file__).parent / "static"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MIME = {
    "JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp",
    "GIF": "image/gif", "BMP": "image/bmp", "DIB": "image/bmp", "TIFF": "image/tiff",
    "HEIF": "image/heif", "HEIC": "image/heic",
}


class Service:
    """Everything the handlers share: settings, the reader library, uploads, thumbnails, jobs."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.library = Library(settings.home, options=settings.analysis, store=settings.store)
        self.store = self.library.store  # the reader
        self.accounts = self.store.accounts
        self.ids = PublicIds(self.accounts.public_id_secret())  # what the API shows: see public_ids.py
        self.login_throttle = LoginThrottle()  # in this process's memory (see LoginThrottle)
        home = self.library.paths.home
        self.uploads = UploadArea(home)
        self.thumbnails = Thumbnails(home)
        self.runner = JobRunner(
            self.library.paths.store, self.library.paths.models, settings.workers, on_failed=self._discard_upload,
            options=settings.analysis, limits=settings.worker_limits,
        )
        # Pictures searched by (not in the library) are analysed by the library's one analyzer, one
        # at a time: its dlib face detector is not safe to share between threads (dlib's docs) and
        # releases the GIL, so concurrent searches would really run it at once.
        self.analysis_lock = threading.Lock()

    def start(self) -> None:
        self.uploads.start_sweeping()  # partial uploads of servers that died
        self.runner.start()
        # Load the language tables now rather than in the first search (seconds on a cold cache).
        threading.Thread(target=self._warm, name="pixseek-warm", daemon=True).start()

    def _warm(self) -> None:
        from pixseek.language.multilingual import multilingual

        try:
            self.library.concepts.warm()
            multilingual(self.library.concepts).warm()  # the dictionaries: ~20 s once on a cold cache
        except Exception:
            log.exception("loading the language tables failed")

    def close(self) -> None:
        self.uploads.stop_sweeping()
        self.runner.stop()
        self.library.close()

    @property
    def engine(self):  # -> SearchEngine
        return self.library.engine

    # ---- uploads ------------------------------------------------------------------------------
    def accept(self, owner: int, received: ReceivedFile) -> schemas.Job:
        """Check one received file; store it and queue its analysis, or record why not."""
        reason = "empty file" if received.size == 0 else self.uploads.check_image(received.temp_path)
        if reason is not None:
            received.temp_path.unlink(missing_ok=True)
            return schemas.job(self.runner.add_job(owner, received.name, "", status="failed", error=reason), self.ids)
        job = self.uploads.store(owner, received, then=lambda path: self.runner.add_job(owner, received.name, str(path)))
        return schemas.job(job, self.ids)

    def _still_needed(self, owner: int) -> Callable[[str], bool]:
        return lambda path: (
            self.store.content_of_path(owner, path) is not None or self.accounts.path_in_use_by_jobs(path)
        )

    def _discard_upload(self, job) -> None:
        if job.path:
            self.uploads.remove_if_unused(job.owner, job.path, self._still_needed(job.owner))

    def delete(self, owner: int, image: StoredImage) -> None:
        on_server = [p for p in image.paths if self.uploads.display_path(owner, p) is None]
        if on_server:
            # Originals in attached folders belong to the server's file system, not to the web
            # app: forgetting them here would only last until the next `pixseek index`.
            raise _error(
                409,
                f"this photo lives in a folder on the server ({on_server[0]}): delete or move it "
                "there, and the next `pixseek index` removes it from the library",
            )
        for path in self.runner.remove_image(owner, image.content_id):
            self.uploads.remove_if_unused(owner, path, self._still_needed(owner))
        self.thumbnails.forget(image.sha256)

    # ---- shaping answers ----------------------------------------------------------------------
    def folders(self, owner: int) -> list[str]:
        return [path for _, path in self.accounts.folders(owner)]

    def shown_paths(self, owner: int, paths: list[str], folders: list[str]) -> list[str]:
        """Paths as the user knows them: `uploads/<name>`, or relative to their attached folder."""
        shown = []
        for path in paths:
            text = self.uploads.display_path(owner, path)
            if text is None:
                for folder in folders:
                    prefix = folder.rstrip("/") + "/"
                    if path.startswith(prefix):
                        text = path[len(prefix) :]
                        break
            shown.append(text if text is not None else path)
        return shown

    def image(self, owner: int, content_id: int, paths: list[str], meta, folders: list[str]) -> schemas.Image:
        return schemas.image(self.ids.encode("image", content_id), self.shown_paths(owner, paths, folders), meta)

    def results(self, owner: int, hits: list[Hit]) -> list[schemas.Result]:
        folders = self.folders(owner)
        names = self.store.faces.names(owner) if any(hit.faces for hit in hits) else {}
        return [
            schemas.Result(
                image=self.image(owner, hit.content_id, hit.paths, hit.meta, folders),
                score=hit.score,
                why=hit.why,
                faces=[schemas.face(f, names, self.ids) for f in hit.faces],
            )
            for hit in hits
        ]

    def search_result(self, owner: int, result) -> schemas.SearchResult:
        return schemas.SearchResult(
            query=result.query,
            interpretation=result.interpretation,
            language=result.language,
            unknown_words=result.unknown_words,
            took_ms=round(result.took_ms, 2),
            results=self.results(owner, result.hits),
        )

    def face_search_result(self, owner: int, result) -> schemas.FaceSearchResult:
        names = self.store.faces.names(owner)

        def query_face(f) -> schemas.QueryFace:
            return schemas.QueryFace(
                number=f.number, box=list(f.box), score=round(f.score, 3), face_id=self.ids.encode_optional("face", f.face_id),
                person_id=self.ids.encode_optional("person", f.person_id), person_name=names.get(f.person_id) if f.person_id is not None else None,
            )

        return schemas.FaceSearchResult(
            query=result.query,
            interpretation=[],
            unknown_words=[],
            took_ms=round(result.took_ms, 2),
            results=self.results(owner, result.hits),
            query_face=query_face(result.face),
            query_faces=[query_face(f) for f in result.faces],
            max_distance=result.max_distance,
        )

    def faces(self, owner: int, records: list[StoredFace]) -> list[schemas.Face]:
        names = self.store.faces.names(owner) if records else {}
        return [schemas.face(f, names, self.ids) for f in records]

    def person(self, owner: int, person_id: int) -> schemas.Person | None:
        found = self.store.faces.person(owner, person_id)
        return schemas.person(found, self.ids) if found is not None and found.faces else None

    def folder_prefix(self, owner: int, folder: str | None) -> str | None:
        """The absolute path prefix of a `folder` parameter: relative to the user's library
        (`uploads`, or a folder inside one of their attached folders). Never escapes it."""
        if folder is None:
            return None
        text = folder.replace("\\", "/")
        if any(ord(c) < 32 or ord(c) == 127 for c in text):
            raise _error(400, "folder: control characters are not allowed")
        if text.startswith("/"):
            raise _error(400, "folder: give a folder relative to your library, e.g. 'uploads' or '2023/summer'")
        parts = [p for p in text.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise _error(400, "folder: '..' is not allowed")
        if not parts:
            return None
        uploads = self.uploads.owner_root(owner)
        if parts == ["uploads"]:
            return str(uploads)
        folders = self.folders(owner)
        for base in folders:
            candidate = os.path.join(base, *parts)
            if os.path.isdir(candidate):
                return candidate
        if folders:  # not (or no longer) on disk: files indexed there before may still match
            return os.path.join(folders[0], *parts)
        return str(uploads / ".none")  # a prefix none of the user's files has: an empty answer

    def filter(
        self, owner: int, folder: str | None, date_from: str | None, date_to: str | None, camera: str | None
    ) -> ImageFilter:
        return ImageFilter(
            path_prefix=self.folder_prefix(owner, folder),
            taken_from=_check_date("date_from", date_from),
            taken_to=_check_date("date_to", date_to),
            camera=camera or None,
        )

    def own_image(self, owner: int, image_id: int) -> StoredImage:
        """The owner's live image with this id, else 404 (also for another user's id)."""
        found = self.store.get_images(owner, [image_id]) if 1 <= image_id <= ID_MAX else []
        if not found:
            raise _error(404, f"no image {self.ids.encode('image', image_id)}")
        return found[0]

    def own_face(self, owner: int, face_id: int) -> StoredFace:
        """The owner's face with this id, in one of their live images, else 404."""
        found = self.store.faces.get(owner, [face_id]) if 1 <= face_id <= ID_MAX else []
        if not found:
            raise _error(404, f"no face {self.ids.encode('face', face_id)}")
        return found[0]


@contextlib.contextmanager
def _corrections(ids: PublicIds) -> Iterator[None]:
    """pixseek.people's errors as HTTP errors: an unknown (or another user's) person or face is
    a 404, any other correction that cannot be made a 422. Ids are named as the client knows them."""
    shown = lambda kind, internal: ", ".join(str(ids.encode(kind, i)) for i in internal)
    try:
        yield
    except NotFound as exc:
        raise _error(404, f"no {exc.kind} {shown(exc.kind, exc.ids)}") from None
    except NotTheirFaces as exc:
        raise _error(422, f"not faces of person {shown('person', [exc.person_id])}: {shown('face', exc.face_ids)}") from None
    except CorrectionError as exc:
        raise _error(422, str(exc)) from None


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> HTTPException:
    return HTTPException(status_code=status, detail=message, headers=headers)


def _check_date(name: str, value: str | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        if not _DATE.match(value):
            raise ValueError
        date.fromisoformat(value)
    except ValueError:
        raise _error(422, f"{name}: expected a date like 2023-06-30 (YYYY-MM-DD), got {value!r}") from None
    return value


def _decode_status(reason: str) -> int:
    if reason.startswith("decompression bomb"):
        return 413
    if reason.startswith(("not an image", "unsupported")):
        return 415
    return 422


# ---- authentication --------------------------------------------------------------------------
def _service(request: Request) -> Service:
    return request.app.state.service


def check_csrf(request: Request) -> None:
    """Browsers attach cookies to cross-site requests (SameSite=Strict aside), so a request that
    changes something and is authenticated by a cookie (or by nothing, in single-user mode) must
    also prove it comes from our own pages: a same-origin Origin header (browsers send one on
    every POST/DELETE), or the X-Requested-With header, which a cross-site page cannot send
    without a CORS preflight that this server never grants."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    origin = request.headers.get("origin")
    if origin is not None:
        if same_origin(origin, request.headers.get("host", "")):
            return
        raise _error(403, "cross-origin request refused")
    if request.headers.get(CSRF_HEADER):
        return
    raise _error(403, f"refused: a request authenticated by cookie must send an {CSRF_HEADER} header or a same-origin Origin")


def single_user_active(request: Request) -> bool:
    service = _service(request)
    if not service.settings.single_user:
        return False
    # The Host check defeats DNS rebinding: a web page on another name must not reach us.
    if not is_loopback_host(host_name(request.headers.get("host", ""))):
        return False
    return not service.accounts.any_credentials()


# How a request names its user, for the OpenAPI schema (current_user reads the headers itself).
_TOKEN = HTTPBearer(auto_error=False, scheme_name="token", description="an API token: `pixseek user token NAME`")
_SESSION = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, scheme_name="session", description="the cookie `/api/login` sets"
)


def current_user(
    request: Request, _token: Annotated[Any, Depends(_TOKEN)] = None, _session: Annotated[Any, Depends(_SESSION)] = None
) -> User:
    """Bearer token, else session cookie, else the default user in single-user mode, else 401."""
    service = _service(request)
    accounts = service.accounts
    request.state.single_user = False
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _error(401, "malformed Authorization header: expected 'Bearer <token>'", {"WWW-Authenticate": "Bearer"})
        user = accounts.user_by_token(hash_token(token.strip()))
        if user is None:
            raise _error(401, "invalid or revoked token", {"WWW-Authenticate": "Bearer"})
        return user
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        user = accounts.user_by_session(hash_token(cookie))
        if user is not None:
            check_csrf(request)
            return user
    if single_user_active(request):
        user = accounts.user_by_id(DEFAULT_OWNER)
        if user is not None:
            check_csrf(request)
            request.state.single_user = True
            return user
    message = "session expired: sign in again" if cookie else "sign in, or send 'Authorization: Bearer <token>'"
    raise _error(401, message, {"WWW-Authenticate": "Bearer"})


CurrentUser = Annotated[User, Depends(current_user)]


# Ids in URLs and bodies are public ids (service/public_ids.py): handlers get the internal ones.
def internal_id(request: Request, kind: Kind, public_id: int) -> int:
    """The internal id of an id a client sent; 404 for a number that no public id can be."""
    internal = _service(request).ids.decode(kind, public_id)
    if internal is None:
        raise _error(404, f"no {kind} {public_id}")
    return internal


# Each takes the user first, so that an anonymous request is a 401 whatever the id.
def _image_id(user: CurrentUser, request: Request, image_id: int) -> int:
    return internal_id(request, "image", image_id)


def _face_id(user: CurrentUser, request: Request, face_id: int) -> int:
    return internal_id(request, "face", face_id)


def _person_id(user: CurrentUser, request: Request, person_id: int) -> int:
    return internal_id(request, "person", person_id)


def _job_id(user: CurrentUser, request: Request, job_id: int) -> int:
    return internal_id(request, "job", job_id)


ImageId = Annotated[int, Depends(_image_id)]
FaceId = Annotated[int, Depends(_face_id)]
PersonId = Annotated[int, Depends(_person_id)]
JobId = Annotated[int, Depends(_job_id)]


def _describe_validation(exc: RequestValidationError) -> str:
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


# ---- the API --------------------------------------------------------------------------------------
api = APIRouter(prefix="/api")

_Limit200 = Query(ge=1, le=200)
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


def _multipart(file_field: str, many: bool, fields: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
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


# Every answer other than success has the body schemas.Error; each route lists the ones it gives.
_ERRORS = {
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


def _answers(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """FastAPI `responses=` for these error statuses (all with the one error body)."""
    return {status: {"model": schemas.Error, "description": _ERRORS[status]} for status in statuses}


_NOT_MODIFIED: dict[int | str, dict[str, Any]] = {304: {"description": "not modified: the If-None-Match ETag is current"}}


@api.get("/health", response_model=schemas.Health)
def health() -> schemas.Health:
    return schemas.Health(status="ok")


@api.post("/login", response_model=schemas.LoginResponse, responses=_answers(400, 401, 403, 413, 422, 429))
def login(body: schemas.LoginRequest, request: Request, response: Response) -> schemas.LoginResponse:
    origin = request.headers.get("origin")
    if origin is not None and not same_origin(origin, request.headers.get("host", "")):
        raise _error(403, "cross-origin request refused")
    service = _service(request)
    accounts = service.accounts
    client = request.client.host if request.client is not None else ""
    wait = service.login_throttle.begin(body.username, client)
    if wait > 0:
        seconds = str(math.ceil(wait))
        raise _error(429, f"too many failed sign-ins: try again in {seconds} s", {"Retry-After": seconds})
    user = accounts.find_user(body.username)
    # verify_password does the same scrypt work for unknown users: timing does not tell them apart.
    stored = accounts.password_hash(user.id) if user is not None else None
    if not verify_password(body.password, stored) or user is None:
        raise _error(401, "invalid username or password")
    service.login_throttle.succeeded(body.username, client)
    secret, secret_hash = new_session()
    max_age = int(service.settings.session_days * 86400)
    accounts.add_session(user.id, secret_hash, time.time() + max_age)
    response.set_cookie(
        SESSION_COOKIE, secret, max_age=max_age, path="/", httponly=True, samesite="strict",
        secure=service.settings.secure_cookies,
    )
    return schemas.LoginResponse(user=schemas.UserOut(id=service.ids.encode("user", user.id), name=user.name))


@api.post("/logout", status_code=204, responses=_answers(403))
def logout(request: Request) -> Response:
    check_csrf(request)  # a cross-site page must not sign the user out either
    service = _service(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        service.accounts.remove_session(hash_token(cookie))
    response = Response(status_code=204)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=service.settings.secure_cookies
    )
    return response


@api.get("/me", response_model=schemas.Me, responses=_answers(401))
def me(user: CurrentUser, request: Request) -> schemas.Me:
    ids = _service(request).ids
    return schemas.Me(id=ids.encode("user", user.id), name=user.name, single_user=bool(request.state.single_user))


@api.get("/images", response_model=schemas.ImageList, responses=_answers(400, 401, 422))
def list_images(
    user: CurrentUser,
    request: Request,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, _Limit200] = 50,
    folder: FolderQ = None,
    date_from: DateFromQ = None,
    date_to: DateToQ = None,
    camera: CameraQ = None,
) -> schemas.ImageList:
    service = _service(request)
    where = service.filter(user.id, folder, date_from, date_to, camera)
    total, images = service.store.list_images(user.id, where, offset=offset, limit=limit)
    folders = service.folders(user.id)
    return schemas.ImageList(
        total=total,
        offset=offset,
        images=[service.image(user.id, i.content_id, i.paths, i.meta, folders) for i in images],
    )


@api.post(
    "/images", status_code=202, response_model=schemas.Jobs, responses=_answers(400, 401, 403, 413, 415, 422),
    openapi_extra=_multipart("files", True),
)
async def upload_images(user: CurrentUser, request: Request) -> JSONResponse:
    service = _service(request)
    settings = service.settings
    try:
        form = await service.uploads.receive(request, "files", settings.max_upload_bytes, settings.max_files_per_request)
    except UploadRejected as exc:
        raise _error(exc.status, exc.message) from None
    try:
        if not form.files:
            raise _error(422, "no files: send them as multipart/form-data in the field 'files'")
        jobs = [await run_in_threadpool(service.accept, user.id, received) for received in form.files]
    finally:
        form.discard()  # temporary files that were not moved into the library
    service.runner.notify()
    return JSONResponse(status_code=202, content={"jobs": [j.model_dump() for j in jobs]})


_LANGUAGE_CODE = r"^$|^(en|fr|de|es|it|pt|nl|EN|FR|DE|ES|IT|PT|NL)([-_][A-Za-z0-9]+)*$"
LangQ = Annotated[
    Annotated[str, WithJsonSchema({"type": "string", "maxLength": 35, "pattern": _LANGUAGE_CODE})] | None,
    Query(max_length=35, description="en, fr, de, es, it, pt or nl (a region may follow: fr-CA, pt_BR)"),
]


def _language(lang: str | None) -> str | None:
    """The `lang` parameter checked: a language we cannot read is a 422, as any bad parameter."""
    if not lang:
        return None
    try:
        return check_language(lang)
    except UnsupportedLanguageError as exc:
        raise _error(422, f"query parameter 'lang': {exc}") from None


@api.get("/images/{image_id}", response_model=schemas.ImageDetail, responses=_answers(400, 401, 404, 422))
def image_detail(image_id: ImageId, user: CurrentUser, request: Request, lang: LangQ = None) -> schemas.ImageDetail:
    """An image with its tags (named in `lang` when given), faces and text."""
    service = _service(request)
    found = service.own_image(user.id, image_id)
    try:
        tags = service.engine.tags(user.id, image_id, k=10, lang=_language(lang))
    except ImageNotFound:
        raise _error(404, f"no image {service.ids.encode('image', image_id)}") from None
    base = service.image(user.id, found.content_id, found.paths, found.meta, service.folders(user.id))
    faces = service.store.faces.of_images(user.id, [image_id])[image_id]
    return schemas.ImageDetail(
        **base.model_dump(),
        tags=[schemas.Tag(name=t.name, score=round(t.score, 4), kind=t.kind) for t in tags],
        faces=service.faces(user.id, faces),
        text=schemas.text_lines(service.store.texts.lines(user.id, image_id)),
    )


@api.get("/images/{image_id}/text", response_model=schemas.ImageText, responses=_answers(401, 404, 422))
def image_text(image_id: ImageId, user: CurrentUser, request: Request) -> schemas.ImageText:
    """The text read in an image, line by line in reading order (null: analysed without OCR)."""
    service = _service(request)
    service.own_image(user.id, image_id)
    return schemas.ImageText(text=schemas.text_lines(service.store.texts.lines(user.id, image_id)))


@api.get("/images/{image_id}/faces", response_model=schemas.ImageFaces, responses=_answers(401, 404, 422))
def image_faces(image_id: ImageId, user: CurrentUser, request: Request) -> schemas.ImageFaces:
    """The faces found in an image, left to right, with the person each belongs to."""
    service = _service(request)
    service.own_image(user.id, image_id)
    return schemas.ImageFaces(faces=service.faces(user.id, service.store.faces.of_images(user.id, [image_id])[image_id]))


@api.delete("/images/{image_id}", status_code=204, responses=_answers(401, 403, 404, 409, 422))
def delete_image(image_id: ImageId, user: CurrentUser, request: Request) -> Response:
    service = _service(request)
    service.delete(user.id, service.own_image(user.id, image_id))
    return Response(status_code=204)


def _existing_file(image: StoredImage) -> Path:
    for path in image.paths:
        if os.path.isfile(path):
            return Path(path)
    raise _error(404, "the original file of this image is missing from disk")


@api.get(
    "/images/{image_id}/thumbnail",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "JPEG thumbnail"},
        **_NOT_MODIFIED, **_answers(401, 404, 413, 415, 422),
    },
)
def thumbnail(
    image_id: ImageId,
    user: CurrentUser,
    request: Request,
    size: Annotated[int, Query(description="longer side in pixels", json_schema_extra={"enum": list(SIZES)})] = 256,
) -> Response:
    _check_size(size, SIZES)
    service = _service(request)
    found = service.own_image(user.id, image_id)
    return _jpeg(
        request, f'"{found.sha256[:32]}-{size}"',
        lambda: service.thumbnails.get(found.sha256, _existing_file(found), size),
    )


def _check_size(size: int, sizes: tuple[int, ...]) -> None:
    if size not in sizes:
        raise _error(422, f"query parameter 'size': must be one of {', '.join(map(str, sizes))}")


def _jpeg(request: Request, etag: str, make: Callable[[], bytes]) -> Response:
    """A cached JPEG answer: 304 when the client holds this ETag, else the bytes `make` gives."""
    max_age = _service(request).settings.thumbnail_max_age
    headers = {"ETag": etag, "Cache-Control": f"private, max-age={max_age}"}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    try:
        data = make()
    except ImageDecodeError as exc:
        raise _error(_decode_status(exc.reason), f"cannot make a thumbnail: {exc.reason}") from None
    return Response(content=data, media_type="image/jpeg", headers=headers)


@api.get(
    "/images/{image_id}/original",
    response_class=FileResponse,
    responses={200: {"content": {"image/*": {}}, "description": "the original file"}, **_answers(401, 404, 422)},
)
def original(image_id: ImageId, user: CurrentUser, request: Request) -> FileResponse:
    service = _service(request)
    found = service.own_image(user.id, image_id)
    path = _existing_file(found)  # from the store, never from the request
    name = service.shown_paths(user.id, [str(path)], [])[0].rsplit("/", 1)[-1]
    return FileResponse(
        path,
        media_type=_MIME.get(found.meta.format.upper(), "application/octet-stream"),
        filename=name,
        content_disposition_type="inline",
        headers={"Cache-Control": "private, max-age=3600"},
    )


@api.get("/images/{image_id}/similar", response_model=schemas.SearchResult, responses=_answers(400, 401, 404, 422))
def similar(
    image_id: ImageId,
    user: CurrentUser,
    request: Request,
    limit: Annotated[int, _Limit200] = 20,
    focus: Annotated[str | None, Query(max_length=100, description='compare only on this concept, e.g. "cat"')] = None,
) -> schemas.SearchResult:
    service = _service(request)
    service.own_image(user.id, image_id)
    try:
        result = service.engine.similar(user.id, image_id, limit=limit, focus=focus or None)
    except ImageNotFound:
        raise _error(404, f"no image {service.ids.encode('image', image_id)}") from None
    except QueryError as exc:
        raise _error(400, str(exc)) from None
    return service.search_result(user.id, result)


@api.get("/search", response_model=schemas.SearchResult, responses=_answers(400, 401, 422))
def search(
    user: CurrentUser,
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=500, description='words, e.g. "beach ball"')],
    limit: Annotated[int, _Limit200] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
    threshold: Annotated[float | None, Query(ge=0.0, le=10.0, description="minimum score")] = None,
    folder: FolderQ = None,
    date_from: DateFromQ = None,
    date_to: DateToQ = None,
    camera: CameraQ = None,
    lang: LangQ = None,
) -> schemas.SearchResult:
    """Images matching the words of `q`: read in `lang`, else in the language its words are in
    (ties go to the browser's Accept-Language, then English)."""
    service = _service(request)
    where = service.filter(user.id, folder, date_from, date_to, camera)
    language = _language(lang)
    try:
        result = service.engine.search(
            user.id, q, limit=limit, offset=offset,
            threshold=DEFAULT_THRESHOLD if threshold is None else threshold, where=where,
            lang=language, preferred_lang=request.headers.get("accept-language", "")[:200] or None,
        )
    except QueryError as exc:
        raise _error(400, str(exc)) from None
    return service.search_result(user.id, result)


@api.post(
    "/search/by-image", response_model=schemas.SearchResult, responses=_answers(400, 401, 403, 413, 415, 422),
    openapi_extra=_multipart("file", False, {
        "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 20},
        "focus": {"type": "string", "maxLength": 100, "description": 'compare only on this concept, e.g. "cat"'},
    }),
)
async def search_by_image(
    user: CurrentUser,
    request: Request,
    limit: Annotated[int | None, Query(ge=1, le=200)] = None,
    focus: Annotated[str | None, Query(max_length=100)] = None,
) -> schemas.SearchResult:
    """Images like the one sent (which is analysed, not stored). `limit` and `focus` may also
    come as form fields."""
    service = _service(request)
    data, fields = await _query_picture(request)
    if limit is None:
        limit = _form_int(fields.get("limit"), "limit", 20, 1, 200)
    focus = focus or fields.get("focus") or None
    if focus is not None and len(focus) > 100:
        raise _error(422, "focus: at most 100 characters")

    def run():
        try:
            with service.analysis_lock:
                return service.engine.similar(user.id, data, limit=limit, focus=focus)
        except ImageDecodeError as exc:
            raise _error(_decode_status(exc.reason), exc.reason) from None
        except QueryError as exc:
            raise _error(400, str(exc)) from None

    result = await run_in_threadpool(run)
    return service.search_result(user.id, result)


async def _query_picture(request: Request) -> tuple[bytes, dict[str, str]]:
    """The picture of a search-by-picture request (multipart field `file`, read, not stored) and
    the request's other form fields."""
    service = _service(request)
    try:
        form = await service.uploads.receive(request, "file", service.settings.max_upload_bytes, 1)
    except UploadRejected as exc:
        raise _error(exc.status, exc.message) from None
    try:
        if not form.files:
            raise _error(422, "no image: send it as multipart/form-data in the field 'file'")
        data = await run_in_threadpool(form.files[0].temp_path.read_bytes)
    finally:
        form.discard()
    if not data:
        raise _error(422, "empty file")
    return data, form.fields


def _form_int(value: str | None, name: str, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise _error(422, f"{name}: expected a whole number, got {value!r}") from None
    if not low <= number <= high:
        raise _error(422, f"{name}: must be between {low} and {high}")
    return number


@api.get("/words", response_model=schemas.Words, responses=_answers(401, 422))
def words(
    user: CurrentUser,
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=100)],
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> schemas.Words:
    found = _service(request).engine.words(q, k=limit)
    return schemas.Words(words=[schemas.Word(word=w, similarity=round(s, 4)) for w, s in found])


# ---- faces and people ----------------------------------------------------------------------------
MaxDistanceQ = Annotated[
    float, Query(ge=0.0, le=2.0, description="largest face distance that counts as the same person")
]


@api.get("/people", response_model=schemas.People, responses=_answers(401))
def list_people(user: CurrentUser, request: Request) -> schemas.People:
    """The user's people (faces grouped by person): named first, then by number of faces."""
    service = _service(request)
    faces = service.store.faces
    return schemas.People(
        people=[schemas.person(p, service.ids) for p in faces.people(user.id)],
        ungrouped_faces=len(faces.owner_face_ids(user.id, ungrouped_only=True)),
    )


@api.get("/people/{person_id}", response_model=schemas.PersonDetail, responses=_answers(401, 404, 422))
def person_detail(
    person_id: PersonId,
    user: CurrentUser,
    request: Request,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, _Limit200] = 50,
) -> schemas.PersonDetail:
    """A person and a page of their photos, the photos where their face is largest first."""
    service = _service(request)
    faces = service.store.faces
    with _corrections(service.ids):
        person = people.get_person(service.store, user.id, person_id)
    prominence = faces.presence(user.id, [person_id], limit=offset + limit)
    images = service.store.get_images(user.id, list(prominence)[offset:])
    in_images = faces.of_images(user.id, [i.content_id for i in images])
    names = faces.names(user.id)
    folders = service.folders(user.id)
    return schemas.PersonDetail(
        person=schemas.person(person, service.ids),
        total=person.images,
        offset=offset,
        photos=[
            schemas.PersonPhoto(
                image=service.image(user.id, i.content_id, i.paths, i.meta, folders),
                faces=[schemas.face(f, names, service.ids) for f in in_images[i.content_id] if f.person_id == person_id],
            )
            for i in images
        ],
    )


def _changed(service: Service, owner: int, person_id: int, correct: Callable[..., Correction], *args: Any):
    """Make a correction on the writer store; the people as the readers see them afterwards."""
    with _corrections(service.ids):
        done = service.runner.write(lambda store: correct(store, owner, person_id, *args))
    return schemas.PeopleChange(
        person=service.person(owner, person_id),
        new_person=service.person(owner, done.new_person.id) if done.new_person is not None else None,
        faces_moved=done.faces_moved,
    )


@api.patch("/people/{person_id}", response_model=schemas.Person, responses=_answers(400, 401, 403, 404, 413, 422))
def rename_person(person_id: PersonId, body: schemas.PersonName, user: CurrentUser, request: Request) -> schemas.Person:
    """Name a person (null or "" removes the name); the name then finds their photos in search."""
    service = _service(request)
    with _corrections(service.ids):
        service.runner.write(lambda store: people.name_person(store, user.id, person_id, body.name))
        return schemas.person(people.get_person(service.store, user.id, person_id), service.ids)


@api.post("/people/{person_id}/merge", response_model=schemas.PeopleChange, responses=_answers(400, 401, 403, 404, 413, 422))
def merge_people(person_id: PersonId, body: schemas.MergeRequest, user: CurrentUser, request: Request) -> schemas.PeopleChange:
    """Merge people into this one (their faces move over; an unnamed person takes their name)."""
    service = _service(request)
    others = [internal_id(request, "person", p) for p in body.people]
    if person_id in others:
        raise _error(422, f"people: person {service.ids.encode('person', person_id)} cannot be merged into themselves")
    return _changed(service, user.id, person_id, people.merge_people, others)


@api.post(
    "/people/{person_id}/split", status_code=201, response_model=schemas.PeopleChange,
    responses=_answers(400, 401, 403, 404, 413, 422),
)
def split_person(person_id: PersonId, body: schemas.FacesRequest, user: CurrentUser, request: Request) -> schemas.PeopleChange:
    """Move some of this person's faces into a new person of their own."""
    faces = [internal_id(request, "face", f) for f in body.faces]
    return _changed(_service(request), user.id, person_id, people.split_person, faces)


@api.post("/people/{person_id}/remove", response_model=schemas.PeopleChange, responses=_answers(400, 401, 403, 404, 413, 422))
def remove_faces(person_id: PersonId, body: schemas.FacesRequest, user: CurrentUser, request: Request) -> schemas.PeopleChange:
    """Take faces out of this person for good: the grouping never puts them back."""
    faces = [internal_id(request, "face", f) for f in body.faces]
    return _changed(_service(request), user.id, person_id, people.remove_faces, faces)


@api.post("/people/{person_id}/add", response_model=schemas.PeopleChange, responses=_answers(400, 401, 403, 404, 413, 422))
def add_faces(person_id: PersonId, body: schemas.FacesRequest, user: CurrentUser, request: Request) -> schemas.PeopleChange:
    """Put faces (of no one, or of someone else) into this person: "this is Alice", or an undo."""
    faces = [internal_id(request, "face", f) for f in body.faces]
    return _changed(_service(request), user.id, person_id, people.add_faces, faces)


@api.get(
    "/faces/{face_id}/thumbnail",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "square JPEG of the face"},
        **_NOT_MODIFIED, **_answers(401, 404, 413, 415, 422),
    },
)
def face_thumbnail(
    face_id: FaceId,
    user: CurrentUser,
    request: Request,
    size: Annotated[int, Query(description="side in pixels", json_schema_extra={"enum": list(FACE_SIZES)})] = 128,
) -> Response:
    _check_size(size, FACE_SIZES)
    service = _service(request)
    face = service.own_face(user.id, face_id)
    image = service.own_image(user.id, face.content_id)
    box = ".".join(map(str, face.box))
    return _jpeg(
        request, f'"{image.sha256[:32]}-f{box}-{size}"',
        lambda: service.thumbnails.face(
            image.sha256, _existing_file(image), face.box, (face.image_width, face.image_height), size
        ),
    )


@api.get("/faces/{face_id}/similar", response_model=schemas.FaceSearchResult, responses=_answers(400, 401, 404, 422))
def similar_faces(
    face_id: FaceId,
    user: CurrentUser,
    request: Request,
    limit: Annotated[int, _Limit200] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
    max_distance: MaxDistanceQ = SAME_PERSON_DISTANCE,
    folder: FolderQ = None,
    date_from: DateFromQ = None,
    date_to: DateToQ = None,
    camera: CameraQ = None,
) -> schemas.FaceSearchResult:
    """The user's other photos with the same person as this face, nearest first."""
    service = _service(request)
    face = service.own_face(user.id, face_id)
    where = service.filter(user.id, folder, date_from, date_to, camera)
    in_image = [f.id for f in service.store.faces.of_images(user.id, [face.content_id])[face.content_id]]
    try:
        result = service.library.face_search.similar(
            user.id, face.content_id, face=in_image.index(face_id) + 1, limit=limit, offset=offset,
            max_distance=max_distance, where=where,
        )
    except ImageNotFound:
        raise _error(404, f"no face {service.ids.encode('face', face_id)}") from None
    return service.face_search_result(user.id, result)


@api.post(
    "/search/face", response_model=schemas.FaceSearchResult, responses=_answers(400, 401, 403, 413, 415, 422),
    openapi_extra=_multipart("file", False, {
        "face": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "which face, from the left"},
        "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 20},
        "offset": {"type": "integer", "minimum": 0, "maximum": 10_000, "default": 0},
    }),
)
async def search_by_face(
    user: CurrentUser,
    request: Request,
    face: Annotated[int | None, Query(ge=1, le=1000, description="which face, from the left (default: the largest)")] = None,
    limit: Annotated[int | None, Query(ge=1, le=200)] = None,
    offset: Annotated[int | None, Query(ge=0, le=10_000)] = None,
    max_distance: MaxDistanceQ = SAME_PERSON_DISTANCE,
    folder: FolderQ = None,
    date_from: DateFromQ = None,
    date_to: DateToQ = None,
    camera: CameraQ = None,
) -> schemas.FaceSearchResult:
    """The user's photos with the same person as a face in the picture sent (analysed, not
    stored). `face`, `limit` and `offset` may also come as form fields."""
    service = _service(request)
    data, fields = await _query_picture(request)
    if face is None:
        face = _form_int(fields.get("face"), "face", 0, 1, 1000) or None
    if limit is None:
        limit = _form_int(fields.get("limit"), "limit", 20, 1, 200)
    if offset is None:
        offset = _form_int(fields.get("offset"), "offset", 0, 0, 10_000)
    where = service.filter(user.id, folder, date_from, date_to, camera)

    def run():
        try:
            with service.analysis_lock:
                return service.library.face_search.similar(
                    user.id, data, face=face, limit=limit, offset=offset, max_distance=max_distance, where=where
                )
        except ImageDecodeError as exc:
            raise _error(_decode_status(exc.reason), exc.reason) from None
        except NoFaceError as exc:
            raise _error(422, str(exc).replace(describe_image(data), "the picture")) from None
        except QueryError as exc:
            raise _error(400, str(exc)) from None

    result = await run_in_threadpool(run)
    return service.face_search_result(user.id, result)


@api.get("/stats", response_model=schemas.Stats, responses=_answers(401))
def stats(user: CurrentUser, request: Request) -> schemas.Stats:
    """This user's counts. Sizes are this user's share (not the whole library's: that would tell
    one user how much the others store)."""
    service = _service(request)
    s = service.store.stats(user.id)
    contents = s.images + s.unreferenced
    counts = service.accounts.job_counts(user.id)
    return schemas.Stats(
        images=s.images,
        files=s.files,
        faces=s.faces,
        people=s.people,
        with_text=s.with_text,
        bytes_by_part={
            "originals": s.file_bytes,
            "categories: forward rows": contents * ROW_BYTES,
            "embeddings": contents * EMBEDDING_DIM * 2,
            "faces: embeddings": s.faces * FACE_DIM * 4,
        },
        jobs=schemas.JobCounts(
            queued=counts.get("queued", 0), running=counts.get("running", 0), failed=counts.get("failed", 0)
        ),
    )


@api.get("/jobs", response_model=schemas.Jobs, responses=_answers(401, 422))
def list_jobs(
    user: CurrentUser, request: Request, status: Annotated[schemas.JobStatus | None, Query()] = None
) -> schemas.Jobs:
    service = _service(request)
    records = service.accounts.jobs(user.id, status=status, limit=200)
    return schemas.Jobs(jobs=[schemas.job(j, service.ids) for j in records])


@api.get("/jobs/{job_id}", response_model=schemas.Job, responses=_answers(401, 404, 422))
def get_job(job_id: JobId, user: CurrentUser, request: Request) -> schemas.Job:
    service = _service(request)
    record = service.accounts.job(user.id, job_id) if 1 <= job_id <= ID_MAX else None
    if record is None:
        raise _error(404, f"no job {service.ids.encode('job', job_id)}")
    return schemas.job(record, service.ids)


# ---- the application ---------------------------------------------------------------------------------
def _mount_offline_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from the files the fastapi-offline package ships (no network)."""
    import fastapi_offline

    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="pixseek API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon.png",
        )


class _WebInterface(Mount):
    """The static web UI at every path outside /api: an unknown API path or method then gets the
    API's own 404/405 (with its JSON error body and true Allow header), not the file server's."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path = scope.get("path", "")
        if path == "/api" or path.startswith("/api/"):
            return Match.NONE, {}
        return super().matches(scope)


def _allowed_methods(scope: Scope) -> str | None:
    """Every method that some API route serves at this path (None: not an API path)."""
    methods: set[str] = set()
    for route in api.routes:
        if isinstance(route, APIRoute) and route.matches(scope)[0] is not Match.NONE:
            methods |= route.methods
    return ", ".join(sorted(methods)) or None


def create_app(settings: ServiceSettings) -> FastAPI:
    service = Service(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            await run_in_threadpool(service.close)

    app = FastAPI(
        title="pixseek",
        version=pixseek.__version__,
        description="Self-hosted, offline image search. Contract: docs/http-api.md.",
        lifespan=lifespan,
        redoc_url=None,
        docs_url=None,  # served below from local files: the default page loads them from a CDN
    )
    app.state.service = service
    _mount_offline_docs(app)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": _describe_validation(exc)})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        headers = exc.headers
        allowed = _allowed_methods(request.scope) if exc.status_code == 405 else None
        if allowed is not None:  # Starlette names only the first matching route's methods
            headers = {**(headers or {}), "Allow": allowed}
        return JSONResponse(status_code=exc.status_code, content={"detail": detail}, headers=headers)

    def limit_for(scope: dict) -> int:
        path, method = scope.get("path", ""), scope.get("method", "GET")
        if method == "POST" and path == "/api/images":
            return settings.max_request_bytes
        if method == "POST" and path in ("/api/search/by-image", "/api/search/face"):
            return settings.max_upload_bytes + 64 * 1024
        return settings.max_json_bytes

    app.add_middleware(BodyLimit, limit_for=limit_for)
    app.add_middleware(SecurityHeaders)
    app.include_router(api)
    if STATIC_DIR.is_dir():
        app.router.routes.append(_WebInterface("/", StaticFiles(directory=STATIC_DIR, html=True), name="ui"))
    return app
