"""Perceptual hashes for contents analysed before hashes existed (libraries older than schema 8).

Decided: computed once from the original files, at reduced size (JPEG DCT scaling: ~10-20 ms for
a 12 MP photo), on the first `pixseek duplicates` (or the first duplicates page of the web UI),
and stored; later calls find them stored. Not from the service's cached thumbnails: most images
have none (a thumbnail is made when first shown), and the CLI has none at all. A file that no
longer decodes keeps no hash and shows only among exact copies.
"""

from __future__ import annotations

from collections.abc import Callable

from pixseek.analyzers.phash import perceptual_hash
from pixseek.imageio.decode import ImageDecodeError, load_image
from pixseek.records import split_frame_path
from pixseek.store.base import Store

_COMMIT_EVERY = 200


def catch_up_hashes(store: Store, owner: int, on_progress: Callable[[int, int], None] | None = None) -> int:
    """Compute and store the missing hashes of the owner's live contents; how many were added."""
    missing = [cid for cid, h in store.hashes.live(owner).items() if h is None]
    if not missing:
        return 0
    paths: dict[int, list[str]] = {}
    for path, indexed in store.indexed_files(owner).items():
        paths.setdefault(indexed.content_id, []).append(path)
    added: dict[int, int] = {}
    done = 0
    for n, cid in enumerate(missing, 1):
        for path in sorted(paths.get(cid, [])):
            try:
                added[cid] = hash_of_file(path)
                break
            except ImageDecodeError:
                continue
        if len(added) >= _COMMIT_EVERY:
            store.hashes.put(owner, added)
            store.commit()
            done += len(added)
            added = {}
        if on_progress is not None:
            on_progress(n, len(missing))
    store.hashes.put(owner, added)
    store.commit()
    return done + len(added)


def hash_of_file(path: str) -> int:
    """The perceptual hash of a stored file: a picture, or a video frame ("<video>#t=<seconds>")."""
    video, seconds = split_frame_path(path)
    if seconds is not None or _is_video(video):
        from pixseek.imageio.video import frame_at

        return perceptual_hash(frame_at(video, seconds or 0.0))
    try:
        return perceptual_hash(load_image(path, min_side=64).image)
    except OSError as exc:
        raise ImageDecodeError(f"cannot read file: {exc}") from None


def _is_video(path: str) -> bool:
    from pixseek.imageio.files import VIDEO_EXTENSIONS, has_image_extension

    return has_image_extension(path, VIDEO_EXTENSIONS)
