"""Short videos encoded with PyAV from the real sample pictures, for video tests and benchmarks:
scenes shown for a few seconds each, slowly panning so consecutive frames differ as in a film.

`write_video` encodes any list of scenes; `write_video_set` writes the set the tests use: a
holiday clip (cat, then coffee, then the rocket), a clip with a title card of rendered text
(text_set's fonts), a clip with a face (face_set's Grace Hopper), and a corrupt file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from pixseek.demo.face_set import FACE_PEOPLE
from pixseek.demo.samples import PHOTOS, _photo_path
from pixseek.demo.text_set import font_file, render_document

TEXT_CARD_WORDS = ("SUMMER", "HOLIDAY", "LISBON")


@dataclass(frozen=True)
class Scene:
    image: Image.Image
    seconds: float


@dataclass(frozen=True)
class SampleVideo:
    path: Path
    scenes: tuple[tuple[str, float], ...]  # (what is shown, from which second)


def photo(category: str) -> Image.Image:
    found = next(p for p in PHOTOS if p.category == category)
    with Image.open(_photo_path(found)) as src:
        return src.convert("RGB")


def _covering(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`image` scaled to cover `size` with 5 % to spare (for the pan)."""
    scale = max(size[0] / image.width, size[1] / image.height) * 1.05
    return image.resize((max(size[0], round(image.width * scale)), max(size[1], round(image.height * scale))), Image.Resampling.BILINEAR)


def _panned(scaled: Image.Image, size: tuple[int, int], shift: float) -> Image.Image:
    """The `size` window of `scaled`, `shift` (0..1) of the way across its spare width."""
    x = round((scaled.width - size[0]) * shift)
    y = (scaled.height - size[1]) // 2
    return scaled.crop((x, y, x + size[0], y + size[1]))


def write_video(
    path: Path, scenes: Sequence[Scene], size: tuple[int, int] = (640, 360), fps: int = 12,
    codec: str = "libx264", gop: int | None = None, bit_rate: int | None = None, options: dict[str, str] | None = None,
) -> Path:
    """Encode the scenes (each panned slowly over its time) into `path` (container from the suffix)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    with av.open(str(tmp), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.gop_size = gop or fps * 2
        if bit_rate:
            stream.bit_rate = bit_rate
        if options is not None:
            stream.options = options
        elif codec == "libx264":
            stream.options = {"preset": "veryfast", "tune": "stillimage"}
        for scene in scenes:
            count = max(1, round(scene.seconds * fps))
            scaled = _covering(scene.image, size)
            for n in range(count):
                picture = _panned(scaled, size, n / max(1, count - 1))
                frame = av.VideoFrame.from_ndarray(np.asarray(picture), format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(path)
    return path


def text_card(size: tuple[int, int] = (640, 360)) -> Image.Image:
    card = render_document([" ".join(TEXT_CARD_WORDS[:2]), TEXT_CARD_WORDS[2]], font_file("dejavu/DejaVuSans-Bold.ttf"), 44)
    canvas = Image.new("RGB", size, (255, 255, 255))
    image = card.image if card.image.width <= size[0] else card.image.resize((size[0], round(card.image.height * size[0] / card.image.width)))
    canvas.paste(image, ((size[0] - image.width) // 2, (size[1] - image.height) // 2))
    return canvas


def face_picture() -> Image.Image:
    found, head = FACE_PEOPLE["grace_hopper"]
    with Image.open(_photo_path(found)) as src:
        return src.convert("RGB")


def write_video_set(dest: Path) -> dict[str, SampleVideo]:
    """holiday.mp4 (cat 0-4 s, coffee 4-8 s, rocket 8-12 s), titles.webm (the text card 0-3 s,
    then the coffee), portrait.mkv (Grace Hopper's portrait), broken.mp4 (holiday cut to a third,
    its header overwritten). Re-encoded only when missing."""
    out: dict[str, SampleVideo] = {}

    def put(name: str, scenes: list[tuple[str, Image.Image, float]], **kwargs) -> None:
        path = dest / name
        if not path.exists():
            write_video(path, [Scene(im, s) for _, im, s in scenes], **kwargs)
        starts, t = [], 0.0
        for what, _, seconds in scenes:
            starts.append((what, t))
            t += seconds
        out[name] = SampleVideo(path, tuple(starts))

    put("holiday.mp4", [("cat", photo("chelsea"), 4.0), ("coffee", photo("coffee"), 4.0), ("rocket", photo("rocket"), 4.0)])
    put("titles.webm", [("text", text_card(), 3.0), ("coffee", photo("coffee"), 3.0)], codec="libvpx-vp9", bit_rate=400_000, options={"deadline": "realtime", "cpu-used": "8"})
    put("portrait.mkv", [("face", face_picture(), 3.0)], size=(480, 640))
    broken = dest / "broken.mp4"
    if not broken.exists():
        data = (dest / "holiday.mp4").read_bytes()
        broken.write_bytes(b"\x00" * 64 + data[64 : len(data) // 3])
    out["broken.mp4"] = SampleVideo(broken, ())
    return out
