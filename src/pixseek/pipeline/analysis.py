"""One analysis pass over one image: decode once, run every analyzer, return one record.

This module holds the models and knows nothing about storage. Each analyzer gets the decoded
image and adds its part to the same `Analysis`: the classifier (always), faces and text (OCR),
each switchable. An analyzer that needs more detail than the shared decode (a face chip, a line of
small print) asks for a larger decode of the same bytes, only when it needs it.
"""

from __future__ import annotations

import hashlib
import io
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from PIL import Image

from pixseek.analyzers import characteristics
from pixseek.analyzers.characteristics import CHARACTERISTICS_VERSION
from pixseek.analyzers.classifier import CLASSIFIER_VERSION, Classifier
from pixseek.analyzers.faces import DETECT_SIDE, FACE_MODEL_VERSION, FaceAnalyzer
from pixseek.analyzers.phash import perceptual_hash
from pixseek.analyzers.text import DETECT_SIDE as TEXT_DETECT_SIDE
from pixseek.analyzers.text import OCR_MODEL_VERSION, TextReader
from pixseek.imageio.decode import DecodedImage, ImageDecodeError, load_image, reduce_to
from pixseek.imageio.files import VIDEO_EXTENSIONS, has_image_extension
from pixseek.records import TOP_K, Analysis, Face, ImageMeta, SparseVector, TextLine, top_k

if TYPE_CHECKING:
    from pixseek.pipeline.vision import VisionEmbedder, VisionTarget
    from pixseek.records import Vector

# Identifies what produced a stored analysis; a change means stored images must be re-analysed.
# Optional analyzers append parts ("+faces-..."): see records.version_covers.
BASE_VERSION = f"{CLASSIFIER_VERSION}+top{TOP_K}"


@dataclass(frozen=True)
class AnalysisOptions:
    """Which optional analyzers run (picklable: worker processes get a copy)."""

    faces: bool = True
    face_detect_side: int = DETECT_SIDE
    text: bool = True  # OCR
    text_detect_side: int = TEXT_DETECT_SIDE
    # The active vision-language model (pipeline/vision.py): one more analyser, left out of the
    # version (its embeddings are tracked per vector space). vision_only: it alone runs.
    vision: "VisionTarget | None" = None
    vision_only: bool = False
    characteristics: bool = True  # colours, black-and-white, dark, screenshot, portrait... (cheap)

    @property
    def version(self) -> str:
        parts = [BASE_VERSION]
        if self.faces:
            parts.append(f"faces-{FACE_MODEL_VERSION}-{self.face_detect_side}")
        if self.text:
            parts.append(f"ocr-{OCR_MODEL_VERSION}-{self.text_detect_side}")
        if self.characteristics:
            parts.append(CHARACTERISTICS_VERSION)
        return "+".join(parts)


ANALYZER_VERSION = AnalysisOptions().version  # what a default run produces


@dataclass
class AnalysisResult:
    """What a worker sends back for one file: an analysis, or the reason it was skipped."""

    path: str
    sha256: str | None = None
    analysis: Analysis | None = None
    error: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    vectors: dict[str, Vector] | None = None  # a model-only pass's result (pipeline/vision.py)
    # A video: its sampled frames (pipeline/video.py), the poster (0 s) first; `analysis` is the poster's.
    frames: list["VideoFrame"] | None = None


@dataclass
class VideoFrame:
    """One sampled frame of a video, analysed like a picture."""

    seconds: float
    sha256: str  # the poster's is the video file's own; others derive from it and the time
    analysis: Analysis


def with_characteristics(categories: SparseVector, found: dict[int, float]) -> SparseVector:
    """The top classes plus the image's characteristics, in one row of at most TOP_K entries: the
    weakest classes make room (the tail of a softmax, ~1e-4, which no query can tell from 0)."""
    if not found:
        return categories
    keep = TOP_K - len(found)
    merged = {int(c): float(w) for c, w in zip(categories.ids[:keep], categories.weights[:keep])}
    merged.update(found)
    return SparseVector.from_dict(merged)


def read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except PermissionError:
        raise ImageDecodeError("permission denied") from None
    except IsADirectoryError:
        raise ImageDecodeError("is a directory") from None
    except OSError as exc:
        raise ImageDecodeError(f"cannot read file: {exc.strerror or exc}") from None


