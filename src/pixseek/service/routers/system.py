"""Health and the user's counts."""

from __future__ import annotations

from fastapi import APIRouter, Request

from pixseek.service import schemas
from pixseek.service.dependencies import CurrentUser, service_of
from pixseek.service.errors import answers
from pixseek.store.embedded import EMBEDDING_DIM
from pixseek.store.faces import FACE_DIM
from pixseek.store.sparse import ROW_BYTES

router = APIRouter(prefix="/api")


@router.get("/health", response_model=schemas.Health)
def health() -> schemas.Health:
    return schemas.Health(status="ok")


@router.get("/stats", response_model=schemas.Stats, responses=answers(401))
def stats(user: CurrentUser, request: Request) -> schemas.Stats:
    """This user's counts. Sizes are this user's share (not the whole library's: that would tell
    one user how much the others store)."""
    service = service_of(request)
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
