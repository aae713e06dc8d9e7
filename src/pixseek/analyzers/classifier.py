"""EfficientNet-Lite0 ImageNet classifier on ONNX Runtime: class probabilities + 1280-d embedding."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from pixseek.records import Vector

# PIL and the exporter are imported where a picture is classified or a model exported: a text
# search reads CLASSIFIER_VERSION (which analyses and learned models are this classifier's) and,
# for some queries, the final layer, and needs neither.
if TYPE_CHECKING:
    import onnxruntime as ort
    from PIL import Image

# Bump when preprocessing or the exported graph changes: stored analyses of another version are redone.
CLASSIFIER_VERSION = "effnet-lite0/onnx-2-full160"
INPUT_SIZE = 224  # the exported graph's input side (the centre crop)
RESIZE_SHORTER_TO = 256  # then centre-crop INPUT_SIZE; measured to label real photos best (FACTS.md)
# The centre crop loses the edges of a picture that is not square (a 4:3 photo's outer eighths, a
# banner's ends). A second view sees the whole frame, letterboxed on mid-grey into FULL_VIEW_SIZE:
# smaller than the crop, so it costs ~0.7 of a crop's run (+13% worker CPU per image, bench
# quality/index_throughput) and, being another scale, adds more than a full-size one did. The two
# are pooled by the geometric mean of their probabilities (renormalised): a class must be seen in
# both views to stay strong. Measured on the dev set (bench/quality.py): held-out p10 +0.04,
# threshold recall +0.06 for precision -0.05; the embedding stays the crop's (image similarity).
FULL_VIEW_SIZE = 160
FULL_VIEW_FILL = (127, 127, 127)  # 0 after (x - 127) / 128

_export_lock = threading.Lock()

@dataclass(frozen=True)
class Classification:
    probabilities: NDArray[np.float32]  # (1000,), sums to 1
    embedding: Vector  # (1280,), pooled head features (ReLU6 outputs, so >= 0)

def preprocess(image: Image.Image, size: int = INPUT_SIZE, resize: int = RESIZE_SHORTER_TO) -> NDArray[np.float32]:
    """RGB image -> (1, 3, size, size) float32: shorter side `resize` (bicubic), centre crop, (x - 127) / 128
    (224 of 256: the shipped classifier's; bench/lite2.py measures another one's).

    Only the centre crop is resampled (PIL's `box`): the scaled picture is never made, so the work and
    memory are those of the size x size output whatever the picture's shape (a 1 x 100000 picture would
    otherwise be scaled to 256 x 25.6 million pixels)."""
    from PIL import Image

    image = image.convert("RGB") if image.mode != "RGB" else image
    w, h = image.size
    scale = resize / min(w, h)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    left, top = (new_w - size) // 2, (new_h - size) // 2
    to_source_x, to_source_y = w / new_w, h / new_h
    box = (
        left * to_source_x, top * to_source_y, (left + size) * to_source_x, (top + size) * to_source_y
    )
    image = image.resize((size, size), Image.Resampling.BICUBIC, box=box)
    x = (np.asarray(image, dtype=np.float32) - 127.0) / 128.0
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])

def preprocess_full(image: Image.Image, size: int = FULL_VIEW_SIZE) -> NDArray[np.float32]:
    """RGB image -> (1, 3, size, size): the whole picture, longer side `size` (bicubic), centred on
    mid-grey."""
    from PIL import Image

    image = image.convert("RGB") if image.mode != "RGB" else image
    w, h = image.size
    scale = size / max(w, h)
    new_w, new_h = max(1, min(size, round(w * scale))), max(1, min(size, round(h * scale)))
    canvas = Image.new("RGB", (size, size), FULL_VIEW_FILL)
    canvas.paste(image.resize((new_w, new_h), Image.Resampling.BICUBIC), ((size - new_w) // 2, (size - new_h) // 2))
    x = (np.asarray(canvas, dtype=np.float32) - 127.0) / 128.0
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def pool_views(crop: NDArray[np.float32], full: NDArray[np.float32]) -> NDArray[np.float32]:
    """Geometric mean of two probability vectors, renormalised to sum 1."""
    pooled = np.sqrt(crop.astype(np.float64) * full.astype(np.float64))
    total = pooled.sum()
    return (pooled / total if total > 0 else crop).astype(np.float32)


def ensure_model(model_dir: Path) -> Path:
    """Return the path of the exported ONNX model (and its full-view twin), exporting once if needed."""
    onnx_path = model_dir / "efficientnet-lite0.onnx"
    # The files' names as export.fc_weights_path gives them: when all four exist, an analysis worker
    # need not import the exporter (numpy's zipfile, the checkpoint reader: ~10 ms of its start-up).
    if all(
        (model_dir / name).exists()
        for stem in (onnx_path.name, full_view_path(onnx_path).name)
        for name in (stem, stem + ".fc.npz")
    ):
        return onnx_path
    from pixseek.analyzers.export import export_classifier, fc_weights_path

    with _export_lock:
        if not onnx_path.exists() or not fc_weights_path(onnx_path).exists():
            export_classifier(onnx_path)
        full_path = full_view_path(onnx_path)
        if not full_path.exists() or not fc_weights_path(full_path).exists():
            export_classifier(full_path, FULL_VIEW_SIZE)
    return onnx_path


def full_view_path(onnx_path: Path) -> Path:
    return onnx_path.with_name(f"{onnx_path.stem}-{FULL_VIEW_SIZE}.onnx")

def _session_options(threads: int, optimise: bool) -> "ort.SessionOptions":
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Spinning threads steal the other worker's core on a 2-core box (FACTS.md).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimise else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    )
    return options


def _machine_key(onnx_path: Path) -> str:
    """What an optimised graph depends on: ONNX Runtime's version, this CPU (ORT_ENABLE_ALL lays
    convolutions out for its vector width) and the source model file."""
    import hashlib
    import platform

    import onnxruntime as ort

    try:
        with open("/proc/cpuinfo", "rb") as f:
            cpu = next((line for line in f if line.startswith((b"flags", b"Features"))), b"")
    except OSError:
        cpu = b""
    stat = onnx_path.stat()
    text = f"{ort.__version__}|{platform.machine()}|{platform.processor()}|{stat.st_size}|{stat.st_mtime_ns}|"
    return hashlib.sha256(text.encode() + cpu).hexdigest()[:16]


def optimised_session(onnx_path: Path, threads: int = 1) -> "ort.InferenceSession":
    """An ONNX Runtime session of `onnx_path` with every graph optimisation, from a copy of the
    optimised graph kept beside the model for this machine (ORT's offline optimisation): loading that
    copy skips the optimiser, ~15-20 ms of each session's start-up in every analysis worker, and runs
    the same graph (same outputs, bit for bit). Made by the first session that lacks it; where the
    folder is read-only, every session optimises as before."""
    import onnxruntime as ort

    providers = ["CPUExecutionProvider"]
    cached = onnx_path.with_name(f"{onnx_path.stem}.optimised-{_machine_key(onnx_path)}.onnx")
    if cached.exists():
        try:
            return ort.InferenceSession(str(cached), sess_options=_session_options(threads, False), providers=providers)
        except Exception:  # damaged (e.g. a full disk when written): made again below
            pass
    options = _session_options(threads, True)
    writable = os.access(onnx_path.parent, os.W_OK)
    tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
    if writable:
        options.optimized_model_filepath = str(tmp)
        options.log_severity_level = 3  # not the warning that the saved graph suits this machine only: it is kept for it
    try:
        session = ort.InferenceSession(str(onnx_path), sess_options=options, providers=providers)
    except Exception:
        if not writable:
            raise
        tmp.unlink(missing_ok=True)  # could not write the copy: optimise in memory only
        return ort.InferenceSession(str(onnx_path), sess_options=_session_options(threads, True), providers=providers)
    if writable:
        try:
            os.replace(tmp, cached)
            for stale in onnx_path.parent.glob(f"{onnx_path.stem}.optimised-*.onnx"):
                if stale != cached:  # another ORT version's, another CPU's (a moved disk), an older model's
                    stale.unlink(missing_ok=True)
        except OSError:
            tmp.unlink(missing_ok=True)
    return session


class Classifier:
    """One ONNX Runtime session. Create it inside the process that uses it (never fork after)."""

    min_side = RESIZE_SHORTER_TO
    version = CLASSIFIER_VERSION

    def __init__(self, model_dir: Path, threads: int = 1, full_view: bool = True) -> None:
        """`full_view=False`: the centre crop alone (what CLASSIFIER_VERSION onnx-1 did; benchmarks
        compare the two)."""
        import onnxruntime as ort

        self.full_view = full_view

        onnx_path = ensure_model(model_dir)
        self._session = optimised_session(onnx_path, threads)
        self._full_session = optimised_session(full_view_path(onnx_path), threads)

    def classify_batch(self, batch: NDArray[np.float32]) -> list[Classification]:
        logits, embeddings = self._session.run(["logits", "embedding"], {"image": batch})
        logits = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        return [
            Classification(p.astype(np.float32), e.astype(np.float32))
            for p, e in zip(probs, embeddings)
        ]

    def classify(self, image: Image.Image) -> Classification:
        """The centre crop's embedding, and class probabilities pooled over the crop and the full frame."""
        crop = self.classify_batch(preprocess(image))[0]
        if not self.full_view:
            return crop
        (logits,) = self._full_session.run(["logits"], {"image": preprocess_full(image)})
        full = np.exp(logits[0] - logits[0].max())
        return Classification(pool_views(crop.probabilities, (full / full.sum()).astype(np.float32)), crop.embedding)


def load_final_layer(model_dir: Path) -> NDArray[np.float32]:
    """The classification layer's weight matrix (1000, 1280), without starting a session."""
    from pixseek.analyzers.export import fc_weights_path

    with np.load(fc_weights_path(ensure_model(model_dir))) as data:
        return data["weight"]