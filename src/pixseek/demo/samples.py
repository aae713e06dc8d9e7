"""Real sample images from installed packages, written as image files.

Two uses:

* `write_demo_gallery` - a small, varied folder for the demo: real photos shipped by
  scikit-image, scikit-learn and matplotlib, a few derived copies (crop, mirror, JPEG
  re-compression) so that "find similar" has something to find, and Fashion-MNIST product
  images upscaled to 224 px.
* `write_dev_set` - a labelled dev set for retrieval-quality benchmarks: Fashion-MNIST
  (text queries via `FASHION_QUERIES`, and image->image), sklearn digits (image->image only),
  and the same photos. `labels.json` beside it is read back with `read_labels`.

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
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

from pixseek.records import Box

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
# Faces: two real people from the packages, augmented, and group collages

@dataclass(frozen=True)
class FaceSample:
    """A written face-set image: who is in it (left to right), and how it was made."""

    path: Path
    people: tuple[str, ...]  # person names, left to right; () for pictures without a face
    how: str


FACE_PEOPLE: dict[str, tuple[_Photo, tuple[int, int, int, int]]] = {
    # person -> (photo, head-and-shoulders crop box around the face)
    "eileen_collins": (next(p for p in PHOTOS if p.category == "astronaut"), (118, 22, 328, 232)),
    "grace_hopper": (next(p for p in PHOTOS if p.category == "grace_hopper"), (40, 30, 500, 490)),
}
_NO_FACE = ("chelsea", "coffee", "rocket", "china")
_AUGMENT = ("original", "mirror", "crop", "dark", "bright", "jpeg15", "rotate8", "gray", "half", "huge")


def _augment(im: Image.Image, head: tuple[int, int, int, int], how: str) -> tuple[Image.Image, int]:
    """One augmented copy and the JPEG quality to store it at."""
    if how == "mirror":
        return ImageOps.mirror(im), 90
    if how == "crop":  # the head with a little of the rest, off-centre
        x0, y0, x1, y1 = head
        return im.crop((max(0, x0 - 20), max(0, y0 - 10), min(im.width, x1 + 40), min(im.height, y1 + 60))), 90
    if how == "dark":
        return ImageEnhance.Brightness(im).enhance(0.45), 90
    if how == "bright":
        return ImageEnhance.Brightness(im).enhance(1.5), 90
    if how == "jpeg15":
        return im, 15
    if how == "rotate8":
        return im.rotate(8, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(128, 128, 128)), 90
    if how == "gray":
        return ImageOps.grayscale(im), 90
    if how == "half":
        return im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS), 90
    if how == "huge":  # camera-sized: 6x upscale, ~9 MP
        return im.resize((im.width * 6, im.height * 6), Image.Resampling.BICUBIC), 90
    return im, 95


def _collage(tiles: list[Image.Image], columns: int, tile: int) -> Image.Image:
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * tile, rows * tile), (235, 235, 235))
    for i, im in enumerate(tiles):
        fitted = ImageOps.fit(im.convert("RGB"), (tile - 8, tile - 8), Image.Resampling.LANCZOS)
        sheet.paste(fitted, ((i % columns) * tile + 4, (i // columns) * tile + 4))
    return sheet


def write_face_set(dest: Path) -> list[FaceSample]:
    """Face test/benchmark set: each person in ten augmentations (mirror, crop, light, JPEG 15,
    rotation, grey, half and 6x size), group collages of both people's heads with other
    pictures, a 64-face sheet, and pictures without faces. Deterministic and idempotent."""
    people = {}
    for person, (photo, head) in FACE_PEOPLE.items():
        with Image.open(_photo_path(photo)) as src:
            people[person] = (src.convert("RGB"), head)
    others = {}
    for photo in PHOTOS:
        if photo.category in _NO_FACE:
            with Image.open(_photo_path(photo)) as src:
                others[photo.category] = src.convert("RGB")
    written: list[FaceSample] = []

    def put(name: str, im: Image.Image, who: tuple[str, ...], how: str, quality: int = 90) -> None:
        path = dest / name
        _write_if_changed(path, _encode(im, "JPEG", quality=quality))
        written.append(FaceSample(path, who, how))

    for person, (im, head) in people.items():
        for how in _AUGMENT:
            copy, quality = _augment(im, head, how)
            put(f"{person}/{how}.jpg", copy, (person,), how, quality)
    heads = {person: im.crop(head) for person, (im, head) in people.items()}
    eileen, grace = heads["eileen_collins"], heads["grace_hopper"]
    put("groups/pair.jpg", _collage([eileen, grace], 2, 320), ("eileen_collins", "grace_hopper"), "collage")
    put(
        "groups/with_others.jpg",
        _collage([others["coffee"], ImageOps.mirror(grace), others["chelsea"], eileen], 2, 300),
        ("grace_hopper", "eileen_collins"),
        "collage",
    )
    put(
        "groups/trio.jpg",
        _collage([ImageEnhance.Brightness(grace).enhance(0.7), eileen, ImageOps.mirror(eileen)], 3, 280),
        ("grace_hopper", "eileen_collins", "eileen_collins"),
        "collage",
    )
    crowd = [("eileen_collins", "grace_hopper")[(i + i // 8) % 2] for i in range(64)]  # a checkerboard
    put("groups/crowd64.jpg", _collage([heads[p] for p in crowd], 8, 200), tuple(crowd), "crowd")
    for name, im in others.items():
        put(f"no_face/{name}.jpg", im, (), "no face")
    return written


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


# --------------------------------------------------------------------------------------------
# Text: documents, receipts, slides, screenshots and captions on photos, with the words drawn
# (OCR tests and benchmarks). Fonts are Debian's (fonts-dejavu-core, fonts-liberation2,
# fonts-freefont-ttf); every random choice comes from a seeded generator.

TEXT_FONT_DIR = Path("/usr/share/fonts/truetype")
_FONT_PACKAGES = {"dejavu": "fonts-dejavu-core", "liberation2": "fonts-liberation2", "freefont": "fonts-freefont-ttf"}
TEXT_FONTS: tuple[str, ...] = (  # under TEXT_FONT_DIR: sans, serif and mono; regular, bold, italic
    "dejavu/DejaVuSans.ttf",
    "dejavu/DejaVuSerif.ttf",
    "dejavu/DejaVuSansMono.ttf",
    "dejavu/DejaVuSans-Bold.ttf",
    "dejavu/DejaVuSansCondensed.ttf",
    "liberation2/LiberationSans-Regular.ttf",
    "liberation2/LiberationSerif-Regular.ttf",
    "liberation2/LiberationMono-Regular.ttf",
    "liberation2/LiberationSans-Bold.ttf",
    "liberation2/LiberationSerif-Italic.ttf",
    "freefont/FreeSans.ttf",
    "freefont/FreeSerif.ttf",
    "freefont/FreeMono.ttf",
    "freefont/FreeSansBold.ttf",
)
TEXT_WORDS: tuple[str, ...] = tuple(
    """
    account address after again agreement airport album amount animal annual answer apple april archive
    area article august autumn avenue balance bank beach before below berlin between bicycle birthday black
    blue board book bottle bread breakfast bridge brother brown budget building business butter cafe
    calendar camera campus candle capital card carpet castle centre chair change cheese chicken children
    church city class clock coffee colour company concert contract corner cotton country cream credit cup
    customer daily december delivery dinner doctor document door dragon drawing during east easter engine
    evening example family february festival field final flower forest friday friend garden glass green
    guest harbour health history holiday hospital hotel house invoice island january journey july june
    kitchen language letter library light london lunch machine march market meeting menu message milk
    minute monday money month morning mountain museum music north notice november number ocean october
    office orange order paper paris parking passport payment people pepper phone picture planet please
    pocket post price project quality question quarter railway receipt record report restaurant river road
    room salad saturday school season second september service silver sister station street student summer
    sunday supper table teacher telephone theatre thursday ticket total tower town train travel tuesday
    university valley village visitor water wednesday weekend welcome west window winter yellow yesterday
    """.split()
)
TEXT_KINDS = ("clean", "noisy", "rotated", "photo", "scan", "screenshot")
_CAPTION_STYLES = ("outline", "band", "sign", "shadow", "watermark")
_CAPTION_PHOTOS = ("chelsea", "coffee", "rocket", "motorcycle", "grace_hopper", "china", "flower", "astronaut")


@dataclass(frozen=True)
class RenderedText:
    """A picture with text drawn on it: the lines, and where each one's ink is (image pixels)."""

    image: Image.Image
    lines: tuple[str, ...]
    boxes: tuple[Box, ...]

    @property
    def words(self) -> list[str]:
        return [word for line in self.lines for word in line.split()]


