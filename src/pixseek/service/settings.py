"""What a running service is configured with (the `pixseek serve` options, or a test's choice)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from pixseek.pipeline.analysis import AnalysisOptions
from pixseek.pipeline.workers import DEFAULT_IMAGE_SECONDS, DEFAULT_MEMORY_MB, WorkerLimits

MiB = 1024 * 1024


@dataclass(frozen=True)
class ServiceSettings:
    home: Path  # the library directory (as `--db` / $PIXSEEK_HOME)
    store: str | None = None  # a postgresql:// URL for the records (None: $PIXSEEK_STORE, else home)
    max_upload_bytes: int = 50 * MiB  # per uploaded file; more is refused with 413
    max_files_per_request: int = 100  # per POST /api/images; more is refused with 413
    workers: int = 1  # analysis processes: 1 keeps a core free for searches on a 2-core machine
    web_workers: int = 1  # processes that answer HTTP requests (one of them also runs the jobs)
    handler_threads: int = 8  # threads per web process running request handlers (AnyIO's pool)
    secure_cookies: bool = False  # set the session cookie's Secure flag (serve behind HTTPS)
    # Allow single-user mode: requests without credentials act as the default user, but only while
    # no user has a password or token. Only for a server that listens on loopback (serve sets it so).
    single_user: bool = False
    session_days: float = 30.0  # how long a login lasts
    thumbnail_max_age: int = 7 * 24 * 3600  # Cache-Control max-age of thumbnails, seconds
    max_json_bytes: int = 64 * 1024  # body limit of every request that is not an upload
    faces: bool = True  # find faces in uploads and group them into people
    ocr: bool = True  # read the text in uploads
    max_worker_mb: int | None = DEFAULT_MEMORY_MB  # memory ceiling of each analysis process (None: none)
    max_image_seconds: float | None = DEFAULT_IMAGE_SECONDS  # analysis time per upload (None: no limit)

    # Web worker processes are started by uvicorn, which imports the app by name: they read the
    # settings from the environment it passes on (service/app.py `app_from_environment`).
    ENVIRONMENT = "PIXSEEK_SERVICE_SETTINGS"

    def to_environment(self) -> None:
        os.environ[self.ENVIRONMENT] = json.dumps({**asdict(self), "home": str(self.home)})

    @classmethod
    def from_environment(cls) -> "ServiceSettings":
        values = json.loads(os.environ[cls.ENVIRONMENT])
        known = {f.name for f in fields(cls)}
        chosen = {k: v for k, v in values.items() if k in known}
        return cls(**{**chosen, "home": Path(chosen["home"])})

    @property
    def analysis(self) -> AnalysisOptions:
        """What the analysis of an upload runs (and the version its stored records carry)."""
        return AnalysisOptions(faces=self.faces, text=self.ocr)

    @property
    def worker_limits(self) -> WorkerLimits:
        return WorkerLimits(memory_mb=self.max_worker_mb, seconds=self.max_image_seconds)

    @property
    def max_request_bytes(self) -> int:
        """Body limit of an upload request: every file at its limit, plus multipart overhead."""
        return self.max_files_per_request * (self.max_upload_bytes + 64 * 1024)
