"""The JSON shapes of the HTTP API (docs/http-api.md), as pydantic models for validation and OpenAPI."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from pixseek.records import ImageMeta
from pixseek.records import Job as JobRecord

JobStatus = Literal["queued", "running", "done", "failed"]


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
    kind: str  # "class" (an ImageNet category) or "concept" (a broader WordNet concept)


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


class ImageDetail(Image):
    tags: list[Tag]


class ImageList(BaseModel):
    total: int
    offset: int
    images: list[Image]


class Result(BaseModel):
    image: Image
    score: float
    why: list[str]


class SearchResult(BaseModel):
    query: str
    interpretation: list[str]
    unknown_words: list[str]
    took_ms: float
    results: list[Result]


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
    bytes_by_part: dict[str, int]
    jobs: JobCounts


# ---- conversions --------------------------------------------------------------------------------
def iso_time(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def camera(meta: ImageMeta) -> str | None:
    make, model = (meta.camera_make or "").strip(), (meta.camera_model or "").strip()
    if make and model.lower().startswith(make.lower()):
        return model  # "Canon" + "Canon EOS 5D" reads "Canon EOS 5D"
    return " ".join(p for p in (make, model) if p) or None


def image(content_id: int, shown_paths: list[str], meta: ImageMeta) -> Image:
    name = shown_paths[0].replace("\\", "/").rsplit("/", 1)[-1] if shown_paths else ""
    gps = [meta.gps_lat, meta.gps_lon] if meta.gps_lat is not None and meta.gps_lon is not None else None
    return Image(
        id=content_id,
        name=name,
        paths=shown_paths,
        width=meta.width,
        height=meta.height,
        format=meta.format,
        taken_at=meta.taken_at,
        camera=camera(meta),
        gps=gps,
        thumbnail=f"/api/images/{content_id}/thumbnail",
        original=f"/api/images/{content_id}/original",
    )


def job(record: JobRecord) -> Job:
    return Job(
        id=record.id,
        name=record.name,
        status=record.status,  # type: ignore[arg-type]
        error=record.error,
        image_id=record.content_id,
        created_at=iso_time(record.created_at) or "",
        finished_at=iso_time(record.finished_at),
    )