@dataclass(frozen=True)
class TextSample:
    """A written text-set image: the words drawn on it, and what kind of picture it is."""

    path: Path
    words: list[str]
    how: str
    lines: tuple[str, ...] = ()


def font_file(name: str) -> Path:
    """A font of TEXT_FONTS (or any path under TEXT_FONT_DIR) by its relative name."""
    path = TEXT_FONT_DIR / name
    if not path.is_file():
        package = _FONT_PACKAGES.get(name.split("/", 1)[0], "the font's package")
        raise SampleSourceMissing(f"font {path} not found: apt-get install {package}")
    return path


def render_document(
    lines: Sequence[str],
    font: Path | str,
    size: int,
    *,
    width: int | None = None,
    margin: int | None = None,
    spacing: float = 1.6,
    ink: tuple[int, int, int] = (25, 25, 25),
    paper: tuple[int, int, int] = (255, 255, 255),
) -> RenderedText:
    """Lines of text in one font, left-aligned on plain paper, `size` px (the font's em), one line
    every `spacing` x size. Width: the longest line plus margins unless given."""
    face = ImageFont.truetype(str(font), size)
    margin = round(size * 1.5) if margin is None else margin
    extents = [face.getbbox(line) for line in lines]
    widest = max((e[2] for e in extents), default=0)
    step = round(size * spacing)
    width = widest + 2 * margin if width is None else width
    height = 2 * margin + step * max(0, len(lines) - 1) + round(size * 1.3)
    image = Image.new("RGB", (max(1, width), max(1, height)), paper)
    draw = ImageDraw.Draw(image)
    boxes = []
    for i, (line, (left, top, right, bottom)) in enumerate(zip(lines, extents)):
        x, y = margin, margin + i * step
        draw.text((x, y), line, fill=ink, font=face)
        boxes.append((x + left, y + top, x + right, y + bottom))
    return RenderedText(image, tuple(lines), tuple(boxes))


