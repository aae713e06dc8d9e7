"""People (faces grouped by person) and their corrections, faces, and search by face."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from pixseek.imageio.decode import ImageDecodeError
from pixseek.pipeline import people
from pixseek.pipeline.people import Correction, CorrectionError, NotFound, NotTheirFaces
from pixseek.search.engine import ImageNotFound, QueryError, describe_image
from pixseek.search.faces import SAME_PERSON_DISTANCE, NoFaceError
from pixseek.service import schemas
from pixseek.service.core import Service
from pixseek.service.dependencies import CurrentUser, FaceId, PersonId, internal_id, service_of
from pixseek.service.errors import NOT_MODIFIED, answers, decode_status, error
from pixseek.service.parameters import CameraQ, DateFromQ, DateToQ, FolderQ, Limit200, form_int, multipart, query_picture
from pixseek.service.pictures import check_size, jpeg, picture_source
from pixseek.service.public_ids import PublicIds
from pixseek.service.thumbnails import FACE_SIZES

router = APIRouter(prefix="/api")


@contextlib.contextmanager
def _corrections(ids: PublicIds) -> Iterator[None]:
    """pixseek.pipeline.people's errors as HTTP errors: an unknown (or another user's) person or face is
    a 404, any other correction that cannot be made a 422. Ids are named as the client knows them."""
    shown = lambda kind, internal: ", ".join(str(ids.encode(kind, i)) for i in internal)
    try:
        yield
    except NotFound as exc:
        raise error(404, f"no {exc.kind} {shown(exc.kind, exc.ids)}") from None
    except NotTheirFaces as exc:
        raise error(422, f"not faces of person {shown('person', [exc.person_id])}: {shown('face', exc.face_ids)}") from None
    except CorrectionError as exc:
        raise error(422, str(exc)) from None


MaxDistanceQ = Annotated[
    float, Query(ge=0.0, le=2.0, description="largest face distance that counts as the same person")
]


@router.get("/people", response_model=schemas.People, responses=answers(401))
def list_people(user: CurrentUser, request: Request) -> schemas.People:
    """The user's people (faces grouped by person): named first, then by number of faces."""
    service = service_of(request)
    faces = service.store.faces
    return schemas.People(
        people=[schemas.person(p, service.ids) for p in faces.people(user.id)],
        ungrouped_faces=len(faces.owner_face_ids(user.id, ungrouped_only=True)),
    )


@router.get("/people/{person_id}", response_model=schemas.PersonDetail, responses=answers(401, 404, 422))
def person_detail(
    person_id: PersonId,
    user: CurrentUser,
    request: Request,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Limit200] = 50,
) -> schemas.PersonDetail:
    """A person and a page of their photos, the photos where their face is largest first."""
    service = service_of(request)
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


@router.patch("/people/{person_id}", response_model=schemas.Person, responses=answers(400, 401, 403, 404, 413, 422))
def rename_person(person_id: PersonId, body: schemas.PersonName, user: CurrentUser, request: Request) -> schemas.Person:
    """Name a person (null or "" removes the name); the name then finds their photos in search."""
    service = service_of(request)
    with _corrections(service.ids):
        service.runner.write(lambda store: people.name_person(store, user.id, person_id, body.name))
        return schemas.person(people.get_person(service.store, user.id, person_id), service.ids)


@router.post("/people/{person_id}/merge", response_model=schemas.PeopleChange, responses=answers(400, 401, 403, 404, 413, 422))
def merge_people(person_id: PersonId, body: schemas.MergeRequest, user: CurrentUser, request: Request) -> schemas.PeopleChange:
    """Merge people into this one (their faces move over; an unnamed person takes their name)."""
    service = service_of(request)
    others = [internal_id(request, "person", p) for p in body.people]
    if person_id in others:
        raise error(422, f"people: person {service.ids.encode('person', person_id)} cannot be merged into themselves")
    return _changed(service, user.id, person_id, people.merge_people, others)


@router.post(
    "/people/{person_id}/split", status_code=201, response_model=schemas.PeopleChange,
    responses=answers(400, 401, 403, 404, 413, 422),
)
def split_person(person_id: PersonId, body: schemas.FacesRequest, user: CurrentUser, request: Request) -> schemas.PeopleChange:
    """Move some of this person's faces into a new person of their own."""
    faces = [internal_id(request, "face", f) for f in body.faces]
    return _changed(service_of(request), user.id, person_id, people.split_person, faces)


