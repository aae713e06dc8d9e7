"""Real sample images from installed packages, written as image files.

Two uses:

* `write_demo_gallery` - a small, varied folder for the demo: real photos shipped by
  scikit-image, scikit-learn and matplotlib, a few derived copies (crop, mirror, JPEG
  re-compression) so that "find similar" has something to find, and Fashion-MNIST product
  images upscaled to 224 px.
* `write_dev_set` - a labelled dev set for retrieval-quality benchmarks: Fashion-MNIST
  (text queries via `FASHION_QUERIES`, and image->image), sklearn digits (image->image only),
  and the same photos. `labels.json` beside it is read back with `read_labels`.

The face set and the text set, built on the same photos, are in face_set.py and text_set.py.

Sources (all offline): scikit-image, scikit-learn, matplotlib (the files are read straight from
the installed packages, which are not imported, so this stays fast), and Debian's
`dataset-fashion-mnist` (`/usr/share/datasets/fashion-mnist`, or $PIXSEEK_FASHION_MNIST_DIR).
A missing source raises `SampleSourceMissing`, naming what to install.

Fashion-MNIST and digits are stored as "ink" on a black background (0 = nothing). The
Fashion-MNIST pipeline made them by *negating* product photos shot on white, so by default
both are inverted back: dark product / dark ink on white paper, as a camera would see them.

Everything is deterministic (first N of each class, fixed crop boxes and JPEG qualities) and
idempotent: a file is only written when it is missing or its bytes differ. Files that a call did
not write (e.g. from an earlier call with a larger per_class) are left alone.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import os
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps


UPSCALED_SIZE = 224
FASHION_DIR_ENV = "PIXSEEK_FASHION_MNIST_DIR"
DEFAULT_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
LABELS_FILE = "labels.json"


class SampleSourceMissing(RuntimeError):
    """A package or data set that the samples come from is not installed."""


@dataclass(frozen=True)
class SampleImage:
    """One written sample image.

    `labels` are English words a person would type to find it. `category` is the ground-truth
    group for image->image retrieval: the Fashion-MNIST class name, "digit N", or for photos
    the name of the original shot (derived copies and the second stereo view share it).
    """

    path: Path
    source: str
    labels: tuple[str, ...]
    category: str = ""


# --------------------------------------------------------------------------------------------
# Photos shipped inside Python packages

@dataclass(frozen=True)
class _Photo:
    package: str  # import name; the file is read from the installed package, not imported
    relpath: str  # inside the package directory
    labels: tuple[str, ...]
    category: str
    folder: str = "photos"


_PIP_NAMES = {"skimage": "scikit-image", "sklearn": "scikit-learn", "matplotlib": "matplotlib"}

PHOTOS: tuple[_Photo, ...] = (
    _Photo("skimage", "data/chelsea.png", ("cat", "animal", "pet"), "chelsea"),
    _Photo("skimage", "data/coffee.png", ("coffee", "espresso", "cup", "drink"), "coffee"),
    _Photo("skimage", "data/astronaut.png", ("astronaut", "person", "woman", "spacesuit"), "astronaut"),
    _Photo("skimage", "data/rocket.jpg", ("rocket", "launch pad", "night"), "rocket"),
    _Photo("skimage", "data/motorcycle_left.png", ("motorcycle", "motorbike", "vehicle"), "motorcycle"),
    _Photo("skimage", "data/motorcycle_right.png", ("motorcycle", "motorbike", "vehicle"), "motorcycle"),
    _Photo(
        "skimage",
        "data/camera.png",
        ("photographer", "camera", "tripod", "man", "person", "black and white"),
        "camera",
    ),
    _Photo("skimage", "data/coins.png", ("coins", "money", "black and white"), "coins"),
    _Photo("skimage", "data/page.png", ("text", "document", "page"), "page"),
    _Photo("skimage", "data/text.png", ("handwriting", "math", "paper"), "text"),
    _Photo("skimage", "data/hubble_deep_field.jpg", ("galaxies", "space", "stars", "astronomy"), "hubble"),
    _Photo("skimage", "data/moon.png", ("moon", "craters"), "moon"),
    _Photo("skimage", "data/retina.jpg", ("retina", "eye", "medical"), "retina"),
    _Photo("skimage", "data/ihc.png", ("microscopy", "tissue", "cells", "medical"), "ihc"),
    _Photo("skimage", "data/brick.png", ("brick", "wall", "texture"), "brick"),
    _Photo("skimage", "data/grass.png", ("grass", "texture"), "grass"),
    _Photo("skimage", "data/gravel.png", ("gravel", "stones", "texture"), "gravel"),
    _Photo("sklearn", "datasets/images/china.jpg", ("temple", "pagoda", "building", "architecture"), "china"),
    _Photo("sklearn", "datasets/images/flower.jpg", ("flower", "dahlia", "plant"), "flower"),
    _Photo(
        "matplotlib",
        "mpl-data/sample_data/grace_hopper.jpg",
        ("woman", "person", "portrait", "uniform", "glasses"),
        "grace_hopper",
    ),
    _Photo(
        "matplotlib",
        "mpl-data/sample_data/Minduka_Present_Blue_Pack.png",
        ("gift", "present", "box"),
        "gift",
        folder="graphics",
    ),
)

# (parent photo file name, operation) -> derived copies for "similar" to find.
_DERIVED: tuple[tuple[str, str], ...] = tuple(
    (name, op) for name in ("chelsea.png", "coffee.png") for op in ("crop", "flip", "jpeg")
)


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pip = _PIP_NAMES.get(package, package)
        raise SampleSourceMissing(f"sample images need the Python package {pip!r}: pip install {pip}")
    return Path(next(iter(spec.submodule_search_locations)))


def _photo_path(photo: _Photo) -> Path:
    path = _package_dir(photo.package) / photo.relpath
    if not path.is_file():
        pip = _PIP_NAMES.get(photo.package, photo.package)
        raise SampleSourceMissing(f"{path} is missing from the installed {pip!r}; reinstall {pip}")
    return path


def _photo_source(photo: _Photo) -> str:
    return f"{photo.package}:{Path(photo.relpath).name}"


def _derive(data: bytes, op: str) -> bytes:
    """Crop (centre 70 %), mirror, or JPEG-recompress (quality 30) an image; returns JPEG bytes."""
    with Image.open(io.BytesIO(data)) as src:
        im = src.convert("RGB")
    quality = 90
    if op == "crop":
        w, h = im.size
        dx, dy = round(w * 0.15), round(h * 0.15)
        im = im.crop((dx, dy, w - dx, h - dy))
    elif op == "flip":
        im = ImageOps.mirror(im)
    elif op == "jpeg":
        quality = 30
    else:
        raise ValueError(f"unknown derivation {op!r}")
    return _encode(im, "JPEG", quality=quality)


def _write_photos(dest: Path, *, neutral_names: bool) -> list[SampleImage]:
    """Copy every photo byte-for-byte, then write the derived copies."""
    out: list[SampleImage] = []
    by_name: dict[str, tuple[_Photo, bytes]] = {}
    for k, photo in enumerate(PHOTOS):
        src = _photo_path(photo)
        data = src.read_bytes()
        by_name[src.name] = (photo, data)
        name = f"photo_{k:02d}{src.suffix}" if neutral_names else src.name
        path = dest / photo.folder / name
        _write_if_changed(path, data)
        out.append(SampleImage(path, _photo_source(photo), photo.labels, photo.category))
    for k, (parent, op) in enumerate(_DERIVED):
        photo, data = by_name[parent]
        name = f"derived_{k:02d}.jpg" if neutral_names else f"{Path(parent).stem}_{op}.jpg"
        path = dest / "derived" / name
        _write_if_changed(path, _derive(data, op))
        out.append(SampleImage(path, f"derived:{parent}:{op}", photo.labels, photo.category))
    return out


# --------------------------------------------------------------------------------------------
# Fashion-MNIST (Debian package dataset-fashion-mnist)

FASHION_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

_CLOTHING = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Shirt"}
_FOOTWEAR = {"Sandal", "Sneaker", "Ankle boot"}

FASHION_QUERIES: dict[str, set[str]] = {
    # The first query naming each class is its own word (used as the first label).
    "t-shirt": {"T-shirt/top"},
    "trousers": {"Trouser"},
    "pullover": {"Pullover"},
    "dress": {"Dress"},
    "coat": {"Coat"},
    "sandal": {"Sandal"},
    "shirt": {"Shirt", "T-shirt/top"},  # a T-shirt is a shirt too
    "sneaker": {"Sneaker"},
    "bag": {"Bag"},
    "ankle boot": {"Ankle boot"},
    # Synonyms and broader words a user would type.
    "pants": {"Trouser"},
    "sweater": {"Pullover"},
    "jacket": {"Coat"},  # the Fashion-MNIST "Coat" class holds coats and jackets
    "boot": {"Ankle boot"},
    "shoe": set(_FOOTWEAR),
    "footwear": set(_FOOTWEAR),
    "clothing": set(_CLOTHING),
}


def fashion_labels(class_name: str) -> tuple[str, ...]:
    """Query words for a Fashion-MNIST class: every `FASHION_QUERIES` key that should find it."""
    if class_name not in FASHION_CLASSES:
        raise ValueError(f"not a Fashion-MNIST class: {class_name!r}")
    return tuple(q for q, classes in FASHION_QUERIES.items() if class_name in classes)


def _slug(class_name: str) -> str:
    return class_name.lower().replace("/", "-").replace(" ", "-")


def fashion_dir() -> Path:
    """Where the Fashion-MNIST IDX files are: $PIXSEEK_FASHION_MNIST_DIR or Debian's location."""
    return Path(os.environ.get(FASHION_DIR_ENV) or DEFAULT_FASHION_DIR)


