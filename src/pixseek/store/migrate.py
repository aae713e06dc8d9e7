"""Move a library from one store to another (a directory ↔ PostgreSQL) without analysing anything
again: users and their tokens and folders, every analysis (categories, embeddings, faces, text),
the files that hold them, people with the user's corrections, upload jobs, and every vector
space (store.spaces: vision-language and learned embeddings) with its vectors.

Images, faces, people and jobs keep their ids (the HTTP API's public ids are derived from them,
with a key that moves too, so links and bookmarks keep working); user ids are the target's own,
since users are matched by name. The target must be empty of images and jobs, so a migration never
mixes libraries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from pixseek.records import Analysis, FileState
from pixseek.store.base import Store, StoreError

COMMIT_EVERY = 2000  # contents per batch (one COPY on PostgreSQL) and transaction on the target


class MigrationError(StoreError):
    """The migration cannot start (the message says why); nothing was written."""


@dataclass
class MigrationReport:
    users: int = 0
    tokens: int = 0
    folders: int = 0
    contents: int = 0
    files: int = 0
    faces: int = 0
    people: int = 0
    jobs: int = 0
    vectors: int = 0  # vectors in store.spaces, all spaces together
    learned: int = 0  # taught concepts and trained heads (store.learned)


Progress = Callable[[str, int], None]  # (what, how many so far)


def migrate(source: Store, target: Store, progress: Progress | None = None) -> MigrationReport:
    """Copy everything in `source` into the empty `target`; returns what was copied."""
    if target.content_count():
        raise MigrationError("the target already holds images: migrate into a new, empty library")
    if target.accounts.jobs(limit=1):
        raise MigrationError("the target already holds upload jobs: migrate into a new, empty library")
    report = MigrationReport()
    # The key of the HTTP API's public ids (service/public_ids.py) moves with the library.
    target.accounts.set_public_id_secret(source.accounts.public_id_secret())
    with target.bulk_load():
        for space, dim in source.spaces.spaces().items():  # empty spaces too (a model added, nothing embedded)
            target.spaces.ensure(space, dim)
        target.commit()
        users = _users(source, target, report)
        for old_owner, new_owner in users.items():
            contents = _contents(source, target, old_owner, new_owner, report, progress)
            for n, (path, indexed) in enumerate(source.indexed_files(old_owner).items(), 1):
                target.put_file(new_owner, FileState(path, indexed.size, indexed.mtime_ns), contents[indexed.content_id])
                report.files += 1
                if n % COMMIT_EVERY == 0:
                    target.commit()
            _people(source, target, old_owner, new_owner, contents, report)
            # Places (store/places.py): as named in the source, not named again.
            target.places.put([
                (new_owner, contents[cid], place) for cid, place in source.places.export(old_owner) if cid in contents
            ])
            # Taught concepts and trained heads: their files and their examples (by content hash).
            for model, examples in source.learned.export(old_owner):
                target.learned.put(new_owner, model.kind, model.name, model.trained_on, model.model, model.updated_at)
                target.learned.set_examples(new_owner, model.kind, model.name, examples)
                report.learned += 1
            for job in reversed(source.accounts.jobs(old_owner, limit=2**62)):  # oldest first
                copy = target.accounts.add_job(new_owner, job.name, job.path, job.status, job.error, job_id=job.id)
                done_content = contents.get(job.content_id or -1)
                target.accounts.update_job(new_owner, copy.id, job.status, job.error, done_content)
                report.jobs += 1
            target.commit()
            if progress:
                progress("files", report.files)
    target.refresh_indexes()
    return report


def _users(source: Store, target: Store, report: MigrationReport) -> dict[int, int]:
    """Users by name (the default user exists on both sides); their passwords, tokens, folders."""
    ids: dict[int, int] = {}
    for user in source.accounts.users():
        password = source.accounts.password_hash(user.id)
        existing = target.accounts.find_user(user.name)
        if existing is None:
            ids[user.id] = target.accounts.add_user(user.name, password).id
        else:
            ids[user.id] = existing.id
            if password is not None:
                target.accounts.set_password(existing.id, password)
        report.users += 1
    for token_hash, user_id, label, _ in source.accounts.tokens():
        target.accounts.add_token(ids[user_id], token_hash, label)
        report.tokens += 1
    for user_id, path in source.accounts.folders():
        target.accounts.attach_folder(ids[user_id], path)
        report.folders += 1
    return ids


def _contents(
    source: Store, target: Store, old_owner: int, new_owner: int, report: MigrationReport, progress: Progress | None
) -> dict[int, int]:
    ids: dict[int, int] = {}
    batch: list[tuple[int, str, str, Analysis]] = []
    face_ids: dict[int, list[int]] = defaultdict(list)  # content id -> its face ids, ascending (as exported)
    for face_id, content_id, _, _ in source.faces.assignments(old_owner):
        face_ids[content_id].append(face_id)

    def flush() -> None:
        new_ids = target.add_contents(
            new_owner,
            [(sha256, analyzer, analysis) for _, sha256, analyzer, analysis in batch],
            kept_ids=[(old_id, face_ids.get(old_id, [])) for old_id, *_ in batch],
        )
        ids.update(zip((old_id for old_id, *_ in batch), new_ids))
        target.commit()
        report.contents += len(batch)
        report.faces += sum(len(analysis.faces or []) for *_, analysis in batch)
        report.vectors += sum(len(analysis.vectors) for *_, analysis in batch)
        batch.clear()
        if progress:
            progress("contents", report.contents)

    for item in source.export_contents(old_owner):
        batch.append(item)
        if len(batch) == COMMIT_EVERY:
            flush()
    if batch:
        flush()
    return ids


def _people(
    source: Store, target: Store, old_owner: int, new_owner: int, contents: dict[int, int], report: MigrationReport
) -> None:
    """People and who is in them, as the grouping and the user left them."""
    new_faces: dict[int, list[int]] = defaultdict(list)  # new content id -> its faces, ascending
    for face_id, content_id, _, _ in target.faces.assignments(new_owner):
        new_faces[content_id].append(face_id)
    # A content's faces were added in the order they were exported (ascending id): pair them up.
    seen: dict[int, int] = defaultdict(int)
    face_ids: dict[int, int] = {}
    assigned: list[tuple[int, int | None, str]] = []
    for face_id, content_id, person_id, by in source.faces.assignments(old_owner):
        new_content = contents[content_id]
        face_ids[face_id] = new_faces[new_content][seen[new_content]]
        seen[new_content] += 1
        if by is not None:
            assigned.append((face_id, person_id, by))
    people: dict[int, int] = {}
    for person in source.faces.people(old_owner, include_empty=True):
        people[person.id] = target.faces.create_person(new_owner, person.name, person_id=person.id)
        report.people += 1
    groups: dict[tuple[int | None, str], list[int]] = defaultdict(list)
    for face_id, person_id, by in assigned:
        groups[(None if person_id is None else people[person_id], by)].append(face_ids[face_id])
    for (person_id, by), faces in groups.items():
        target.faces.assign(new_owner, faces, person_id, by)
