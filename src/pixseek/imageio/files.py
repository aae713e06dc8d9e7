"""Finding image files on disk: a fast, deterministic, loop-safe recursive scan, and content hashing.

Nothing here opens images; see `decode.py` for that.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.util
import os
import stat
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pixseek.records import FileState, Skipped, split_frame_path

_BASE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
_HEIF_EXTENSIONS = frozenset({".heic", ".heif"})

# find_spec only locates the package; importing pillow_heif (and registering its opener) happens lazily in decode.py.
HEIF_AVAILABLE: bool = importlib.util.find_spec("pillow_heif") is not None

#: Lower-case file name suffixes (with the dot) of pictures.
IMAGE_EXTENSIONS: frozenset[str] = _BASE_EXTENSIONS | (_HEIF_EXTENSIONS if HEIF_AVAILABLE else frozenset())
#: ... of videos (indexed by sampled frames: imageio/video.py, pipeline/video.py).
VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm"})
#: What `scan` reports unless told otherwise.
MEDIA_EXTENSIONS: frozenset[str] = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS

# Directories that only hold generated thumbnails/metadata, besides hidden ones (".git", ".thumbnails", ...):
# indexing them would fill the index with duplicates of every photo. "@eaDir" is Synology's thumbnail store.
_IGNORED_DIR_NAMES = frozenset({"@eaDir", "$RECYCLE.BIN", "System Volume Information", "lost+found"})

_HASH_CHUNK = 1 << 20  # 1 MiB

SkipCallback = Callable[[Skipped], None]


class ScanRootError(OSError):
    """The scan root does not exist, is not a directory or cannot be read."""


def scan(
    root: str | Path,
    on_skip: SkipCallback,
    *,
    extensions: Collection[str] = MEDIA_EXTENSIONS,
) -> Iterator[FileState]:
    """Yield every image (and video) file under `root`, recursively, sorted by path components (deterministic).

    Paths are absolute and normalised (symlinks are kept as the user sees them, not resolved). Symlinked
    directories are followed; a directory reached twice (a symlink loop, or two links to the same
    directory) is walked once. Hidden entries (names starting with ".") and thumbnail stores are ignored.
    Problems that the user may want to hear about (loops, broken links, unreadable directories, file names
    that are not UTF-8) go to `on_skip`; the scan itself never stops for them.

    Caveat for callers that delete index entries not seen in a scan: a skipped *directory* (permission
    denied, I/O error) means "contents unknown", not "contents gone".

    Raises ScanRootError if `root` does not exist, is not a directory or cannot be listed.
    """
    exts = frozenset(e.lower() for e in extensions)
    root_path = os.path.abspath(os.fspath(root))
    try:
        st = os.stat(root_path)
    except FileNotFoundError:
        raise ScanRootError(f"scan root does not exist: {root_path}") from None
    except OSError as e:
        raise ScanRootError(f"cannot access scan root {root_path}: {e.strerror or e}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise ScanRootError(f"scan root is not a directory: {root_path}")
    try:
        root_entries = _list_dir(root_path)
    except OSError as e:
        raise ScanRootError(f"cannot list scan root {root_path}: {e.strerror or e}") from None
    yield from _Walker(exts, on_skip).walk(root_path, (st.st_dev, st.st_ino), root_entries)


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks (constant memory)."""
    digest = hashlib.sha256()
    buf = bytearray(_HASH_CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            digest.update(view[:n])
    return digest.hexdigest()


def has_image_extension(name: str, extensions: Collection[str] = IMAGE_EXTENSIONS) -> bool:
    """True if `name` ends with one of `extensions` (case-insensitive)."""
    dot = name.rfind(".")
    return dot > 0 and name[dot:].lower() in extensions  # like os.path.splitext, minus its overhead


def is_video_path(path: str) -> bool:
    """Whether a stored path is a video's (its poster, or "<video>#t=<seconds>" for a later frame)."""
    return has_image_extension(split_frame_path(path)[0], VIDEO_EXTENSIONS)


# --- internals ---------------------------------------------------------------------------------------------

DirKey = tuple[int, int]  # (st_dev, st_ino)


def _list_dir(path: str) -> list[os.DirEntry[str]]:
    with os.scandir(path) as it:
        return sorted(it, key=lambda e: e.name)


def _printable_path(path: str) -> str:
    """`path` with undecodable bytes (surrogate escapes) shown as \\xNN, safe to print/store as UTF-8."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")  # os.scandir decodes bad bytes to lone surrogates, which do not encode
    except UnicodeEncodeError:
        return False
    return True


@dataclass
class _Frame:
    path: str
    key: DirKey
    entries: Iterator[os.DirEntry[str]]


@dataclass
class _Walker:
    extensions: frozenset[str]
    on_skip: SkipCallback
    seen: dict[DirKey, str] = field(default_factory=dict)  # every directory walked -> its first path

    def walk(self, root: str, key: DirKey, entries: list[os.DirEntry[str]]) -> Iterator[FileState]:
        # Explicit stack instead of recursion: arbitrarily deep trees cannot hit the recursion limit.
        self.seen[key] = root
        stack = [_Frame(root, key, iter(entries))]
        while stack:
            entry = next(stack[-1].entries, None)
            if entry is None:
                stack.pop()
                continue
            if entry.name.startswith(".") or entry.name in _IGNORED_DIR_NAMES:
                continue
            try:
                is_dir = entry.is_dir()  # follows symlinks
            except OSError:
                is_dir = False
            if is_dir:
                frame = self._enter(entry, stack)
                if frame is not None:
                    stack.append(frame)
            else:
                state = self._file(entry)
                if state is not None:
                    yield state

    def _skip(self, path: str, reason: str) -> None:
        self.on_skip(Skipped(_printable_path(path), reason))

    def _enter(self, entry: os.DirEntry[str], stack: list[_Frame]) -> _Frame | None:
        """A frame for a sub-directory, or None (after reporting why) if it must not be walked."""
        path = entry.path
        if not _is_utf8(entry.name):
            self._skip(path, f"directory name is not valid UTF-8: {os.fsencode(entry.name)!r}")
            return None
        try:
            st = entry.stat()  # follows symlinks: the key of the target directory
            key = (st.st_dev, st.st_ino)
            if key in self.seen:
                self._report_revisit(path, key, stack)
                return None
            entries = _list_dir(path)
        except PermissionError:
            self._skip(path, "permission denied")
            return None
        except OSError as e:  # I/O error, or the directory vanished during the scan
            self._skip(path, f"cannot read directory: {e.strerror or e}")
            return None
        self.seen[key] = path
        return _Frame(path, key, iter(entries))

    def _report_revisit(self, path: str, key: DirKey, stack: list[_Frame]) -> None:
        first = _printable_path(self.seen[key])
        if any(frame.key == key for frame in stack):
            self._skip(path, f"symlink loop (points back to {first})")
        else:
            self._skip(path, f"directory already scanned as {first}")

    def _file(self, entry: os.DirEntry[str]) -> FileState | None:
        is_link = entry.is_symlink()
        if not is_link and not has_image_extension(entry.name, self.extensions):
            return None  # cheap reject of the common case, no stat call
        if not _is_utf8(entry.name):
            if has_image_extension(entry.name, self.extensions):
                self._skip(entry.path, f"file name is not valid UTF-8: {os.fsencode(entry.name)!r}")
            return None
        try:
            st = entry.stat()  # follows symlinks
        except FileNotFoundError:
            if is_link:  # reported whatever its name: it may be a link to an unmounted photo directory
                self._skip(entry.path, f"broken symlink (target {_link_target(entry.path)} does not exist)")
            # else: deleted between listing and stat; it simply is not there any more
            return None
        except OSError as e:
            if e.errno == errno.ELOOP:
                self._skip(entry.path, "symlink loop (the link resolves to itself)")
            elif isinstance(e, PermissionError):
                self._skip(entry.path, "permission denied")
            else:
                self._skip(entry.path, f"cannot stat: {e.strerror or e}")
            return None
        if not stat.S_ISREG(st.st_mode) or not has_image_extension(entry.name, self.extensions):
            return None  # FIFOs, sockets, devices: opening one named "x.jpg" could block forever
        return FileState(path=entry.path, size=st.st_size, mtime_ns=st.st_mtime_ns)


def _link_target(path: str) -> str:
    try:
        return repr(_printable_path(os.readlink(path)))
    except OSError:
        return "?"
