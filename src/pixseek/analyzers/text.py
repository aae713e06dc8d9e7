"""Text in pictures (OCR) with PP-OCRv4 on ONNX Runtime: is there text at all, where are the lines,
which way up are they, what do they say.

1. Presence: the DB text detector on a copy whose longer side is PRESENCE_SIDE (~18 ms on one core).
   Pictures that look like a page or a screen (mostly one light or one flat dark tone) skip it, since
   their text is often too small for it, and go straight to detection.
2. Detection: DB on a copy whose longer side is `detect_side`. If the longest lines, read first, have
   letters under MIN_PITCH px there (a desktop screenshot at half size: the boxes are then too loose
   to cut well), once more on a larger copy.
3. Orientation: lines taller than wide are turned a quarter; whether a group of lines is upside down
   is voted by the 0/180 classifier over its longest lines (~10 ms a picture; pages turned 90, 180 or
   270 degrees).
4. Recognition: each line cut from a copy where it is at least REC_SOURCE_HEIGHT px high (a larger
   decode through `load_at_least` for small text in a big picture), CTC-decoded keeping word gaps.

Models and the DB post-processing come from the `rapidocr-onnxruntime` wheel (no downloads); its
pipeline object is not used: it cannot skip pictures without text nor cut lines from a finer decode.
The figures behind the constants come from bench/ocr.py and the measurements quoted beside them.
"""

from __future__ import annotations

import importlib.util
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from pixseek.records import TextLine

OCR_MODEL_VERSION = "ppocrv4-1"
# Longer side of the detection copy. 736 loses desktop screenshots (recall 0.68: too small to read
# even the pitch); 1280 costs 20-30 % more on 12 MP photos and scans for the same recall.
DETECT_SIDE = 960
# Longer side of the presence probe: it finds 95 % of the captions on photos (4-8 % of the height; the
# misses: translucent watermarks on light ground) at 18 ms CPU, and lets 1 of 180 photos without text
# through; 256: 70 % at 12.5 ms; 384: 95 % at 25 ms; 448: 97.5 % at 31 ms, 5 of 180 through (bench/ocr.py).
PRESENCE_SIDE = 320
MAX_DETECT_SIDE = 2048  # small-text re-detection never looks at more than this
MIN_SCORE = 0.5  # recogniser confidence under which a line is dropped (rapidocr's text_score)
MAX_LINES = 300  # per picture, the most confident detections: bounds the time a dense page takes
REC_HEIGHT = 48  # the recogniser's input height
REC_SOURCE_HEIGHT = 32  # lines are cut from a copy where they are at least this high (24-48: same recall)
_MAX_CROP_WIDTH = 4800  # px at REC_HEIGHT (100 x the height); longer lines are squeezed
# px per character at detection under which the boxes are too loose: detect larger. Screenshots with
# 13-16 px letters at half size measure 3.1-5.0 (recall 0.87 there, 0.99 at full size); 300 dpi scans
# at 960 px 7.8-14 (recall 0.998 already).
MIN_PITCH = 5.0
_LEGIBLE_PITCH = 7.0  # ... at the size that makes the pitch this
_PITCH_LINES = 3  # the longest lines, read first to measure the pitch
# A gap between two characters whose space probability exceeds this is a space. Word recall on noisy
# pages: 0.846 without (greedy CTC), 0.971 at 0.2, 0.993 at 0.1, 0.994 at 0.05 (precision 0.995 vs 0.988).
_SPACE_PROB = 0.1
# Looks like a page: half the picture within +-8 levels of one light tone (>= 160: paper, screens) or,
# for a dark tone (<= 60: dark-mode screens), 70 % within +-1 level (flat digital colour; a night sky
# or a galaxy photo is grainy: 0.51-0.55 there).
_PAGE_LIGHT, _PAGE_LIGHT_SHARE = 160, 0.5
_PAGE_DARK, _PAGE_DARK_SHARE = 60, 0.7
_VERTICAL = 1.5  # a line this many times taller than wide is turned a quarter before reading
_VOTE_LINES = 6  # longest lines of a group whose orientation the classifier votes on
_CLS_SHAPE = (48, 192)  # the orientation classifier's input (height, width)
_MIN_SIDE = 4  # smaller pictures hold no text


