"""Image characteristics the classifier does not give but people search for: dominant colours,
black-and-white, dark or bright exposure, screenshot, document, portrait / selfie / group photo,
panorama (the Dropbox "black-and-white, dark background, blue sky" kind of category).

Cheap by design (~1 ms CPU an image, bench/characteristics.py): computed from the small copy the classifier gets, the file's
metadata and what the face detector and OCR found, if they ran. The result is a weight 0..1 per
characteristic (records.CHARACTERISTICS, concept ids from records.CLASS_COUNT on), stored beside the
class probabilities in the same sparse row, so posting lists and `Σ weight × p` treat them alike;
a weight is the characteristic's strength, with roughly the meaning of a probability (>= 0.1 is a
match, DEFAULT_THRESHOLD of the engine).

Colours are read in CIE Lab (perceptual lightness L and chroma C): near-greys (C below
CHROMA_MIN) name no hue, black / white / grey are low-chroma pixels by lightness; hues are named by
their HSV angle (red, orange, yellow, green, blue, purple, pink: Lab crowds red, orange and brown
into 20-60 degrees, where the red motorcycle and the orange spacesuit of the sample photos fall
together), a dark or dull orange being brown, a light red pink and a dark magenta purple. A
colour's share is centre-weighted (the subject counts more than the edges) and leaves out the faces
(a face's skin is not what "orange" or "brown" asks for). Thresholds were
calibrated on the demo photos, their grey conversions and exposures, the rendered documents and
screenshots and the face set (tests/test_characteristics.py holds them as expectations).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from pixseek.records import CHARACTERISTIC_IDS, Face, ImageMeta, TextLine

CHARACTERISTICS_VERSION = "chars-1"  # a change in what is computed: stored analyses are redone

COLOUR_SIDE = 64  # colours and exposure are measured on a copy of about this size (longer side)
FLAT_SIDE = 256  # flatness (screens) on the classifier's copy, at most this size

# Colour naming (CIE Lab, D65).
CHROMA_MIN = 18.0  # below this a pixel names no hue (JPEG noise, greyish tints)
ACHROMATIC_MAX = 12.0  # below this a pixel is black, grey or white by its lightness
BLACK_MAX_L = 22.0  # darker than this is black whatever its chroma (hue is noise in the dark)
WHITE_MIN_L = 88.0
ORANGE_MIN_CHROMA = 45.0  # skin, tan and beige are orange-hued but nobody calls them orange
# HSV hue angle (degrees) ranges -> name.
HUES: tuple[tuple[str, float, float], ...] = (
    ("red", 345.0, 10.0),  # wraps through 0
    ("orange", 10.0, 42.0),  # sRGB orange is 39, the spacesuit ~17, brown (139,69,19) 25
    ("yellow", 42.0, 70.0),
    ("green", 70.0, 170.0),
    ("blue", 170.0, 260.0),  # cyan and teal count as blue
    ("purple", 260.0, 300.0),
    ("pink", 300.0, 345.0),  # magenta, hot pink (330); dark ones are purple
)
PINK_MIN_L = 72.0  # a light red is pink (pink 255,192,203: L 84)
PURPLE_MAX_L = 55.0  # a dark magenta is purple (128,0,128: L 30)
BROWN_MAX_L = 55.0  # a dark orange is brown (sRGB brown: L 37)
DULL_BROWN_MAX_L = 70.0  # ...and so is a dull one (tan, fur, wood) unless light (skin, beige)

COLOUR_MIN_SHARE = 0.06  # a hue named on less of the (centre-weighted) picture is not its colour
COLOUR_FULL_SHARE = 0.35  # ...and on this much it has weight 1
NEUTRAL_MIN_SHARE = 0.30  # black, white, grey: only when they dominate
NEUTRAL_FULL_SHARE = 0.70
CENTRE_WEIGHT = 0.6  # centre pixels count 1, the edges about 1 - CENTRE_WEIGHT

# Black and white: almost no pixel has chroma (a grey picture, a scan, an old photo).
MONO_CHROMA = 8.0
MONO_MAX_SHARE = 0.01  # pixels above MONO_CHROMA
# Exposure (L of the picture, 0..100).
DARK_MEAN_L = (32.0, 18.0)  # mean L at which "dark" starts (weight 0.1) and is full (1)
DARK_MAX_P75 = 45.0  # most of the picture must be dark, not just a black background
BRIGHT_MEAN_L = (78.0, 90.0)
BRIGHT_MIN_P10 = 45.0  # no real shadows
CLIPPED_L = 97.0  # blown highlights
BRIGHT_CLIPPED = (0.2, 0.45)  # share of blown highlights at which "bright" (overexposed) starts, is full
BRIGHT_CLIPPED_MIN_MEAN_L = 55.0
# A picture whose border is mostly blown white is a drawing, clip art or product shot on a white
# background, not an overexposed photo (on the dev set: 87 % of the light drawings, 97 % of the clip
# art; the overexposed sample photos 0.2-0.5).
WHITE_BACKGROUND_BORDER = 0.7
MONO_DOCUMENT_WEIGHT = 0.5  # a page or a screen is black and white too, but less what the words ask for

# Screenshots: lossless flat regions, no camera, the size of a screen.
SCREEN_MIN_FLAT = 0.45  # share of neighbouring pixel pairs exactly equal (photos: < 0.1)
SCREEN_ASPECTS = (16 / 9, 16 / 10, 4 / 3, 3 / 2, 19.5 / 9, 2.16, 20 / 9, 21 / 9, 5 / 4)
SCREEN_ASPECT_TOLERANCE = 0.02
SCREEN_MIN_SIDE = 480
# Documents: lines of text over much of a light, low-chroma page.
DOCUMENT_MIN_LINES = 3
DOCUMENT_MIN_PAPER = 0.45  # share of light (L > PAPER_MIN_L), low-chroma pixels
PAPER_MIN_L = 72.0
DOCUMENT_MIN_TEXT = 0.04  # share of the picture covered by text line boxes
# Faces (heights as a share of the picture's height).
PORTRAIT_MIN_FACE = 0.15  # the astronaut's official portrait: 0.176 (dlib's box is brows to chin)
PORTRAIT_FULL_FACE = 0.35
SELFIE_MIN_FACE = 0.42  # a face this large is close to the camera (an arm's length)
GROUP_MIN_FACES = 3
GROUP_MIN_FACE = 0.04  # faces smaller than this are background, not the group
FACE_MIN_SCORE = 0.5
# Panoramas: a wide (or tall) photo.
PANORAMA_MIN_ASPECT = 2.2
PANORAMA_MIN_SIDE = 300  # without camera metadata, a wide picture this small is no panorama
PANORAMA_FULL_ASPECT = 3.0


@dataclass(frozen=True)
class PixelStats:
    """What the pixels say, before naming (kept for tests and the bench)."""

    shares: dict[str, float]  # colour name -> centre-weighted share of the picture (faces left out)
    chromatic_share: float  # pixels with chroma above MONO_CHROMA
    mean_l: float
    p10_l: float
    p75_l: float
    paper_share: float  # light, low-chroma pixels
    clipped_share: float  # blown highlights (L >= CLIPPED_L)
    border_white: float  # share of the outermost pixels that are blown highlights
    flat_share: float  # neighbouring pixel pairs exactly equal (0 unless wide or screen-sized)


def describe(
    image: Image.Image,
    meta: ImageMeta,
    faces: list[Face] | None = None,
    texts: list[TextLine] | None = None,
) -> dict[int, float]:
    """Characteristic concept id -> weight (0..1] for one picture; absent ones are left out.

    `image` is an RGB copy of the picture (any size; the classifier's 256-px copy is what the
    pipeline passes), `meta` the file's size and EXIF, `faces` and `texts` what the analyzers found
    (None: not looked for, which leaves the face and document characteristics out)."""
    return named(pixel_stats(image, meta, faces), meta, faces, texts)


def named(
    stats: PixelStats, meta: ImageMeta, faces: list[Face] | None, texts: list[TextLine] | None
) -> dict[int, float]:
    out: dict[str, float] = {}
    mono = stats.chromatic_share <= MONO_MAX_SHARE
    if mono:
        out["black and white"] = 1.0
    for name, share in stats.shares.items():
        neutral = name in ("black", "white", "grey")
        low, full = (NEUTRAL_MIN_SHARE, NEUTRAL_FULL_SHARE) if neutral else (COLOUR_MIN_SHARE, COLOUR_FULL_SHARE)
        if share >= low and not (mono and not neutral):
            out[name] = min(1.0, share / full)
    if stats.mean_l <= DARK_MEAN_L[0] and stats.p75_l <= DARK_MAX_P75:
        out["dark"] = _ramp(stats.mean_l, *DARK_MEAN_L)
    document = _document(stats, meta, texts)
    if document:
        out["document"] = document
    screenshot = _screenshot(stats, meta, texts)
    if screenshot:
        out["screenshot"] = screenshot
    if mono and (document or screenshot):
        out["black and white"] = MONO_DOCUMENT_WEIGHT
    if not (mono or document or screenshot):  # a white page or screen is no overexposed photo
        bright = _bright(stats)
        if bright:
            out["bright"] = bright
    out.update(_people(meta, faces))
    if not (document or screenshot):
        panorama = _panorama(stats, meta)
        if panorama:
            out["panorama"] = panorama
    return {CHARACTERISTIC_IDS[name]: round(float(w), 4) for name, w in out.items() if w > 0}


def pixel_stats(image: Image.Image, meta: ImageMeta, faces: list[Face] | None = None) -> PixelStats:
    small = _at_most(image, COLOUR_SIDE)
    rgb = np.asarray(small.convert("RGB"), dtype=np.uint8)
    lab_l, chroma = _lab_lc(rgb)
    height, width = lab_l.shape
    weight = _centre_weights(height, width)
    if faces:
        weight = weight * ~_face_mask(faces, meta, height, width)
    names = _colour_names(lab_l, chroma, _hsv_hue(rgb))
    by_name = np.bincount(names.ravel(), weights=weight.ravel(), minlength=len(_NAMES))
    by_name = by_name / max(float(by_name.sum()), 1e-9)
    lightness = np.bincount(np.clip(lab_l, 0, 100).astype(np.int32).ravel(), minlength=101).cumsum()
    p10, p75 = (int(np.searchsorted(lightness, q * lightness[-1])) for q in (0.10, 0.75))
    return PixelStats(
        shares={name: round(float(by_name[k]), 4) for k, name in enumerate(_NAMES) if name and by_name[k] > 0},
        chromatic_share=float((chroma > MONO_CHROMA).mean()),
        mean_l=float(lab_l.mean()),
        p10_l=float(p10),
        p75_l=float(p75),
        paper_share=float(((lab_l > PAPER_MIN_L) & (chroma < ACHROMATIC_MAX)).mean()),
        clipped_share=float((lab_l >= CLIPPED_L).mean()),
        border_white=float((np.concatenate([lab_l[0], lab_l[-1], lab_l[1:-1, 0], lab_l[1:-1, -1]]) >= CLIPPED_L).mean()),
        # Flatness tells screens and graphics from photos; only wide or screen-sized pictures need it.
        flat_share=_flat_share(image) if _may_be_screen_or_wide(meta) else 0.0,
    )


def _flat_share(image: Image.Image) -> float:
    """Share of neighbouring pixel pairs exactly equal, on a copy of at most FLAT_SIDE."""
    flat = np.asarray(_at_most(image, FLAT_SIDE).convert("RGB"), dtype=np.int32)
    packed = (flat[..., 0] << 16) | (flat[..., 1] << 8) | flat[..., 2]  # one int a pixel: fast compares
    equal_x = packed[:, 1:] == packed[:, :-1]
    equal_y = packed[1:] == packed[:-1]
    pairs = equal_x.size + equal_y.size
    return float(equal_x.sum() + equal_y.sum()) / pairs if pairs else 0.0


def _may_be_screen_or_wide(meta: ImageMeta) -> bool:
    long_side, short_side = max(meta.width, meta.height), min(meta.width, meta.height)
    aspect = long_side / max(1, short_side)
    return aspect >= PANORAMA_MIN_ASPECT or _screen_like(meta)


def _screen_like(meta: ImageMeta) -> bool:
    """No camera, and the size of a screen (desktop or phone, either way round)."""
    if meta.camera_make or meta.camera_model:
        return False
    long_side, short_side = max(meta.width, meta.height), min(meta.width, meta.height)
    aspect = long_side / max(1, short_side)
    return short_side >= SCREEN_MIN_SIDE and any(abs(aspect - a) <= SCREEN_ASPECT_TOLERANCE * a for a in SCREEN_ASPECTS)


# ---- colours ---------------------------------------------------------------------------------

_NAMES: tuple[str | None, ...] = (
    None, "black", "grey", "white", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown",
)  # fmt: skip
_CODE = {name: k for k, name in enumerate(_NAMES) if name is not None}

# sRGB byte -> linear light
_LINEAR = np.array(
    [(v / 255) / 12.92 if v <= 10 else ((v / 255 + 0.055) / 1.055) ** 2.4 for v in range(256)], dtype=np.float32
)
_RGB_TO_XYZ = np.array(
    [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]], dtype=np.float32
)
_WHITE = np.array([0.95047, 1.0, 1.08883], dtype=np.float32)


def _lab_lc(rgb: NDArray[np.uint8]) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """CIE L* (0..100) and chroma C*ab per pixel."""
    xyz = (_LINEAR[rgb] @ _RGB_TO_XYZ.T) / _WHITE
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    lab_l = 116 * f[..., 1] - 16
    a = 500 * (f[..., 0] - f[..., 1])
    b = 200 * (f[..., 1] - f[..., 2])
    return lab_l, np.hypot(a, b)


def _hsv_hue(rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    """HSV hue angle (degrees, 0..360) per pixel; 0 for greys."""
    c = rgb.astype(np.float32)
    r, g, b = c[..., 0], c[..., 1], c[..., 2]
    high, low = np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)
    span = np.maximum(high - low, 1e-6)
    hue = np.where(high == r, (g - b) / span % 6, np.where(high == g, (b - r) / span + 2, (r - g) / span + 4))
    return (hue * 60.0).astype(np.float32)


def _colour_names(lab_l: NDArray[np.float32], chroma: NDArray[np.float32], hue: NDArray[np.float32]) -> NDArray[np.int8]:
    """A colour code (_NAMES) per pixel; 0 for near-greys between neutral and chromatic."""
    names = np.zeros(lab_l.shape, dtype=np.int8)
    neutral = chroma < ACHROMATIC_MAX
    names[neutral] = _CODE["grey"]
    names[neutral & (lab_l >= WHITE_MIN_L)] = _CODE["white"]
    chromatic = chroma >= CHROMA_MIN
    for name, start, end in HUES:
        inside = (hue >= start) | (hue < end) if start > end else (hue >= start) & (hue < end)
        names[chromatic & inside] = _CODE[name]
    orange = names == _CODE["orange"]
    dull = chroma < ORANGE_MIN_CHROMA
    names[orange & dull] = 0  # skin, beige: orange-hued, but nobody calls them orange
    names[orange & ((lab_l < BROWN_MAX_L) | (dull & (lab_l < DULL_BROWN_MAX_L)))] = _CODE["brown"]
    names[(names == _CODE["red"]) & (lab_l >= PINK_MIN_L)] = _CODE["pink"]
    names[(names == _CODE["pink"]) & (lab_l < PURPLE_MAX_L)] = _CODE["purple"]
    names[lab_l < BLACK_MAX_L] = _CODE["black"]
    return names


def _centre_weights(height: int, width: int) -> NDArray[np.float32]:
    y = (np.arange(height, dtype=np.float32) + 0.5) / height * 2 - 1
    x = (np.arange(width, dtype=np.float32) + 0.5) / width * 2 - 1
    r2 = y[:, None] ** 2 + x[None, :] ** 2
    return (1 - CENTRE_WEIGHT) + CENTRE_WEIGHT * np.exp(-r2 / 0.5)


def _face_mask(faces: list[Face], meta: ImageMeta, height: int, width: int) -> NDArray[np.bool_]:
    mask = np.zeros((height, width), dtype=bool)
    sx, sy = width / max(1, meta.width), height / max(1, meta.height)
    for face in faces:
        x0, y0, x1, y1 = face.box
        mask[max(0, int(y0 * sy)) : int(np.ceil(y1 * sy)), max(0, int(x0 * sx)) : int(np.ceil(x1 * sx))] = True
    return mask


# ---- kinds of picture --------------------------------------------------------------------------


def _document(stats: PixelStats, meta: ImageMeta, texts: list[TextLine] | None) -> float:
    if not texts or len(texts) < DOCUMENT_MIN_LINES or stats.paper_share < DOCUMENT_MIN_PAPER:
        return 0.0
    area = sum(max(0, x1 - x0) * max(0, y1 - y0) for x0, y0, x1, y1 in (t.box for t in texts))
    coverage = area / max(1, meta.width * meta.height)
    if coverage < DOCUMENT_MIN_TEXT:
        return 0.0
    return min(1.0, 0.5 + coverage * 2) * min(1.0, stats.paper_share / 0.7)


def _screenshot(stats: PixelStats, meta: ImageMeta, texts: list[TextLine] | None) -> float:
    if stats.flat_share < SCREEN_MIN_FLAT or not _screen_like(meta):
        return 0.0
    score = 0.5 + 0.5 * min(1.0, (stats.flat_share - SCREEN_MIN_FLAT) / 0.3)
    if meta.format not in ("PNG", "WEBP", "BMP", "GIF", "TIFF"):
        score *= 0.7  # screens are mostly saved lossless
    if texts is not None and len(texts) >= 2:
        score = min(1.0, score + 0.2)
    return score


def _people(meta: ImageMeta, faces: list[Face] | None) -> dict[str, float]:
    if not faces:
        return {}
    heights = sorted(((f.box[3] - f.box[1]) / max(1, meta.height) for f in faces if f.score >= FACE_MIN_SCORE), reverse=True)
    seen = [h for h in heights if h >= GROUP_MIN_FACE]
    out: dict[str, float] = {}
    if len(seen) >= GROUP_MIN_FACES:
        out["group photo"] = min(1.0, 0.4 + 0.15 * len(seen))
    elif seen and seen[0] >= PORTRAIT_MIN_FACE and (len(seen) == 1 or seen[1] < 0.5 * seen[0]):
        out["portrait"] = _ramp(seen[0], PORTRAIT_MIN_FACE, PORTRAIT_FULL_FACE, low=0.3)
        if seen[0] >= SELFIE_MIN_FACE:
            out["selfie"] = 0.5 * _ramp(seen[0], SELFIE_MIN_FACE, 0.6)  # a guess: an arm's length
    return out


def _bright(stats: PixelStats) -> float:
    """Light all over, or with much of it blown out (an overexposed photo keeps its dark parts)."""
    if stats.border_white >= WHITE_BACKGROUND_BORDER:
        return 0.0
    by_mean = by_clipping = 0.0
    if stats.mean_l >= BRIGHT_MEAN_L[0] and stats.p10_l >= BRIGHT_MIN_P10:
        by_mean = _ramp(stats.mean_l, *BRIGHT_MEAN_L)
    if stats.clipped_share >= BRIGHT_CLIPPED[0] and stats.mean_l >= BRIGHT_CLIPPED_MIN_MEAN_L:
        by_clipping = _ramp(stats.clipped_share, *BRIGHT_CLIPPED, low=0.3)
    return max(by_mean, by_clipping)


def _panorama(stats: PixelStats, meta: ImageMeta) -> float:
    aspect = max(meta.width, meta.height) / max(1, min(meta.width, meta.height))
    if aspect < PANORAMA_MIN_ASPECT or stats.flat_share >= SCREEN_MIN_FLAT:  # a banner, a strip of UI
        return 0.0
    if min(meta.width, meta.height) < PANORAMA_MIN_SIDE and not meta.camera_model:
        return 0.0  # a strip: a scanned line of text, a banner, a collage of thumbnails
    return _ramp(aspect, PANORAMA_MIN_ASPECT, PANORAMA_FULL_ASPECT, low=0.5)


def _ramp(value: float, start: float, full: float, low: float = 0.1) -> float:
    """`low` at `start`, 1 at `full` (either direction), linear between, clipped."""
    t = (value - start) / (full - start)
    return float(np.clip(low + (1 - low) * t, low, 1.0))


def _at_most(image: Image.Image, side: int) -> Image.Image:
    factor = max(image.size) // side
    return image.reduce(factor) if factor > 1 else image
