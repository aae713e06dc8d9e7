"""The user's duplicates: groups of exact copies and near-duplicates, to pick which to keep.

Removing the others is `DELETE /api/images/{id}`, as for any image: uploads are deleted, pictures
in attached folders answer 409 (the server's folders are never touched by the web app)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from pixseek.pipeline.duplicates import catch_up_hashes
from pixseek.search.duplicates import find_duplicates
from pixseek.service import schemas
from pixseek.service.dependencies import CurrentUser, service_of
from pixseek.service.errors import answers

router = APIRouter(prefix="/api")


class DuplicateFile(BaseModel):
    path: str  # as the user knows it (uploads/<name>, or relative to an attached folder)
    size: int  # bytes
    uploaded: bool  # deleting the image deletes this file; False: it lives in an attached folder


class DuplicateImage(BaseModel):
    image: schemas.Image
    files: list[DuplicateFile]  # several: exact copies (the same bytes)
    deletable: bool  # every file is an upload (DELETE /api/images/{id} removes them)


class DuplicateGroup(BaseModel):
    exact: bool  # one image in several files, no near-duplicates
    similarity: float  # the weakest similarity that joined the group (1.0: exact copies)
    images: list[DuplicateImage]  # the suggested one to keep first (most pixels, then the largest file)


class Duplicates(BaseModel):
    groups: list[DuplicateGroup]
    images: int  # pictures in all groups
    removable_bytes: int  # what keeping only the first of each group would free (uploads only)


@router.get("/duplicates", response_model=Duplicates, responses=answers(401))
async def duplicates(user: CurrentUser, request: Request) -> Duplicates:
    """Groups of duplicates in the user's library, the suggested picture to keep first. Images
    indexed before near-duplicates existed get their perceptual hash on the first call (once)."""
    service = service_of(request)
    await run_in_threadpool(service.runner.write, lambda store: catch_up_hashes(store, user.id))
    groups = await run_in_threadpool(find_duplicates, service.store, user.id)
    folders = service.folders(user.id)
    shaped: list[DuplicateGroup] = []
    removable = 0
    for group in groups:
        images = []
        for n, found in enumerate(group.images):
            paths = [f.path for f in found.files]
            shown = service.shown_paths(user.id, paths, folders)
            files = [
                DuplicateFile(path=text, size=f.size, uploaded=service.uploads.display_path(user.id, f.path) is not None)
                for f, text in zip(found.files, shown)
            ]
            deletable = all(f.uploaded for f in files)
            if n > 0 and deletable:
                removable += sum(f.size for f in files)
            images.append(DuplicateImage(
                image=service.image(user.id, found.content_id, paths, found.meta, folders), files=files, deletable=deletable,
            ))
        shaped.append(DuplicateGroup(exact=group.exact, similarity=group.similarity, images=images))
    return Duplicates(groups=shaped, images=sum(len(g.images) for g in shaped), removable_bytes=removable)