def paste_text(canvas: Image.Image, text: RenderedText, where: tuple[int, int]) -> RenderedText:
    """`text` pasted onto a copy of `canvas` at `where` (its boxes moved along)."""
    image = canvas.convert("RGB")  # a copy
    image.paste(text.image, where)
    dx, dy = where
    return RenderedText(image, text.lines, tuple((x0 + dx, y0 + dy, x1 + dx, y1 + dy) for x0, y0, x1, y1 in text.boxes))


def _laid_out(
    size: tuple[int, int], background: tuple[int, int, int], parts: list[tuple[RenderedText, tuple[int, int]]]
) -> RenderedText:
    """Blocks of text pasted onto a new canvas, their lines and boxes in order."""
    image, lines, boxes = Image.new("RGB", size, background), (), ()
    for text, where in parts:
        placed = paste_text(image, text, where)
        image, lines, boxes = placed.image, lines + placed.lines, boxes + placed.boxes
    return RenderedText(image, lines, boxes)


def turn_text(text: RenderedText, degrees: int) -> RenderedText:
    """Turned counter-clockwise by 90, 180 or 270 degrees (a scan fed sideways or upside down)."""
    w, h = text.image.size
    turns = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}

    def box(b: Box) -> Box:
        x0, y0, x1, y1 = b
        if degrees == 90:
            return (y0, w - x1, y1, w - x0)
        if degrees == 180:
            return (w - x1, h - y1, w - x0, h - y0)
        return (h - y1, x0, h - y0, x1)

    if degrees not in turns:
        raise ValueError("degrees must be 90, 180 or 270")
    return RenderedText(text.image.transpose(turns[degrees]), text.lines, tuple(box(b) for b in text.boxes))


