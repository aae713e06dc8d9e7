"""Concepts a user teaches (search/taught.py): list, show, teach from example pictures, "not
this" (relevance feedback: the concept is trained again at once), forget. Per user, like
everything: another user's concept or picture answers 404 as one that does not exist."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field

from pixseek.search.taught import NAME_MAX, ConceptError, check_name
from pixseek.search.teaching import ConceptInfo, Teacher
from pixseek.service.dependencies import CurrentUser, internal_id, service_of
from pixseek.service import schemas
from pixseek.service.errors import answers, error

router = APIRouter(prefix="/api")
_CANNOT_TEACH = {409: {"model": schemas.Error, "description": "the library cannot train it now: no other picture to tell it from, or none of its examples is left"}}

ConceptName = Annotated[str, Path(
    min_length=1, max_length=NAME_MAX, pattern=r"^[A-Za-z0-9]+(?:['-][A-Za-z0-9]+)*$",
    description="the concept's name: one word of letters and digits (inner hyphens allowed), read in lower case",
)]


class Concept(BaseModel):
    name: str
    examples: int = Field(description="example pictures it was taught from")
    not_this: int = Field(description='pictures marked "not this"')
    trained_on: str = Field(description="the classifier version of the embeddings it was trained on")
    stale: bool = Field(description="trained on another classifier (or vision-language model): retrain before it is used")
    model_space: str = Field("", description="the vision-language model space it was taught with too ('': none)")


class ConceptDetail(Concept):
    example_images: list[int]
    not_this_images: list[int]


class Concepts(BaseModel):
    concepts: list[Concept]


class TeachRequest(BaseModel):
    images: list[int] = Field(min_length=1, max_length=1000, description="image ids of examples")
    not_this: list[int] = Field(default_factory=list, max_length=1000, description='image ids that are not it')


class NotThisRequest(BaseModel):
    images: list[int] = Field(min_length=1, max_length=1000, description="image ids that are not it")


def _concept(info: ConceptInfo) -> Concept:
    return Concept(
        name=info.name, examples=info.examples, not_this=info.not_this, trained_on=info.trained_on, stale=info.stale,
        model_space=info.model_space,
    )


def _detail(request: Request, info: ConceptInfo) -> ConceptDetail:
    ids = service_of(request).ids
    return ConceptDetail(
        **_concept(info).model_dump(),
        example_images=[ids.encode("image", i) for i in info.example_ids],
        not_this_images=[ids.encode("image", i) for i in info.not_this_ids],
    )


def _name(name: str) -> str:
    try:
        return check_name(name)
    except ConceptError as exc:
        raise error(422, str(exc)) from None


def _images(request: Request, owner: int, public: list[int]) -> list[int]:
    """Internal ids of the user's live images; 404 for any other id (another user's too)."""
    service = service_of(request)
    ids = [internal_id(request, "image", p) for p in public]
    live = {im.content_id for im in service.store.get_images(owner, sorted(set(ids)))}
    for p, i in zip(public, ids, strict=True):
        if i not in live:
            raise error(404, f"no image {p}")
    return ids


def _teacher(request: Request, store, owner: int) -> Teacher:
    from pixseek.analyzers.classifier import CLASSIFIER_VERSION

    return Teacher(store, owner, CLASSIFIER_VERSION)


def _taught(request: Request, change) -> ConceptInfo:
    try:
        return service_of(request).runner.write(change)
    except ConceptError as exc:
        # Unknown concept or picture: 404; a library that cannot teach it now (no other pictures
        # to tell it from, its examples gone): 409.
        status = 404 if str(exc).startswith(("no concept", "no image")) else 409
        raise error(status, str(exc)) from None


@router.get("/concepts", response_model=Concepts, responses=answers(401))
def list_concepts(user: CurrentUser, request: Request) -> Concepts:
    """The concepts the user taught."""
    teacher = _teacher(request, service_of(request).store, user.id)
    return Concepts(concepts=[_concept(c) for c in teacher.concepts()])


@router.get("/concepts/{name}", response_model=ConceptDetail, responses=answers(401, 404, 422))
def show_concept(name: ConceptName, user: CurrentUser, request: Request) -> ConceptDetail:
    """A concept with its example pictures and those marked "not this"."""
    teacher = _teacher(request, service_of(request).store, user.id)
    try:
        return _detail(request, teacher.info(_name(name)))
    except ConceptError as exc:
        raise error(404, str(exc)) from None


@router.post("/concepts/{name}/examples", response_model=ConceptDetail, responses=answers(400, 401, 403, 404, 413, 422) | _CANNOT_TEACH)
def teach_concept(name: ConceptName, body: TeachRequest, user: CurrentUser, request: Request) -> ConceptDetail:
    """Teach the concept from example pictures (creating it, or adding to its examples), and
    optionally pictures that are not it; it is trained at once. `pixseek search NAME` then finds it."""
    concept = _name(name)
    examples = _images(request, user.id, body.images)
    negatives = _images(request, user.id, body.not_this)
    info = _taught(request, lambda store: _teacher(request, store, user.id).teach(concept, examples, negatives))
    return _detail(request, info)


@router.post("/concepts/{name}/not-this", response_model=ConceptDetail, responses=answers(400, 401, 403, 404, 413, 422) | _CANNOT_TEACH)
def not_this(name: ConceptName, body: NotThisRequest, user: CurrentUser, request: Request) -> ConceptDetail:
    """Relevance feedback from a result page: these pictures are not the concept. It is trained
    again at once, so the next search no longer shows them."""
    concept = _name(name)
    negatives = _images(request, user.id, body.images)
    info = _taught(request, lambda store: _teacher(request, store, user.id).not_this(concept, negatives))
    return _detail(request, info)


@router.delete("/concepts/{name}", status_code=204, response_class=Response, responses=answers(401, 403, 404, 422))
def forget_concept(name: ConceptName, user: CurrentUser, request: Request) -> Response:
    """Forget a concept and its examples."""
    concept = _name(name)
    gone = service_of(request).runner.write(lambda store: _teacher(request, store, user.id).forget(concept))
    if not gone:
        raise error(404, f"no concept named {concept!r}")
    return Response(status_code=204)
