"""The analysis jobs of uploads: queued, running, done or failed (with why)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from pixseek.service import schemas
from pixseek.service.dependencies import CurrentUser, JobId, service_of
from pixseek.service.errors import answers, error
from pixseek.store.base import ID_MAX

router = APIRouter(prefix="/api")


@router.get("/jobs", response_model=schemas.Jobs, responses=answers(401, 422))
def list_jobs(
    user: CurrentUser, request: Request, status: Annotated[schemas.JobStatus | None, Query()] = None
) -> schemas.Jobs:
    service = service_of(request)
    records = service.accounts.jobs(user.id, status=status, limit=200)
    return schemas.Jobs(jobs=[schemas.job(j, service.ids) for j in records])


@router.get("/jobs/{job_id}", response_model=schemas.Job, responses=answers(401, 404, 422))
def get_job(job_id: JobId, user: CurrentUser, request: Request) -> schemas.Job:
    service = service_of(request)
    record = service.accounts.job(user.id, job_id) if 1 <= job_id <= ID_MAX else None
    if record is None:
        raise error(404, f"no job {service.ids.encode('job', job_id)}")
    return schemas.job(record, service.ids)