def skew_text(text: RenderedText, degrees: float, fill: tuple[int, int, int]) -> RenderedText:
    """Rotated by a small angle (counter-clockwise), canvas grown to fit; boxes bound the turned ones."""
    image = text.image.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=fill)
    w, h = text.image.size
    cos, sin = float(np.cos(np.radians(degrees))), float(np.sin(np.radians(degrees)))

    def moved(x: float, y: float) -> tuple[float, float]:
        x, y = x - w / 2, y - h / 2
        return (x * cos + y * sin + image.width / 2, -x * sin + y * cos + image.height / 2)

    boxes = []
    for x0, y0, x1, y1 in text.boxes:
        corners = [moved(x, y) for x in (x0, x1) for y in (y0, y1)]
        xs, ys = [c[0] for c in corners], [c[1] for c in corners]
        boxes.append((int(np.floor(min(xs))), int(np.floor(min(ys))), int(np.ceil(max(xs))), int(np.ceil(max(ys)))))
    return RenderedText(image, text.lines, tuple(boxes))


def degrade(image: Image.Image, seed: int, *, noise: float = 8.0, blur: float = 0.7, quality: int = 50) -> Image.Image:
    """A poor copy: Gaussian blur (radius px), grey Gaussian noise (sigma), then JPEG at `quality`."""
    if blur > 0:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    if noise > 0:
        rng = np.random.default_rng(seed)
        grain = rng.normal(0.0, noise, (image.height, image.width, 1))
        image = Image.fromarray(np.clip(np.asarray(image, dtype=np.float32) + grain, 0, 255).astype(np.uint8))
    with Image.open(io.BytesIO(_encode(image.convert("RGB"), "JPEG", quality=quality))) as jpeg:
        return jpeg.convert("RGB")