def _fashion_file(name: str) -> Path:
    path = fashion_dir() / name
    if not path.is_file():
        raise SampleSourceMissing(
            f"Fashion-MNIST file {path} not found: install the Debian package dataset-fashion-mnist "
            f"(apt-get install dataset-fashion-mnist) or set ${FASHION_DIR_ENV}"
        )
    return path


def _read_idx_header(f: io.BufferedIOBase, expected_type: int, path: Path) -> tuple[int, ...]:
    head = f.read(4)
    if len(head) != 4 or head[:2] != b"\0\0" or head[2] != expected_type:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes")
    ndim = head[3]
    return struct.unpack(f">{ndim}I", f.read(4 * ndim))


def load_fashion_labels(split: str = "train") -> NDArray[np.uint8]:
    """All Fashion-MNIST labels (0..9) of a split ("train" or "t10k")."""
    path = _fashion_file(f"{split}-labels-idx1-ubyte.gz")
    with gzip.open(path, "rb") as f:
        (n,) = _read_idx_header(f, 0x08, path)
        labels = np.frombuffer(f.read(n), dtype=np.uint8)
    if len(labels) != n:
        raise ValueError(f"{path} is truncated")
    return labels


def load_fashion_images(indices: Sequence[int], split: str = "train") -> NDArray[np.uint8]:
    """Fashion-MNIST images (N, 28, 28) at `indices`; decompresses only up to the largest index."""
    path = _fashion_file(f"{split}-images-idx3-ubyte.gz")
    idx = np.asarray(indices, dtype=np.int64)
    with gzip.open(path, "rb") as f:
        n, rows, cols = _read_idx_header(f, 0x08, path)
        if len(idx) == 0:
            return np.zeros((0, rows, cols), dtype=np.uint8)
        if idx.min() < 0 or idx.max() >= n:
            raise IndexError(f"Fashion-MNIST {split} has {n} images")
        count = int(idx.max()) + 1
        raw = f.read(count * rows * cols)
    if len(raw) != count * rows * cols:
        raise ValueError(f"{path} is truncated")
    return np.frombuffer(raw, dtype=np.uint8).reshape(count, rows, cols)[idx]


