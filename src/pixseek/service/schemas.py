"""The JSON shapes of the HTTP API (docs/http-api.md), as pydantic models for validation and OpenAPI."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, WithJsonSchema

from pixseek.records import ImageMeta, StoredFace, clock, is_video_format, split_frame_path
from pixseek.records import Job as JobRecord
from pixseek.records import Person as PersonRecord
from pixseek.records import TextLine as TextLineRecord
from pixseek.store.faces import NAME_MAX
from pixseek.service.public_ids import PublicIds

JobStatus = Literal["queued", "running", "done", "failed"]


class Error(BaseModel):
    """The body of every error answer (4xx), whatever went wrong."""

    detail: str = Field(description="what went wrong, for a human: the parameter or field at fault and why")


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    id: int
    name: str


class LoginResponse(BaseModel):
    user: UserOut


class Me(BaseModel):
    id: int
    name: str
    single_user: bool


class Health(BaseModel):
    status: str


class Tag(BaseModel):
    name: str
    score: float
    # "class" (ImageNet), "concept" (a broader WordNet one), "characteristic" (red, screenshot),
    # "model" (zero-shot, the active vision-language model), "learned" (the joint space's nearest
    # words) or "taught" (a concept of the user's that accepts the picture)
    kind: str


class VideoTime(BaseModel):
    """Where in its video a frame is: open `original` (the video) at `seconds`."""

    seconds: float
    at: str  # "01:23"


class Image(BaseModel):
    id: int
    name: str
    paths: list[str]
    width: int
    height: int
    format: str
    taken_at: str | None
    camera: str | None
    gps: list[float] | None
    thumbnail: str
    original: str
    video: VideoTime | None = None  # a video's frame (its poster at 0 s); `name` then says "clip.mp4 @ 01:23"
    place: str | None = None  # where it was taken ("Lisbon, Portugal"), named offline from `gps`


class Face(BaseModel):
    id: int
    image_id: int
    box: list[int]  # [x0, y0, x1, y1] in the pixels of the upright original (Image.width x height)
    score: float  # detector confidence
    person_id: int | None  # None: not grouped (yet), or taken out of a person
    person_name: str | None
    thumbnail: str  # /api/faces/{id}/thumbnail


class TextLine(BaseModel):
    text: str
    box: list[int]  # x0, y0, x1, y1 in the original's pixels
    score: float  # recogniser confidence, 0..1


class ImageDetail(Image):
    tags: list[Tag]
    faces: list[Face]  # left to right
    text: list[TextLine] | None  # in reading order; null: the image was analysed without OCR


class ImageText(BaseModel):
    text: list[TextLine] | None


class ImageFaces(BaseModel):
    faces: list[Face]


class ImageList(BaseModel):
    total: int
    offset: int
    images: list[Image]


class Result(BaseModel):
    image: Image
    score: float
    why: list[str]
    faces: list[Face] = []  # face searches: the face that matched, in this image


class SearchResult(BaseModel):
    query: str
    interpretation: list[str]
    language: str = "en"  # the language the query was read in
    unknown_words: list[str]
    took_ms: float
    results: list[Result]
    description: str = ""  # the query in words: "dog, not cat, taken in 2019" (docs/query-language.md)
    notes: list[str] = []  # filters that match nothing ("no photo was taken in a place called 'atlantis'"), ...
    model: str | None = None  # the vision-language model that answered too, when one is active


class QueryFace(BaseModel):
    number: int  # 1-based, left to right: what `face` chooses
    box: list[int]
    score: float
    face_id: int | None  # set when the picture is in the library
    person_id: int | None
    person_name: str | None


class FaceSearchResult(SearchResult):
    query_face: QueryFace  # the face searched for
    query_faces: list[QueryFace]  # every face found in the query picture
    max_distance: float


class Person(BaseModel):
    id: int
    name: str | None
    faces: int
    photos: int
    cover_face_id: int | None
    thumbnail: str | None  # the cover face's thumbnail


class People(BaseModel):
    people: list[Person]  # named first, then by number of faces
    ungrouped_faces: int  # faces not in any person: seen once so far, or taken out of a person


class PersonPhoto(BaseModel):
    image: Image
    faces: list[Face]  # this person's faces in the photo


class PersonDetail(BaseModel):
    person: Person
    total: int
    offset: int
    photos: list[PersonPhoto]  # the photos where the person's face is largest first


# What people.clean_name accepts: no control characters but spaces, which are collapsed.
_PERSON_NAME = WithJsonSchema({"type": "string", "maxLength": NAME_MAX, "pattern": r"^[^\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]*$"})


class PersonName(BaseModel):
    name: Annotated[str, _PERSON_NAME] | None = Field(
        max_length=1000, description=f"null or empty clears the name; at most {NAME_MAX} characters once spaces are collapsed"
    )


class MergeRequest(BaseModel):
    people: list[int] = Field(min_length=1, max_length=1000, description="people to merge into this one")


class FacesRequest(BaseModel):
    faces: list[int] = Field(min_length=1, max_length=10_000, description="face ids of this person")


class PeopleChange(BaseModel):
    person: Person | None  # the person acted on; None when no face is left in it (it is gone)
    new_person: Person | None = None  # split: the person the faces moved to
    faces_moved: int


class Word(BaseModel):
    word: str
    similarity: float


class Words(BaseModel):
    words: list[Word]


class Job(BaseModel):
    id: int
    name: str
    status: JobStatus
    error: str | None
    image_id: int | None
    created_at: str  # ISO 8601, UTC
    finished_at: str | None


class Jobs(BaseModel):
    jobs: list[Job]


class JobCounts(BaseModel):
    queued: int
    running: int
    failed: int


class Stats(BaseModel):
    images: int
    files: int
    faces: int
    people: int
    with_text: int  # images in which text was read
    bytes_by_part: dict[str, int]
    jobs: JobCounts


# ---- conversions --------------------------------------------------------------------------------
def text_lines(lines: list[TextLineRecord] | None) -> list[TextLine] | None:
    if lines is None:
        return None
    return [TextLine(text=t.text, box=list(t.box), score=round(t.score, 4)) for t in lines]


def iso_time(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def camera(meta: ImageMeta) -> str | None:
    make, model = (meta.camera_make or "").strip(), (meta.camera_model or "").strip()
    if make and model.lower().startswith(make.lower()):
        return model  # "Canon" + "Canon EOS 5D" reads "Canon EOS 5D"
    return " ".join(p for p in (make, model) if p) or None


def image(image_id: int, shown_paths: list[str], meta: ImageMeta) -> Image:
    """`image_id`: the public id (service/public_ids.py), as every id in these shapes."""
    name = shown_paths[0].replace("\\", "/").rsplit("/", 1)[-1] if shown_paths else ""
    video = None
    if is_video_format(meta.format):
        name, seconds = split_frame_path(name)
        video = VideoTime(seconds=seconds or 0.0, at=clock(seconds or 0.0))
        name = f"{name} @ {video.at}"
    gps = [meta.gps_lat, meta.gps_lon] if meta.gps_lat is not None and meta.gps_lon is not None else None
    return Image(
        id=image_id,
        name=name,
        paths=shown_paths,
        width=meta.width,
        height=meta.height,
        format=meta.format,
        taken_at=meta.taken_at,
        camera=camera(meta),
        gps=gps,
        thumbnail=f"/api/images/{image_id}/thumbnail",
        original=f"/api/images/{image_id}/original",
        video=video,
    )


def face(record: StoredFace, names: dict[int, str], ids: PublicIds) -> Face:
    face_id = ids.encode("face", record.id)
    return Face(
        id=face_id,
        image_id=ids.encode("image", record.content_id),
        box=list(record.box),
        score=round(record.score, 3),
        person_id=ids.encode_optional("person", record.person_id),
        person_name=names.get(record.person_id) if record.person_id is not None else None,
        thumbnail=f"/api/faces/{face_id}/thumbnail",
    )


def person(record: PersonRecord, ids: PublicIds) -> Person:
    cover = ids.encode_optional("face", record.cover_face_id)
    return Person(
        id=ids.encode("person", record.id),
        name=record.name,
        faces=record.faces,
        photos=record.images,
        cover_face_id=cover,
        thumbnail=f"/api/faces/{cover}/thumbnail" if cover is not None else None,
    )


def job(record: JobRecord, ids: PublicIds) -> Job:
    return Job(
        id=ids.encode("job", record.id),
        name=record.name,
        status=record.status,  # type: ignore[arg-type]
        error=record.error,
        image_id=ids.encode_optional("image", record.content_id),
        created_at=iso_time(record.created_at) or "",
        finished_at=iso_time(record.finished_at),
    )


class PlaceCount(BaseModel):
    place: str  # "Lisbon, Portugal"
    city: str | None
    region: str | None
    country: str
    country_code: str
    images: int
    query: str  # what to search for to see them: in:"Lisbon"


class Places(BaseModel):
    places: list[PlaceCount]


class MapCluster(BaseModel):
    lat: float  # the mean position of its photos
    lon: float
    count: int
    image: Image  # one of them, for a thumbnail


class PlaceMap(BaseModel):
    """The user's geotagged photos, grouped in cells of `cell` degrees (no map tiles: offline)."""

    cell: float
    points: int
    clusters: list[MapCluster]
