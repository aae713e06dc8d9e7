"""What the handlers share: the `Service` (settings, the reader library, uploads, thumbnails,
the job runner) and the shaping of stored records into API answers.

Threads and processes: sync handlers run in the server's thread pool and share one *reader*
store (internally locked) and one engine; the job runner thread owns a separate *writer* store
and a pool of spawned analysis processes. Every write (deletions, naming and correcting people)
goes through the writer, under its lock (`JobRunner.write`). Uploads are streamed to disk in the
event loop.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable
from datetime import date

from pixseek.library import Library
from pixseek.records import ImageFilter, StoredFace, StoredImage, is_video_format, split_frame_path
from pixseek.search.engine import Hit
from pixseek.service import schemas
from pixseek.service.auth import LoginThrottle
from pixseek.service.errors import error
from pixseek.service.jobs import JobRunner, RunnerLock
from pixseek.service.public_ids import PublicIds
from pixseek.service.settings import ServiceSettings
from pixseek.service.thumbnails import Thumbnails
from pixseek.service.uploads import ReceivedFile, UploadArea
from pixseek.store.base import ID_MAX, Store

log = logging.getLogger("pixseek.service")

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


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
            options=self.library.index_options(settings.analysis), limits=settings.worker_limits,
            # One runner per library, whatever the number of web processes or servers on it.
            lock=RunnerLock(home / "jobs.lock"),
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
        reason = "empty file" if received.size == 0 else self.uploads.check_media(received.temp_path, received.name)
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
            raise error(
                409,
                f"this photo lives in a folder on the server ({on_server[0]}): delete or move it "
                "there, and the next `pixseek index` removes it from the library",
            )
        # A video goes whole, whichever of its frames was asked for: its poster and every frame.
        videos = {split_frame_path(p)[0] for p in image.paths} if is_video_format(image.meta.format) else set()

        def remove(store: Store) -> tuple[list[str], set[str]]:
            removed, hashes = store.remove_image(owner, image.content_id), {image.sha256}
            for video in videos:
                frames = {p: f for p, f in store.indexed_files(owner, under=os.path.dirname(video)).items()
                          if split_frame_path(p)[0] == video}
                store.remove_files(owner, list(frames))
                removed += list(frames)
                hashes.update(f.sha256 for f in frames.values())
            return removed, hashes

        removed, hashes = self.runner.write(remove)
        for path in dict.fromkeys(split_frame_path(p)[0] for p in removed):
            self.uploads.remove_if_unused(owner, path, self._still_needed(owner))
        for sha in hashes:
            self.thumbnails.forget(sha)

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

    def image(
        self, owner: int, content_id: int, paths: list[str], meta, folders: list[str],
        place: str | None = None, look_up_place: bool = True,
    ) -> schemas.Image:
        shown = schemas.image(self.ids.encode("image", content_id), self.shown_paths(owner, paths, folders), meta)
        if look_up_place and place is None and meta.gps_lat is not None:
            found = self.store.places.of_images(owner, [content_id]).get(content_id)
            place = str(found) if found is not None else None
        shown.place = place
        return shown

    def results(self, owner: int, hits: list[Hit]) -> list[schemas.Result]:
        folders = self.folders(owner)
        names = self.store.faces.names(owner) if any(hit.faces for hit in hits) else {}
        unplaced = [h.content_id for h in hits if h.place is None and h.meta is not None and h.meta.gps_lat is not None]
        places = {cid: str(p) for cid, p in self.store.places.of_images(owner, unplaced).items()} if unplaced else {}
        return [
            schemas.Result(
                image=self.image(
                    owner, hit.content_id, hit.paths, hit.meta, folders,
                    place=hit.place or places.get(hit.content_id), look_up_place=False,
                ),
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
            model=result.model,
            description=getattr(result, "description", ""),
            notes=getattr(result, "notes", []),
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
            raise error(400, "folder: control characters are not allowed")
        if text.startswith("/"):
            raise error(400, "folder: give a folder relative to your library, e.g. 'uploads' or '2023/summer'")
        parts = [p for p in text.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise error(400, "folder: '..' is not allowed")
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
            raise error(404, f"no image {self.ids.encode('image', image_id)}")
        return found[0]

    def own_face(self, owner: int, face_id: int) -> StoredFace:
        """The owner's face with this id, in one of their live images, else 404."""
        found = self.store.faces.get(owner, [face_id]) if 1 <= face_id <= ID_MAX else []
        if not found:
            raise error(404, f"no face {self.ids.encode('face', face_id)}")
        return found[0]


def _check_date(name: str, value: str | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        if not _DATE.match(value):
            raise ValueError
        date.fromisoformat(value)
    except ValueError:
        raise error(422, f"{name}: expected a date like 2023-06-30 (YYYY-MM-DD), got {value!r}") from None
    return value
