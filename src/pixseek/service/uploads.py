"""Uploaded files: streamed to disk with a byte limit, checked to be images (or videos, by their
name's suffix), stored by content.

Layout: `<home>/uploads/<owner>/<sha256>/<name>`, where `name` is the sanitised basename the
client gave. Bytes arrive in a temporary file under `<home>/uploads/.incoming/` (same file system,
so the final step is an atomic rename); nothing reaches its final place before it decoded as an
image (a video: its first frame). A second upload of the same bytes by the same user reuses the
stored file.

Each temporary file is locked (flock) by the request that writes it until that request is done
with it, so a part nobody holds was left by a server that died mid-request: those are removed at
start, before every upload and every SWEEP_EVERY_S, by whichever server process looks (several
may share the folder).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import tempfile
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from pixseek.imageio.decode import ImageDecodeError, load_image
from pixseek.imageio.files import VIDEO_EXTENSIONS, has_image_extension
from pixseek.imageio.video import frame_at, video_info
from pixseek.records import visible_text

MAX_NAME_BYTES = 120  # well under every file system's 255-byte limit
MAX_FIELD_BYTES = 4096  # a plain (non-file) form field, e.g. `limit`
SWEEP_EVERY_S = 600.0  # partial uploads of dead servers are looked for at least this often
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
T = TypeVar("T")


class UploadRejected(Exception):
    """The request as a whole cannot be taken: `status` and a message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def sanitise_name(raw: str | None, fallback: str = "upload") -> str:
    """A safe file name from what a client sent: the last path component only, no control or
    format characters, no leading/trailing dots or spaces, at most MAX_NAME_BYTES of UTF-8."""
    name = re.split(r"[/\\]", unicodedata.normalize("NFC", raw or ""))[-1]  # basename, for either separator
    name = visible_text(name)
    name = name.strip().strip(".").strip()
    if not name:
        return fallback
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext) > 16 or not stem:
        stem, ext = name, ""
    suffix = ("." + ext) if ext else ""
    while len((stem + suffix).encode("utf-8")) > MAX_NAME_BYTES:
        stem = stem[:-1]
    return (stem.rstrip(" .") or fallback) + suffix


@dataclass
class ReceivedFile:
    """One file part of a request, complete in a temporary file."""

    name: str  # sanitised
    temp_path: Path
    size: int = 0
    sha256: str = ""
    _hash: Any = field(default_factory=hashlib.sha256, repr=False)
    _fh: Any = field(default=None, repr=False)
    _lock_fd: int | None = field(default=None, repr=False)  # holds the flock until discard()


@dataclass
class ReceivedForm:
    files: list[ReceivedFile]
    fields: dict[str, str]

    def discard(self) -> None:
        for f in self.files:
            if f._fh is not None:
                f._fh.close()
                f._fh = None
            f.temp_path.unlink(missing_ok=True)
            if f._lock_fd is not None:
                os.close(f._lock_fd)
                f._lock_fd = None


