"""EfficientNet-Lite0 ImageNet classifier on ONNX Runtime: class probabilities + 1280-d embedding."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from pixseek.analyzers.export import INPUT_SIZE, export_classifier, fc_weights_path
from pixseek.records import Vector

# Bump when preprocessing or the exported graph changes: stored analyses of another version are redone.
CLASSIFIER_VERSION = "effnet-lite0/onnx-1"
RESIZE_SHORTER_TO = 256  # then centre-crop INPUT_SIZE; measured to label real photos best (FACTS.md)

_export_lock = threading.Lock()

@dataclass(frozen=True)
class Classification:
    probabilities: NDArray[np.float32]  # (1000,), sums to 1
    embedding: Vector  # (1280,), pooled head features (ReLU6 outputs, so >= 0)

def preprocess(image: Image.Image) -> NDArray[np.float32]:
    """RGB image -> (1, 3, 224, 224) float32: shorter side 256 (bicubic), centre crop, (x - 127) / 128.

    Only the centre crop is resampled (PIL's `box`): the scaled picture is never made, so the work and
    memory are those of the 224 x 224 output whatever the picture's shape (a 1 x 100000 picture would
    otherwise be scaled to 256 x 25.6 million pixels)."""
    image = image.convert("RGB") if image.mode != "RGB" else image
    w, h = image.size
    scale = RESIZE_SHORTER_TO / min(w, h)
    new_w, new_h = max(INPUT_SIZE, round(w * scale)), max(INPUT_SIZE, round(h * scale))
    left, top = (new_w - INPUT_SIZE) // 2, (new_h - INPUT_SIZE) // 2
    to_source_x, to_source_y = w / new_w, h / new_h
    box = (
        left * to_source_x, top * to_source_y, (left + INPUT_SIZE) * to_source_x, (top + INPUT_SIZE) * to_source_y
    )
    image = image.resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BICUBIC, box=box)
    x = (np.asarray(image, dtype=np.float32) - 127.0) / 128.0
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])

def ensure_model(model_dir: Path) -> Path:
    """Return the path of the exported ONNX model, exporting it once if needed."""
    onnx_path = model_dir / "efficientnet-lite0.onnx"
    with _export_lock:
        if not onnx_path.exists() or not fc_weights_path(onnx_path).exists():
            export_classifier(onnx_path)
    return onnx_path

class Classifier:
    """One ONNX Runtime session. Create it inside the process that uses it (never fork after)."""

    min_side = RESIZE_SHORTER_TO
    version = CLASSIFIER_VERSION

    def __init__(self, model_dir: Path, threads: int = 1) -> None:
        import onnxruntime as ort

        onnx_path = ensure_model(model_dir)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Spinning threads steal the other worker's core on a 2-core box (FACTS.md).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(
            str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
        )

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
        return self.classify_batch(preprocess(image))[0]


def load_final_layer(model_dir: Path) -> NDArray[np.float32]:
    """The classification layer's weight matrix (1000, 1280), without starting a session."""
    with np.load(fc_weights_path(ensure_model(model_dir))) as data:
        return data["weight"]