class OcrModelsMissing(RuntimeError):
    """rapidocr-onnxruntime (which carries the models) or OpenCV is not installed."""


def _package_dir() -> Path:
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None or spec.origin is None:
        raise OcrModelsMissing("OCR models not installed: pip install --no-deps rapidocr-onnxruntime==1.4.4")
    return Path(spec.origin).parent


def model_config() -> dict[str, Any]:
    """The wheel's config.yaml with absolute model paths ("Det", "Cls", "Rec" sections)."""
    import yaml

    package = _package_dir()
    with open(package / "config.yaml", "rb") as fh:
        config = yaml.safe_load(fh)
    for part in ("Det", "Cls", "Rec"):
        path = package / config[part]["model_path"]
        if not path.is_file():
            raise OcrModelsMissing(f"OCR model file missing: {path}")
        config[part]["model_path"] = path
    return config


LoadAtLeast = Callable[[int], Image.Image]
Quad = NDArray[np.float32]  # 4 x 2: top-left, top-right, bottom-right, bottom-left (x, y)


@dataclass
class _Line:
    quad: Quad  # in the original picture's pixels
    score: float  # detector's
    vertical: bool = False
    flipped: bool = False  # upside down: read turned 180 degrees

    @property
    def width(self) -> float:
        q = self.quad
        return float(max(np.linalg.norm(q[0] - q[1]), np.linalg.norm(q[3] - q[2])))

    @property
    def height(self) -> float:
        q = self.quad
        return float(max(np.linalg.norm(q[0] - q[3]), np.linalg.norm(q[1] - q[2])))

    @property
    def length(self) -> float:
        """Length of the line, whichever way it runs."""
        return max(self.width, self.height)

    @property
    def text_height(self) -> float:
        """Height of the writing, whichever way the line runs."""
        return min(self.width, self.height)

    @property
    def turns(self) -> int:
        """Quarter turns (counter-clockwise) that make the line upright."""
        return (1 if self.vertical else 0) + (2 if self.flipped else 0)


