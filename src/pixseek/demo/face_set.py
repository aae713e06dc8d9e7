"""The face set: two real people from the packages (Eileen Collins, Grace Hopper), augmented
(crops, light, JPEG 15, rotation, grey, 1/2 and 6x size), in group collages, and pictures without
a face (face tests, bench/faces.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageEnhance, ImageOps

from pixseek.demo.samples import PHOTOS, _encode, _Photo, _photo_path, _write_if_changed


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
