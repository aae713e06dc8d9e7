"""Real images the benchmarks run on, generated once into bench/.cache.

* `dev_set`: the labelled dev set of `pixseek.demo.samples.write_dev_set` (Fashion-MNIST, digits, photos).
* `big_jpegs`: camera-sized JPEGs (4000x3000, quality 90) made by upscaling the real sample photos
  with random crops and mirroring, plus a fixed film-grain-like noise (sigma 6) so the files weigh
  about what real 12 MP photos weigh (~2.4 MB: decode cost follows the entropy-coded size, and a
  smooth upscale compresses to a fraction of that). A quarter are stored "sideways" with EXIF orientation 6
  as phones do, and all carry EXIF make/model/date.
* `portrait_jpegs`: the same, made only from the two frontal portraits (the astronaut Eileen
  Collins, Grace Hopper), each crop keeping the face: a face-heavy corpus, one face per file.
"""

from __future__ import annotations

import io
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from bench.common import CACHE_DIR
from pixseek.demo.face_set import FACE_PEOPLE
from pixseek.demo.samples import SampleImage, write_dev_set

BIG_SIZE = (4000, 3000)
BIG_QUALITY = 90
_BIG_VERSION = "v1"  # bump when the generation changes: a new cache folder is made
_GRAIN_SIGMA = 6.0
_EXIF_ORIENTATION, _EXIF_MAKE, _EXIF_MODEL, _EXIF_DATETIME = 0x0112, 0x010F, 0x0110, 0x0132
_NOT_PHOTOS = ("fashion-mnist:", "sklearn:digits:", "derived:")


def dev_set(per_class: int = 50) -> tuple[Path, list[SampleImage]]:
    """The labelled dev set (idempotent: files are rewritten only when missing or different)."""
    root = CACHE_DIR / f"devset-{per_class}"
    return root, write_dev_set(root, per_class=per_class)


def photos() -> list[SampleImage]:
    """The original real photos (not the derived copies, not Fashion-MNIST or digits)."""
    _, images = dev_set(per_class=1)
    return [im for im in images if not im.source.startswith(_NOT_PHOTOS)]


def big_jpegs(count: int = 200, processes: int = 2) -> list[Path]:
    """`count` 12 MP JPEGs in the cache, generating the missing ones in spawned processes."""
    return _big_jpegs_of(f"jpeg12mp-{_BIG_VERSION}", [(p.path, None) for p in photos()], count, processes)


def portrait_jpegs(count: int = 60, processes: int = 2) -> list[Path]:
    """A face-heavy corpus: 12 MP JPEGs made like `big_jpegs` from the two frontal portraits of
    the face set, each random crop keeping the middle of the head (so every file holds a face)."""
    faces = {photo.category: _middle(head) for photo, head in FACE_PEOPLE.values()}
    sources = [(p.path, faces[p.category]) for p in photos() if p.category in faces]
    return _big_jpegs_of(f"jpeg12mp-portraits-{_BIG_VERSION}", sources, count, processes)


Box = tuple[int, int, int, int]


def _middle(box: Box) -> Box:
    """The middle half (in each direction) of a box: where the face is in a head-and-shoulders box."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    return (x0 + w // 4, y0 + h // 4, x1 - w // 4, y1 - h // 4)


def _big_jpegs_of(
    name: str, sources: list[tuple[Path, Box | None]], count: int, processes: int
) -> list[Path]:
    """`count` 12 MP JPEGs in bench/.cache/<name>, made from the sources in turn (each with a box
    every crop must hold, or None)."""
    folder = CACHE_DIR / name
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"img_{i:04d}.jpg" for i in range(count)]
    missing = [i for i, p in enumerate(paths) if not p.exists()]
    if missing:
        print(f"generating {len(missing)} 12 MP JPEGs in {folder} (once) ...", flush=True)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(processes, mp_context=context) as pool:
            jobs = [(i, str(sources[i % len(sources)][0]), str(paths[i])) for i in missing]
            keeps = [sources[i % len(sources)][1] for i in missing]
            list(pool.map(_make_big_jpeg, *zip(*jobs), keeps, chunksize=4))
    return paths


_grain: np.ndarray | None = None


def _grain_tile() -> np.ndarray:
    global _grain
    if _grain is None:
        rng = np.random.default_rng(12345)
        w, h = BIG_SIZE
        _grain = np.clip(rng.normal(0, _GRAIN_SIGMA, (h, w, 3)), -12, 12).astype(np.int16)
    return _grain


def _place(rng: np.random.Generator, lo: int, hi: int, size: int, limit: int) -> int:
    """Start of a random window of `size` within 0..limit that holds lo..hi (centred on it when
    it cannot)."""
    first, last = max(0, hi - size), min(lo, limit - size)
    if first > last:
        return min(max(0, (lo + hi - size) // 2), limit - size)
    return int(rng.integers(first, last + 1))


def _make_big_jpeg(index: int, source: str, dest: str, keep: Box | None = None) -> None:
    rng = np.random.default_rng(1000 + index)
    portrait = index % 4 == 3  # stored sideways with EXIF orientation 6, as a phone held upright
    with Image.open(source) as src:
        photo = src.convert("RGB")
    # A random crop of the picture's aspect, covering 55..100 % of the largest such window.
    out_w, out_h = (BIG_SIZE[1], BIG_SIZE[0]) if portrait else BIG_SIZE
    w, h = photo.size
    full_w, full_h = (
        (w, round(w * out_h / out_w)) if w * out_h <= h * out_w else (round(h * out_w / out_h), h)
    )
    scale = float(np.sqrt(rng.uniform(0.55, 1.0)))
    cw, ch = max(8, round(full_w * scale)), max(6, round(full_h * scale))
    if keep is None:
        left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    else:
        left, top = _place(rng, keep[0], keep[2], cw, w), _place(rng, keep[1], keep[3], ch, h)
    picture = photo.crop((left, top, left + cw, top + ch)).resize((out_w, out_h), Image.Resampling.BICUBIC)
    if rng.random() < 0.5:
        picture = ImageOps.mirror(picture)
    if portrait:
        picture = picture.transpose(Image.Transpose.ROTATE_90)  # orientation 6 turns it back
    pixels = np.asarray(picture, dtype=np.int16)
    grain = np.roll(_grain_tile(), (int(rng.integers(0, 3000)), int(rng.integers(0, 4000))), axis=(0, 1))
    picture = Image.fromarray(np.clip(pixels + grain, 0, 255).astype(np.uint8))

    exif = Image.Exif()
    exif[_EXIF_MAKE] = "BenchCam"
    exif[_EXIF_MODEL] = f"Model {index % 3}"
    exif[_EXIF_DATETIME] = f"2023:{1 + index % 12:02d}:{1 + index % 28:02d} 12:{index % 60:02d}:00"
    if portrait:
        exif[_EXIF_ORIENTATION] = 6
    buf = io.BytesIO()
    picture.save(buf, "JPEG", quality=BIG_QUALITY, exif=exif.tobytes())
    tmp = Path(dest).with_suffix(".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(dest)
