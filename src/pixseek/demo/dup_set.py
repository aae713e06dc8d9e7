"""The edited-copy set: real photos and the copies people's libraries fill up with, for measuring
near-duplicate grouping (bench/duplicates.py, tests/test_duplicates.py).

Each photo of the gallery (samples.PHOTOS) is written with its edited copies: resized (1/2, 1/4),
recompressed (JPEG quality 30, 60, 95), cropped (2, 5, 10 % off its sides), turned slightly (2°
and 4°, the blank corners cropped away), recoloured (brighter, more saturated, warmer), and a
burst-like neighbour (the frame moved by 3 %, a little brighter). All of these share the photo's
`group`. The distinct-but-similar pictures each have a group of their own: two neighbouring views
of each scene (the left and right 60 % of it, overlapping by a fifth), and Fashion-MNIST items of
one class (sneakers, shirts, ankle boots: the same kind of thing, shot the same way).
The stereo pair of motorcycles is left out: whether a second view a step to the side is a
"burst shot" (a duplicate) or another photo is a matter of taste, not a fact to measure against.
"""

from __future__ import annotations

import io
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageEnhance

from pixseek.demo.samples import (
    FASHION_CLASSES,
    PHOTOS,
    _first_per_class,
    _photo_path,
    _upscale,
    _write_if_changed,
    load_fashion_images,
    load_fashion_labels,
)

EDITS: tuple[str, ...] = (
    "resize50", "resize25", "jpeg30", "jpeg60", "jpeg95", "crop2", "crop5", "crop10",
    "rotate2", "rotate4", "bright", "saturate", "warm", "burst",
)  # fmt: skip
QUICK_EDITS: tuple[str, ...] = ("resize25", "jpeg30", "crop10", "rotate4", "warm", "burst")
_LEFT_OUT = frozenset({"motorcycle_right.png"})
_FASHION_KINDS = ("Sneaker", "Shirt", "Ankle boot")


@dataclass(frozen=True)
class EditedCopy:
    path: Path
    group: str  # pictures of one group are copies of one photo; different groups are different photos
    edit: str  # "original", one of EDITS, "left"/"right" (a neighbouring view), "fashion"


def edit(image: Image.Image, how: str) -> tuple[Image.Image, int]:
    """An edited copy of `image` and the JPEG quality to save it with."""
    w, h = image.size
    if how.startswith("resize"):
        scale = int(how[6:]) / 100
        return image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS), 90
    if how.startswith("jpeg"):
        return image, int(how[4:])
    if how.startswith("crop"):
        part = int(how[4:]) / 100  # of each dimension, taken more from the left/top than the right/bottom
        return image.crop((round(w * part * 0.6), round(h * part * 0.7), w - round(w * part * 0.4), h - round(h * part * 0.3))), 90
    if how.startswith("rotate"):
        degrees = int(how[6:])
        turned = image.rotate(degrees, Image.Resampling.BICUBIC, expand=False)
        margin = 0.5 * abs(math.sin(math.radians(degrees))) + 0.01  # crops the blank corners away
        return turned.crop((round(w * margin), round(h * margin), w - round(w * margin), h - round(h * margin))), 90
    if how == "bright":
        return ImageEnhance.Brightness(image).enhance(1.2), 90
    if how == "saturate":
        return ImageEnhance.Color(image).enhance(1.4), 90
    if how == "warm":
        r, g, b = image.split()
        return Image.merge("RGB", (r.point(lambda v: min(255, v + 18)), g, b.point(lambda v: max(0, v - 18)))), 90
    if how == "burst":
        # The next frame of a burst: the camera moved by 3 % (2 % down), the light a little brighter.
        dx, dy = round(w * 0.03), round(h * 0.02)
        moved = image.crop((dx, dy, w, h)).resize((w, h), Image.Resampling.BICUBIC)
        return ImageEnhance.Brightness(moved).enhance(1.05), 90
    if how in ("left", "right"):
        width = round(w * 0.6)
        return image.crop((0, 0, width, h) if how == "left" else (w - width, 0, w, h)), 90
    raise ValueError(f"unknown edit {how!r}")


def _jpeg(image: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def write_edited_copies(
    dest: Path, edits: Sequence[str] = EDITS, photos: int | None = None, fashion_per_kind: int = 8
) -> list[EditedCopy]:
    """Write the set under `dest` (idempotent); `photos`: only the first so many photos."""
    out: list[EditedCopy] = []
    chosen = [p for p in PHOTOS if Path(p.relpath).name not in _LEFT_OUT][:photos]
    for photo in chosen:
        source = _photo_path(photo)
        stem = source.stem
        original = dest / "photos" / source.name
        data = source.read_bytes()
        _write_if_changed(original, data)
        out.append(EditedCopy(original, stem, "original"))
        with Image.open(io.BytesIO(data)) as opened:
            image = opened.convert("RGB")
        for how in edits:
            path = dest / "copies" / f"{stem}_{how}.jpg"
            _write_if_changed(path, _jpeg(*edit(image, how)))
            out.append(EditedCopy(path, stem, how))
        for side in ("left", "right"):
            path = dest / "views" / f"{stem}_{side}.jpg"
            _write_if_changed(path, _jpeg(*edit(image, side)))
            out.append(EditedCopy(path, f"{stem}:{side}", side))
    if fashion_per_kind:
        labels = load_fashion_labels("train")
        chosen_ids = _first_per_class(labels, fashion_per_kind, len(FASHION_CLASSES), "Fashion-MNIST train")
        chosen_ids = [i for i in chosen_ids if FASHION_CLASSES[int(labels[i])] in _FASHION_KINDS]
        for i, pixels in zip(chosen_ids, load_fashion_images(chosen_ids, "train")):
            path = dest / "fashion" / f"fashion_{i:05d}.png"
            buf = io.BytesIO()
            _upscale(pixels, invert=True).save(buf, format="PNG", compress_level=1)
            _write_if_changed(path, buf.getvalue())
            out.append(EditedCopy(path, f"fashion:{i}", "fashion"))
    return out


def pair_scores(truth: dict[str, str], found: list[set[str]]) -> tuple[float, float]:
    """(precision, recall) over pairs of pictures: a pair is positive when both are in one group.
    `truth`: path -> group; `found`: the groups a grouping made (singletons may be left out)."""
    sizes = Counter(truth.values())
    true_pairs = sum(n * (n - 1) // 2 for n in sizes.values())
    found_pairs = hit = 0
    for members in found:
        members = [m for m in members if m in truth]
        found_pairs += len(members) * (len(members) - 1) // 2
        for same in Counter(truth[m] for m in members).values():
            hit += same * (same - 1) // 2
    precision = hit / found_pairs if found_pairs else 1.0
    recall = hit / true_pairs if true_pairs else 1.0
    return precision, recall