def _source(data: bytes | Path | str) -> io.BytesIO | Path | str:
    return io.BytesIO(data) if isinstance(data, bytes) else data


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# The most pixels a larger decode for detail (a face chip, a line of small print) may have: 36 MP
# keeps an A4 page scanned at 600 dpi (35 MP) whole, and holds the RGB copy to ~144 MB whatever
# the picture (a 9000 x 9000 page would otherwise be converted whole: 324 MB besides its own pixels).
MAX_DETAIL_PIXELS = 36_000_000


def _loader(data: bytes | Path | str, decoded: DecodedImage) -> Callable[[int], Image.Image]:
    """load_at_least(side): the image with its shorter side at least `side` (or at full size), but
    never more than MAX_DETAIL_PIXELS: then the smallest integer reduction that fits, and callers
    measure the scale of what they get. The shared decoded copy serves when it is detailed enough;
    else the bytes are decoded again."""
    size = (decoded.meta.width, decoded.meta.height)
    # The smallest integer reduction (load_image's box reduce) that brings the picture under the cap.
    least_factor = max(1, math.ceil(math.sqrt(size[0] * size[1] / MAX_DETAIL_PIXELS)))
    while math.ceil(size[0] / least_factor) * math.ceil(size[1] / least_factor) > MAX_DETAIL_PIXELS:
        least_factor += 1

    def load_at_least(side: int) -> Image.Image:
        if side <= min(decoded.image.size):
            return decoded.image
        side = min(side, min(size) // least_factor) if least_factor > 1 else side
        if side <= min(decoded.image.size):
            return decoded.image
        return load_image(_source(data), min_side=side if side < min(size) else 0).image

    return load_at_least


class ImageAnalyzer:
    """Holds the models of one process. Build it inside the process that uses it."""

    def __init__(self, model_dir: Path, threads: int = 1, options: AnalysisOptions = AnalysisOptions()) -> None:
        self.options = options
        self.version = options.version
        self.classifier = Classifier(model_dir, threads=threads)
        self.faces = FaceAnalyzer(options.face_detect_side) if options.faces else None
        self.text = TextReader(options.text_detect_side, threads=threads) if options.text else None
        self.vision: "VisionEmbedder | None" = None
        if options.vision is not None:
            from pixseek.pipeline.vision import VisionEmbedder

            self.vision = VisionEmbedder(options.vision, threads=threads)
        self._query_faces: FaceAnalyzer | None = None
        self._query_text: TextReader | None = None

    def analyze(self, data: bytes | Path | str, faces: bool = True, text: bool = True) -> Analysis:
        """Analyse an image given as bytes or a path (faces=False, text=False: classifier only, e.g.
        for a search by example). Raises ImageDecodeError for bad input."""
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        face_analyzer = self.faces if faces else None
        text_reader = self.text if text else None
        min_side = self.classifier.min_side
        if face_analyzer is not None:
            min_side = max(min_side, face_analyzer.decode_side)
        if text_reader is not None:
            min_side = max(min_side, text_reader.decode_side)
        if self.vision is not None:
            min_side = max(min_side, self.vision.decode_side)
        decoded = load_image(_source(data), min_side=min_side)
        return self._analyze_decoded(decoded, _loader(data, decoded), face_analyzer, text_reader, timings, t0)

    def analyze_pictures(self, pictures: list[tuple[Image.Image, ImageMeta]]) -> list[Analysis]:
        """Analyse pictures already in memory at full size (a video's frames), each like analyze();
        the vision-language model embeds them in one batch (bench/video.py: a ViT-B/32 79 ms a frame
        against 103 one at a time)."""
        min_side = max(
            [self.classifier.min_side] + [a.decode_side for a in (self.faces, self.text, self.vision) if a is not None]
        )
        analyses = []
        for image, meta in pictures:
            t0 = time.perf_counter()
            decoded = DecodedImage(reduce_to(image, min_side), meta)

            def load_at_least(side: int, decoded: DecodedImage = decoded, image: Image.Image = image) -> Image.Image:
                return decoded.image if side <= min(decoded.image.size) else image

            analyses.append(self._analyze_decoded(decoded, load_at_least, self.faces, self.text, {}, t0, embed=False))
        if self.vision is not None and analyses:
            timings: dict[str, float] = {}
            vectors = self.vision.embed_many([image for image, _ in pictures], timings)
            for analysis, vector in zip(analyses, vectors, strict=True):
                analysis.vectors = vector
                analysis.timings_ms["vlm"] = timings["vlm"] / len(analyses)
        return analyses

    def _analyze_decoded(
        self,
        decoded: DecodedImage,
        load_at_least: Callable[[int], Image.Image],
        face_analyzer: FaceAnalyzer | None,
        text_reader: TextReader | None,
        timings: dict[str, float],
        t0: float,
        embed: bool = True,
    ) -> Analysis:
        """embed=False: without the vision-language model's vector (the caller batches it)."""
        t1 = time.perf_counter()
        # Decoded larger for the face detector, the picture is box-reduced first for the classifier:
        # it then sees what it sees without faces, at no resampling cost from a large image.
        small = reduce_to(decoded.image, self.classifier.min_side)
        result = self.classifier.classify(small)
        timings["decode"] = (t1 - t0) * 1e3
        timings["classify"] = (time.perf_counter() - t1) * 1e3
        found = None
        if face_analyzer is not None:
            found = self._find_faces(face_analyzer, load_at_least, decoded, timings)
        lines = None
        if text_reader is not None:
            lines = self._read_text(text_reader, load_at_least, decoded, timings)
        categories = top_k(result.probabilities)
        if self.options.characteristics:
            t2 = time.perf_counter()
            categories = with_characteristics(categories, characteristics.describe(small, decoded.meta, found, lines))
            timings["characteristics"] = (time.perf_counter() - t2) * 1e3
        return Analysis(
            meta=decoded.meta,
            categories=categories,
            embedding=result.embedding,
            faces=found,
            texts=lines,
            timings_ms=timings,
            vectors=self.vision.embed(decoded.image, timings) if self.vision is not None and embed else {},
            phash=perceptual_hash(reduce_to(decoded.image, 64)),
        )

    def find_faces(self, data: bytes | Path | str) -> list[Face]:
        """Only the faces of an image (a face search's query). Raises ImageDecodeError."""
        analyzer = self.faces
        if analyzer is None:  # analysing without faces, searching by a face all the same
            if self._query_faces is None:
                self._query_faces = FaceAnalyzer(self.options.face_detect_side)
            analyzer = self._query_faces
        decoded = load_image(_source(data), min_side=analyzer.decode_side)
        return self._find_faces(analyzer, _loader(data, decoded), decoded, {})

    def read_text(self, data: bytes | Path | str) -> list[TextLine]:
        """Only the text of an image (`pixseek text`). Raises ImageDecodeError."""
        reader = self.text
        if reader is None:
            if self._query_text is None:
                self._query_text = TextReader(self.options.text_detect_side)
            reader = self._query_text
        decoded = load_image(_source(data), min_side=reader.decode_side)
        return self._read_text(reader, _loader(data, decoded), decoded, {})

    @staticmethod
    def _find_faces(
        analyzer: FaceAnalyzer, load_at_least: Callable[[int], Image.Image], decoded: DecodedImage,
        timings: dict[str, float],
    ) -> list[Face]:
        t0 = time.perf_counter()
        size = (decoded.meta.width, decoded.meta.height)
        detections = analyzer.detect(decoded.image, size)
        t1 = time.perf_counter()
        faces = analyzer.embed(detections, load_at_least, size)
        timings["faces_detect"] = (t1 - t0) * 1e3
        timings["faces_embed"] = (time.perf_counter() - t1) * 1e3
        return faces

    @staticmethod
    def _read_text(
        reader: TextReader, load_at_least: Callable[[int], Image.Image], decoded: DecodedImage,
        timings: dict[str, float],
    ) -> list[TextLine]:
        t0 = time.perf_counter()
        size = (decoded.meta.width, decoded.meta.height)
        lines = reader.read(decoded.image, size, load_at_least, timings)
        timings["ocr"] = (time.perf_counter() - t0) * 1e3
        return lines

    def analyze_file(self, path: str, skip_hashes: frozenset[str] = frozenset()) -> AnalysisResult:
        """Read, hash and analyse one file; files whose hash is in skip_hashes are only hashed."""
        if has_image_extension(path, VIDEO_EXTENSIONS):
            from pixseek.pipeline.video import analyze_video

            return analyze_video(self, path, skip_hashes)
        t0 = time.perf_counter()
        try:
            data = read_file(path)
            t1 = time.perf_counter()
            digest = sha256_bytes(data)
            t2 = time.perf_counter()
            if digest in skip_hashes:
                return AnalysisResult(path, sha256=digest)
            analysis = self.analyze(data)
        except ImageDecodeError as exc:
            return AnalysisResult(path, error=exc.reason)
        timings = {"read": (t1 - t0) * 1e3, "hash": (t2 - t1) * 1e3, **analysis.timings_ms}
        return AnalysisResult(path, sha256=digest, analysis=analysis, timings_ms=timings)
