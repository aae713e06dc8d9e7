"""One analysis pass over one image: decode once, run every analyzer, return one record.

This module holds the models and knows nothing about storage. Analyzers for faces and OCR slot in
here: each gets the decoded image, and each adds its part to the same `Analysis`.
"""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass, field
from pathlib import Path

from pixseek.analyzers.classifier import CLASSIFIER_VERSION, Classifier
from pixseek.imageio.decode import ImageDecodeError, load_image
from pixseek.records import Analysis
from pixseek.store.sparse import TOP_K, top_k

# Identifies what produced a stored analysis; a change means stored images must be re-analysed.
ANALYZER_VERSION = f"{CLASSIFIER_VERSION}+top{TOP_K}"


@dataclass
class AnalysisResult:
    """What a worker sends back for one file: an analysis, or the reason it was skipped."""

    path: str
    sha256: str | None = None
    analysis: Analysis | None = None
    error: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)


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


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ImageAnalyzer:
    """Holds the models of one process. Build it inside the process that uses it."""

    version = ANALYZER_VERSION

    def __init__(self, model_dir: Path, threads: int = 1) -> None:
        self.classifier = Classifier(model_dir, threads=threads)

    def analyze(self, data: bytes | Path | str) -> Analysis:
        """Analyse an image given as bytes or a path. Raises ImageDecodeError for bad input."""
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        source = io.BytesIO(data) if isinstance(data, bytes) else data
        decoded = load_image(source, min_side=self.classifier.min_side)
        t1 = time.perf_counter()
        result = self.classifier.classify(decoded.image)
        t2 = time.perf_counter()
        timings["decode"] = (t1 - t0) * 1e3
        timings["classify"] = (t2 - t1) * 1e3
        return Analysis(
            meta=decoded.meta,
            categories=top_k(result.probabilities),
            embedding=result.embedding,
            timings_ms=timings,
        )

    def analyze_file(self, path: str, skip_hashes: frozenset[str] = frozenset()) -> AnalysisResult:
        """Read, hash and analyse one file; files whose hash is in skip_hashes are only hashed."""
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