@router.post("/people/{person_id}/remove", response_model=schemas.PeopleChange, responses=answers(400, 401, 403, 404, 413, 422))
def remove_faces(person_id: PersonId, body: schemas.FacesRequest, user: CurrentUser, request: Request) -> schemas.PeopleChange:
    """Take faces out of this person for good: the grouping never puts them back."""
    faces = [internal_id(request, "face", f) for f in body.faces]
    return _changed(service_of(request), user.id, person_id, people.remove_faces, faces)


@router.post("/people/{person_id}/add", response_model=schemas.PeopleChange, responses=answers(400, 401, 403, 404, 413, 422))
def add_faces(person_id: PersonId, body: schemas.FacesRequest, user: CurrentUser, request: Request) -> schemas.PeopleChange:
    """Put faces (of no one, or of someone else) into this person: "this is Alice", or an undo."""
    faces = [internal_id(request, "face", f) for f in body.faces]
    return _changed(service_of(request), user.id, person_id, people.add_faces, faces)


@router.get(
    "/faces/{face_id}/thumbnail",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "square JPEG of the face"},
        **NOT_MODIFIED, **answers(401, 404, 413, 415, 422),
    },
)
def face_thumbnail(
    face_id: FaceId,
    user: CurrentUser,
    request: Request,
    size: Annotated[int, Query(description="side in pixels", json_schema_extra={"enum": list(FACE_SIZES)})] = 128,
) -> Response:
    check_size(size, FACE_SIZES)
    service = service_of(request)
    face = service.own_face(user.id, face_id)
    image = service.own_image(user.id, face.content_id)
    box = ".".join(map(str, face.box))
    return jpeg(
        request, f'"{image.sha256[:32]}-f{box}-{size}"',
        lambda: service.thumbnails.face(
            image.sha256, picture_source(image), face.box, (face.image_width, face.image_height), size
        ),
    )


@router.get("/faces/{face_id}/similar", response_model=schemas.FaceSearchResult, responses=answers(400, 401, 404, 422))
def similar_faces(
    face_id: FaceId,
    user: CurrentUser,
    request: Request,
    limit: Annotated[int, Limit200] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
    max_distance: MaxDistanceQ = SAME_PERSON_DISTANCE,
    folder: FolderQ = None,
    date_from: DateFromQ = None,
    date_to: DateToQ = None,
    camera: CameraQ = None,
) -> schemas.FaceSearchResult:
    """The user's other photos with the same person as this face, nearest first."""
    service = service_of(request)
    face = service.own_face(user.id, face_id)
    where = service.filter(user.id, folder, date_from, date_to, camera)
    in_image = [f.id for f in service.store.faces.of_images(user.id, [face.content_id])[face.content_id]]
    try:
        result = service.library.face_search.similar(
            user.id, face.content_id, face=in_image.index(face_id) + 1, limit=limit, offset=offset,
            max_distance=max_distance, where=where,
        )
    except ImageNotFound:
        raise error(404, f"no face {service.ids.encode('face', face_id)}") from None
    return service.face_search_result(user.id, result)


@router.post(
    "/search/face", response_model=schemas.FaceSearchResult, responses=answers(400, 401, 403, 413, 415, 422),
    openapi_extra=multipart("file", False, {
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
    service = service_of(request)
    data, fields = await query_picture(request)
    if face is None:
        face = form_int(fields.get("face"), "face", 0, 1, 1000) or None
    if limit is None:
        limit = form_int(fields.get("limit"), "limit", 20, 1, 200)
    if offset is None:
        offset = form_int(fields.get("offset"), "offset", 0, 0, 10_000)
    where = service.filter(user.id, folder, date_from, date_to, camera)

    def run():
        try:
            with service.analysis_lock:
                return service.library.face_search.similar(
                    user.id, data, face=face, limit=limit, offset=offset, max_distance=max_distance, where=where
                )
        except ImageDecodeError as exc:
            raise error(decode_status(exc.reason), exc.reason) from None
        except NoFaceError as exc:
            raise error(422, str(exc).replace(describe_image(data), "the picture")) from None
        except QueryError as exc:
            raise error(400, str(exc)) from None

    result = await run_in_threadpool(run)
    return service.face_search_result(user.id, result)