class TextReader:
    """The OCR models of one process. Build it inside the process that uses it (never fork after).
    `read` keeps no state between calls."""

    version = OCR_MODEL_VERSION

    def __init__(self, detect_side: int = DETECT_SIDE, threads: int = 1, presence_side: int = PRESENCE_SIDE) -> None:
        try:
            import cv2
            import onnxruntime as ort
            from rapidocr_onnxruntime.ch_ppocr_det.utils import DBPostProcess
        except ImportError as exc:
            raise OcrModelsMissing(f"OCR needs rapidocr-onnxruntime and opencv-python-headless: {exc}") from None
        config = model_config()
        self.detect_side = detect_side
        self.presence_side = presence_side
        self._cv2 = cv2

        def session(part: str) -> Any:
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            # Spinning threads steal the other worker's core on a 2-core box (FACTS.md).
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            return ort.InferenceSession(
                str(config[part]["model_path"]), sess_options=options, providers=["CPUExecutionProvider"]
            )

        self._det, self._cls, self._rec = session("Det"), session("Cls"), session("Rec")
        self._shrink = ort.RunOptions()
        self._shrink.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        det = config["Det"]
        self._db = DBPostProcess(
            thresh=det["thresh"],
            box_thresh=det["box_thresh"],
            max_candidates=det["max_candidates"],
            unclip_ratio=det["unclip_ratio"],
            use_dilation=det["use_dilation"],
            score_mode=det["score_mode"],
        )
        # CTC classes: blank, the model's characters, then the space (as PaddleOCR appends it).
        characters = self._rec.get_modelmeta().custom_metadata_map["character"].splitlines()
        self._chars = ["", *characters, " "]
        self._space = len(self._chars) - 1

    @property
    def decode_side(self) -> int:
        """Shorter side a decoded picture needs for the presence probe (4:3 pictures fill it). Pictures
        with text are decoded again, larger, through `load_at_least`."""
        return math.ceil(self.presence_side * 3 / 4)

    # ---- the pipeline ---------------------------------------------------------------------------
    def read(
        self,
        image: Image.Image,
        size: tuple[int, int],
        load_at_least: LoadAtLeast,
        timings: dict[str, float] | None = None,
    ) -> list[TextLine]:
        """Lines of text in `image` (a possibly reduced copy of a picture of `size`), in reading order,
        with boxes in the original's pixels."""
        timings = timings if timings is not None else {}
        if min(size) < _MIN_SIDE or min(image.size) < 1:
            return []
        clock = _Clock(timings, load_at_least)
        image = _rgb(image)
        found = looks_like_page(image) or self.has_text(image)
        clock.lap("ocr_presence")
        if not found:
            return []
        lines, copy = self._find_lines(image, size, self.detect_side, clock.load)
        clock.lap("ocr_detect")
        if not lines:
            return []
        crops = self._prepare(lines, copy, size, clock.load)
        # The longest lines first: if their letters come out too small at the detection copy's scale
        # (its boxes are then too loose to cut well: a screenshot at half size), detect again larger.
        sample = sorted(range(len(lines)), key=lambda i: -crops[i].shape[1])[:_PITCH_LINES]
        first = {i: self._read_crop(crops[i]) for i in sample}
        scale = copy.width / size[0]
        pitch = _pitch([(lines[i], *first[i]) for i in sample], scale)
        clock.lap("ocr_recognise")
        if pitch is not None and pitch < MIN_PITCH and scale < 1.0:
            side = min(max(size), MAX_DETECT_SIDE, round(max(copy.size) * _LEGIBLE_PITCH / pitch))
            if side >= 1.25 * max(copy.size):
                closer, copy = self._find_lines(image, size, side, clock.load)
                clock.lap("ocr_detect")
                if closer:
                    lines, first = closer, {}
                    crops = self._prepare(lines, copy, size, clock.load)
        read = [(line, *(first[i] if i in first else self._read_crop(crops[i]))) for i, line in enumerate(lines)]
        # Lines without a letter or digit ("★★" on a flag, "---") are no use to a search.
        kept = [
            (line, " ".join(text.split()), score)
            for line, text, score in read
            if score >= MIN_SCORE and any(ch.isalnum() for ch in text)
        ]
        out = [
            TextLine(text, round(score, 4), _bounds(line.quad, size))
            for line, text, score in _reading_order(kept, size)
        ]
        clock.lap("ocr_recognise")
        return out

    def has_text(self, image: Image.Image) -> bool:
        """The presence probe: does the detector find anything on a `presence_side` copy?"""
        return bool(self._detect(_rgb(image), self.presence_side)[0])

    def _find_lines(
        self, image: Image.Image, size: tuple[int, int], side: int, load: LoadAtLeast
    ) -> tuple[list[_Line], Image.Image]:
        """Text lines (original pixels) found on a copy whose longer side is `side` (or the original's)
        and that copy."""
        copy = _at_side(image, size, side, load)
        quads, scores = self._detect(copy, side)
        scale = np.array([copy.width / size[0], copy.height / size[1]], dtype=np.float32)
        lines = [_Line(q / scale, s) for q, s in zip(quads, scores)]
        if len(lines) > MAX_LINES:
            lines = sorted(lines, key=lambda line: -line.score)[:MAX_LINES]
        return lines, copy

    def _detect(self, image: Image.Image, side: int) -> tuple[list[Quad], list[float]]:
        """DB text regions on `image` scaled to `side` (never up), in `image`'s pixels."""
        w, h = image.size
        scale = min(1.0, side / max(w, h))
        # The network wants multiples of 32; PaddleOCR stretches to them, so do we (< 5 % at 320).
        net_w, net_h = (max(32, round(v * scale / 32) * 32) for v in (w, h))
        pixels = np.asarray(image.resize((net_w, net_h), Image.Resampling.BILINEAR, reducing_gap=2.0))
        x = (pixels.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]
        # ONNX Runtime keeps the memory of the largest input it saw: ~300 MB at 960, 1 GB at 2048.
        # Runs beyond the default side (small-text re-detection) hand theirs back.
        shrink = self._shrink if max(net_w, net_h) > self.detect_side + 32 else None
        prediction = self._det.run(None, {self._det.get_inputs()[0].name: x}, shrink)[0]
        boxes, scores = self._db(prediction, (h, w))
        quads, kept = [], []
        for box, score in zip(boxes, scores):
            quad = box.astype(np.float32)
            if min(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[0] - quad[3])) > 3:
                quads.append(quad)
                kept.append(float(score))
        return quads, kept

    def _prepare(
        self, lines: list[_Line], detect_copy: Image.Image, size: tuple[int, int], load: LoadAtLeast
    ) -> list[NDArray[np.uint8]]:
        """Each line cut out upright, REC_HEIGHT high, from a copy where the smallest line is at least
        REC_SOURCE_HEIGHT high (or the original): the detection copy when that is detailed enough."""
        smallest = min(line.text_height for line in lines)
        source = _at_scale(detect_copy, size, min(1.0, REC_SOURCE_HEIGHT / max(smallest, 1.0)), load)
        pixels = np.asarray(source)
        scale = np.array([source.width / size[0], source.height / size[1]], dtype=np.float32)
        _orient(lines)
        crops = [self._crop(pixels, line.quad * scale, line.vertical) for line in lines]
        self._vote_flips(lines, crops)
        return [np.ascontiguousarray(crop[::-1, ::-1]) if line.flipped else crop for line, crop in zip(lines, crops)]

    # ---- crops, orientation, recognition --------------------------------------------------------
    def _crop(self, pixels: NDArray[np.uint8], quad: Quad, vertical: bool) -> NDArray[np.uint8]:
        """The line straightened to REC_HEIGHT pixels high (turned a quarter when vertical). Small text
        is enlarged in the warp itself, bicubic: after a bilinear enlargement from 16-28 px the
        recogniser drops word gaps (recall 0.60-0.89 vs 0.99)."""
        cv2 = self._cv2
        width = max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[3] - quad[2]))
        height = max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2]))
        across = width if vertical else height
        zoom = max(1.0, REC_HEIGHT / max(across, 1.0))
        out_w, out_h = max(1, round(width * zoom)), max(1, round(height * zoom))
        # A long line of small print would be warped to (length x zoom) first: squeeze it in the warp
        # to what the final resize keeps (_MAX_CROP_WIDTH at REC_HEIGHT), so the warp is bounded too.
        across_out = out_w if vertical else out_h
        longest = _MAX_CROP_WIDTH * max(across_out, REC_HEIGHT) // REC_HEIGHT
        if vertical:
            out_h = min(out_h, longest)
        else:
            out_w = min(out_w, longest)
        target = np.array([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]], dtype=np.float32)
        matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
        crop = cv2.warpPerspective(
            pixels, matrix, (out_w, out_h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
        )
        if vertical:
            crop = np.rot90(crop)  # counter-clockwise; the vote decides whether it is upside down
        h, w = crop.shape[:2]
        if h != REC_HEIGHT or w > _MAX_CROP_WIDTH:
            new_w = min(_MAX_CROP_WIDTH, max(1, round(w * REC_HEIGHT / h)))
            interpolation = cv2.INTER_AREA if h > REC_HEIGHT else cv2.INTER_CUBIC
            crop = cv2.resize(np.ascontiguousarray(crop), (new_w, REC_HEIGHT), interpolation=interpolation)
        return np.ascontiguousarray(crop)

    def _vote_flips(self, lines: list[_Line], crops: list[NDArray[np.uint8]]) -> None:
        """Upside down or not, decided per group (horizontal, vertical lines) by the classifier's
        summed log-odds over the group's longest lines, two windows of each at natural aspect."""
        ch, cw = _CLS_SHAPE
        for vertical in (False, True):
            group = [i for i, line in enumerate(lines) if line.vertical == vertical]
            if not group:
                continue
            longest = sorted(group, key=lambda i: -crops[i].shape[1])[:_VOTE_LINES]
            windows = []
            for i in longest:
                crop = crops[i]
                starts = {0, max(0, crop.shape[1] - cw)} if crop.shape[1] > 1.5 * cw else {0}
                for start in sorted(starts):
                    window = np.zeros((ch, cw, 3), dtype=np.float32)
                    part = crop[:, start : start + cw]
                    window[:, : part.shape[1]] = part / 127.5 - 1.0
                    windows.append(window.transpose(2, 0, 1))
            probabilities = self._cls.run(None, {self._cls.get_inputs()[0].name: np.stack(windows)})[0]
            log_odds = np.log(probabilities[:, 1] + 1e-6) - np.log(probabilities[:, 0] + 1e-6)
            flipped = bool(log_odds.sum() > 0)
            for i in group:
                lines[i].flipped = flipped

    def _read_crop(self, crop: NDArray[np.uint8]) -> tuple[str, float]:
        w = crop.shape[1]
        # PaddleOCR pads short lines to 320 wide: the recogniser was evaluated that way.
        x = np.zeros((1, 3, REC_HEIGHT, max(w, 320)), dtype=np.float32)
        x[0, :, :, :w] = (crop.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)
        probabilities = self._rec.run(None, {self._rec.get_inputs()[0].name: x})[0][0]
        return self._decode(probabilities)

    def _decode(self, probabilities: NDArray[np.float32]) -> tuple[str, float]:
        """Greedy CTC decoding that keeps word gaps: the recogniser (trained mostly on Chinese) often
        puts a blank where a space is, with the space's probability at 0.2-0.5 (inside words < 0.02);
        a gap where it exceeds _SPACE_PROB gets a space. Confidence: the mean of the characters'."""
        best = probabilities.argmax(axis=1)
        chars: list[str] = []
        confidences: list[float] = []
        previous = 0
        gap_space = 0.0
        for t, k in enumerate(best):
            if k != 0 and k != previous:
                if k != self._space and chars and chars[-1] != " " and gap_space > _SPACE_PROB:
                    chars.append(" ")
                chars.append(self._chars[k])
                confidences.append(float(probabilities[t, k]))
                gap_space = 0.0
            else:
                gap_space = max(gap_space, float(probabilities[t, self._space]))
            previous = k
        return "".join(chars), float(np.mean(confidences)) if confidences else 0.0


# ---- geometry ---------------------------------------------------------------------------------------
def _at_side(image: Image.Image, size: tuple[int, int], side: int, load: LoadAtLeast) -> Image.Image:
    """The picture with its longer side at least min(side, original's) (the detector scales down)."""
    return _at_scale(image, size, min(1.0, side / max(size)), load)


def _at_scale(image: Image.Image, size: tuple[int, int], scale: float, load: LoadAtLeast) -> Image.Image:
    """The picture at least `scale` times the original's size: `image` when detailed enough, else a
    larger decode."""
    if image.width >= scale * size[0] - 0.5:
        return image
    return _rgb(load(math.ceil(min(size) * scale)))


def _rgb(image: Image.Image) -> Image.Image:
    return image if image.mode == "RGB" else image.convert("RGB")


class _Clock:
    """Stage times (ms) into `timings`; decoding done through `load` is counted apart ("ocr_decode")."""

    def __init__(self, timings: dict[str, float], load_at_least: LoadAtLeast) -> None:
        self.timings = timings
        self._load_at_least = load_at_least
        self._last = time.perf_counter()
        self._decoding = 0.0

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        spent = (now - self._last) * 1e3 - self._decoding
        self.timings[stage] = self.timings.get(stage, 0.0) + spent
        self._last, self._decoding = now, 0.0

    def load(self, side: int) -> Image.Image:
        start = time.perf_counter()
        picture = self._load_at_least(side)
        spent = (time.perf_counter() - start) * 1e3
        self._decoding += spent
        self.timings["ocr_decode"] = self.timings.get("ocr_decode", 0.0) + spent
        return picture


def looks_like_page(image: Image.Image) -> bool:
    """Mostly one light tone (paper, a screen) or one flat dark one (a dark-mode screen): text there
    is often too small for the presence probe, so such pictures go straight to detection. Photos
    rarely qualify (snow, a white backdrop)."""
    thumb = image.copy()
    thumb.thumbnail((128, 128), Image.Resampling.BOX)
    grey = np.asarray(thumb.convert("L"), dtype=np.int32)
    counts = np.bincount(grey.ravel(), minlength=256) / max(grey.size, 1)
    tone = int(counts.argmax())
    if tone >= _PAGE_LIGHT:
        return float(counts[tone - 8 : tone + 9].sum()) >= _PAGE_LIGHT_SHARE
    if tone <= _PAGE_DARK:
        return float(counts[max(0, tone - 1) : tone + 2].sum()) >= _PAGE_DARK_SHARE
    return False


def _orient(lines: list[_Line]) -> None:
    """Mark lines that run vertically. Squarish boxes follow the majority of clear cases."""
    clear_vertical = sum(line.height >= _VERTICAL * line.width for line in lines)
    clear_horizontal = sum(line.width >= _VERTICAL * line.height for line in lines)
    for line in lines:
        if line.height >= _VERTICAL * line.width:
            line.vertical = True
        elif line.width < _VERTICAL * line.height:  # squarish
            line.vertical = clear_vertical > clear_horizontal and line.height > line.width


def _pitch(read: list[tuple[_Line, str, float]], scale: float) -> float | None:
    """Median width per character (px at `scale`) of confidently read lines of 4+ characters."""
    pitches = [
        line.length * scale / len(text) for line, text, score in read if score >= MIN_SCORE and len(text.strip()) >= 4
    ]
    return float(np.median(pitches)) if pitches else None


def _bounds(quad: Quad, size: tuple[int, int]) -> tuple[int, int, int, int]:
    x0, y0 = np.floor(quad.min(axis=0))
    x1, y1 = np.ceil(quad.max(axis=0))
    w, h = size
    return (int(max(0, x0)), int(max(0, y0)), int(min(w, x1)), int(min(h, y1)))


def _upright_centre(line: _Line, size: tuple[int, int]) -> tuple[float, float]:
    """The line's centre in the picture turned so that this line reads upright."""
    x, y = (float(v) for v in line.quad.mean(axis=0))
    w, h = size
    for _ in range(line.turns % 4):  # a counter-clockwise quarter turn of the whole picture
        x, y, w, h = y, w - x, h, w
    return x, y


def _reading_order(found: list[tuple[_Line, str, float]], size: tuple[int, int]) -> list[tuple[_Line, str, float]]:
    """Rows top to bottom, each left to right, in the frame where the lines are upright; lines of
    another orientation (a vertical label on a horizontal page) after those of the main one."""
    by_turns: dict[int, list[tuple[float, float, float, int]]] = {}
    for i, (line, _, _) in enumerate(found):
        cx, cy = _upright_centre(line, size)
        by_turns.setdefault(line.turns, []).append((cy, cx, line.text_height, i))
    order: list[int] = []
    for turns in sorted(by_turns, key=lambda t: -len(by_turns[t])):
        rows: list[list[tuple[float, float, float, int]]] = []
        for item in sorted(by_turns[turns]):
            if rows and item[0] - rows[-1][0][0] <= rows[-1][0][2] / 2:
                rows[-1].append(item)
            else:
                rows.append([item])
        order.extend(i for row in rows for _, _, _, i in sorted(row, key=lambda it: it[1]))
    return [found[i] for i in order]