def _first_per_class(labels: NDArray[np.integer], per_class: int, n_classes: int, what: str) -> list[int]:
    """Indices of the first `per_class` items of each class, in index order."""
    chosen: list[int] = []
    for c in range(n_classes):
        (hits,) = np.nonzero(labels == c)
        if len(hits) < per_class:
            raise ValueError(f"{what} has only {len(hits)} items of class {c}, asked for {per_class}")
        chosen.extend(int(i) for i in hits[:per_class])
    return sorted(chosen)


def _write_fashion(dest: Path, per_class: int, *, invert: bool) -> list[SampleImage]:
    if per_class < 0:
        raise ValueError("per_class must be >= 0")
    labels = load_fashion_labels("train")
    chosen = _first_per_class(labels, per_class, len(FASHION_CLASSES), "Fashion-MNIST train")
    images = load_fashion_images(chosen, "train")
    out: list[SampleImage] = []
    for i, pixels in zip(chosen, images):
        class_name = FASHION_CLASSES[int(labels[i])]
        path = dest / f"fashion_{i:05d}.png"
        _write_if_changed(path, _encode(_upscale(pixels, invert=invert), "PNG", compress_level=1))
        out.append(SampleImage(path, f"fashion-mnist:train:{i}", fashion_labels(class_name), class_name))
    return out


# --------------------------------------------------------------------------------------------
# scikit-learn digits (8x8, values 0..16)

