"""Faces with dlib: HOG detection on a downscaled copy, 5-point landmarks and the ResNet 128-d
embedding on a crop taken at (up to) full resolution.

Models come from the `dlib-bin` wheel and the `face-recognition-models` package. That package's
`__init__` imports `pkg_resources` (gone from recent setuptools), so its files are located
without importing it.

Embeddings of the same person are within Euclidean distance ~0.6 of each other (dlib's LFW
threshold); pixseek's calibration is in `pixseek.pipeline.people` and bench/README.md.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from pixseek.records import Face

FACE_MODEL_VERSION = "dlib-hog-resnet-1"
# Detection runs on a copy whose longer side is at most this. 500 is what a 12 MP photo decodes to
# at JPEG's 1/8 DCT scale, which the classifier needs anyway: detection then costs no extra decode
# (bench/README.md, "Faces": 640 would cost 2.1x the indexing time, 500 about 1.6x).
DETECT_SIDE = 500
MIN_DETECTION_SCORE = 0.6  # true faces in our set score 0.71-1.7; the mission-patch false face up to 0.52
MAX_FACES = 100  # per image, the most confident kept: a stadium crowd is not a person search
CHIP_SOURCE_SIDE = 200  # a face is embedded from a crop where it is about this wide (dlib's chip is 150 px)
_CROP_MARGIN = 0.6  # context kept around a face box for the landmark predictor and chip padding


class FaceModelsMissing(RuntimeError):
    """dlib or its model files are not installed."""


def model_files() -> dict[str, Path]:
    """Paths of the dlib model files shipped by `face-recognition-models`."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise FaceModelsMissing("face models not installed: pip install face-recognition-models dlib-bin")
    models = Path(spec.origin).parent / "models"
    files = {
        "landmarks": models / "shape_predictor_5_face_landmarks.dat",
        "embedding": models / "dlib_face_recognition_resnet_model_v1.dat",
    }
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise FaceModelsMissing(f"face model files missing: {', '.join(missing)}")
    return files


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in the ORIGINAL image's pixels
    score: float

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]


# Returns the picture, upright RGB, with its shorter side at least the given number of pixels
# (or at full resolution when that is larger than the original).
LoadAtLeast = Callable[[int], Image.Image]


class FaceAnalyzer:
    """The face models of one process. Build it inside the process that uses it."""

    version = FACE_MODEL_VERSION

    def __init__(self, detect_side: int = DETECT_SIDE, min_score: float = MIN_DETECTION_SCORE) -> None:
        try:
            import dlib
        except ImportError:
            raise FaceModelsMissing("dlib not installed: pip install dlib-bin") from None
        files = model_files()
        self.detect_side = detect_side
        self.min_score = min_score
        self._detector = dlib.get_frontal_face_detector()
        self._landmarks = dlib.shape_predictor(str(files["landmarks"]))
        self._embedder = dlib.face_recognition_model_v1(str(files["embedding"]))
        self._rectangle = dlib.rectangle

    @property
    def decode_side(self) -> int:
        """Shorter side a decoded picture needs for detection (4:3 pictures fill detect_side)."""
        return math.ceil(self.detect_side * 3 / 4)

    def detect(self, image: Image.Image, original_size: tuple[int, int]) -> list[Detection]:
        """Faces in `image` (a reduced copy of a picture of `original_size`), most confident first."""
        scale = min(1.0, self.detect_side / max(image.size))
        if scale < 1.0:
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            image = image.resize(size, Image.BILINEAR, reducing_gap=2.0)
        pixels = np.asarray(image.convert("RGB"))
        if min(pixels.shape[:2]) < 40:  # smaller than dlib's smallest face window: nothing to find
            return []
        # HOG's window is 80 px: on a small picture, look at it doubled (at most 2.25x the cost of a
        # full-size detection copy) to find faces down to 40 px.
        upsample = 1 if 4 * max(image.size) <= 3 * self.detect_side else 0
        rects, scores, _ = self._detector.run(pixels, upsample, 0.0)
        to_original = original_size[0] / image.width
        found = [
            Detection(
                (
                    max(0.0, r.left() * to_original),
                    max(0.0, r.top() * to_original),
                    min(float(original_size[0]), (r.right() + 1) * to_original),
                    min(float(original_size[1]), (r.bottom() + 1) * to_original),
                ),
                float(score),
            )
            for r, score in zip(rects, scores)
            if score >= self.min_score
        ]
        found.sort(key=lambda d: -d.score)
        return found[:MAX_FACES]

    def embed(self, detections: list[Detection], load: LoadAtLeast, original_size: tuple[int, int]) -> list[Face]:
        """128-d embeddings of detected faces, each from a crop where the face is about
        CHIP_SOURCE_SIDE pixels wide (full resolution for faces smaller than that)."""
        if not detections:
            return []
        smallest = min(d.width for d in detections)
        # The picture at the resolution the smallest face needs (decoded once for all faces).
        needed_scale = min(1.0, CHIP_SOURCE_SIDE / max(smallest, 1.0))
        picture = load(math.ceil(min(original_size) * needed_scale))
        to_picture = picture.width / original_size[0]
        faces = []
        for detection in detections:
            crop, rect = self._face_crop(picture, detection, to_picture)
            pixels = np.ascontiguousarray(np.asarray(crop))
            shape = self._landmarks(pixels, rect)
            vector = np.asarray(self._embedder.compute_face_descriptor(pixels, shape), dtype=np.float32)
            x0, y0, x1, y1 = detection.box
            faces.append(Face((round(x0), round(y0), round(x1), round(y1)), round(detection.score, 3), vector))
        return faces

    def _face_crop(self, picture: Image.Image, detection: Detection, to_picture: float):
        """The face and some context, scaled so that the face is about CHIP_SOURCE_SIDE wide,
        and the face's rectangle in that crop."""
        x0, y0, x1, y1 = (v * to_picture for v in detection.box)
        w, h = x1 - x0, y1 - y0
        left = max(0, math.floor(x0 - _CROP_MARGIN * w))
        top = max(0, math.floor(y0 - _CROP_MARGIN * h))
        right = min(picture.width, math.ceil(x1 + _CROP_MARGIN * w))
        bottom = min(picture.height, math.ceil(y1 + _CROP_MARGIN * h))
        crop = picture.crop((left, top, right, bottom))
        shrink = min(1.0, CHIP_SOURCE_SIDE / max(w, 1.0))
        if shrink < 1.0:
            crop = crop.resize(
                (max(1, round(crop.width * shrink)), max(1, round(crop.height * shrink))),
                Image.BILINEAR,
                reducing_gap=2.0,
            )
        fx, fy = crop.width / (right - left), crop.height / (bottom - top)
        rect = self._rectangle(
            round((x0 - left) * fx), round((y0 - top) * fy), round((x1 - left) * fx), round((y1 - top) * fy)
        )
        return crop, rect


def face_distance(a: NDArray[np.float32], b: NDArray[np.float32]) -> NDArray[np.float32]:
    """Euclidean distances between embeddings (rows of a) and one embedding b."""
    return np.linalg.norm(np.atleast_2d(a) - b, axis=1).astype(np.float32)