class UploadArea:
    def __init__(self, home: Path) -> None:
        self.root = home / "uploads"
        self.incoming = self.root / ".incoming"
        self._lock = threading.Lock()  # a file's "is it stored / still needed" checks and moves
        self._stop_sweeping = threading.Event()

    def owner_root(self, owner: int) -> Path:
        return self.root / str(int(owner))

    def display_path(self, owner: int, path: str) -> str | None:
        """`uploads/<name>` for one of the owner's stored uploads, else None."""
        prefix = str(self.owner_root(owner)) + os.sep
        if not path.startswith(prefix):
            return None
        rest = path[len(prefix) :].split(os.sep)
        return "uploads/" + rest[-1] if len(rest) == 2 and _SHA256.match(rest[0]) else None

    def clean_incoming(self) -> int:
        """Remove the partial uploads no live request holds (their server died); returns how many."""
        removed = 0
        for leftover in self.incoming.glob("part-*") if self.incoming.is_dir() else []:
            try:
                fd = os.open(leftover, os.O_RDONLY)
            except OSError:
                continue  # stored or discarded meanwhile
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if _same_file(leftover, fd):
                    leftover.unlink()
                    removed += 1
            except OSError:  # BlockingIOError: a request is writing or checking it
                pass
            finally:
                os.close(fd)
        return removed

    def start_sweeping(self) -> None:
        """clean_incoming() now and then every SWEEP_EVERY_S in a thread, until stop_sweeping()."""
        self.clean_incoming()

        def sweep() -> None:
            while not self._stop_sweeping.wait(SWEEP_EVERY_S):
                try:
                    self.clean_incoming()
                except OSError:
                    pass

        threading.Thread(target=sweep, name="pixseek-upload-sweep", daemon=True).start()

    def stop_sweeping(self) -> None:
        self._stop_sweeping.set()

    def _new_part(self) -> tuple[int, int, Path]:
        """A new temporary file: its write descriptor, a lock descriptor holding its flock, its path."""
        while True:
            fd, temp = tempfile.mkstemp(dir=self.incoming, prefix="part-")
            lock_fd = os.dup(fd)  # the flock belongs to the open file, which lives while lock_fd does
            fcntl.flock(lock_fd, fcntl.LOCK_EX)  # waits only while a sweep looks at this file
            if _same_file(Path(temp), lock_fd):
                return fd, lock_fd, Path(temp)
            os.close(fd)  # swept between creation and lock: take another
            os.close(lock_fd)

    # ---- receiving ----------------------------------------------------------------------------
    async def receive(
        self, request: Request, file_field: str, max_file_bytes: int, max_files: int
    ) -> ReceivedForm:
        """Stream a multipart/form-data body: parts of `file_field` into temporary files (each at
        most max_file_bytes), small plain fields into memory. Raises UploadRejected."""
        content_type, params = parse_options_header(request.headers.get("content-type", ""))
        boundary = params.get(b"boundary")
        if content_type != b"multipart/form-data" or not boundary:
            raise UploadRejected(415, f"expected a multipart/form-data body with the file(s) in field {file_field!r}")
        self.incoming.mkdir(parents=True, exist_ok=True)
        self.clean_incoming()
        form = ReceivedForm([], {})
        state: dict = {"headers": [], "field": b"", "value": b"", "part": None, "plain": None}

        def on_part_begin() -> None:
            state.update(headers=[], part=None, plain=None)

        def on_header_field(data: bytes, start: int, end: int) -> None:
            state["field"] += data[start:end]

        def on_header_value(data: bytes, start: int, end: int) -> None:
            state["value"] += data[start:end]

        def on_header_end() -> None:
            state["headers"].append((state["field"].lower(), state["value"]))
            state["field"], state["value"] = b"", b""

        def on_headers_finished() -> None:
            disposition = dict(state["headers"]).get(b"content-disposition", b"")
            _, options = parse_options_header(disposition)
            name = _text(options.get(b"name", b""))
            if b"filename" in options:
                if name != file_field:
                    state["part"] = "skip"
                    return
                if len(form.files) >= max_files:
                    raise UploadRejected(413, f"too many files: at most {max_files} per request")
                fd, lock_fd, temp = self._new_part()
                received = ReceivedFile(sanitise_name(_text(options[b"filename"])), temp, _lock_fd=lock_fd)
                received._fh = os.fdopen(fd, "wb")
                form.files.append(received)
                state["part"] = received
            else:
                if len(form.fields) >= 20:
                    raise UploadRejected(413, "too many form fields")
                state["part"] = "plain"
                state["plain"] = (name, bytearray())

        def on_part_data(data: bytes, start: int, end: int) -> None:
            part = state["part"]
            chunk = data[start:end]
            if isinstance(part, ReceivedFile):
                part.size += len(chunk)
                if part.size > max_file_bytes:
                    raise UploadRejected(
                        413, f"{part.name}: larger than the limit of {_human(max_file_bytes)} per file"
                    )
                part._hash.update(chunk)
                part._fh.write(chunk)
            elif part == "plain":
                value = state["plain"][1]
                value += chunk
                if len(value) > MAX_FIELD_BYTES:
                    raise UploadRejected(413, f"form field {state['plain'][0]!r} is too long")

        def on_part_end() -> None:
            part = state["part"]
            if isinstance(part, ReceivedFile):
                part._fh.flush()
                os.fsync(part._fh.fileno())
                part._fh.close()
                part._fh = None
                part.sha256 = part._hash.hexdigest()
            elif part == "plain":
                name, value = state["plain"]
                form.fields[name] = _text(bytes(value))

        callbacks: dict[str, Callable] = {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        }
        parser = MultipartParser(boundary, callbacks)
        try:
            async for chunk in request.stream():
                if chunk:
                    parser.write(chunk)
            parser.finalize()
        except UploadRejected:
            form.discard()
            raise
        except MultipartParseError as exc:
            form.discard()
            raise UploadRejected(400, f"malformed multipart body: {exc}") from None
        except BaseException:
            form.discard()
            raise
        if any(f._fh is not None for f in form.files):  # a part that never ended
            form.discard()
            raise UploadRejected(400, "malformed multipart body: incomplete file part")
        return form

    # ---- checking and storing ------------------------------------------------------------------
    @staticmethod
    def check_media(path: Path, name: str) -> str | None:
        """None if the file decodes as an image we can analyse (or, named as a video, as a video
        whose first frame decodes), else the reason it does not. Runs in the server process, so
        PIL's MAX_IMAGE_PIXELS here is the bomb limit that counts."""
        try:
            if has_image_extension(name, VIDEO_EXTENSIONS):
                video_info(str(path))  # a picture size within the limit
                frame_at(str(path), 0.0)
            else:
                load_image(path)
        except ImageDecodeError as exc:
            return exc.reason
        return None

    def store(self, owner: int, received: ReceivedFile, then: Callable[[Path], T]) -> T:
        """Move a checked file to its content address (or reuse the copy stored there), and call
        `then(path)` (which records the job that needs it) before a deletion can see the file."""
        directory = self.owner_root(owner) / received.sha256
        with self._lock:
            existing = _files_in(directory)
            if existing:
                received.temp_path.unlink(missing_ok=True)
                return then(existing[0])
            directory.mkdir(parents=True, exist_ok=True)
            target = directory / received.name
            if target.parent != directory:  # cannot happen after sanitise_name; never write elsewhere
                raise ValueError(f"unsafe upload name {received.name!r}")
            os.replace(received.temp_path, target)
            _fsync_dir(directory)
            return then(target)

    def remove_if_unused(self, owner: int, path: str, still_needed: Callable[[str], bool]) -> bool:
        """Delete one of the owner's stored uploads (and its folder) unless still_needed(path)."""
        file = Path(path)
        root = self.owner_root(owner)
        if file.parent.parent != root or not _SHA256.match(file.parent.name):
            return False  # not an upload (e.g. a file of an attached folder): never deleted here
        with self._lock:
            if still_needed(path):
                return False
            file.unlink(missing_ok=True)
            if not _files_in(file.parent):
                shutil.rmtree(file.parent, ignore_errors=True)
        return True


def _files_in(directory: Path) -> list[Path]:
    try:
        return sorted(p for p in directory.iterdir() if p.is_file())
    except FileNotFoundError:
        return []


def _same_file(path: Path, fd: int) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _text(raw: bytes) -> str:
    """Header parameters arrive as latin-1 text of what are, in practice, UTF-8 bytes."""
    if isinstance(raw, str):
        raw = raw.encode("latin-1", errors="replace")
    return raw.decode("utf-8", errors="replace")


def _human(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:g} {unit}" if unit == "bytes" else f"{n:.3g} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)