def load_digits() -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """The 1797 sklearn digits as (N, 8, 8) uint8 in 0..255 (255 = ink) and their labels 0..9."""
    path = _package_dir("sklearn") / "datasets" / "data" / "digits.csv.gz"
    if path.is_file():  # read the shipped file directly: importing sklearn costs ~1 s
        data = np.loadtxt(path, delimiter=",", dtype=np.float64)
        pixels, target = data[:, :-1], data[:, -1].astype(np.int64)
    else:  # pragma: no cover - only if a future scikit-learn moves the file
        from sklearn.datasets import load_digits as _sk_load_digits

        bunch = _sk_load_digits()
        pixels, target = bunch.data, bunch.target.astype(np.int64)
    ink = np.clip(np.rint(pixels * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    return ink.reshape(-1, 8, 8), target


def _write_digits(dest: Path, per_class: int) -> list[SampleImage]:
    if per_class < 0:
        raise ValueError("per_class must be >= 0")
    pixels, target = load_digits()
    out: list[SampleImage] = []
    for i in _first_per_class(target, per_class, 10, "sklearn digits"):
        n = int(target[i])
        path = dest / f"digit_{i:04d}.png"
        _write_if_changed(path, _encode(_upscale(pixels[i], invert=True), "PNG", compress_level=1))
        out.append(SampleImage(path, f"sklearn:digits:{i}", (f"digit {n}",), f"digit {n}"))
    return out


# --------------------------------------------------------------------------------------------
# Public entry points

def write_demo_gallery(
    dest: Path, fashion_per_class: int = 20, *, invert_fashion: bool = True
) -> list[SampleImage]:
    """Write the demo gallery under `dest` and return what is in it.

    Layout: photos/ (real photos, byte-for-byte with their package file names), graphics/
    (a clip-art gift box), derived/ (crop, mirror and JPEG-recompressed copies of the cat
    and coffee photos), fashion/ (first `fashion_per_class` Fashion-MNIST train images of
    each class, upscaled to 224 px, neutral file names).
    """
    dest = Path(dest)
    out = _write_photos(dest, neutral_names=False)
    out += _write_fashion(dest / "fashion", fashion_per_class, invert=invert_fashion)
    return out


def write_dev_set(dest: Path, per_class: int = 50, *, invert_fashion: bool = True) -> list[SampleImage]:
    """Write the labelled benchmark dev set under `dest`, with `dest/labels.json`, and return it.

    Layout: fashion/ (first `per_class` Fashion-MNIST train images per class), digits/ (first
    `per_class` sklearn digits per digit), photos/, graphics/, derived/ (as in the gallery).
    Images are 224 px except the photos. No file name or folder carries a label word, so
    path matching cannot help a search score.
    """
    dest = Path(dest)
    out = _write_fashion(dest / "fashion", per_class, invert=invert_fashion)
    out += _write_digits(dest / "digits", per_class)
    out += _write_photos(dest, neutral_names=True)
    write_labels(out, dest / LABELS_FILE)
    return out


def write_labels(images: Iterable[SampleImage], path: Path) -> None:
    """Save images and labels as JSON; paths under the file's folder are stored relative to it."""
    path = Path(path)
    root = path.parent.resolve()
    rows = []
    for im in images:
        p = Path(im.path).resolve()
        rel = p.relative_to(root).as_posix() if p.is_relative_to(root) else str(p)
        rows.append({"path": rel, "source": im.source, "labels": list(im.labels), "category": im.category})
    text = json.dumps({"version": 1, "images": rows}, indent=1, ensure_ascii=False) + "\n"
    _write_if_changed(path, text.encode("utf-8"))


def read_labels(path: Path) -> list[SampleImage]:
    """Load images written by `write_labels`; relative paths are resolved against the file's folder."""
    path = Path(path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    if doc.get("version") != 1:
        raise ValueError(f"{path}: unsupported labels file version {doc.get('version')!r}")
    root = path.parent
    return [
        SampleImage(
            root / row["path"],
            row["source"],
            tuple(row["labels"]),
            row.get("category", ""),
        )
        for row in doc["images"]
    ]


def missing_sources() -> list[str]:
    """Messages for every sample source that is not installed (empty when all are there)."""
    problems: list[str] = []
    for photo in PHOTOS:
        try:
            _photo_path(photo)
        except SampleSourceMissing as exc:
            if str(exc) not in problems:
                problems.append(str(exc))
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        try:
            _fashion_file(name)
        except SampleSourceMissing as exc:
            problems.append(str(exc))
    return problems


# --------------------------------------------------------------------------------------------
# Helpers

def _upscale(pixels: NDArray[np.uint8], *, invert: bool) -> Image.Image:
    """Grey 'ink on black' pixels -> UPSCALED_SIZE square image (bicubic), optionally inverted."""
    arr = 255 - pixels if invert else pixels
    im = Image.fromarray(np.ascontiguousarray(arr, dtype=np.uint8))
    return im.resize((UPSCALED_SIZE, UPSCALED_SIZE), Image.Resampling.BICUBIC)


def _encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **params)
    return buf.getvalue()


def _write_if_changed(path: Path, data: bytes) -> bool:
    """Write `data` to `path` atomically unless the file already holds exactly these bytes."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return True
