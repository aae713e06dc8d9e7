"""The text set: documents, receipts, slides, screenshots and captions on photos, with the words
drawn (OCR tests and benchmarks). Fonts are Debian's (fonts-dejavu-core, fonts-liberation2,
fonts-freefont-ttf); every random choice comes from a seeded generator."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from pixseek.demo.samples import PHOTOS, SampleSourceMissing, _encode, _photo_path, _write_if_changed
from pixseek.records import Box


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