def text_over_photo(
    photo: Image.Image, lines: Sequence[str], font: Path | str, size: int, where: tuple[int, int], style: str
) -> RenderedText:
    """Lines written on a photo as people do: "outline" (white, black edge: memes, captions), "band"
    (white on a dark translucent strip), "sign" (dark on a light board), "shadow" (white with a drop
    shadow) or "watermark" (translucent white)."""
    image = photo.convert("RGB")
    draw = ImageDraw.Draw(image, "RGBA")
    face = ImageFont.truetype(str(font), size)
    extents = [face.getbbox(line) for line in lines]
    widest = max(e[2] for e in extents)
    step = round(size * 1.35)
    x, y = where
    if style == "band":
        draw.rectangle(
            (x - size // 2, y - size // 3, x + widest + size // 2, y + step * len(lines)), fill=(0, 0, 0, 150)
        )
    elif style == "sign":
        draw.rectangle(
            (x - size, y - size // 2, x + widest + size, y + step * len(lines) + size // 3),
            fill=(245, 240, 222, 255),
            outline=(70, 45, 25, 255),
            width=max(2, size // 8),
        )
    boxes = []
    for i, (line, (left, top, right, bottom)) in enumerate(zip(lines, extents)):
        at = (x, y + i * step)
        if style == "outline":
            draw.text(
                at,
                line,
                font=face,
                fill=(255, 255, 255, 255),
                stroke_width=max(1, size // 14),
                stroke_fill=(0, 0, 0, 255),
            )
        elif style == "sign":
            draw.text(at, line, font=face, fill=(30, 30, 30, 255))
        elif style == "shadow":
            offset = max(1, size // 16)
            draw.text((at[0] + offset, at[1] + offset), line, font=face, fill=(0, 0, 0, 200))
            draw.text(at, line, font=face, fill=(255, 255, 255, 255))
        elif style == "watermark":
            draw.text(
                at,
                line,
                font=face,
                fill=(255, 255, 255, 150),
                stroke_width=max(1, size // 20),
                stroke_fill=(0, 0, 0, 60),
            )
        else:  # "band", or plain white
            draw.text(at, line, font=face, fill=(255, 255, 255, 255))
        boxes.append((at[0] + left, at[1] + top, at[0] + right, at[1] + bottom))
    return RenderedText(image, tuple(lines), tuple(boxes))


def random_text_lines(rng: np.random.Generator, count: int, words: tuple[int, int] = (3, 7)) -> list[str]:
    """`count` lines of TEXT_WORDS (between words[0] and words[1] each), some capitalised, some
    with a number."""
    lines = []
    for _ in range(count):
        n = int(rng.integers(words[0], words[1] + 1))
        chosen = [str(rng.choice(TEXT_WORDS)) for _ in range(n)]
        if rng.random() < 0.3:
            chosen.insert(int(rng.integers(0, n + 1)), str(int(rng.integers(1, 10000))))
        if rng.random() < 0.5:
            chosen[0] = chosen[0].capitalize()
        lines.append(" ".join(chosen))
    return lines


def _photo_by_category(category: str) -> Image.Image:
    photo = next(p for p in PHOTOS if p.category == category)
    with Image.open(_photo_path(photo)) as src:
        return src.convert("RGB")


def text_image(kind: str, seed: int) -> RenderedText:
    """One random text picture of a kind of TEXT_KINDS (the same for the same seed):

    clean: a page of 4-11 lines in one of TEXT_FONTS at 14-40 px on white or tinted paper;
    noisy: such a page skewed up to 2 degrees, blurred, grainy and JPEG-compressed (quality 30-70);
    rotated: such a page turned 90, 180 or 270 degrees (seed % 3), lightly compressed;
    photo: 1-2 lines of 2-4 words on a real photo in one of the caption styles, 4-8 % of its height,
        every third one on the photo upscaled to 12 MP (4000 px wide);
    scan: an A4 page at 300 dpi (2480 x 3508), 10-20 lines at 34-50 px, lightly degraded;
    screenshot: a 1920 x 1080 screen with a window of 6-13 lines at 13-16 px.
    """
    rng = np.random.default_rng([seed, TEXT_KINDS.index(kind)])
    font = font_file(TEXT_FONTS[int(rng.integers(len(TEXT_FONTS)))])
    if kind == "photo":
        photo = _photo_by_category(_CAPTION_PHOTOS[seed % len(_CAPTION_PHOTOS)])
        if seed % 3 == 0:
            photo = photo.resize((4000, round(photo.height * 4000 / photo.width)), Image.Resampling.BICUBIC)
        size = max(12, round(photo.height * float(rng.uniform(0.04, 0.08))))
        lines = random_text_lines(rng, int(rng.integers(1, 3)), (2, 4))
        face = ImageFont.truetype(str(font), size)
        widest = max(face.getbbox(line)[2] for line in lines)
        while widest > photo.width - 2 * size and size > 12:  # too wide: smaller
            size = max(12, round(size * 0.85))
            face = ImageFont.truetype(str(font), size)
            widest = max(face.getbbox(line)[2] for line in lines)
        x = int(rng.integers(size, max(size + 1, photo.width - widest - size)))
        y = int(rng.integers(size, max(size + 1, round(photo.height - size * 1.4 * len(lines) - size))))
        return text_over_photo(photo, lines, font, size, (x, y), _CAPTION_STYLES[seed % len(_CAPTION_STYLES)])
    if kind == "scan":
        lines = random_text_lines(rng, int(rng.integers(10, 21)), (4, 8))
        page = render_document(lines, font, int(rng.integers(34, 51)), margin=8, paper=(250, 250, 246))
        scanned = paste_text(Image.new("RGB", (2480, 3508), (250, 250, 246)), page, (220, 300))
        return RenderedText(degrade(scanned.image, seed, noise=4, blur=0.6, quality=80), scanned.lines, scanned.boxes)
    if kind == "screenshot":
        lines = random_text_lines(rng, int(rng.integers(6, 14)), (2, 6))
        window = render_document(lines, font, int(rng.integers(13, 17)), margin=12, spacing=1.7, paper=(250, 250, 252))
        where = (int(rng.integers(20, 700)), int(rng.integers(40, 400)))
        return paste_text(Image.new("RGB", (1920, 1080), (228, 231, 236)), window, where)
    size = int(rng.integers(14, 41))
    r, g, b = (int(v) for v in rng.integers(228, 256, 3))
    paper = (r, g, b)
    r, g, b = (int(v) for v in rng.integers(0, 70, 3))
    page = render_document(random_text_lines(rng, int(rng.integers(4, 12))), font, size, paper=paper, ink=(r, g, b))
    if kind == "clean":
        return page
    if kind == "noisy":
        page = skew_text(page, float(rng.uniform(-2.0, 2.0)), paper)
        poor = degrade(
            page.image,
            seed,
            noise=float(rng.uniform(4, 12)),
            blur=float(rng.uniform(0.3, 1.0)),
            quality=int(rng.integers(30, 71)),
        )
        return RenderedText(poor, page.lines, page.boxes)
    if kind == "rotated":
        page = turn_text(page, (90, 180, 270)[seed % 3])
        return RenderedText(degrade(page.image, seed, noise=3, blur=0, quality=85), page.lines, page.boxes)
    raise ValueError(f"unknown text kind {kind!r}; one of {TEXT_KINDS}")


def _invoice() -> RenderedText:
    lines = [
        "Invoice number 0147",
        "Harbour Street Bakery, 12 Market Square, Bristol",
        "Date: 14 March 2023   Customer: Alice Martin",
        "2 x Sourdough bread          8.40",
        "1 x Birthday cake           32.00",
        "6 x Butter croissant         9.60",
        "Total due: 50.00 EUR",
        "Payment within 30 days. Thank you for your order!",
    ]
    body = render_document(lines, font_file("liberation2/LiberationSans-Regular.ttf"), 24, margin=0, spacing=1.9)
    title = render_document(["Invoice 2023"], font_file("liberation2/LiberationSans-Bold.ttf"), 56, margin=0)
    return _laid_out((1100, 900), (255, 255, 255), [(title, (90, 70)), (body, (90, 200))])


def _receipt(seed: int) -> RenderedText:
    lines = [
        "CORNER CAFE",
        "Espresso 2.20",
        "Cappuccino 3.10",
        "Apple cake 4.50",
        "Orange juice 3.80",
        "TOTAL 13.60",
        "Card payment",
        "Thank you, see you soon",
    ]
    slip = render_document(
        lines, font_file("dejavu/DejaVuSansMono.ttf"), 26, width=480, margin=40, paper=(244, 242, 236), ink=(40, 40, 48)
    )
    return RenderedText(degrade(slip.image, seed, noise=5, blur=0.5, quality=75), slip.lines, slip.boxes)


def _slide() -> RenderedText:
    title = render_document(
        ["Quarterly Report"],
        font_file("dejavu/DejaVuSans-Bold.ttf"),
        60,
        margin=0,
        ink=(255, 255, 255),
        paper=(20, 50, 110),
    )
    bullets = ["Sales grew in every region", "New office opened in Lisbon", "Customer satisfaction at record level"]
    body = render_document(
        bullets, font_file("dejavu/DejaVuSans.ttf"), 36, margin=0, spacing=1.8, ink=(230, 236, 250), paper=(20, 50, 110)
    )
    return _laid_out((1280, 720), (20, 50, 110), [(title, (90, 80)), (body, (110, 260))])


def _screenshot() -> RenderedText:
    menu = render_document(
        ["File Edit View Help"], font_file("dejavu/DejaVuSans.ttf"), 15, margin=0, paper=(235, 235, 238)
    )
    text = [
        "Meeting notes, Tuesday 9 May",
        "Budget review with the finance team",
        "Train tickets to Berlin are booked",
        "Remember to renew the passport before July",
    ]
    window = render_document(
        text, font_file("dejavu/DejaVuSans.ttf"), 16, margin=16, spacing=1.8, paper=(255, 255, 255)
    )
    return _laid_out((1280, 800), (235, 235, 238), [(menu, (12, 8)), (window, (160, 120))])


def _letter(seed: int) -> RenderedText:
    lines = [
        "Dear Mr Brown,",
        "thank you for your letter of 2 June about the museum visit.",
        "The guided tour starts at ten in the morning at the north entrance.",
        "Tickets for the school class are free; please bring the booking number.",
        "With kind regards, the visitor service",
    ]
    page = render_document(
        lines, font_file("liberation2/LiberationSerif-Regular.ttf"), 26, margin=70, paper=(252, 250, 244)
    )
    return RenderedText(degrade(page.image, seed, noise=6, blur=0.8, quality=55), page.lines, page.boxes)


def _rotated_scan(seed: int) -> RenderedText:
    lines = [
        "Railway timetable, summer season",
        "Departure 08:15 from Central Station",
        "Arrival 11:40 at the harbour",
        "Bicycles travel free on weekends",
    ]
    page = render_document(lines, font_file("freefont/FreeSerif.ttf"), 30, margin=60, paper=(250, 250, 250))
    turned = turn_text(page, 90)
    return RenderedText(degrade(turned.image, seed, noise=4, blur=0.4, quality=80), turned.lines, turned.boxes)


def _poster() -> RenderedText:
    lines = ["Summer Festival", "Saturday 14 July", "Free entry"]
    poster = render_document(
        lines,
        font_file("freefont/FreeSansBold.ttf"),
        64,
        margin=80,
        spacing=1.6,
        ink=(90, 20, 20),
        paper=(255, 214, 70),
    )
    return poster


def write_text_set(dest: Path) -> list[TextSample]:
    """A small set of pictures with known text: an invoice ("Invoice 2023"), a receipt, a slide, a
    screenshot, a letter (photocopy quality), a poster, a page scanned sideways (turned 90 degrees),
    and three photos with text (a caption on the coffee, a sign by the cat, a watermark on the
    rocket). Deterministic and idempotent."""
    dest = Path(dest)
    coffee, chelsea, rocket = (_photo_by_category(c) for c in ("coffee", "chelsea", "rocket"))
    made: list[tuple[str, RenderedText, str]] = [
        ("documents/invoice.png", _invoice(), "invoice"),
        ("documents/receipt.jpg", _receipt(1), "receipt"),
        ("documents/letter.jpg", _letter(2), "letter"),
        ("documents/timetable_scan.jpg", _rotated_scan(3), "rotated 90"),
        ("documents/poster.png", _poster(), "poster"),
        ("screens/slide.png", _slide(), "slide"),
        ("screens/screenshot.png", _screenshot(), "screenshot"),
        (
            "photos/coffee_caption.jpg",
            text_over_photo(
                coffee, ["Morning coffee in Lisbon"], font_file("dejavu/DejaVuSans-Bold.ttf"), 34, (60, 320), "outline"
            ),
            "caption",
        ),
        (
            "photos/cat_sign.jpg",
            text_over_photo(
                chelsea,
                ["Cat Cafe", "Open daily"],
                font_file("liberation2/LiberationSans-Bold.ttf"),
                26,
                (40, 30),
                "sign",
            ),
            "sign",
        ),
        (
            "photos/rocket_watermark.jpg",
            text_over_photo(
                rocket, ["Launch Day 1969"], font_file("dejavu/DejaVuSans-Bold.ttf"), 40, (40, 40), "watermark"
            ),
            "watermark",
        ),
    ]
    written = []
    for name, text, how in made:
        path = dest / name
        fmt = "PNG" if path.suffix == ".png" else "JPEG"
        data = _encode(text.image, fmt, compress_level=6) if fmt == "PNG" else _encode(text.image, fmt, quality=90)
        _write_if_changed(path, data)
        written.append(TextSample(path, text.words, how, text.lines))
    return written
